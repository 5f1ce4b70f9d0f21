//! Compressed snapshots (ZooKeeper 3.6+, `zookeeper.snapshot.compression.method`): a snapshot
//! file named `snapshot.<zxid>.gz` is a gzip stream, `snapshot.<zxid>.snappy` a snappy-java
//! stream (a 16-byte header: `\x82SNAPPY\0`, version, compatible version; then blocks, each a
//! big-endian int length and a raw snappy block). The checksums inside are over the
//! uncompressed bytes, so a decompressed snapshot decodes like any other.
//!
//! Invariant: what a file makes us hold is bounded by what its format can expand to, never by a
//! length it declares. The consumer (`zkr import`, then [`super::snapshot::decode`]) wants the
//! whole snapshot in one buffer, so that buffer is allocated once, at its exact size:
//! * deflate cannot produce more than [`DEFLATE_MAX_EXPANSION`] bytes per input byte (one
//!   258-byte match costs at least a 1-bit length and a 1-bit distance code: 258 bytes from
//!   2 bits). A gzip stream is decompressed twice: first into nothing, counting (capped at that
//!   ratio; a stream that makes more is refused), then into a buffer of the counted size. The
//!   trailer's ISIZE is not used: in a torn file its place holds whatever was written last.
//! * a snappy block's elements produce at most 64 bytes per 3 bytes (a copy with a 2-byte
//!   offset: tag and offset in 3 bytes, length 1..=64; literals produce less than they take, a
//!   1-byte-offset copy 11 bytes from 2, a 4-byte-offset copy 64 from 5; Snappy's format
//!   description, google/snappy format_description.txt). A block whose preamble declares more
//!   than 64/3 of its element bytes cannot be valid and is refused before anything is allocated
//!   for it; the declared lengths of all blocks are summed first and the output allocated once.

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

    /// The most bytes one input byte can decompress to.
    pub fn max_expansion(self) -> usize {
        match self {
            Compression::None => 1,
            Compression::Gzip => DEFLATE_MAX_EXPANSION,
            Compression::Snappy => SNAPPY_MAX_EXPANSION,
        }
    }
}

/// Deflate's largest expansion: 258 bytes from 2 bits, 1032 bytes per input byte.
pub const DEFLATE_MAX_EXPANSION: usize = 1032;

/// Snappy's largest expansion, 64 bytes per 3, rounded up to whole bytes per byte.
pub const SNAPPY_MAX_EXPANSION: usize = 22;

/// What a gzip decoder holds whatever its input (flate2's 32 KiB input buffer, miniz_oxide's
/// inflate state with its 32 KiB window), pinned by a test.
pub const GZIP_DECODER_BYTES: usize = 128 << 10;

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
        Compression::Gzip => gunzip(bytes),
        Compression::Snappy => unsnappy(bytes),
    }
}

/// Compresses `bytes` as ZooKeeper writes a snapshot file (for tests and the fuzz seeds):
/// one gzip member, or snappy-java's stream of 32 KiB blocks.
pub fn compress(how: Compression, bytes: &[u8]) -> Vec<u8> {
    match how {
        Compression::None => bytes.to_vec(),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = std::io::Write::write_all(&mut gz, bytes);
            gz.finish().unwrap_or_default()
        }
        Compression::Snappy => {
            let mut out = SNAPPY_MAGIC.to_vec();
            out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            let mut enc = snap::raw::Encoder::new();
            for part in bytes.chunks(32 << 10) {
                // A 32 KiB block is far below snappy's input limit.
                let block = enc.compress_vec(part).unwrap_or_default();
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
    }
}

/// How a gzip stream ended.
enum Inflated {
    /// Its whole output, which fitted the buffer.
    Fits(Vec<u8>),
    /// It makes more than the buffer holds (not the stream it was counted as).
    Larger,
}

fn gzip_error(e: std::io::Error) -> Result<Decompressed, FileError> {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Ok(Decompressed::Incomplete)
    } else {
        Err(FileError::at(0, format!("gzip: {e}")))
    }
}

