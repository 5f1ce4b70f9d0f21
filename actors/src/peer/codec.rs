//! The peer frame codec: a 4-byte big-endian length, then an rmp-serde frame. A declared length
//! costs nothing until its bytes arrive (at most [`RESERVE_AHEAD`] reserved past what came), and
//! a frame longer than the codec's bound is refused before it is read.

use bytes::Bytes;
use tokio_util::codec::LengthDelimitedCodec;

/// Largest peer frame (a SNAP carries a whole tree).
pub const MAX_PEER_FRAME_BYTES: usize = 1 << 30;

/// A peer codec refusing frames longer than `max`.
pub fn codec(max: usize) -> PeerCodec {
    PeerCodec {
        inner: LengthDelimitedCodec::builder()
            .max_frame_length(max)
            .new_codec(),
        max,
    }
}

/// Most bytes reserved ahead of what has arrived for a frame still coming.
pub const RESERVE_AHEAD: usize = 64 * 1024;

/// The peer frame codec: a 4-byte big-endian length, then the frame. Unlike tokio-util's
/// `LengthDelimitedCodec` alone, a declared length costs nothing until its bytes arrive (the
/// buffer grows at most [`RESERVE_AHEAD`] past what was received), so a peer declaring 1 GiB and
/// sending 4 bytes does not make this server allocate 1 GiB.
#[derive(Debug)]
pub struct PeerCodec {
    inner: LengthDelimitedCodec,
    max: usize,
}

impl PeerCodec {
    /// A codec refusing frames longer than `max`.
    pub fn new(max: usize) -> PeerCodec {
        codec(max)
    }

    /// Changes the largest frame accepted (after the handshake).
    pub fn set_max_frame_length(&mut self, max: usize) {
        self.max = max;
        self.inner.set_max_frame_length(max);
    }
}

impl tokio_util::codec::Decoder for PeerCodec {
    type Item = bytes::BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if src.len() >= 4 {
            let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
            if len <= self.max && src.len() < 4 + len {
                src.reserve((4 + len - src.len()).min(RESERVE_AHEAD));
                return Ok(None);
            }
        }
        self.inner.decode(src)
    }
}

impl tokio_util::codec::Encoder<Bytes> for PeerCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        self.inner.encode(item, dst)
    }
}
