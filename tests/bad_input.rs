//! Malformed and hostile input on raw TCP sockets against a live node.
//!
//! Every case asserts what Apache ZooKeeper does with the same bytes (protocol doc §1, §3.7, §4,
//! §5, §9): which reply comes back (error code, exact size) or that the connection is closed
//! without any reply. After each case the node must still be running, a session opened *before*
//! the abuse must still answer a ping and a getData, and a fresh session must work.
//!
//! Frames are built by hand or with `zkr_actors::proto`.
//!
//! Set `ZKR_EXTERNAL_SERVER=host:port` to run the same cases against another server (e.g. Apache
//! ZooKeeper 3.8.0 started with tests/support/servers.py); the cases marked "zkr only" then do
//! nothing, because 3.8.0 predates the behaviour they check (see the comment on each).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use zkr_actors::proto::codes::{opcode, xid, ErrorCode};
use zkr_actors::proto::records::*;
use zkr_actors::proto::{Jute, Request};

/// How long any single read may block before the test calls the server unresponsive.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

const BAD_ARGUMENTS: i32 = ErrorCode::BadArguments as i32;
const NO_NODE: i32 = ErrorCode::NoNode as i32;
const INVALID_ACL: i32 = ErrorCode::InvalidAcl as i32;
const MARSHALLING_ERROR: i32 = ErrorCode::MarshallingError as i32;
const UNIMPLEMENTED: i32 = ErrorCode::Unimplemented as i32;

/// The server under test: a zkr node of our own, or an external server.
struct Server {
    node: Option<common::ZkrNode>,
    addr: String,
}

impl Server {
    fn start() -> Server {
        if let Ok(addr) = std::env::var("ZKR_EXTERNAL_SERVER") {
            // A shared server: start from an empty tree (run with --test-threads=1).
            let (mut c, _) = Raw::session(&addr);
            wipe(&mut c, "/");
            return Server { node: None, addr };
        }
        let node = common::ZkrNode::start("");
        Server {
            addr: node.addr(),
            node: Some(node),
        }
    }

    fn is_zkr(&self) -> bool {
        self.node.is_some()
    }

    /// The process still runs and still answers `ruok`.
    fn assert_alive(&mut self) {
        if let Some(n) = &mut self.node {
            assert!(n.is_running(), "the node died; log:\n{}", n.log());
        }
        let mut s = TcpStream::connect(&self.addr).expect("connect for ruok");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"ruok").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert_eq!(out, "imok", "ruok after the abuse");
    }
}

/// A length-prefixed frame around `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A request frame: header `{xid, opcode}` then `body`.
fn request_frame(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut p = BytesMut::new();
    p.put_i32(xid);
    p.put_i32(op);
    p.put_slice(body);
    frame(&p)
}

fn connect_payload(
    session_id: i64,
    passwd: &[u8],
    last_zxid: i64,
    read_only: Option<bool>,
) -> Bytes {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: last_zxid,
        time_out: 30_000,
        session_id,
        passwd: Bytes::copy_from_slice(passwd),
        read_only,
    }
    .to_bytes()
}

/// A raw client connection.
struct Raw {
    s: TcpStream,
    next_xid: i32,
}

/// What came back for one request.
#[derive(Debug)]
struct Reply {
    header: ReplyHeader,
    body: Bytes,
}

impl Raw {
    fn open(addr: &str) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        Raw { s, next_xid: 1 }
    }

    /// A new session with the standard 45-byte ConnectRequest.
    fn session(addr: &str) -> (Raw, ConnectResponse) {
        let mut r = Raw::open(addr);
        r.send(&frame(&connect_payload(0, &[0u8; 16], 0, Some(false))));
        let payload = r.read_frame().expect("ConnectResponse");
        assert_eq!(
            payload.len(),
            37,
            "ConnectResponse size for a 45-byte request"
        );
        let resp = ConnectResponse::from_bytes(Bytes::from(payload)).unwrap();
        assert_ne!(resp.session_id, 0, "new session refused");
        assert!(resp.time_out > 0);
        (r, resp)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write to server");
    }

    /// One frame's payload; `Err` describes a close or a timeout.
    fn read_frame(&mut self) -> Result<Vec<u8>, String> {
        common::read_frame(&mut self.s, 16 << 20)
    }

    /// The next reply that is not a watch notification.
    fn read_reply(&mut self) -> Reply {
        loop {
            let p = self.read_frame().expect("a reply frame");
            let bytes = Bytes::from(p);
            let header = ReplyHeader::from_bytes(bytes.clone()).expect("reply header");
            if header.xid == xid::NOTIFICATION {
                continue;
            }
            return Reply {
                header,
                body: bytes.slice(16..),
            };
        }
    }

    /// Sends `req` with a fresh xid and returns its reply (checked to carry that xid).
    fn call(&mut self, req: &Request) -> Reply {
        let x = match req {
            Request::Ping => xid::PING,
            Request::Auth(_) => xid::AUTH,
            _ => {
                self.next_xid += 1;
                self.next_xid
            }
        };
        self.send(&req.to_frame(x));
        let r = self.read_reply();
        assert_eq!(r.header.xid, x, "reply xid for {req:?}");
        r
    }

    /// Sends a hand-made request with `xid` and returns its reply.
    fn call_raw(&mut self, x: i32, op: i32, body: &[u8]) -> Reply {
        self.send(&request_frame(x, op, body));
        let r = self.read_reply();
        assert_eq!(r.header.xid, x, "reply xid for opcode {op}");
        r
    }

    /// Asserts the server closes the connection without sending one more byte.
    fn expect_closed_silently(&mut self, what: &str) {
        let got = self.drain_until_closed(what);
        assert!(
            got.is_empty(),
            "{what}: expected a close without reply, got {} bytes: {:02x?}",
            got.len(),
            &got[..got.len().min(64)]
        );
    }

    /// Reads until EOF (or reset); returns what arrived. Panics if the server keeps it open.
    fn drain_until_closed(&mut self, what: &str) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = Instant::now() + IO_TIMEOUT;
        loop {
            assert!(Instant::now() < end, "{what}: connection still open");
            match self.s.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("{what}: connection still open ({e})"),
            }
        }
    }
}

