//! The two numbers Zab persists besides the log: acceptedEpoch (the highest epoch this server
//! promised to follow) and currentEpoch (the epoch of the last leader it fully synced with).
//! One small file, `epochs`, replaced atomically (temp file, fsync, rename, fsync directory).

use std::io::{self, Write};
use std::path::Path;

use super::segment::sync_dir;

/// The persisted epochs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Epochs {
    /// acceptedEpoch.
    pub accepted: u64,
    /// currentEpoch.
    pub current: u64,
}

const FILE: &str = "epochs";

/// Reads the epochs of `data_dir` (0, 0 when absent). A damaged file is an error.
pub fn load(data_dir: &Path) -> io::Result<Epochs> {
    let text = match std::fs::read_to_string(data_dir.join(FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Epochs::default()),
        Err(e) => return Err(e),
    };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("damaged epochs file: {text:?}"),
        )
    };
    let mut accepted = None;
    let mut current = None;
    let mut crc = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("acceptedEpoch", v)) => accepted = v.trim().parse().ok(),
            Some(("currentEpoch", v)) => current = v.trim().parse().ok(),
            Some(("crc", v)) => crc = u32::from_str_radix(v.trim(), 16).ok(),
            _ => {}
        }
    }
    let (Some(accepted), Some(current), Some(crc)) = (accepted, current, crc) else {
        return Err(bad());
    };
    if crc32c::crc32c(body(accepted, current).as_bytes()) != crc {
        return Err(bad());
    }
    Ok(Epochs { accepted, current })
}

fn body(accepted: u64, current: u64) -> String {
    format!("acceptedEpoch={accepted}\ncurrentEpoch={current}\n")
}

/// Persists `e` in `data_dir`, durably.
pub fn save(data_dir: &Path, e: Epochs) -> io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let b = body(e.accepted, e.current);
    let text = format!("{b}crc={:08x}\n", crc32c::crc32c(b.as_bytes()));
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, data_dir.join(FILE))?;
    sync_dir(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_trip_and_damage_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(load(dir).unwrap(), Epochs::default());
        save(
            dir,
            Epochs {
                accepted: 7,
                current: 6,
            },
        )
        .unwrap();
        assert_eq!(
            load(dir).unwrap(),
            Epochs {
                accepted: 7,
                current: 6
            }
        );
        let p = dir.join(FILE);
        let t = std::fs::read_to_string(&p).unwrap().replace("=7", "=9");
        std::fs::write(&p, t).unwrap();
        assert!(load(dir).is_err());
    }
}
