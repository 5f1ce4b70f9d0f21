//! Bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/` and by a smoke test
//! that `cargo test` runs, so the same code path is exercised without a nightly toolchain.
//!
//! [`frame_decoder`] plays a client's byte stream into the server's decoders exactly as the
//! connection actor does: the bytes go through [`ClientCodec`] in chunks; the first frame is
//! decoded as a `ConnectRequest`, every frame as a request (`RequestHeader` + body). It panics
//! only if a decoder panics or an invariant below breaks.
//!
//! Invariants checked:
//! * the codec yields at most one four-letter word, first, and no frame longer than its limit;
//! * a decoded request re-encodes to a frame that decodes to the same request (decoding is a
//!   projection: lossy inputs such as invalid UTF-8 or a non-1 boolean normalise once);
//! * a decoded `ConnectRequest` re-encodes and decodes to itself.

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::Rng;
use tokio_util::codec::Decoder;

use super::codes::opcode as op;
use super::frame::{ClientCodec, Inbound};
use super::jute::Jute;
use super::records::*;
use super::request::{decode_request_frame, MultiOp, Request};

/// Frame limits the fuzzer picks from (the first input byte chooses).
const LIMITS: [usize; 4] = [0xfffff, 64, 4096, 0];

/// Feeds `data` to the server's frame and request decoders. See the module documentation.
pub fn frame_decoder(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let max = LIMITS[usize::from(control & 3)];
    let chunk = usize::from(control >> 2) + 1;
    let mut codec = ClientCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = 0usize;
    let mut words = 0usize;
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Inbound::FourLetterWord(_))) => {
                    assert_eq!(frames, 0, "a four-letter word after a frame");
                    words += 1;
                    assert_eq!(words, 1, "two four-letter words");
                }
                Ok(Some(Inbound::Frame(f))) => {
                    assert!(f.len() <= max, "frame of {} bytes over {max}", f.len());
                    if frames == 0 {
                        check_connect(f.clone());
                    }
                    check_request(f);
                    frames += 1;
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

fn check_connect(payload: bytes::Bytes) {
    if let Ok(req) = ConnectRequest::from_bytes(payload) {
        let again = ConnectRequest::from_bytes(req.to_bytes());
        assert_eq!(again.as_ref(), Ok(&req), "ConnectRequest re-encoding");
    }
}

fn check_request(payload: bytes::Bytes) {
    let Ok((header, req)) = decode_request_frame(payload, 2 * 0xfffff) else {
        return;
    };
    if matches!(req, Request::Multi(Err(_)) | Request::MultiRead(Err(_))) {
        return;
    }
    let frame = req.to_frame(header.xid);
    match decode_request_frame(frame.slice(4..), usize::MAX) {
        Ok((h2, again)) => {
            assert_eq!(h2, header, "header after re-encoding");
            assert_eq!(again, req, "request after re-encoding");
        }
        Err((_, e)) => panic!("re-encoded {req:?} does not decode: {e}"),
    }
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// A plausible client stream (the fuzzer's seed): the control byte, a ConnectRequest, then a
/// few requests, each framed.
pub fn seed(rng: &mut SmallRng) -> Vec<u8> {
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: rng.random_range(0..100),
        time_out: 30_000,
        session_id: 0,
        passwd: Bytes::from_static(&[0u8; 16]),
        read_only: if rng.random() { Some(false) } else { None },
    };
    let mut out = vec![rng.random::<u8>() & 0xfc];
    out.extend_from_slice(&framed(&connect.to_bytes()));
    let reqs = [
        Request::Ping,
        Request::GetData(PathWatchRequest {
            path: "/a".into(),
            watch: true,
        }),
        Request::Create(
            op::CREATE2,
            CreateRequest {
                path: "/a/b".into(),
                data: Some(Bytes::from_static(b"xyz")),
                acl: Acl::open_unsafe(),
                flags: 3,
            },
        ),
        Request::Multi(Ok(vec![
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 1,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/a/b".into(),
                version: -1,
            }),
        ])),
        Request::MultiRead(Ok(vec![MultiOp::GetChildren(PathWatchRequest {
            path: "/".into(),
            watch: false,
        })])),
        Request::SetWatches2(SetWatches2 {
            relative_zxid: 5,
            data_watches: vec!["/a".into()],
            ..Default::default()
        }),
        Request::Auth(AuthPacket {
            typ: 0,
            scheme: "digest".into(),
            auth: Some(Bytes::from_static(b"u:p")),
        }),
    ];
    for _ in 0..rng.random_range(1..5) {
        let r = &reqs[rng.random_range(0..reqs.len())];
        out.extend_from_slice(&r.to_frame(rng.random_range(-8..100)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use rand::SeedableRng;

    /// A few thousand inputs through the fuzz target: random bytes, four-letter words, and
    /// plausible streams with random byte flips, truncations and insertions.
    #[test]
    fn frame_decoder_smoke() {
        let mut rng = SmallRng::seed_from_u64(0x5eed);
        let mut frames_seen = 0;
        for i in 0..4000 {
            let input: Vec<u8> = match i % 4 {
                0 => {
                    let n = rng.random_range(0..300);
                    (0..n).map(|_| rng.random()).collect()
                }
                1 => {
                    let mut v = vec![rng.random()];
                    v.extend_from_slice(b"ruok");
                    v.extend((0..rng.random_range(0..20)).map(|_| rng.random::<u8>()));
                    v
                }
                _ => {
                    let mut v = seed(&mut rng);
                    for _ in 0..rng.random_range(0..6) {
                        if v.len() < 2 {
                            break;
                        }
                        let at = rng.random_range(1..v.len());
                        match rng.random_range(0..3) {
                            0 => v[at] = rng.random(),
                            1 => v.truncate(at),
                            _ => v.insert(at, rng.random()),
                        }
                    }
                    v
                }
            };
            frame_decoder(&input);
            if i % 4 >= 2 {
                frames_seen += 1;
            }
        }
        assert!(frames_seen > 0);
        // an unmutated stream really exercises the request path: it decodes fully
        let mut rng = SmallRng::seed_from_u64(1);
        let s = seed(&mut rng);
        let mut codec = ClientCodec::new(0xfffff);
        let mut buf = BytesMut::from(&s[1..]);
        let mut n = 0;
        while let Ok(Some(Inbound::Frame(f))) = codec.decode(&mut buf) {
            if n > 0 {
                assert!(decode_request_frame(f, 0xfffff).is_ok());
            }
            n += 1;
        }
        assert!(
            n >= 2,
            "the seed stream holds a ConnectRequest and requests"
        );
        let mut extra = BytesMut::new();
        extra.put_u8(0);
        frame_decoder(&extra);
    }
}