fn create_req(path: &str, acl: Vec<Acl>, flags: i32) -> Request {
    Request::Create(
        opcode::CREATE,
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"x")),
            acl,
            flags,
        },
    )
}

fn get_data_req(path: &str) -> Request {
    Request::GetData(PathWatchRequest {
        path: path.into(),
        watch: false,
    })
}

/// Deletes everything below `path` except the /zookeeper subtree.
fn wipe(c: &mut Raw, path: &str) {
    let r = c.call(&Request::GetChildren(PathWatchRequest {
        path: path.into(),
        watch: false,
    }));
    if r.header.err != 0 {
        return;
    }
    for child in GetChildrenResponse::from_bytes(r.body).unwrap().children {
        let p = if path == "/" {
            format!("/{child}")
        } else {
            format!("{path}/{child}")
        };
        if p == "/zookeeper" {
            continue;
        }
        wipe(c, &p);
        c.call(&Request::Delete(DeleteRequest {
            path: p,
            version: -1,
        }));
    }
}

/// Ping and getData("/") answered on `h`.
fn check_healthy(h: &mut Raw) {
    let r = h.call(&Request::Ping);
    assert_eq!(r.header.err, 0, "ping");
    let r = h.call(&get_data_req("/"));
    assert_eq!(r.header.err, 0, "getData /");
    let d = GetDataResponse::from_bytes(r.body).expect("GetDataResponse");
    assert!(d.stat.num_children >= 1);
}

/// Runs `case` against a fresh server with a healthy session opened before it, then checks the
/// server, the healthy session and a brand-new session.
fn abuse(case: impl FnOnce(&Server)) {
    let mut srv = Server::start();
    let (mut healthy, _) = Raw::session(&srv.addr);
    check_healthy(&mut healthy);
    case(&srv);
    srv.assert_alive();
    check_healthy(&mut healthy);
    let (mut fresh, _) = Raw::session(&srv.addr);
    check_healthy(&mut fresh);
}

fn assert_err(r: &Reply, code: i32, what: &str) {
    assert_eq!(r.header.err, code, "{what}: error code");
    assert!(r.body.is_empty(), "{what}: an error reply has no body");
}

#[test]
fn garbage_bytes_close_the_connection_without_reply() {
    abuse(|srv| {
        // "GET " is 0x47455420: a length far above jute.maxbuffer.
        let mut c = Raw::open(&srv.addr);
        c.send(b"GET / HTTP/1.1\r\nHost: zk\r\n\r\n");
        c.expect_closed_silently("HTTP request");

        // A small first frame that is not a ConnectRequest.
        let mut c = Raw::open(&srv.addr);
        c.send(&[0, 0, 0, 5, 1, 2, 3, 4, 5]);
        c.expect_closed_silently("5-byte first frame");

        // Random bytes whose first int is negative.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut junk = vec![0u8; 4096];
        rng.fill(&mut junk[..]);
        junk[0] = 0xde;
        let mut c = Raw::open(&srv.addr);
        c.send(&junk);
        c.expect_closed_silently("random bytes");

        // After a good handshake, a frame too short for a RequestHeader.
        let (mut c, _) = Raw::session(&srv.addr);
        c.send(&[0, 0, 0, 3, 1, 2, 3]);
        c.expect_closed_silently("3-byte request frame");
    });
}

#[test]
fn truncated_frame_then_close() {
    abuse(|srv| {
        let mut c = Raw::open(&srv.addr);
        let full = frame(&connect_payload(0, &[0u8; 16], 0, Some(false)));
        c.send(&full[..14]);
        c.s.shutdown(Shutdown::Write).unwrap();
        c.expect_closed_silently("half a ConnectRequest, then FIN");

        let (mut c, _) = Raw::session(&srv.addr);
        let f = get_data_req("/").to_frame(9);
        c.send(&f[..f.len() - 3]);
        c.s.shutdown(Shutdown::Write).unwrap();
        c.expect_closed_silently("half a getData, then FIN");
    });
}

#[test]
fn negative_length_closes_without_reply() {
    abuse(|srv| {
        for len in [-1i32, -16, i32::MIN] {
            let mut c = Raw::open(&srv.addr);
            c.send(&len.to_be_bytes());
            c.expect_closed_silently(&format!("first frame length {len}"));

            let (mut c, _) = Raw::session(&srv.addr);
            c.send(&len.to_be_bytes());
            c.send(&[0u8; 8]);
            c.expect_closed_silently(&format!("request frame length {len}"));
        }
    });
}