/// Decompresses a gzip stream into a buffer of `size` bytes, or says it makes more.
fn inflate_into(bytes: &[u8], size: usize) -> std::io::Result<Inflated> {
    let mut out = vec![0u8; size];
    let mut dec = flate2::read::GzDecoder::new(bytes);
    let mut filled = 0;
    while filled < size {
        match dec.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if filled == size && dec.read(&mut [0u8; 1])? != 0 {
        return Ok(Inflated::Larger);
    }
    out.truncate(filled);
    Ok(Inflated::Fits(out))
}

fn gunzip(bytes: &[u8]) -> Result<Decompressed, FileError> {
    // Counted first (decompressed into nothing, at most the ratio allows), then decompressed
    // into a buffer of exactly that size. The trailer's ISIZE is not trusted for the size: in a
    // torn file (an unfinished write) the last four bytes are whatever was written last.
    let cap = bytes.len().saturating_mul(DEFLATE_MAX_EXPANSION);
    let counted = std::io::copy(
        &mut flate2::read::GzDecoder::new(bytes).take(cap as u64 + 1),
        &mut std::io::sink(),
    );
    let size = match counted {
        Ok(n) if n > cap as u64 => {
            return Err(FileError::at(
                0,
                format!(
                    "gzip: {} bytes expand beyond {cap}, more than deflate can produce",
                    bytes.len()
                ),
            ))
        }
        Ok(n) => n as usize,
        Err(e) => return gzip_error(e),
    };
    match inflate_into(bytes, size) {
        Ok(Inflated::Fits(out)) => Ok(Decompressed::Whole(out)),
        Ok(Inflated::Larger) => Err(FileError::at(0, "gzip: decompresses differently twice")),
        Err(e) => gzip_error(e),
    }
}

/// Calls `each` with every whole block of a snappy-java stream, in order (the offset of its
/// length field, the raw block); true when the stream stops inside a block (an unfinished
/// write).
fn snappy_blocks(
    bytes: &[u8],
    mut each: impl FnMut(usize, &[u8]) -> Result<(), FileError>,
) -> Result<bool, FileError> {
    let mut off = SNAPPY_HEADER_LEN;
    while off < bytes.len() {
        let Some(len) = bytes.get(off..off + 4) else {
            return Ok(true);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let Ok(len) = usize::try_from(len) else {
            return Err(FileError::at(off, format!("snappy block length {len}")));
        };
        let Some(block) = bytes.get(off + 4..off + 4 + len) else {
            return Ok(true);
        };
        each(off, block)?;
        off += 4 + len;
    }
    Ok(false)
}

/// What a raw snappy block declares it decompresses to, refused beyond what its bytes can make.
fn snappy_declared(off: usize, block: &[u8]) -> Result<usize, FileError> {
    let declared = snap::raw::decompress_len(block)
        .map_err(|e| FileError::at(off, format!("snappy block: {e}")))?;
    // The preamble is a varint: bytes with the high bit set, then one without.
    let preamble = block.iter().take_while(|b| **b & 0x80 != 0).count() + 1;
    let elements = block.len().saturating_sub(preamble);
    if declared.saturating_mul(3) > elements.saturating_mul(64) {
        return Err(FileError::at(
            off,
            format!(
                "snappy block of {} bytes declares {declared} bytes, more than snappy can expand \
                 it to",
                block.len()
            ),
        ));
    }
    Ok(declared)
}

fn unsnappy(bytes: &[u8]) -> Result<Decompressed, FileError> {
    if bytes.len() < SNAPPY_HEADER_LEN {
        return Ok(Decompressed::Incomplete);
    }
    if bytes[..8] != SNAPPY_MAGIC {
        return Err(FileError::at(0, "not a snappy-java stream (bad magic)"));
    }
    // The declared lengths first, each checked against its block's size: one allocation.
    let mut total = 0usize;
    snappy_blocks(bytes, |off, block| {
        total += snappy_declared(off, block)?;
        Ok(())
    })?;
    let mut out = vec![0u8; total];
    let mut at = 0;
    let mut dec = snap::raw::Decoder::new();
    let incomplete = snappy_blocks(bytes, |off, block| {
        at += dec
            .decompress(block, &mut out[at..])
            .map_err(|e| FileError::at(off, format!("snappy block: {e}")))?;
        Ok(())
    })?;
    if incomplete {
        return Ok(Decompressed::Incomplete);
    }
    out.truncate(at);
    Ok(Decompressed::Whole(out))
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
        let gz = compress(Compression::Gzip, &data);
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
            Decompressed::Whole(data.clone())
        );
        assert_eq!(
            decompress(Compression::Snappy, &sn[..sn.len() - 3]).unwrap(),
            Decompressed::Incomplete
        );
        // What `compress` writes is what ZooKeeper's readers expect: the header, 32 KiB blocks.
        let big = b"0123456789".repeat(10_000);
        let packed = compress(Compression::Snappy, &big);
        assert_eq!(packed[..16], sn[..16]);
        assert_eq!(
            decompress(Compression::Snappy, &packed).unwrap(),
            Decompressed::Whole(big.clone())
        );
        let first = i32::from_be_bytes(packed[16..20].try_into().unwrap()) as usize;
        assert_eq!(
            snap::raw::decompress_len(&packed[20..20 + first]).unwrap(),
            32 << 10
        );
    }

    #[test]
    fn a_large_snapshot_at_each_formats_best_ratio_still_decompresses() {
        // 20 MB of zeros: deflate's and snappy's best case, far beyond what a snapshot reaches.
        let zeros = vec![0u8; 20_000_000];
        for how in [Compression::Gzip, Compression::Snappy] {
            let packed = compress(how, &zeros);
            assert!(
                packed.len() * how.max_expansion() >= zeros.len(),
                "{how:?}: {} bytes from {}",
                zeros.len(),
                packed.len()
            );
            assert_eq!(
                decompress(how, &packed).unwrap(),
                Decompressed::Whole(zeros.clone()),
                "{how:?}"
            );
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(zeros.len() / gz.len() > 1000, "{} bytes", gz.len());
        assert_eq!(
            decompress(Compression::Gzip, &gz).unwrap(),
            Decompressed::Whole(zeros)
        );
    }

    /// A raw snappy block: a 1-byte literal, then `copies` copies of 64 bytes at offset 1 (the
    /// format's best: 3 bytes each), declaring `declared` bytes.
    fn maximal_block(copies: usize, declared: u64) -> Vec<u8> {
        let mut block = Vec::new();
        let mut n = declared;
        while n >= 0x80 {
            block.push((n as u8) | 0x80);
            n >>= 7;
        }
        block.push(n as u8);
        block.extend_from_slice(&[0x00, b'a']);
        for _ in 0..copies {
            block.extend_from_slice(&[(63 << 2) | 2, 1, 0]);
        }
        block
    }

    fn snappy_stream(block: &[u8]) -> Vec<u8> {
        let mut v = SNAPPY_MAGIC.to_vec();
        v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        v.extend_from_slice(&(block.len() as i32).to_be_bytes());
        v.extend_from_slice(block);
        v
    }

    #[test]
    fn the_snappy_bound_admits_a_block_of_maximal_copies_and_refuses_a_byte_more_than_it_allows() {
        let copies = 1000;
        let real = 1 + 64 * copies;
        let block = maximal_block(copies, real as u64);
        assert_eq!(
            decompress(Compression::Snappy, &snappy_stream(&block)).unwrap(),
            Decompressed::Whole(vec![b'a'; real])
        );
        // The elements are 2 + 3 * copies bytes: at most 64/3 of that may be declared.
        let most = (2 + 3 * copies) * 64 / 3;
        let e = decompress(
            Compression::Snappy,
            &snappy_stream(&maximal_block(copies, most as u64 + 1)),
        )
        .unwrap_err();
        assert!(e.reason.contains("more than snappy can expand"), "{e}");
        assert_eq!(e.offset, 16);
        // Within the bound but more than the elements make: the block is refused as invalid.
        let e = decompress(
            Compression::Snappy,
            &snappy_stream(&maximal_block(copies, most as u64)),
        )
        .unwrap_err();
        assert!(e.reason.contains("snappy block"), "{e}");
    }

    #[test]
    fn bytes_after_the_gzip_member_are_ignored_as_javas_gzip_reader_ignores_them() {
        let data = b"0123456789".repeat(10_000);
        let mut gz = compress(Compression::Gzip, &data);
        gz.extend_from_slice(b"not another member");
        assert_eq!(
            decompress(Compression::Gzip, &gz).unwrap(),
            Decompressed::Whole(data)
        );
    }
}
