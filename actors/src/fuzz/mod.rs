//! Fuzzing of every decoder that takes bytes from outside the process, on stable Rust.
//!
//! Each [`Target`] pairs a decoder with a structure-aware seed: a valid encoding of a random
//! structured value (a client stream, peer frames, a log segment of random txns, a snapshot of a
//! random tree, a SASL response, a four-letter word, Apache ZooKeeper's snapshots, plain, gzip
//! and snappy, and logs as `zkr import` reads them). [`run`] takes seeds from a pool, breaks
//! them with byte-level mutations ([`mutate`]: bit flips, truncation, insertion, splices,
//! length fields set to 0, 2^31 or 2^32-1, ...), re-frames half of the disk inputs with correct
//! checksums so that the mutation reaches the payload decoder, and feeds each input to the
//! decoder. Every input must:
//!
//! * not panic (each target also checks its own invariants, e.g. what decodes re-encodes to
//!   the same value);
//! * not hang: no input may take more than [`HANG`] of CPU time (the thread's own CPU time, so
//!   that a loaded machine does not fail the run);
//! * not allocate more than the input warrants: the most bytes held at once while decoding
//!   stay under [`allowed`]`(len)` = 1 MiB + 64 × the input's length (serde pre-allocates
//!   vectors up to 1 MiB from a declared count; a decoder that trusts a declared length beyond
//!   that fails), plus the target's [`Target::fixed_bytes`], what its decoder holds whatever the
//!   input (the disk decoders' record buffer; for a snapshot, an empty tree's first chunk of
//!   slots), plus, for a compressed format, its largest expansion × the input's length
//!   ([`Target::expansion`]: the decompressed snapshot is held whole; 1032 for gzip, 22 for
//!   snappy, see [`compressed`]). Checked when the test binary installs [`alloc::Counting`] as
//!   its allocator.
//!
//! `cargo test -p zkr-actors fuzz::` runs every target on a few thousand inputs. CI
//! (scripts/test.sh) runs each on 1,000,000 inputs with the release profile, on the test
//! binary its simulation step builds: `ZKR_FUZZ_INPUTS=1000000 cargo test --release -p
//! zkr-actors --lib fuzz::tests::fuzz -- --test-threads=2`: ~35 s of CPU for the 10 targets
//! (35 to 51 s wall on a shared, loaded 2-core machine; the budget is a minute and a half).
//! `ZKR_FUZZ_SEED` picks other inputs; more inputs is the long form (README). zoo.cfg and TOML
//! configurations are fuzzed the same way in the `zkr` binary's tests (src/fuzz_config.rs),
//! 1,000,000 inputs each in CI on the debug build. The libFuzzer targets in
//! `fuzz/` call the same bodies.

pub mod alloc;
pub mod compressed;
pub mod gen;
pub mod mutate;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::codec::Decoder;

use crate::peer::auth::{AuthFrame, HANDSHAKE_FRAME_LIMIT};
use crate::peer::codec::PeerCodec;
use crate::proto::frame::{ClientCodec, Inbound};
use crate::quorum::msg::{Hello, PeerMsg};
use crate::txnlog::format::{self, HEADER_LEN, LOG_MAGIC, RECORD_OVERHEAD};

/// Most CPU time any single input may take.
pub const HANG: Duration = Duration::from_secs(2);

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Seeds kept in a target's pool (each input mutates one of them).
const POOL: usize = 512;

/// The most bytes a decoder may hold at once for an input of `len` bytes.
pub fn allowed(len: usize) -> usize {
    (1 << 20) + 64 * len
}

/// A decoder under fuzzing.
pub struct Target {
    /// Its name (the test's name ends with it).
    pub name: &'static str,
    /// A valid input, built from a random structured value.
    pub seed: fn(&mut SmallRng) -> Vec<u8>,
    /// Re-frames disk records with correct checksums after mutating (so payloads get decoded);
    /// applied to half of the inputs.
    pub fix_checksums: Option<fn(&mut [u8])>,
    /// The decoder, with the target's own invariant checks.
    pub run: fn(&[u8]),
    /// Bytes the decoder holds whatever its input, allowed on top of [`allowed`].
    pub fixed_bytes: fn() -> usize,
    /// For a compressed format, the most bytes one input byte can decompress to: the
    /// decompressed input is held whole, so that many bytes per input byte are allowed on top of
    /// [`allowed`] (0 for the rest).
    pub expansion: usize,
}