#[test]
fn length_above_jute_maxbuffer_closes_without_reply() {
    abuse(|srv| {
        // 0xfffff + 1: one byte over the default jute.maxbuffer. Only the length is sent: the
        // server must refuse on the length alone, without waiting for the payload.
        let over = 0x10_0000i32;
        let mut c = Raw::open(&srv.addr);
        c.send(&over.to_be_bytes());
        c.expect_closed_silently("first frame over jute.maxbuffer");

        let (mut c, _) = Raw::session(&srv.addr);
        c.send(&over.to_be_bytes());
        c.expect_closed_silently("request frame over jute.maxbuffer");

        let (mut c, _) = Raw::session(&srv.addr);
        c.send(&i32::MAX.to_be_bytes());
        c.expect_closed_silently("request frame of length i32::MAX");
    });
}

#[test]
fn frame_of_exactly_jute_maxbuffer_is_accepted() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let r = c.call(&create_req("/big", Acl::open_unsafe(), 0));
        assert_eq!(r.header.err, 0);
        // header 8 + path (4 + 4) + buffer length 4 + data + version 4 = 0xfffff
        let data_len = 0xfffff - 8 - 8 - 4 - 4;
        let req = Request::SetData(SetDataRequest {
            path: "/big".into(),
            data: Some(Bytes::from(vec![b'z'; data_len])),
            version: -1,
        });
        let f = req.to_frame(77);
        assert_eq!(f.len(), 4 + 0xfffff);
        c.send(&f);
        let r = c.read_reply();
        assert_eq!(r.header.xid, 77);
        assert_eq!(
            r.header.err, 0,
            "a frame of exactly jute.maxbuffer bytes is valid"
        );
        let stat = Stat::from_bytes(r.body).unwrap();
        assert_eq!(stat.data_length as usize, data_len);
    });
}

#[test]
fn malformed_connect_request_closes_without_reply() {
    abuse(|srv| {
        let good = connect_payload(0, &[0u8; 16], 0, Some(false));
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("20-byte ConnectRequest", good[..20].to_vec()),
            ("27-byte ConnectRequest", good[..27].to_vec()),
            ("empty first frame", Vec::new()),
        ];
        // passwd length larger than what follows
        let mut p = good[..24].to_vec();
        p.extend_from_slice(&100i32.to_be_bytes());
        p.extend_from_slice(&[0u8; 16]);
        cases.push(("passwd length 100 with 16 bytes", p));
        // passwd length unreasonable
        let mut p = good[..24].to_vec();
        p.extend_from_slice(&i32::MAX.to_be_bytes());
        p.extend_from_slice(&[0u8; 17]);
        cases.push(("passwd length i32::MAX", p));
        // passwd length negative (not -1)
        let mut p = good[..24].to_vec();
        p.extend_from_slice(&(-2i32).to_be_bytes());
        p.extend_from_slice(&[0u8; 17]);
        cases.push(("passwd length -2", p));
        for (what, payload) in cases {
            let mut c = Raw::open(&srv.addr);
            c.send(&frame(&payload));
            c.expect_closed_silently(what);
        }
    });
}

#[test]
fn request_frame_sent_as_first_frame_is_a_malformed_connect() {
    abuse(|srv| {
        // A getData frame before any ConnectRequest: 8-byte header + 6-byte body = 14 bytes,
        // too short for a ConnectRequest.
        let mut c = Raw::open(&srv.addr);
        c.send(&get_data_req("/a").to_frame(1));
        c.expect_closed_silently("getData as first frame");
    });
}

#[test]
fn unknown_opcode_gets_unimplemented_then_close() {
    abuse(|srv| {
        for op in [10, 0, 23, 99, 108, 999, -3, i32::MAX] {
            let (mut c, _) = Raw::session(&srv.addr);
            let r = c.call_raw(5, op, &[]);
            assert_err(&r, UNIMPLEMENTED, &format!("opcode {op}"));
            // Apache answers from UnimplementedRequestProcessor with the request's zxid, which is
            // still -1 (the request never reached the pipeline).
            assert_eq!(r.header.zxid, -1, "opcode {op}: reply zxid");
            c.expect_closed_silently(&format!("after Unimplemented for opcode {op}"));
        }
    });
}

#[test]
fn lone_check_gets_unimplemented_then_close() {
    // zkr only: ZooKeeper 3.8.5+/3.9.3+ behaviour; the 3.8.0 reference server processes a lone
    // check like a read.
    abuse(|srv| {
        if !srv.is_zkr() {
            return;
        }
        let (mut c, _) = Raw::session(&srv.addr);
        let req = Request::Check(CheckVersionRequest {
            path: "/".into(),
            version: -1,
        });
        let r = c.call(&req);
        assert_err(&r, UNIMPLEMENTED, "lone check");
        assert_eq!(r.header.zxid, -1, "lone check: reply zxid");
        c.expect_closed_silently("after Unimplemented for a lone check");
    });
}

