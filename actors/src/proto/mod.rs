//! ZooKeeper's client wire protocol ("jute"), byte for byte.
//!
//! Everything here is pure: bytes in, typed values out, and back. Nothing in this module does IO,
//! reads a clock or panics on input: every decoder returns a [`DecodeError`] for malformed bytes.
//!
//! * [`jute`]: the primitive encodings (big-endian ints, length-prefixed strings and buffers,
//!   vectors) and the [`Jute`] trait every record implements.
//! * [`records`]: the records of `zookeeper.jute` that travel between clients and servers.
//! * [`request`]: a request frame (`RequestHeader` + body) decoded by opcode into [`Request`].
//! * [`frame`]: the length-prefixed framing on the socket, including four-letter-word detection.
//! * [`codes`]: opcodes, error codes, event types and the other numeric constants.

pub mod codes;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub mod jute;
#[cfg(test)]
mod proptests;
pub mod records;
pub mod reply;
pub mod request;

pub use codes::{opcode, ErrorCode};
pub use jute::{DecodeError, Jute, Reader};
pub use records::*;
pub use request::{MultiOp, Request};
