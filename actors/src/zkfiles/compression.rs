//! Compressed snapshots (ZooKeeper 3.6+, `zookeeper.snapshot.compression.method`): a snapshot
//! file named `snapshot.<zxid>.gz` is a gzip stream, `snapshot.<zxid>.snappy` a snappy-java
//! stream (a 16-byte header: `\x82SNAPPY\0`, version, compatible version; then blocks, each a
//! big-endian int length and a raw snappy block). The checksums inside are over the
//! uncompressed bytes, so a decompressed snapshot decodes like any other.

use std::io::Read;

use super::FileError;

/// How a snapshot file is stored, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain.
    None,
    /// `.gz`.
    Gzip,
    /// `.snappy`.
    Snappy,
}

impl Compression {
    /// From a file name (`snapshot.1a`, `snapshot.1a.gz`, `snapshot.1a.snappy`); `None` for an
    /// extension ZooKeeper does not write.
    pub fn of(name: &str) -> Option<Compression> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.get(2).copied() {
            None => Some(Compression::None),
            Some(e) if e.eq_ignore_ascii_case("gz") => Some(Compression::Gzip),
            Some(e) if e.eq_ignore_ascii_case("snappy") => Some(Compression::Snappy),
            Some(_) => None,
        }
    }
}

const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const SNAPPY_HEADER_LEN: usize = 16;

/// What a compressed file holds (a broken stream is an `Err` instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decompressed {
    /// The whole stream.
    Whole(Vec<u8>),
    /// The stream ends before its end: an unfinished write.
    Incomplete,
}

/// Decompresses a snapshot file's bytes.
pub fn decompress(how: Compression, bytes: &[u8]) -> Result<Decompressed, FileError> {
    match how {
        Compression::None => Ok(Decompressed::Whole(bytes.to_vec())),
        Compression::Gzip => {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(bytes).read_to_end(&mut out) {
                Ok(_) => Ok(Decompressed::Whole(out)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Ok(Decompressed::Incomplete)
                }
                Err(e) => Err(FileError::at(0, format!("gzip: {e}"))),
            }
        }
        Compression::Snappy => {
            if bytes.len() < SNAPPY_HEADER_LEN {
                return Ok(Decompressed::Incomplete);
            }
            if bytes[..8] != SNAPPY_MAGIC {
                return Err(FileError::at(0, "not a snappy-java stream (bad magic)"));
            }
            let mut out = Vec::new();
            let mut off = SNAPPY_HEADER_LEN;
            let mut dec = snap::raw::Decoder::new();
            while off < bytes.len() {
                if bytes.len() - off < 4 {
                    return Ok(Decompressed::Incomplete);
                }
                let len = i32::from_be_bytes([
                    bytes[off],
                    bytes[off + 1],
                    bytes[off + 2],
                    bytes[off + 3],
                ]);
                if len < 0 {
                    return Err(FileError::at(off, format!("snappy block length {len}")));
                }
                let start = off + 4;
                let end = start + len as usize;
                if end > bytes.len() {
                    return Ok(Decompressed::Incomplete);
                }
                let block = dec
                    .decompress_vec(&bytes[start..end])
                    .map_err(|e| FileError::at(off, format!("snappy block: {e}")))?;
                out.extend_from_slice(&block);
                off = end;
            }
            Ok(Decompressed::Whole(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn names_and_streams() {
        assert_eq!(Compression::of("snapshot.1a"), Some(Compression::None));
        assert_eq!(Compression::of("snapshot.1a.gz"), Some(Compression::Gzip));
        assert_eq!(
            Compression::of("snapshot.1a.snappy"),
            Some(Compression::Snappy)
        );
        assert_eq!(Compression::of("snapshot.1a.zst"), None);
        let data = b"hello hello hello hello".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decompress(Compression::Gzip, &gz).unwrap(),
            Decompressed::Whole(data.clone())
        );
        assert_eq!(
            decompress(Compression::Gzip, &gz[..gz.len() / 2]).unwrap(),
            Decompressed::Incomplete
        );
        let mut sn = SNAPPY_MAGIC.to_vec();
        sn.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for part in data.chunks(1000) {
            let c = snap::raw::Encoder::new().compress_vec(part).unwrap();
            sn.extend_from_slice(&(c.len() as i32).to_be_bytes());
            sn.extend_from_slice(&c);
        }
        assert_eq!(
            decompress(Compression::Snappy, &sn).unwrap(),
            Decompressed::Whole(data)
        );
        assert_eq!(
            decompress(Compression::Snappy, &sn[..sn.len() - 3]).unwrap(),
            Decompressed::Incomplete
        );
    }
}