#[test]
fn invalid_paths_get_bad_arguments_or_no_node() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let r = c.call(&create_req("/bad", Acl::open_unsafe(), 0));
        assert_eq!(r.header.err, 0);

        // create: "has a '/' and no NUL" first, then the parent must exist, then full rules on
        // the final path (protocol doc §7.1).
        for (path, code) in [
            ("noslash", BAD_ARGUMENTS),
            ("", BAD_ARGUMENTS),
            ("/x\0y", BAD_ARGUMENTS),
            ("/bad/.", BAD_ARGUMENTS),
            ("/bad/..", BAD_ARGUMENTS),
            ("/bad/", BAD_ARGUMENTS),
            ("/bad/x\u{1}y", BAD_ARGUMENTS),
            ("/bad/x\u{7f}", BAD_ARGUMENTS),
            ("/bad/x\u{e000}", BAD_ARGUMENTS),
            ("/bad/x\u{fff0}", BAD_ARGUMENTS),
            ("/bad//c", NO_NODE),
            ("/nothere/c", NO_NODE),
        ] {
            let r = c.call(&create_req(path, Acl::open_unsafe(), 0));
            assert_err(&r, code, &format!("create {path:?}"));
        }
        // sequential: the suffix makes "/bad/" valid
        let r = c.call(&create_req("/bad/", Acl::open_unsafe(), 2));
        assert_eq!(r.header.err, 0, "sequential create of /bad/");
        let created = CreateResponse::from_bytes(r.body).unwrap();
        assert_eq!(created.path, "/bad/0000000000");

        // setData: full rules
        for path in [
            "noslash",
            "",
            "/bad/",
            "/bad/.",
            "/bad//c",
            "/bad/\u{7f}",
            "/x\0",
        ] {
            let r = c.call(&Request::SetData(SetDataRequest {
                path: path.into(),
                data: None,
                version: -1,
            }));
            assert_err(&r, BAD_ARGUMENTS, &format!("setData {path:?}"));
        }
        // setACL: full rules
        for path in ["noslash", "/bad/", "/bad/.."] {
            let r = c.call(&Request::SetAcl(SetAclRequest {
                path: path.into(),
                acl: Acl::open_unsafe(),
                version: -1,
            }));
            assert_err(&r, BAD_ARGUMENTS, &format!("setACL {path:?}"));
        }
        // delete: "has a '/'", no NUL, not a special node; nothing else
        for (path, code) in [
            ("noslash", BAD_ARGUMENTS),
            ("", BAD_ARGUMENTS),
            ("/x\0", BAD_ARGUMENTS),
            ("/", BAD_ARGUMENTS),
            ("/zookeeper", BAD_ARGUMENTS),
            ("/zookeeper/quota", BAD_ARGUMENTS),
            ("/zookeeper/config", BAD_ARGUMENTS),
            ("/bad/.", NO_NODE),
            ("/bad//c", NO_NODE),
        ] {
            let r = c.call(&Request::Delete(DeleteRequest {
                path: path.into(),
                version: -1,
            }));
            assert_err(&r, code, &format!("delete {path:?}"));
        }
        // getData, getChildren, getACL: no validation, an invalid path just does not exist
        for path in ["noslash", "/bad/.", "/bad/", "/bad//c", "/x\0y"] {
            let r = c.call(&get_data_req(path));
            assert_err(&r, NO_NODE, &format!("getData {path:?}"));
            let r = c.call(&Request::GetChildren(PathWatchRequest {
                path: path.into(),
                watch: false,
            }));
            assert_err(&r, NO_NODE, &format!("getChildren {path:?}"));
            let r = c.call(&Request::GetAcl(PathRequest { path: path.into() }));
            assert_err(&r, NO_NODE, &format!("getACL {path:?}"));
        }
        // exists: only NUL is checked
        let r = c.call(&Request::Exists(PathWatchRequest {
            path: "/x\0y".into(),
            watch: false,
        }));
        assert_err(&r, BAD_ARGUMENTS, "exists with NUL");
        let r = c.call(&Request::Exists(PathWatchRequest {
            path: "noslash".into(),
            watch: false,
        }));
        assert_err(&r, NO_NODE, "exists noslash");
        // nothing was created by the failed requests
        let r = c.call(&Request::GetChildren(PathWatchRequest {
            path: "/bad".into(),
            watch: false,
        }));
        assert_eq!(r.header.err, 0);
        let kids = GetChildrenResponse::from_bytes(r.body).unwrap();
        assert_eq!(kids.children, vec!["0000000000".to_string()]);
    });
}

