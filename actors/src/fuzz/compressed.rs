//! Compressed Apache ZooKeeper snapshots (`snapshot.<zxid>.gz`, `.snappy`) as `zkr import`
//! reads them: decompressed whole ([`crate::zkfiles::compression`]), then decoded.
//!
//! Seeds: a valid ZooKeeper snapshot as [`super::ZOOKEEPER_SNAPSHOTS`] builds it, mutated first
//! in half of them (so that a valid stream carries a broken snapshot to the decoder), then
//! compressed as ZooKeeper writes it. Allocation bound: [`super::allowed`]`(len)` plus the
//! format's largest expansion × len (the decompressed snapshot is held whole: 1032 bytes per
//! input byte for gzip, 22 for snappy), plus, for gzip, the decoder's own state
//! ([`GZIP_DECODER_BYTES`]).

use rand::rngs::SmallRng;
use rand::Rng;

use super::{mutate, no_fixed_bytes, Target};
use crate::zkfiles::compression::{
    compress, decompress, Compression, Decompressed, GZIP_DECODER_BYTES,
};

fn seed(how: Compression, rng: &mut SmallRng) -> Vec<u8> {
    let mut plain = (super::ZOOKEEPER_SNAPSHOTS.seed)(rng);
    if rng.random() {
        mutate::mutate(rng, &mut plain);
    }
    compress(how, &plain)
}

fn decode(how: Compression, data: &[u8]) {
    if let Ok(Decompressed::Whole(plain)) = decompress(how, data) {
        assert!(
            plain.len() <= data.len() * how.max_expansion(),
            "{} bytes expanded to {}",
            data.len(),
            plain.len()
        );
        super::zookeeper_snapshot(plain.into());
    }
}

/// `snapshot.<zxid>.gz`: one gzip member.
pub const ZOOKEEPER_SNAPSHOTS_GZIP: Target = Target {
    name: "zookeeper_snapshots_gzip",
    seed: |rng| seed(Compression::Gzip, rng),
    fix_checksums: None,
    fixed_bytes: || GZIP_DECODER_BYTES,
    expansion: crate::zkfiles::compression::DEFLATE_MAX_EXPANSION,
    run: |data| decode(Compression::Gzip, data),
};

/// `snapshot.<zxid>.snappy`: snappy-java's stream of raw snappy blocks.
pub const ZOOKEEPER_SNAPSHOTS_SNAPPY: Target = Target {
    name: "zookeeper_snapshots_snappy",
    seed: |rng| seed(Compression::Snappy, rng),
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: crate::zkfiles::compression::SNAPPY_MAX_EXPANSION,
    run: |data| decode(Compression::Snappy, data),
};

#[cfg(test)]
mod tests {
    use crate::fuzz::alloc;
    use crate::zkfiles::compression::{
        compress, decompress, Compression, Decompressed, GZIP_DECODER_BYTES,
    };
    use std::io::Write;

    /// The most bytes held at once while `f` runs on this thread.
    fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let base = alloc::current();
        alloc::reset();
        let out = f();
        (out, alloc::peak_since(base))
    }

    fn snappy_stream(blocks: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![
            0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
        ];
        for b in blocks {
            v.extend_from_slice(&(b.len() as i32).to_be_bytes());
            v.extend_from_slice(b);
        }
        v
    }

    #[test]
    fn a_snappy_block_declaring_more_than_snappy_can_expand_to_is_refused_before_allocating() {
        // A 6-byte block whose preamble declares 2^32 - 1 bytes: one literal tag can't make them.
        let hostile = snappy_stream(&[&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]]);
        let (got, peak) = peak_of(|| decompress(Compression::Snappy, &hostile));
        assert!(got.is_err(), "{got:?}");
        assert!(
            peak < 64 << 10,
            "{peak} bytes held for a {}-byte input",
            hostile.len()
        );
    }

    #[test]
    fn a_gzip_bomb_holds_no_more_than_its_output_and_the_decoder() {
        // 10 MB of zeros: ~10 KB of gzip (deflate's best is ~1032:1).
        let plain = vec![0u8; 10_000_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).unwrap();
        let bomb = gz.finish().unwrap();
        drop(plain);
        let (got, peak) = peak_of(|| decompress(Compression::Gzip, &bomb));
        let Ok(Decompressed::Whole(out)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(out.len(), 10_000_000);
        assert!(
            peak <= out.len() + GZIP_DECODER_BYTES,
            "{peak} bytes held for {} decompressed from {}",
            out.len(),
            bomb.len()
        );
    }

    #[test]
    fn a_gzip_decoder_holds_at_most_gzip_decoder_bytes_besides_its_output() {
        let small = compress(Compression::Gzip, b"snapshot");
        let (got, peak) = peak_of(|| decompress(Compression::Gzip, &small));
        assert_eq!(got, Ok(Decompressed::Whole(b"snapshot".to_vec())));
        assert!(peak <= 8 + GZIP_DECODER_BYTES, "{peak} bytes held");
        println!("gzip decoder: {peak} bytes held for 8 decompressed");
    }

    #[test]
    fn a_snappy_stream_is_decompressed_into_one_buffer_of_its_exact_size() {
        let plain: Vec<u8> = (0..1_000_000u32).map(|i| (i / 1000) as u8).collect();
        let sn = compress(Compression::Snappy, &plain);
        let (got, peak) = peak_of(|| decompress(Compression::Snappy, &sn));
        assert_eq!(got, Ok(Decompressed::Whole(plain.clone())));
        assert!(
            peak <= plain.len() + (1 << 10),
            "{peak} bytes held for {}",
            plain.len()
        );
    }

    #[test]
    fn a_torn_gzip_file_whose_last_bytes_claim_4_gib_is_not_whole_and_holds_only_the_decoder() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut torn = compress(Compression::Gzip, &plain);
        torn.truncate(torn.len() / 2);
        let at = torn.len() - 4;
        torn[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        let (got, peak) = peak_of(|| decompress(Compression::Gzip, &torn));
        assert!(!matches!(got, Ok(Decompressed::Whole(_))), "{got:?}");
        assert!(peak <= GZIP_DECODER_BYTES, "{peak} bytes held");
    }
}
