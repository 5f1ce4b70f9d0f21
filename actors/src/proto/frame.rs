//! Framing on the client socket: a 4-byte big-endian length, then that many bytes.
//!
//! A fresh connection's first 4 bytes may instead be a four-letter word (`ruok`, `srvr`, ...);
//! ZooKeeper recognises one only there. [`ClientCodec`] reports it as [`Inbound::FourLetterWord`]
//! and yields nothing more. A length below 0 or above `jute.maxbuffer` is
//! [`FrameError::BadLength`]: the server closes the connection without a reply, as ZooKeeper does.
//!
//! Invariant: the decoder never panics, never buffers more than one frame's declared length,
//! never allocates for a length it has refused, and never reserves more than [`RESERVE_AHEAD`]
//! bytes beyond what has arrived (10,000 connections each declaring 1 MB and sending 4 bytes must
//! not cost 10 GB).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::codes::{FOUR_LETTER_WORDS, TELNET_CLOSE};

/// Most bytes reserved ahead of the data received for a frame still arriving.
pub const RESERVE_AHEAD: usize = 64 * 1024;

/// What arrived on a client socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// One frame's payload (without the length prefix).
    Frame(Bytes),
    /// A four-letter word at the start of a fresh connection (e.g. "ruok"), or "\u{fff4}" for
    /// the telnet close sequence.
    FourLetterWord(String),
}

/// Why the byte stream is not a valid sequence of frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A declared length below 0 or above the limit.
    #[error("frame length {len} outside 0..={max}")]
    BadLength {
        /// The declared length.
        len: i64,
        /// The limit (`jute.maxbuffer`).
        max: usize,
    },
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Decoder for the client port: frames, or one four-letter word on a fresh connection.
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_frame_len: usize,
    fresh: bool,
    done: bool,
}

impl ClientCodec {
    /// A codec refusing frames whose payload is longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> ClientCodec {
        ClientCodec {
            max_frame_len,
            fresh: true,
            done: false,
        }
    }

    /// A codec for a peer that is past its first frame (no four-letter words).
    pub fn framed_only(max_frame_len: usize) -> ClientCodec {
        ClientCodec {
            max_frame_len,
            fresh: false,
            done: false,
        }
    }
}

/// The four-letter word whose 4 ASCII bytes read as the big-endian int `value`, if any.
pub fn four_letter_word(value: i32) -> Option<String> {
    if value == TELNET_CLOSE {
        return Some("\u{fff4}".to_string());
    }
    let bytes = value.to_be_bytes();
    FOUR_LETTER_WORDS
        .iter()
        .find(|w| w.as_bytes() == bytes)
        .map(|w| w.to_string())
}

impl Decoder for ClientCodec {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        if self.done {
            src.clear();
            return Ok(None);
        }
        if src.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if self.fresh {
            self.fresh = false;
            if let Some(word) = four_letter_word(len) {
                self.done = true;
                src.clear();
                return Ok(Some(Inbound::FourLetterWord(word)));
            }
        }
        if len < 0 || len as usize > self.max_frame_len {
            return Err(FrameError::BadLength {
                len: len as i64,
                max: self.max_frame_len,
            });
        }
        let len = len as usize;
        if src.len() < 4 + len {
            // Room for what is coming, but never more than RESERVE_AHEAD beyond the bytes that
            // arrived: a declared length costs nothing until its bytes are sent.
            src.reserve((4 + len - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(Inbound::Frame(src.split_to(len).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut ClientCodec, bytes: &[u8]) -> Vec<Result<Inbound, String>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(x)) => out.push(Ok(x)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn ruok_is_a_word_on_a_fresh_connection() {
        let mut c = ClientCodec::new(1024);
        assert_eq!(
            decode_all(&mut c, b"ruok\n"),
            vec![Ok(Inbound::FourLetterWord("ruok".into()))]
        );
    }

    #[test]
    fn words_are_lengths_after_the_first_frame() {
        let mut c = ClientCodec::new(1024);
        let mut bytes = vec![0, 0, 0, 1, 7];
        bytes.extend_from_slice(b"ruok");
        let out = decode_all(&mut c, &bytes);
        assert_eq!(out[0], Ok(Inbound::Frame(Bytes::from_static(&[7]))));
        assert!(out[1].is_err());
    }

    #[test]
    fn negative_and_huge_lengths_are_refused() {
        assert!(decode_all(&mut ClientCodec::new(1024), &[0xff, 0xff, 0xff, 0xf0])[0].is_err());
        assert!(decode_all(&mut ClientCodec::new(1024), &[0, 0, 4, 1])[0].is_err());
    }

    #[test]
    fn a_declared_length_reserves_little_until_its_bytes_arrive() {
        let mut c = ClientCodec::new(1 << 20);
        let mut buf = BytesMut::from(&(1i32 << 20).to_be_bytes()[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= 4 + RESERVE_AHEAD, "{}", buf.capacity());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut c = ClientCodec::new(1024);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1][..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[2, 3]);
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(Inbound::Frame(Bytes::from_static(&[1, 2, 3])))
        );
    }
}