#[test]
fn bad_acls_get_invalid_acl() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let r = c.call(&create_req("/acl", Acl::open_unsafe(), 0));
        assert_eq!(r.header.err, 0);
        let bad: Vec<(&str, Vec<Acl>)> = vec![
            ("empty list", vec![]),
            ("world:bob", vec![Acl::new(31, "world", "bob")]),
            (
                "digest without colon",
                vec![Acl::new(31, "digest", "nocolon")],
            ),
            (
                "digest with two colons",
                vec![Acl::new(31, "digest", "a:b:c")],
            ),
            ("ip 999.0.0.1", vec![Acl::new(31, "ip", "999.0.0.1")]),
            ("ip /33", vec![Acl::new(31, "ip", "10.0.0.0/33")]),
            ("ip words", vec![Acl::new(31, "ip", "localhost")]),
            ("super scheme", vec![Acl::new(31, "super", "x")]),
            ("unknown scheme", vec![Acl::new(31, "foo", "bar")]),
            ("auth without identities", vec![Acl::new(31, "auth", "")]),
            (
                "one good one bad",
                vec![Acl::new(31, "world", "anyone"), Acl::new(1, "foo", "bar")],
            ),
        ];
        for (what, acl) in bad {
            let r = c.call(&create_req("/acl/child", acl.clone(), 0));
            assert_err(&r, INVALID_ACL, &format!("create with {what}"));
            let r = c.call(&Request::SetAcl(SetAclRequest {
                path: "/acl".into(),
                acl: acl.clone(),
                version: -1,
            }));
            assert_err(&r, INVALID_ACL, &format!("setACL with {what}"));
            // checked before the node's existence
            let r = c.call(&Request::SetAcl(SetAclRequest {
                path: "/acl/missing".into(),
                acl,
                version: -1,
            }));
            assert_err(
                &r,
                INVALID_ACL,
                &format!("setACL on a missing node with {what}"),
            );
        }
        // the ACL of /acl is unchanged
        let r = c.call(&Request::GetAcl(PathRequest {
            path: "/acl".into(),
        }));
        assert_eq!(r.header.err, 0);
        let got = GetAclResponse::from_bytes(r.body).unwrap();
        assert_eq!(got.acl, Acl::open_unsafe());
        assert_eq!(got.stat.aversion, 0);
    });
}

/// A multi body: each (opcode, record bytes) with its header, then `terminator` if set.
fn multi_body(ops: &[(i32, Bytes)], terminator: bool) -> Vec<u8> {
    let mut b = BytesMut::new();
    for (typ, rec) in ops {
        MultiHeader {
            typ: *typ,
            done: false,
            err: -1,
        }
        .write(&mut b);
        b.put_slice(rec);
    }
    if terminator {
        MultiHeader {
            typ: -1,
            done: true,
            err: -1,
        }
        .write(&mut b);
    }
    b.to_vec()
}

fn create_rec(path: &str, flags: i32) -> Bytes {
    CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
    }
    .to_bytes()
}

#[test]
fn malformed_multi_gets_marshalling_error_and_applies_nothing() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let get = PathWatchRequest {
            path: "/".into(),
            watch: false,
        }
        .to_bytes();
        // Invalid create flags inside a multi fail the whole request with MarshallingError from
        // ZooKeeper 3.8.4 / 3.9.0 on (MultiOperationRecord, ZOOKEEPER-4026); the 3.8.0 reference
        // server still answered them with a per-op BadArguments. Those two cases are zkr only.
        let flag_cases = [
            "create flags 7 inside multi",
            "create flags -1 inside multi",
        ];
        let cases: Vec<(&str, i32, Vec<u8>)> = vec![
            (
                "read op inside multi",
                opcode::MULTI,
                multi_body(
                    &[
                        (opcode::CREATE, create_rec("/m1", 0)),
                        (opcode::GET_DATA, get.clone()),
                    ],
                    true,
                ),
            ),
            (
                "create flags 7 inside multi",
                opcode::MULTI,
                multi_body(
                    &[
                        (opcode::CREATE, create_rec("/m1", 0)),
                        (opcode::CREATE, create_rec("/m2", 7)),
                    ],
                    true,
                ),
            ),
            (
                "create flags -1 inside multi",
                opcode::MULTI,
                multi_body(&[(opcode::CREATE, create_rec("/m1", -1))], true),
            ),
            (
                "unknown op type inside multi",
                opcode::MULTI,
                multi_body(
                    &[(opcode::CREATE, create_rec("/m1", 0)), (999, Bytes::new())],
                    true,
                ),
            ),
            (
                "ping op type inside multi",
                opcode::MULTI,
                multi_body(
                    &[
                        (opcode::CREATE, create_rec("/m1", 0)),
                        (opcode::PING, Bytes::new()),
                    ],
                    true,
                ),
            ),
            (
                "multi without terminator",
                opcode::MULTI,
                multi_body(&[(opcode::CREATE, create_rec("/m1", 0))], false),
            ),
            ("multi with a truncated op", opcode::MULTI, {
                let mut b = multi_body(&[(opcode::CREATE, create_rec("/m1", 0))], false);
                b.truncate(b.len() - 3);
                b
            }),
            ("multi with an empty body", opcode::MULTI, Vec::new()),
            (
                "write op inside multiRead",
                opcode::MULTI_READ,
                multi_body(
                    &[
                        (opcode::GET_DATA, get.clone()),
                        (opcode::CREATE, create_rec("/m1", 0)),
                    ],
                    true,
                ),
            ),
            (
                "multiRead without terminator",
                opcode::MULTI_READ,
                multi_body(&[(opcode::GET_DATA, get.clone())], false),
            ),
        ];
        for (what, op, body) in cases {
            if flag_cases.contains(&what) && !srv.is_zkr() {
                continue;
            }
            c.next_xid += 1;
            let x = c.next_xid;
            let r = c.call_raw(x, op, &body);
            assert_err(&r, MARSHALLING_ERROR, what);
            // the connection stays open
            let r = c.call(&Request::Ping);
            assert_eq!(r.header.err, 0, "ping after {what}");
        }
        for p in ["/m1", "/m2"] {
            let r = c.call(&Request::Exists(PathWatchRequest {
                path: p.into(),
                watch: false,
            }));
            assert_err(&r, NO_NODE, &format!("{p} after the malformed multis"));
        }
    });
}