/// [`Target::fixed_bytes`] of a decoder whose memory follows its input only.
pub fn no_fixed_bytes() -> usize {
    0
}

/// [`Target::fixed_bytes`] of the log and snapshot decoders: the buffer records are read into.
fn record_buffer_bytes() -> usize {
    format::READ_BUFFER_BYTES
}

/// [`Target::fixed_bytes`] of the snapshot decoder: the record buffer and the tree it builds,
/// whose first chunk of node slots is allocated whole (tree/arena.rs).
fn snapshot_fixed_bytes() -> usize {
    format::READ_BUFFER_BYTES + crate::tree::DataTree::new().node_heap_bytes()
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target.
    pub name: &'static str,
    /// Inputs fed.
    pub inputs: u64,
    /// Wall time.
    pub secs: f64,
    /// The slowest input (CPU time).
    pub slowest: Duration,
    /// The most bytes held at once by one input's decoding.
    pub max_alloc: usize,
    /// The longest input.
    pub max_len: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz {}: {} inputs in {:.1} s ({:.0}/s), slowest {:.2} ms, peak allocation {} KiB, longest input {} B",
            self.name,
            self.inputs,
            self.secs,
            self.inputs as f64 / self.secs.max(1e-9),
            self.slowest.as_secs_f64() * 1e3,
            self.max_alloc / 1024,
            self.max_len
        )
    }
}

/// Runs `t` on `inputs` inputs from `seed`. Panics (printing the input) on a failure.
pub fn run(t: &Target, inputs: u64, seed: u64) -> Report {
    let mut rng = SmallRng::seed_from_u64(seed);
    let pool: Vec<Vec<u8>> = (0..POOL).map(|_| (t.seed)(&mut rng)).collect();
    let fixed = (t.fixed_bytes)();
    let started = Instant::now();
    let mut report = Report {
        name: t.name,
        inputs,
        secs: 0.0,
        slowest: Duration::ZERO,
        max_alloc: 0,
        max_len: 0,
    };
    let mut input = Vec::new();
    for i in 0..inputs {
        input.clear();
        match rng.random_range(0..20) {
            0 => input.extend(mutate::random_bytes(&mut rng, 512)),
            1 => {
                // Two seeds spliced.
                let a = &pool[rng.random_range(0..POOL)];
                let b = &pool[rng.random_range(0..POOL)];
                input.extend_from_slice(&a[..rng.random_range(0..=a.len())]);
                input.extend_from_slice(&b[rng.random_range(0..=b.len())..]);
            }
            _ => input.extend_from_slice(&pool[rng.random_range(0..POOL)]),
        }
        mutate::mutate(&mut rng, &mut input);
        if let Some(fix) = t.fix_checksums.filter(|_| rng.random()) {
            fix(&mut input);
        }
        let base = alloc::current();
        alloc::reset();
        let t0 = thread_cpu();
        let outcome = std::panic::catch_unwind(|| (t.run)(&input));
        let took = thread_cpu().saturating_sub(t0);
        let peak = alloc::peak_since(base);
        let show = || {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{} input #{i} (seed {seed}), {} bytes: {hex}",
                t.name,
                input.len()
            )
        };
        if let Err(e) = outcome {
            eprintln!("panicked on {}", show());
            std::panic::resume_unwind(e);
        }
        assert!(took < HANG, "{:?} on {}", took, show());
        if alloc::active() {
            assert!(
                peak <= allowed(input.len()) + fixed + t.expansion * input.len(),
                "{peak} bytes held at once on {}",
                show()
            );
        }
        report.slowest = report.slowest.max(took);
        report.max_alloc = report.max_alloc.max(peak);
        report.max_len = report.max_len.max(input.len());
    }
    report.secs = started.elapsed().as_secs_f64();
    report
}

