//! On-disk framing shared by log segments and snapshots.
//!
//! A file starts with a 24-byte header: an 8-byte magic, a big-endian u32 format version, a
//! u32 reserved (0) and an i64 zxid (the first txn of a segment, the last txn covered by a
//! snapshot). Then records: `u32 length | u32 crc32c(payload) | payload`, the payload an
//! rmp-serde value. A length of 0 ends the records (segments are preallocated with zeros).
//!
//! Invariant: a record is accepted only if it is whole and its CRC matches; anything else is
//! reported with its offset so recovery can say exactly what it drops.

use std::io::{self, Read};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Magic of a log segment.
pub const LOG_MAGIC: &[u8; 8] = b"ZKR-LOG\0";
/// Magic of a snapshot.
pub const SNAP_MAGIC: &[u8; 8] = b"ZKRSNAP\0";
/// Current format version of both.
pub const FORMAT_VERSION: u32 = 1;
/// Header size.
pub const HEADER_LEN: usize = 24;
/// Bytes before a record's payload.
pub const RECORD_OVERHEAD: usize = 8;
/// Largest record accepted (a txn is bounded by jute.maxbuffer; snapshots batch nodes).
pub const MAX_RECORD_LEN: usize = 64 << 20;
/// First capacity of the buffer a file is read into one record at a time ([`read_frame`]).
pub const READ_BUFFER_BYTES: usize = 1 << 16;

/// A file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// First zxid (segment) or covered zxid (snapshot).
    pub zxid: i64,
}

/// Why bytes are not a valid header or record.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not our magic.
    #[error("bad magic {found:?} (expected {expected:?})")]
    BadMagic {
        /// What was found.
        found: [u8; 8],
        /// What was expected.
        expected: [u8; 8],
    },
    /// A format this build cannot read.
    #[error("unsupported format version {0}")]
    Version(u32),
    /// Too short.
    #[error("truncated header")]
    ShortHeader,
    /// An IO error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Encodes a header.
pub fn header(magic: &[u8; 8], zxid: i64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[16..24].copy_from_slice(&zxid.to_be_bytes());
    h
}

/// Reads a file's header into `head`: the whole of it, or nothing when the file is shorter
/// than one (so that [`parse_header`] reports it as truncated).
pub fn read_header<'h>(r: &mut impl Read, head: &'h mut [u8; HEADER_LEN]) -> io::Result<&'h [u8]> {
    match r.read_exact(head) {
        Ok(()) => Ok(&head[..]),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(&[]),
        Err(e) => Err(e),
    }
}

/// Decodes a header, checking magic and version.
pub fn parse_header(bytes: &[u8], magic: &[u8; 8]) -> Result<Header, FormatError> {
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::ShortHeader);
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(&bytes[..8]);
    if &found != magic {
        return Err(FormatError::BadMagic {
            found,
            expected: *magic,
        });
    }
    let version = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&bytes[16..24]);
    Ok(Header {
        version,
        zxid: i64::from_be_bytes(z),
    })
}

