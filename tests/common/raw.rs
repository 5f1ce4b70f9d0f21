//! A minimal client on raw frames (built with `zkr_actors::proto`): a session, a create, a
//! getData, a reply read without panicking (for a test that must tell a closed connection from
//! an answer). For tests that need no more than that and must not depend on a client library's
//! retries or timeouts.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zkr_actors::proto::codes::xid;
use zkr_actors::proto::records::{ConnectRequest, GetDataResponse, PathWatchRequest, ReplyHeader};
use zkr_actors::proto::{Jute, Request};

use super::read_frame;

/// A length-prefixed ConnectRequest for a new session with a 10 s timeout.
pub fn connect_frame() -> Vec<u8> {
    connect_frame_with_timeout(10_000)
}

/// A length-prefixed ConnectRequest for a new session asking for `timeout_ms`.
pub fn connect_frame_with_timeout(timeout_ms: i32) -> Vec<u8> {
    let payload = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    }
    .to_bytes();
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&payload);
    v
}

/// A session on `port`, retried for up to 30 s while the node is not serving yet (it closes
/// the connection then).
pub fn session(port: u16) -> TcpStream {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match try_session(port, 10_000) {
            Ok(s) => return s,
            Err(e) if Instant::now() > end => panic!("no session on {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// One attempt at a new session of `timeout_ms` on `port` (reads time out after 20 s): the
/// connection, or why there is none (refused, closed before the ConnectResponse).
pub fn try_session(port: u16, timeout_ms: i32) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| format!("set a read timeout: {e}"))?;
    s.write_all(&connect_frame_with_timeout(timeout_ms))
        .map_err(|e| format!("send ConnectRequest: {e}"))?;
    read_frame(&mut s, 1 << 20).map(|_| s)
}

/// A reply: its header and body.
#[derive(Debug)]
pub struct Reply {
    /// The header.
    pub header: ReplyHeader,
    /// What follows it.
    pub body: Bytes,
}

/// Why no reply was read.
#[derive(Debug)]
pub enum ReplyError {
    /// The server closed (or reset) the connection.
    Closed(String),
    /// Nothing arrived within the socket's read timeout.
    TimedOut,
    /// A frame that is no reply (an absurd length, too short for a header).
    Malformed(String),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Closed(e) => write!(f, "connection closed: {e}"),
            ReplyError::TimedOut => write!(f, "nothing within the read timeout"),
            ReplyError::Malformed(e) => write!(f, "malformed reply: {e}"),
        }
    }
}

/// Reads the next reply on `s` that is not a watch notification.
pub fn read_reply(s: &mut TcpStream) -> Result<Reply, ReplyError> {
    loop {
        let mut len = [0u8; 4];
        read_all(s, &mut len)?;
        let len = i32::from_be_bytes(len);
        if !(16..=16 << 20).contains(&len) {
            return Err(ReplyError::Malformed(format!("frame length {len}")));
        }
        let mut p = vec![0u8; len as usize];
        read_all(s, &mut p)?;
        let p = Bytes::from(p);
        let header = ReplyHeader::from_bytes(p.clone())
            .map_err(|e| ReplyError::Malformed(format!("reply header: {e:?}")))?;
        if header.xid != xid::NOTIFICATION {
            // The header is three fixed-size fields: xid, zxid, err.
            return Ok(Reply {
                header,
                body: p.slice(16..),
            });
        }
    }
}

/// `read_exact`, its error told apart: a timeout, or a closed connection.
fn read_all(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), ReplyError> {
    s.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ReplyError::TimedOut,
        _ => ReplyError::Closed(e.to_string()),
    })
}

/// The data of a successful getData reply.
pub fn data_of(reply: &Reply) -> Result<Bytes, String> {
    GetDataResponse::from_bytes(reply.body.clone())
        .map(|d| d.data.unwrap_or_default())
        .map_err(|e| format!("GetDataResponse: {e:?}"))
}

/// The error code of the reply to one request sent on `s`.
pub fn call(s: &mut TcpStream, xid: i32, req: &Request) -> i32 {
    s.write_all(&req.to_frame(xid)).expect("send request");
    let reply = read_frame(s, 16 << 20).expect("reply");
    i32::from_be_bytes([reply[12], reply[13], reply[14], reply[15]])
}

/// Creates `path` (persistent, open ACL) through a new session on `port`; panics unless it
/// succeeds.
pub fn create(port: u16, path: &str) {
    let mut s = session(port);
    let req = super::load::create(path, b"v");
    assert_eq!(call(&mut s, 1, &req), 0, "create {path}");
    close(&mut s);
}

/// Closes the session of `s` (closeSession), so that it does not expire later.
pub fn close(s: &mut TcpStream) {
    assert_eq!(call(s, 2, &Request::CloseSession), 0, "closeSession");
}

/// Does `path` exist (a getData through a new session on `port`)?
pub fn exists(port: u16, path: &str) -> bool {
    let mut s = session(port);
    let req = Request::GetData(PathWatchRequest {
        path: path.into(),
        watch: false,
    });
    let found = call(&mut s, 1, &req) == 0;
    close(&mut s);
    found
}