#[test]
fn truncated_request_body_gets_marshalling_error() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let full_create = create_req("/t", Acl::open_unsafe(), 0).to_frame(0);
        let create_body = &full_create[12..];
        let full_set = Request::SetData(SetDataRequest {
            path: "/".into(),
            data: Some(Bytes::from_static(b"abc")),
            version: -1,
        })
        .to_frame(0);
        let set_body = &full_set[12..];
        let cases: Vec<(&str, i32, Vec<u8>)> = vec![
            ("getData without body", opcode::GET_DATA, Vec::new()),
            (
                "getData without watch byte",
                opcode::GET_DATA,
                vec![0, 0, 0, 1, b'/'],
            ),
            (
                "getData path cut",
                opcode::GET_DATA,
                vec![0, 0, 0, 9, b'/', b'a'],
            ),
            ("exists without body", opcode::EXISTS, Vec::new()),
            ("getChildren2 cut", opcode::GET_CHILDREN2, vec![0, 0]),
            (
                "create cut in the ACL",
                opcode::CREATE,
                create_body[..create_body.len() - 6].to_vec(),
            ),
            (
                "create without flags",
                opcode::CREATE,
                create_body[..create_body.len() - 4].to_vec(),
            ),
            (
                "setData without version",
                opcode::SET_DATA,
                set_body[..set_body.len() - 2].to_vec(),
            ),
            (
                "delete without version",
                opcode::DELETE,
                vec![0, 0, 0, 2, b'/', b'a'],
            ),
            ("getACL without body", opcode::GET_ACL, Vec::new()),
            ("sync without body", opcode::SYNC, Vec::new()),
        ];
        for (what, op, body) in cases {
            c.next_xid += 1;
            let x = c.next_xid;
            let r = c.call_raw(x, op, &body);
            assert_err(&r, MARSHALLING_ERROR, what);
            let r = c.call(&Request::Ping);
            assert_eq!(r.header.err, 0, "ping after {what}");
        }
        let r = c.call(&Request::Exists(PathWatchRequest {
            path: "/t".into(),
            watch: false,
        }));
        assert_err(&r, NO_NODE, "/t after the truncated creates");
        let r = c.call(&get_data_req("/"));
        let d = GetDataResponse::from_bytes(r.body).unwrap();
        assert_eq!(d.stat.version, 0, "/ untouched by the truncated setData");
    });
}

#[test]
fn huge_counts_and_lengths_inside_a_frame_get_marshalling_error() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let mut cases: Vec<(&str, i32, Vec<u8>)> = Vec::new();
        // create with an ACL vector claiming i32::MAX entries
        let mut b = BytesMut::new();
        "/h".to_string().write(&mut b);
        Some(Bytes::from_static(b"x")).write(&mut b);
        b.put_i32(i32::MAX);
        Acl::open_unsafe()[0].write(&mut b);
        b.put_i32(0);
        cases.push(("create, ACL count i32::MAX", opcode::CREATE, b.to_vec()));
        // setACL with 0x10000000 entries
        let mut b = BytesMut::new();
        "/".to_string().write(&mut b);
        b.put_i32(0x1000_0000);
        b.put_i32(-1);
        cases.push(("setACL, ACL count 2^28", opcode::SET_ACL, b.to_vec()));
        // a path claiming i32::MAX bytes
        let mut b = BytesMut::new();
        b.put_i32(i32::MAX);
        b.put_slice(b"/abc");
        b.put_u8(0);
        cases.push((
            "getData, path length i32::MAX",
            opcode::GET_DATA,
            b.to_vec(),
        ));
        // a data buffer claiming 2^30 bytes
        let mut b = BytesMut::new();
        "/".to_string().write(&mut b);
        b.put_i32(1 << 30);
        b.put_slice(b"abc");
        b.put_i32(-1);
        cases.push(("setData, data length 2^30", opcode::SET_DATA, b.to_vec()));
        // a negative string length other than -1
        let mut b = BytesMut::new();
        b.put_i32(-7);
        b.put_u8(0);
        cases.push(("getData, path length -7", opcode::GET_DATA, b.to_vec()));
        for (what, op, body) in cases {
            c.next_xid += 1;
            let x = c.next_xid;
            let r = c.call_raw(x, op, &body);
            assert_err(&r, MARSHALLING_ERROR, what);
            let r = c.call(&Request::Ping);
            assert_eq!(r.header.err, 0, "ping after {what}");
        }
        // setWatches (xid -8) with a watch list claiming i32::MAX paths
        let mut b = BytesMut::new();
        b.put_i64(0);
        b.put_i32(i32::MAX);
        b.put_slice(&[0, 0, 0, 1, b'/']);
        b.put_i32(0);
        b.put_i32(0);
        let r = c.call_raw(xid::SET_WATCHES, opcode::SET_WATCHES, &b);
        assert_err(&r, MARSHALLING_ERROR, "setWatches, count i32::MAX");
        let r = c.call(&Request::Ping);
        assert_eq!(r.header.err, 0, "ping after the huge setWatches");
        let r = c.call(&Request::Exists(PathWatchRequest {
            path: "/h".into(),
            watch: false,
        }));
        assert_err(&r, NO_NODE, "/h never created");
    });
}