/// Appends one framed record holding `value` to `out`.
pub fn encode_record<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_OVERHEAD]);
    rmp_serde::encode::write(out, value).map_err(|e| e.to_string())?;
    let len = out.len() - start - RECORD_OVERHEAD;
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(format!("record of {len} bytes"));
    }
    let crc = crc32c::crc32c(&out[start + RECORD_OVERHEAD..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// What was found at a record position.
#[derive(Debug)]
pub enum RecordRead<T> {
    /// A valid record and its total framed size.
    Record(T, usize),
    /// A zero length: the end of the records.
    End,
    /// Fewer bytes than the record needs: a torn write.
    Short {
        /// Bytes present from the record start.
        available: usize,
    },
    /// Length out of range, CRC mismatch or undecodable payload.
    Corrupt(String),
}

/// Reads the record starting at `buf[0]`.
/// Checks the framing and checksum of the record starting at `buf[0]`: on success, its payload
/// (still to decode) and its framed size.
pub fn check_record(buf: &[u8]) -> RecordRead<&[u8]> {
    if buf.len() < RECORD_OVERHEAD {
        if buf.iter().all(|b| *b == 0) {
            return RecordRead::End;
        }
        return RecordRead::Short {
            available: buf.len(),
        };
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 {
        if crc == 0 {
            return RecordRead::End;
        }
        return RecordRead::Corrupt("zero length with a non-zero checksum".into());
    }
    if len > MAX_RECORD_LEN {
        return RecordRead::Corrupt(format!("length {len} above the maximum"));
    }
    if buf.len() < RECORD_OVERHEAD + len {
        return RecordRead::Short {
            available: buf.len(),
        };
    }
    let payload = &buf[RECORD_OVERHEAD..RECORD_OVERHEAD + len];
    if crc32c::crc32c(payload) != crc {
        return RecordRead::Corrupt("checksum mismatch".into());
    }
    RecordRead::Record(payload, RECORD_OVERHEAD + len)
}

/// Reads the record starting at `buf[0]`.
pub fn decode_record<T: DeserializeOwned>(buf: &[u8]) -> RecordRead<T> {
    match check_record(buf) {
        RecordRead::Record(payload, n) => match rmp_serde::from_slice::<T>(payload) {
            Ok(v) => RecordRead::Record(v, n),
            Err(e) => RecordRead::Corrupt(format!("undecodable payload: {e}")),
        },
        RecordRead::End => RecordRead::End,
        RecordRead::Short { available } => RecordRead::Short { available },
        RecordRead::Corrupt(r) => RecordRead::Corrupt(r),
    }
}

/// Reads the record at the reader's position into `buf` (reused between calls) and decodes it,
/// so that a large file is read with one record in memory at a time. The outcomes are those of
/// [`decode_record`]; the end of the input where a record's length should be is `End`.
pub fn read_record<T: DeserializeOwned>(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
) -> io::Result<RecordRead<T>> {
    read_frame(r, buf)?;
    Ok(decode_record(buf))
}

/// Reads the framed record at the reader's position into `buf` (as much of it as there is),
/// for [`check_record`] or [`decode_record`].
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    buf.resize(RECORD_OVERHEAD, 0);
    let got = read_full(r, &mut buf[..])?;
    if got < RECORD_OVERHEAD {
        buf.truncate(got);
        return Ok(());
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 || len > MAX_RECORD_LEN {
        return Ok(());
    }
    // Grown by what the input holds, not by the declared length: a corrupt length field makes
    // the buffer no larger than the rest of the file (the fuzzing allocation bound).
    r.take(len as u64).read_to_end(buf)?;
    Ok(())
}

/// Reads until `out` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, out: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < out.len() {
        match r.read(&mut out[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a whole file into memory (segments and snapshots are read sequentially once).
pub fn read_file(path: &std::path::Path) -> io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        encode_record(&("hello", 42u32), &mut buf).unwrap();
        let n = buf.len();
        match decode_record::<(String, u32)>(&buf) {
            RecordRead::Record(v, size) => {
                assert_eq!(v, ("hello".to_string(), 42));
                assert_eq!(size, n);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_record::<(String, u32)>(&buf[..n - 1]),
            RecordRead::Short { .. }
        ));
        let mut flipped = buf.clone();
        flipped[n - 2] ^= 0x40;
        assert!(matches!(
            decode_record::<(String, u32)>(&flipped),
            RecordRead::Corrupt(_)
        ));
        assert!(matches!(
            decode_record::<(String, u32)>(&[0u8; 16]),
            RecordRead::End
        ));
    }

    #[test]
    fn records_are_read_one_at_a_time_from_a_stream() {
        let mut file = Vec::new();
        encode_record(&("a", 1u32), &mut file).unwrap();
        encode_record(&("b", 2u32), &mut file).unwrap();
        let whole = file.len();
        file.extend_from_slice(&[0u8; 8]);
        let mut r = &file[..];
        let mut buf = Vec::new();
        for want in [("a", 1u32), ("b", 2)] {
            match read_record::<(String, u32)>(&mut r, &mut buf).unwrap() {
                RecordRead::Record(v, _) => assert_eq!(v, (want.0.to_string(), want.1)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            read_record::<(String, u32)>(&mut r, &mut buf).unwrap(),
            RecordRead::End
        ));
        assert!(matches!(
            read_record::<(String, u32)>(&mut &file[..0], &mut buf).unwrap(),
            RecordRead::End
        ));
        assert!(matches!(
            read_record::<(String, u32)>(&mut &file[..whole - 3], &mut buf).unwrap(),
            RecordRead::Record(..)
        ));
        let mut torn = &file[..whole - 3];
        read_record::<(String, u32)>(&mut torn, &mut buf).unwrap();
        assert!(matches!(
            read_record::<(String, u32)>(&mut torn, &mut buf).unwrap(),
            RecordRead::Short { .. }
        ));
    }

    #[test]
    fn headers_check_magic_and_version() {
        let h = header(LOG_MAGIC, 0x1_0000_0001);
        assert_eq!(parse_header(&h, LOG_MAGIC).unwrap().zxid, 0x1_0000_0001);
        assert!(matches!(
            parse_header(&h, SNAP_MAGIC),
            Err(FormatError::BadMagic { .. })
        ));
        let mut v = h;
        v[11] = 9;
        assert!(matches!(
            parse_header(&v, LOG_MAGIC),
            Err(FormatError::Version(_))
        ));
    }
}
