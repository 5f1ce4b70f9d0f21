//! Building reply frames: `ReplyHeader` + body, with the 4-byte length prefix.

use bytes::{BufMut, Bytes, BytesMut};

use super::codes::{event_type, opcode, xid, STATE_SYNC_CONNECTED};
use super::jute::Jute;
use super::records::*;

fn finish(mut out: BytesMut) -> Bytes {
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// A reply frame with a body (the body is written only when `err == 0`).
pub fn reply<B: Jute>(xid: i32, zxid: i64, err: i32, body: Option<&B>) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    out.put_i32(0);
    ReplyHeader { xid, zxid, err }.write(&mut out);
    if err == 0 {
        if let Some(b) = body {
            b.write(&mut out);
        }
    }
    finish(out)
}

/// A getData reply, written straight from the node's bytes (no intermediate buffer).
pub fn data_reply(xid: i32, zxid: i64, data: Option<&[u8]>, stat: &Stat) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + 16 + 4 + data.map_or(0, <[u8]>::len) + 68);
    out.put_i32(0);
    ReplyHeader { xid, zxid, err: 0 }.write(&mut out);
    super::jute::write::buffer(&mut out, data);
    stat.write(&mut out);
    finish(out)
}

/// A header-only reply (errors, and replies with an empty body).
pub fn header_only(xid: i32, zxid: i64, err: i32) -> Bytes {
    reply::<ErrorResponse>(xid, zxid, err, None)
}

/// A watch notification frame.
pub fn notification(zxid: i64, event: i32, path: &str) -> Bytes {
    let body = WatcherEvent {
        typ: event,
        state: STATE_SYNC_CONNECTED,
        path: path.to_string(),
    };
    reply(xid::NOTIFICATION, zxid, 0, Some(&body))
}

/// A frame around a record with no header (the ConnectResponse).
pub fn bare<B: Jute>(body: &B) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    body.write(&mut out);
    finish(out)
}

/// One entry of a multi / multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// create (1).
    Create(String),
    /// create2 / createTTL / createContainer (15).
    Create2(String, Stat),
    /// delete (2).
    Delete,
    /// setData (5).
    SetData(Stat),
    /// check (13).
    Check,
    /// getData (4), multiRead.
    GetData(Option<Bytes>, Stat),
    /// getChildren (8), multiRead.
    GetChildren(Vec<String>),
    /// A failed op (-1) with its code.
    Error(i32),
}

/// The body of a multi reply: one header + record per op, then the terminator.
pub fn multi_body(results: &[MultiResult]) -> Bytes {
    let mut out = BytesMut::with_capacity(64 * results.len() + 16);
    for r in results {
        let (typ, err) = match r {
            MultiResult::Create(_) => (opcode::CREATE, 0),
            MultiResult::Create2(..) => (opcode::CREATE2, 0),
            MultiResult::Delete => (opcode::DELETE, 0),
            MultiResult::SetData(_) => (opcode::SET_DATA, 0),
            MultiResult::Check => (opcode::CHECK, 0),
            MultiResult::GetData(..) => (opcode::GET_DATA, 0),
            MultiResult::GetChildren(_) => (opcode::GET_CHILDREN, 0),
            MultiResult::Error(e) => (opcode::ERROR, *e),
        };
        MultiHeader {
            typ,
            done: false,
            err,
        }
        .write(&mut out);
        match r {
            MultiResult::Create(p) => p.write(&mut out),
            MultiResult::Create2(p, s) => {
                p.write(&mut out);
                s.write(&mut out);
            }
            MultiResult::SetData(s) => s.write(&mut out),
            MultiResult::GetData(d, s) => {
                d.write(&mut out);
                s.write(&mut out);
            }
            MultiResult::GetChildren(c) => c.write(&mut out),
            MultiResult::Error(e) => ErrorResponse { err: *e }.write(&mut out),
            MultiResult::Delete | MultiResult::Check => {}
        }
    }
    MultiHeader {
        typ: -1,
        done: true,
        err: -1,
    }
    .write(&mut out);
    out.freeze()
}

/// A reply frame whose body is already encoded.
pub fn reply_raw(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(20 + body.len());
    out.put_i32(0);
    ReplyHeader { xid, zxid, err }.write(&mut out);
    out.put_slice(body);
    finish(out)
}

/// Decodes a multi reply body (for tests and tools).
pub fn decode_multi_body(bytes: Bytes) -> Result<Vec<MultiResult>, super::DecodeError> {
    let mut r = super::Reader::new(bytes);
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::read(&mut r)?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.typ {
            opcode::CREATE => MultiResult::Create(String::read(&mut r)?),
            opcode::CREATE2 => MultiResult::Create2(String::read(&mut r)?, Stat::read(&mut r)?),
            opcode::DELETE => MultiResult::Delete,
            opcode::SET_DATA => MultiResult::SetData(Stat::read(&mut r)?),
            opcode::CHECK => MultiResult::Check,
            opcode::GET_DATA => MultiResult::GetData(r.buffer()?, Stat::read(&mut r)?),
            opcode::GET_CHILDREN => MultiResult::GetChildren(r.vec()?),
            opcode::ERROR => MultiResult::Error(ErrorResponse::read(&mut r)?.err),
            other => {
                return Err(super::DecodeError::UnknownValue {
                    what: "multi result type",
                    value: other as i64,
                })
            }
        });
    }
}

/// Event types that only describe the server's own notifications.
pub const SERVER_EVENTS: [i32; 4] = [
    event_type::NODE_CREATED,
    event_type::NODE_DELETED,
    event_type::NODE_DATA_CHANGED,
    event_type::NODE_CHILDREN_CHANGED,
];