#[test]
fn four_letter_word_with_trailing_bytes() {
    abuse(|srv| {
        let mut c = Raw::open(&srv.addr);
        c.send(b"ruok\n\nmore junk after the word");
        let got = c.drain_until_closed("ruok + junk");
        assert_eq!(String::from_utf8_lossy(&got), "imok");

        // A word followed by a whole ConnectRequest: the word is answered, no session is made.
        let mut c = Raw::open(&srv.addr);
        let mut bytes = b"srvr".to_vec();
        bytes.extend_from_slice(&frame(&connect_payload(0, &[0u8; 16], 0, Some(false))));
        c.send(&bytes);
        let got = c.drain_until_closed("srvr + ConnectRequest");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("Zookeeper version:"),
            "srvr answer: {text:?}"
        );
        assert!(text.ends_with('\n'));

        // A word after a ConnectRequest is a frame length (0x72756f6b > jute.maxbuffer).
        let (mut c, _) = Raw::session(&srv.addr);
        c.send(b"ruok");
        c.expect_closed_silently("ruok after the handshake");
    });
}

/// Words that read files are answered off the connection's thread; a client that shuts its
/// write half right after the word (`echo dirs | nc -q0`) still gets the whole answer.
#[test]
fn a_four_letter_word_is_answered_after_the_client_shuts_its_write_half() {
    abuse(|srv| {
        for (word, starts) in [
            ("dirs", "datadir_size: "),
            ("conf", "clientPort="),
            ("mntr", "zk_version\t"),
            ("envi", "Environment:"),
            ("ruok", "imok"),
        ] {
            let mut c = Raw::open(&srv.addr);
            c.send(word.as_bytes());
            c.s.shutdown(std::net::Shutdown::Write)
                .expect("shut the write half");
            let got = c.drain_until_closed(word);
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with(starts), "{word} answer: {text:?}");
        }
    });
}

#[test]
fn connect_request_without_read_only_byte_gets_a_36_byte_reply() {
    abuse(|srv| {
        let mut c = Raw::open(&srv.addr);
        let p = connect_payload(0, &[0u8; 16], 0, None);
        assert_eq!(p.len(), 44);
        c.send(&frame(&p));
        let resp = c.read_frame().expect("ConnectResponse");
        assert_eq!(resp.len(), 36, "no readOnly byte for an old client");
        let r = ConnectResponse::from_bytes(Bytes::from(resp)).unwrap();
        assert_eq!(r.read_only, None);
        assert_ne!(r.session_id, 0);
        assert!(r.time_out > 0);
        assert_eq!(r.passwd.len(), 16);
        check_healthy(&mut c);

        let mut c = Raw::open(&srv.addr);
        let p = connect_payload(0, &[0u8; 16], 0, Some(true));
        assert_eq!(p.len(), 45);
        c.send(&frame(&p));
        let resp = c.read_frame().expect("ConnectResponse");
        assert_eq!(resp.len(), 37, "readOnly byte mirrored");
        assert_eq!(resp[36], 0, "a read-write server says readOnly = false");
        check_healthy(&mut c);

        // Trailing bytes after the readOnly byte are ignored.
        let mut c = Raw::open(&srv.addr);
        let mut p = connect_payload(0, &[0u8; 16], 0, Some(false)).to_vec();
        p.extend_from_slice(&[9, 9, 9]);
        c.send(&frame(&p));
        let resp = c.read_frame().expect("ConnectResponse");
        assert_eq!(resp.len(), 37);
        check_healthy(&mut c);
    });
}

#[test]
fn pipelined_requests_behind_the_connect_request_are_answered_in_order() {
    abuse(|srv| {
        let mut c = Raw::open(&srv.addr);
        let mut burst = frame(&connect_payload(0, &[0u8; 16], 0, Some(false)));
        burst.extend_from_slice(&Request::Ping.to_frame(xid::PING));
        burst.extend_from_slice(&get_data_req("/").to_frame(1));
        burst.extend_from_slice(&get_data_req("/nope").to_frame(2));
        c.send(&burst);
        let resp = c.read_frame().expect("ConnectResponse");
        assert_eq!(resp.len(), 37);
        let r = c.read_reply();
        assert_eq!((r.header.xid, r.header.err), (xid::PING, 0));
        let r = c.read_reply();
        assert_eq!((r.header.xid, r.header.err), (1, 0));
        let r = c.read_reply();
        assert_eq!((r.header.xid, r.header.err), (2, NO_NODE));
    });
}

#[test]
fn client_ahead_of_the_server_is_closed_without_reply() {
    abuse(|srv| {
        for last_zxid in [i64::MAX, 1 << 40] {
            let mut c = Raw::open(&srv.addr);
            c.send(&frame(&connect_payload(
                0,
                &[0u8; 16],
                last_zxid,
                Some(false),
            )));
            c.expect_closed_silently(&format!("new session with lastZxidSeen {last_zxid:#x}"));
        }
        // A resume attempt from a client that is ahead is refused the same way, and the
        // session it names is left alone.
        let (mut victim, resp) = Raw::session(&srv.addr);
        let mut c = Raw::open(&srv.addr);
        c.send(&frame(&connect_payload(
            resp.session_id,
            &resp.passwd,
            i64::MAX,
            Some(false),
        )));
        c.expect_closed_silently("resume with lastZxidSeen ahead");
        check_healthy(&mut victim);
    });
}

