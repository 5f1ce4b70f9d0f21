//! Where a ZooKeeper server keeps its files: `dataDir/version-2/` (snapshots, `acceptedEpoch`,
//! `currentEpoch`) and `dataLogDir/version-2/` (logs; `dataDir`'s when there is no
//! `dataLogDir`). The only part of [`super`] that touches the file system.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::txn::Zxid;

/// The directory ZooKeeper's files live in under a `dataDir` or `dataLogDir`.
pub const VERSION_DIR: &str = "version-2";
/// ZooKeeper's acceptedEpoch file.
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
/// ZooKeeper's currentEpoch file.
pub const CURRENT_EPOCH: &str = "currentEpoch";

/// `dir/version-2` if it exists, else `dir` itself (a `version-2` directory given directly).
pub fn version_dir(dir: &Path) -> PathBuf {
    let v = dir.join(VERSION_DIR);
    if v.is_dir() {
        v
    } else {
        dir.to_path_buf()
    }
}

/// Does `data_dir` hold ZooKeeper's files (a `version-2` directory)?
pub fn holds_zookeeper_data(data_dir: &Path) -> bool {
    data_dir.join(VERSION_DIR).is_dir()
}

/// Files in `dir` named `<prefix>.<zxid hex>` (optionally with a further `.<ext>`, as
/// compressed snapshots are), by zxid.
pub fn list(dir: &Path, prefix: &str) -> io::Result<Vec<(Zxid, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let hex = rest.split('.').next().unwrap_or("");
        if let Ok(z) = u64::from_str_radix(hex, 16) {
            if e.file_type()?.is_file() {
                out.push((z as Zxid, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads an epoch file (`None` when absent).
pub fn read_epoch(dir: &Path, name: &str) -> io::Result<Option<u64>> {
    let p = dir.join(name);
    match std::fs::read_to_string(&p) {
        Ok(t) => t
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {t:?} is not an epoch", p.display()),
                )
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `dir/name` durably: a temporary file, fsync, rename, fsync of `dir`.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

/// Why a node must not start on `data_dir`: it holds ZooKeeper's files and none of zkr's (a
/// node would otherwise start with an empty tree beside the data). The message gives the
/// import command. `None` when the node may start.
pub fn refuse_zookeeper_data(data_dir: &Path) -> Option<String> {
    if !holds_zookeeper_data(data_dir) {
        return None;
    }
    let zkr = crate::txnlog::recovery::Layout::new(data_dir);
    let has = |r: io::Result<Vec<(Zxid, PathBuf)>>| r.map_or(true, |v| !v.is_empty());
    if has(crate::txnlog::snapshot::list(&zkr.snap_dir))
        || has(crate::txnlog::segment::list(&zkr.log_dir))
    {
        return None;
    }
    let d = data_dir.display();
    Some(format!(
        "{d} holds Apache ZooKeeper's data ({VERSION_DIR}/) and no zkr data; zkr does not serve \
         ZooKeeper's files as they are. With ZooKeeper stopped, import them (ZooKeeper's files \
         are left as they are; add --zookeeper-log-dir <dataLogDir> if its logs are kept apart): \
         zkr import --from-zookeeper {d} --data-dir {d}"
    ))
}