/// Recomputes the checksum of every whole record after a file header, as a disk that rotted
/// under a valid CRC (or a buggy writer) would present it.
fn fix_checksums(buf: &mut [u8]) {
    let mut off = HEADER_LEN;
    while off + RECORD_OVERHEAD <= buf.len() {
        let len = u32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        if len == 0 || off + RECORD_OVERHEAD + len > buf.len() {
            return;
        }
        let crc = crc32c::crc32c(&buf[off + RECORD_OVERHEAD..off + RECORD_OVERHEAD + len]);
        buf[off + 4..off + 8].copy_from_slice(&crc.to_be_bytes());
        off += RECORD_OVERHEAD + len;
    }
}

fn framed(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Client frames: [`crate::proto::fuzz::frame_decoder`].
pub const CLIENT_FRAMES: Target = Target {
    name: "client_frames",
    seed: crate::proto::fuzz::seed,
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: crate::proto::fuzz::frame_decoder,
};

/// Four-letter words: the first bytes of a connection, then the whitelist check.
pub const FOUR_LETTER_WORDS: Target = Target {
    name: "four_letter_words",
    seed: |rng| {
        let words = crate::proto::codes::FOUR_LETTER_WORDS;
        let mut v = words[rng.random_range(0..words.len())].as_bytes().to_vec();
        if rng.random_bool(0.3) {
            v.extend(mutate::random_bytes(rng, 16));
        }
        v
    },
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: four_letter_words,
};

fn four_letter_words(data: &[u8]) {
    let whitelist: Vec<String> = data
        .chunks(4)
        .skip(1)
        .take(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let node = crate::config::NodeSection {
        four_letter_words: whitelist,
        ..Default::default()
    };
    let mut codec = ClientCodec::new(1024);
    let mut buf = BytesMut::from(data);
    if let Ok(Some(Inbound::FourLetterWord(w))) = codec.decode(&mut buf) {
        assert!(
            crate::proto::codes::FOUR_LETTER_WORDS.contains(&w.as_str()) || w == "\u{fff4}",
            "not a four-letter word: {w:?}"
        );
        let _ = node.four_letter_word_allowed(&w);
        // Nothing more is decoded on that connection.
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
    }
}

/// Peer frames as a listener reads them: a hello and handshake frames under the handshake
/// frame limit, then peer messages; every frame is also tried as every type.
pub const PEER_FRAMES: Target = Target {
    name: "peer_frames",
    seed: |rng| {
        let mut v = Vec::new();
        framed(
            &mut v,
            &rmp_serde::to_vec(&gen::hello(rng)).unwrap_or_default(),
        );
        for _ in 0..rng.random_range(0..3) {
            framed(
                &mut v,
                &rmp_serde::to_vec(&gen::auth_frame(rng)).unwrap_or_default(),
            );
        }
        for _ in 0..rng.random_range(0..4) {
            framed(
                &mut v,
                &rmp_serde::to_vec(&gen::peer_msg(rng)).unwrap_or_default(),
            );
        }
        v
    },
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: peer_frames,
};

fn peer_frames(data: &[u8]) {
    let mut codec = PeerCodec::new(HANDSHAKE_FRAME_LIMIT);
    let mut buf = BytesMut::from(data);
    let mut n = 0;
    loop {
        if n == 3 {
            codec.set_max_frame_length(crate::peer::codec::MAX_PEER_FRAME_BYTES);
        }
        let frame = match codec.decode(&mut buf) {
            Ok(Some(f)) => f.freeze(),
            Ok(None) | Err(_) => break,
        };
        n += 1;
        let _ = rmp_serde::from_slice::<Hello>(&frame);
        let _ = rmp_serde::from_slice::<AuthFrame>(&frame);
        if let Ok(msg) = rmp_serde::from_slice::<PeerMsg>(&frame) {
            let again = rmp_serde::to_vec(&msg).expect("a decoded message encodes");
            assert_eq!(
                rmp_serde::from_slice::<PeerMsg>(&again).ok().as_ref(),
                Some(&msg),
                "peer message after re-encoding"
            );
        }
    }
    assert!(
        buf.capacity() <= data.len() + crate::peer::codec::RESERVE_AHEAD + 8,
        "the codec reserved {} bytes for {} received",
        buf.capacity(),
        data.len()
    );
}

/// Log segments (a corrupt disk): the recovery scan.
pub const LOG_SEGMENTS: Target = Target {
    name: "log_segments",
    seed: |rng| {
        let mut v = format::header(LOG_MAGIC, rng.random_range(0..1 << 40)).to_vec();
        for _ in 0..rng.random_range(0..5) {
            let _ = format::encode_record(&gen::txn(rng), &mut v);
        }
        v.extend(std::iter::repeat_n(0, rng.random_range(0..64)));
        v
    },
    fix_checksums: Some(fix_checksums),
    fixed_bytes: record_buffer_bytes,
    expansion: 0,
    run: |data| {
        if let Ok(scan) = crate::txnlog::segment::scan_bytes(data, "<fuzz>") {
            for (txn, _) in scan.txns {
                let mut again = Vec::new();
                format::encode_record(&txn, &mut again).expect("a decoded txn encodes");
                assert!(matches!(
                    format::decode_record::<crate::txn::Txn>(&again),
                    format::RecordRead::Record(t, _) if t == txn
                ));
            }
        }
    },
};

/// Snapshots (a corrupt disk, or a SNAP from a peer): decoding into a tree.
pub const SNAPSHOTS: Target = Target {
    name: "snapshots",
    seed: |rng| {
        let mut tree = crate::tree::DataTree::new();
        let mut zxid = 0;
        for _ in 0..rng.random_range(0..12) {
            zxid += 1;
            let mut t = gen::txn(rng);
            t.zxid = zxid;
            let _ = tree.apply(&t);
        }
        crate::txnlog::snapshot::encode_tree(&tree).to_vec()
    },
    fix_checksums: Some(fix_checksums),
    fixed_bytes: snapshot_fixed_bytes,
    expansion: 0,
    run: |data| {
        let _ = crate::txnlog::snapshot::decode_tree(data);
    },
};

/// SASL DIGEST-MD5 tokens: the client's response to the server's challenge, then more.
pub const SASL_TOKENS: Target = Target {
    name: "sasl_tokens",
    seed: |rng| crate::connection::sasl::fuzz_seed(rng, SASL_NONCE, &SASL_USERS),
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: |data| {
        let users: std::collections::BTreeMap<String, String> = SASL_USERS
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        let mut s = crate::connection::sasl::DigestMd5Server::new(SASL_NONCE.as_bytes().to_vec());
        let _ = s.step(b"", &users);
        let first = s.step(data, &users);
        // A completed exchange names a configured user.
        if let Ok(crate::connection::sasl::Step::Complete {
            authorization_id, ..
        }) = &first
        {
            assert!(
                users.contains_key(authorization_id),
                "authenticated {authorization_id:?}"
            );
        }
        let _ = s.step(data, &users);
    },
};

const SASL_NONCE: &str = "RZqyUPKhVdKOjA9VrYcMec/yC27yfYw6fhtNLtg5";
const SASL_USERS: [(&str, &str); 2] = [("super", "super_secret"), ("jaasuser", "jaas_password")];

/// Apache ZooKeeper's snapshots (`zkr import` reads them from a data dir zkr never wrote).
pub const ZOOKEEPER_SNAPSHOTS: Target = Target {
    name: "zookeeper_snapshots",
    seed: |rng| {
        let mut tree = crate::tree::DataTree::new();
        for zxid in 1..=rng.random_range(0..12) {
            let mut t = gen::txn(rng);
            t.zxid = zxid;
            let _ = tree.apply(&t);
        }
        crate::zkfiles::snapshot::encode(&crate::zkfiles::convert::snapshot_from_tree(&tree))
    },
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: |data| zookeeper_snapshot(bytes::Bytes::copy_from_slice(data)),
};

/// Decodes a ZooKeeper snapshot; what decodes re-encodes to the same snapshot.
fn zookeeper_snapshot(buf: bytes::Bytes) {
    if let Ok(snap) = crate::zkfiles::snapshot::decode(buf) {
        let again = crate::zkfiles::snapshot::encode(&snap);
        assert_eq!(
            crate::zkfiles::snapshot::decode(again.into()).ok().as_ref(),
            Some(&snap),
            "ZooKeeper snapshot after re-encoding"
        );
    }
}

/// Apache ZooKeeper's txn logs (`zkr import`): entries of random txns, digests or not.
pub const ZOOKEEPER_LOGS: Target = Target {
    name: "zookeeper_logs",
    seed: zookeeper_log_seed,
    fix_checksums: Some(fix_zookeeper_checksums),
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: |data| {
        use crate::zkfiles::txnlog;
        if let Ok(log) = txnlog::decode(bytes::Bytes::copy_from_slice(data)) {
            for e in log.entries {
                let again = txnlog::encode_txn(&e.header, &e.txn, e.digest.as_ref());
                let (h, t, d) =
                    txnlog::decode_txn(again).expect("a decoded ZooKeeper txn encodes and decodes");
                assert_eq!((h, t, d), (e.header, e.txn, e.digest));
            }
        }
    },
};

fn zookeeper_log_seed(rng: &mut SmallRng) -> Vec<u8> {
    use crate::proto::codes::opcode;
    use crate::zkfiles::records::{TxnDigest, TxnHeader, DIGEST_VERSION};
    use crate::zkfiles::txnlog::{self, ZkTxn};
    let mut v = Vec::new();
    txnlog::encode_header(&mut v);
    for i in 0..rng.random_range(0..6) {
        let path = gen::string(rng);
        let data = rng.random_bool(0.8).then(|| gen::bytes(rng, 32));
        let (typ, txn) = match rng.random_range(0..6) {
            0 => (
                opcode::CREATE_SESSION,
                ZkTxn::CreateSession {
                    timeout_ms: rng.random(),
                },
            ),
            1 => (
                opcode::CREATE,
                ZkTxn::Create {
                    path,
                    data,
                    acl: gen::acls(rng),
                    ephemeral: rng.random(),
                    parent_cversion: rng.random(),
                },
            ),
            2 => (opcode::DELETE, ZkTxn::Delete { path }),
            3 => (
                opcode::SET_DATA,
                ZkTxn::SetData {
                    path,
                    data,
                    version: rng.random(),
                },
            ),
            4 => (
                opcode::SET_ACL,
                ZkTxn::SetAcl {
                    path,
                    acl: gen::acls(rng),
                    version: rng.random(),
                },
            ),
            _ => (
                opcode::MULTI,
                ZkTxn::Multi(vec![(
                    opcode::CHECK,
                    ZkTxn::Check {
                        path,
                        version: rng.random(),
                    },
                )]),
            ),
        };
        let header = TxnHeader {
            client_id: rng.random(),
            cxid: i,
            zxid: i64::from(i) + 1,
            time: rng.random(),
            typ,
        };
        let digest = rng.random_bool(0.5).then(|| TxnDigest {
            version: DIGEST_VERSION,
            tree_digest: rng.random(),
        });
        txnlog::encode_entry(&txnlog::encode_txn(&header, &txn, digest.as_ref()), &mut v);
    }
    v.extend(std::iter::repeat_n(0, rng.random_range(0..64)));
    v
}

/// The same for ZooKeeper's log entries: an 8-byte Adler-32, a 4-byte length, the bytes, 'B'.
fn fix_zookeeper_checksums(buf: &mut [u8]) {
    let mut off = crate::zkfiles::records::FILE_HEADER_LEN;
    while off + 12 <= buf.len() {
        let len = i32::from_be_bytes([buf[off + 8], buf[off + 9], buf[off + 10], buf[off + 11]]);
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        if len == 0 || off + 12 + len > buf.len() {
            return;
        }
        let sum = i64::from(crate::zkfiles::adler32(&buf[off + 12..off + 12 + len]));
        buf[off..off + 8].copy_from_slice(&sum.to_be_bytes());
        off += 12 + len + 1;
    }
}

/// Every target of this crate.
pub const TARGETS: [&Target; 10] = [
    &CLIENT_FRAMES,
    &FOUR_LETTER_WORDS,
    &PEER_FRAMES,
    &LOG_SEGMENTS,
    &SNAPSHOTS,
    &SASL_TOKENS,
    &ZOOKEEPER_SNAPSHOTS,
    &ZOOKEEPER_LOGS,
    &compressed::ZOOKEEPER_SNAPSHOTS_GZIP,
    &compressed::ZOOKEEPER_SNAPSHOTS_SNAPPY,
];

/// Inputs per target: `ZKR_FUZZ_INPUTS`, else a few thousand (debug) or 100,000 (release).
pub fn inputs_from_env() -> u64 {
    std::env::var("ZKR_FUZZ_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            3_000
        } else {
            100_000
        })
}

/// The seed of a run: `ZKR_FUZZ_SEED`, else a fixed one.
pub fn seed_from_env() -> u64 {
    std::env::var("ZKR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x2b7e_1516)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zkfiles::compression::Compression;

    fn fuzz(t: &Target) {
        let r = run(t, inputs_from_env(), seed_from_env());
        println!("{r}");
    }

    #[test]
    fn fuzz_client_frames() {
        fuzz(&CLIENT_FRAMES);
    }

    #[test]
    fn fuzz_four_letter_words() {
        fuzz(&FOUR_LETTER_WORDS);
    }

    #[test]
    fn fuzz_peer_frames() {
        fuzz(&PEER_FRAMES);
    }

    #[test]
    fn fuzz_log_segments() {
        fuzz(&LOG_SEGMENTS);
    }

    #[test]
    fn fuzz_snapshots() {
        fuzz(&SNAPSHOTS);
    }

    #[test]
    fn fuzz_sasl_tokens() {
        fuzz(&SASL_TOKENS);
    }

    #[test]
    fn fuzz_zookeeper_snapshots() {
        fuzz(&ZOOKEEPER_SNAPSHOTS);
    }

    #[test]
    fn fuzz_zookeeper_logs() {
        fuzz(&ZOOKEEPER_LOGS);
    }

    #[test]
    fn fuzz_zookeeper_snapshots_gzip() {
        fuzz(&compressed::ZOOKEEPER_SNAPSHOTS_GZIP);
    }

    #[test]
    fn fuzz_zookeeper_snapshots_snappy() {
        fuzz(&compressed::ZOOKEEPER_SNAPSHOTS_SNAPPY);
    }

    #[test]
    fn seeds_are_valid_before_mutation() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..50 {
            let seg = (LOG_SEGMENTS.seed)(&mut rng);
            assert!(crate::txnlog::segment::scan_bytes(&seg, "seed").is_ok());
            let snap = (SNAPSHOTS.seed)(&mut rng);
            assert!(crate::txnlog::snapshot::decode_tree(&snap).is_ok());
            let zk_snap = (ZOOKEEPER_SNAPSHOTS.seed)(&mut rng);
            assert!(crate::zkfiles::snapshot::decode(zk_snap.into()).is_ok());
            for (t, how) in [
                (&compressed::ZOOKEEPER_SNAPSHOTS_GZIP, Compression::Gzip),
                (&compressed::ZOOKEEPER_SNAPSHOTS_SNAPPY, Compression::Snappy),
            ] {
                let packed = (t.seed)(&mut rng);
                assert!(matches!(
                    crate::zkfiles::compression::decompress(how, &packed),
                    Ok(crate::zkfiles::compression::Decompressed::Whole(_))
                ));
            }
            let zk_log = (ZOOKEEPER_LOGS.seed)(&mut rng);
            assert!(crate::zkfiles::txnlog::decode(zk_log.into()).is_ok());
            let peer = (PEER_FRAMES.seed)(&mut rng);
            let hello_len = u32::from_be_bytes(peer[..4].try_into().unwrap()) as usize;
            assert!(rmp_serde::from_slice::<Hello>(&peer[4..4 + hello_len]).is_ok());
        }
    }

    #[test]
    fn an_over_allocating_decoder_is_caught() {
        if !alloc::active() {
            let _ = Vec::<u8>::with_capacity(1);
        }
        assert!(
            alloc::active(),
            "the counting allocator is installed for tests"
        );
        let greedy = Target {
            name: "greedy",
            seed: |_| vec![0, 0, 0, 4],
            fix_checksums: None,
            fixed_bytes: no_fixed_bytes,
            expansion: 0,
            run: |d| {
                // Trusts a declared length.
                let n = d.first().map_or(0, |b| *b as usize) << 16;
                std::hint::black_box(vec![0u8; n]);
            },
        };
        let caught = std::panic::catch_unwind(|| run(&greedy, 2_000, 1));
        assert!(
            caught.is_err(),
            "a decoder allocating 64 KiB per input byte passed"
        );
    }
}