#[test]
fn resume_with_wrong_password_gets_the_invalid_connect_response() {
    abuse(|srv| {
        let (mut victim, resp) = Raw::session(&srv.addr);
        check_healthy(&mut victim);
        let mut wrong = resp.passwd.to_vec();
        wrong[0] ^= 0xff;
        for (read_only, size) in [(Some(false), 37usize), (None, 36)] {
            let mut c = Raw::open(&srv.addr);
            c.send(&frame(&connect_payload(
                resp.session_id,
                &wrong,
                0,
                read_only,
            )));
            let got = c.drain_until_closed("resume with a wrong password");
            let expected = frame(&{
                let mut p = Vec::new();
                p.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
                p.extend_from_slice(&0i32.to_be_bytes()); // timeOut 0
                p.extend_from_slice(&0i64.to_be_bytes()); // sessionId 0
                p.extend_from_slice(&16i32.to_be_bytes());
                p.extend_from_slice(&[0u8; 16]);
                if read_only.is_some() {
                    p.push(0);
                }
                p
            });
            assert_eq!(expected.len(), 4 + size);
            assert_eq!(
                got, expected,
                "invalid ConnectResponse ({size} bytes), then close"
            );
        }
        // ZooKeeper closes the connection the session had before it checks the password
        // (ZooKeeperServer.processConnectRequest), but the session itself lives on.
        victim.expect_closed_silently("the victim's connection after the hijack attempt");
        let mut c = Raw::open(&srv.addr);
        c.send(&frame(&connect_payload(
            resp.session_id,
            &resp.passwd,
            0,
            Some(false),
        )));
        let again =
            ConnectResponse::from_bytes(Bytes::from(c.read_frame().expect("resume"))).unwrap();
        assert_eq!(again.session_id, resp.session_id);
        assert_eq!(again.passwd, resp.passwd);
        assert!(again.time_out > 0);
        check_healthy(&mut c);

        // A session id the server never issued gets the same invalid answer.
        let mut c = Raw::open(&srv.addr);
        c.send(&frame(&connect_payload(
            0x0bad_cafe_0000_0001,
            &[1u8; 16],
            0,
            Some(false),
        )));
        let got = c.drain_until_closed("resume of an unknown session");
        assert_eq!(got.len(), 41);
        assert_eq!(
            &got[4..20],
            &[0u8; 16][..],
            "protocolVersion, timeOut, sessionId all 0"
        );
    });
}

#[test]
fn bad_auth_scheme_gets_auth_failed_then_close() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let r = c.call(&Request::Auth(AuthPacket {
            typ: 0,
            scheme: "nosuchscheme".into(),
            auth: Some(Bytes::from_static(b"whatever")),
        }));
        assert_eq!(r.header.err, ErrorCode::AuthFailed as i32);
        assert_eq!(r.header.zxid, 0, "auth replies carry zxid 0");
        c.expect_closed_silently("after AuthFailed");
    });
}

#[test]
fn bad_add_watch_mode_gets_marshalling_error() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        let r = c.call(&Request::AddWatch(AddWatchRequest {
            path: "/".into(),
            mode: 7,
        }));
        assert_err(&r, MARSHALLING_ERROR, "addWatch mode 7");
        let r = c.call(&Request::Ping);
        assert_eq!(r.header.err, 0);
    });
}

#[test]
fn bad_create_flags_and_ttl_get_bad_arguments() {
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        for flags in [7, -1, 100] {
            let r = c.call(&create_req(
                &format!("/f{flags}"),
                Acl::open_unsafe(),
                flags,
            ));
            assert_err(&r, BAD_ARGUMENTS, &format!("create flags {flags}"));
        }
        // a TTL mode through plain create is refused (Unimplemented when TTLs are disabled,
        // BadArguments when they are enabled), never accepted
        let r = c.call(&create_req("/ttl-via-create", Acl::open_unsafe(), 5));
        assert!(
            r.header.err == BAD_ARGUMENTS || r.header.err == UNIMPLEMENTED,
            "TTL mode through create: {}",
            r.header.err
        );
    });
}

#[test]
fn negative_vector_counts_read_as_empty_vectors() {
    // Java's BinaryInputArchive.startVector treats only -1 as null and iterates zero times for
    // any other count <= 0, so such a vector is empty (strings and buffers differ: a negative
    // length other than -1 is an error, see huge_counts_and_lengths_inside_a_frame_...).
    abuse(|srv| {
        let (mut c, _) = Raw::session(&srv.addr);
        for count in [-1, -5, i32::MIN] {
            let mut b = BytesMut::new();
            "/negacl".to_string().write(&mut b);
            b.put_i32(-1);
            b.put_i32(count);
            b.put_i32(0);
            c.next_xid += 1;
            let x = c.next_xid;
            let r = c.call_raw(x, opcode::CREATE, &b);
            assert_err(&r, INVALID_ACL, &format!("create with ACL count {count}"));
        }
        let mut b = BytesMut::new();
        b.put_i64(0);
        b.put_i32(-3);
        b.put_i32(0);
        b.put_i32(0);
        let r = c.call_raw(xid::SET_WATCHES, opcode::SET_WATCHES, &b);
        assert_eq!(r.header.err, 0, "setWatches with a watch count of -3");
        check_healthy(&mut c);
    });
}
