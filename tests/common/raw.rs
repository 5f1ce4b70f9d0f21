//! A minimal client on raw frames (built with `zkr_actors::proto`): a session, a create, a
//! getData. For tests that need no more than that and must not depend on a client library's
//! retries.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zkr_actors::proto::records::{ConnectRequest, PathWatchRequest};
use zkr_actors::proto::{Jute, Request};

use super::read_frame;

/// A length-prefixed ConnectRequest for a new session with a 10 s timeout.
pub fn connect_frame() -> Vec<u8> {
    let payload = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
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
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&connect_frame()).expect("send ConnectRequest");
        match read_frame(&mut s, 1 << 20) {
            Ok(_) => return s,
            Err(e) if Instant::now() > end => panic!("no session on {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
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
