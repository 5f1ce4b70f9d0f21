//! Byte-level mutations of a structured seed: what a corrupt disk, a buggy peer or an attacker
//! does to a valid encoding.

use rand::rngs::SmallRng;
use rand::Rng;

/// Lengths and values that break decoders that trust them.
const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Mutates `v` in place with 0 to 4 random edits (0: the valid seed itself).
pub fn mutate(rng: &mut SmallRng, v: &mut Vec<u8>) {
    let edits = match rng.random_range(0..10) {
        0..=1 => 0,
        2..=5 => 1,
        6..=8 => 2,
        _ => 4,
    };
    for _ in 0..edits {
        if v.is_empty() {
            v.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..v.len());
        match rng.random_range(0..9) {
            0 => v[at] ^= 1 << rng.random_range(0..8),
            1 => v[at] = [0, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xdc, 0xdd][rng.random_range(0..8)],
            2 => v.truncate(at),
            3 => {
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                v.splice(at..at, bytes);
            }
            4 => {
                let end = (at + rng.random_range(1..64)).min(v.len());
                let piece = v[at..end].to_vec();
                let to = rng.random_range(0..=v.len());
                v.splice(to..to, piece);
            }
            5 => {
                let end = (at + rng.random_range(1..32)).min(v.len());
                v.drain(at..end);
            }
            6 | 7 => {
                // A length or count field: 4 bytes (big-endian) or 1 byte.
                let x = INTERESTING_U32[rng.random_range(0..INTERESTING_U32.len())];
                let b = x.to_be_bytes();
                for (i, byte) in b.iter().enumerate() {
                    if at + i < v.len() {
                        v[at + i] = *byte;
                    }
                }
            }
            _ => v[at] = rng.random(),
        }
    }
}

/// Random bytes of a random length (up to `max`).
pub fn random_bytes(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| rng.random()).collect()
}
