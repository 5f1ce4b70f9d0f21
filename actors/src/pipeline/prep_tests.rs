//! Prep: ZooKeeper's check order and error codes, outstanding changes, multi rollback.

use bytes::Bytes;

use super::prep::*;
use crate::proto::codes::opcode;
use crate::proto::records::*;
use crate::proto::{Acl, ErrorCode, Id, MultiOp, Request};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnOp};

const S: i64 = 0x100;

struct World {
    tree: DataTree,
    prep: Prep,
    zxid: i64,
}

impl World {
    fn new() -> World {
        let mut w = World {
            tree: DataTree::new(),
            prep: Prep::new(PrepConfig {
                standalone: true,
                ..PrepConfig::default()
            }),
            zxid: 0,
        };
        let op = w
            .prep
            .prep_create_session(S, 10_000, Bytes::from_static(&[0; 16]));
        w.commit(op, S);
        w
    }

    /// Preps without applying (the txn stays outstanding).
    fn prep(&mut self, request: Request) -> (i64, TxnOp) {
        self.zxid += 1;
        let req = WriteRequest {
            session_id: S,
            ids: vec![Id {
                scheme: "ip".into(),
                id: "127.0.0.1".into(),
            }],
            request,
        };
        (self.zxid, self.prep.prep(&self.tree, &req, self.zxid, 1000))
    }

    fn commit(&mut self, op: TxnOp, session: i64) {
        if matches!(op, TxnOp::CreateSession { .. }) {
            self.zxid += 1;
        }
        self.apply(self.zxid, op, session);
    }

    fn apply(&mut self, zxid: i64, op: TxnOp, session: i64) {
        self.tree.apply(&Txn {
            zxid,
            time_ms: 1000,
            session_id: session,
            cxid: 0,
            op,
        });
    }

    fn run(&mut self, request: Request) -> TxnOp {
        let (z, op) = self.prep(request);
        self.apply(z, op.clone(), S);
        op
    }
}

fn create(path: &str, flags: i32) -> Request {
    Request::Create(
        opcode::CREATE,
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: Acl::open_unsafe(),
            flags,
        },
    )
}

fn err(op: &TxnOp) -> Option<ErrorCode> {
    op.error()
}

#[test]
fn create_checks_come_in_zookeepers_order() {
    let mut w = World::new();
    assert_eq!(err(&w.run(create("/a", 9))), Some(ErrorCode::BadArguments));
    assert_eq!(
        err(&w.run(create("/a", 5))),
        Some(ErrorCode::Unimplemented),
        "TTL disabled"
    );
    assert_eq!(err(&w.run(create("a", 0))), Some(ErrorCode::BadArguments));
    let mut bad_acl = create("/a", 0);
    if let Request::Create(_, c) = &mut bad_acl {
        c.acl = vec![];
    }
    assert_eq!(err(&w.run(bad_acl)), Some(ErrorCode::InvalidAcl));
    assert_eq!(err(&w.run(create("/x/y", 0))), Some(ErrorCode::NoNode));
    assert_eq!(
        err(&w.run(create("/a/", 0))),
        Some(ErrorCode::NoNode),
        "parent /a checked first"
    );
    assert!(err(&w.run(create("/a", 0))).is_none());
    assert_eq!(err(&w.run(create("/a/", 0))), Some(ErrorCode::BadArguments));
    assert_eq!(err(&w.run(create("/a", 0))), Some(ErrorCode::NodeExists));
    assert!(err(&w.run(create("/e", 1))).is_none());
    assert_eq!(
        err(&w.run(create("/e/c", 0))),
        Some(ErrorCode::NoChildrenForEphemerals)
    );
    assert_eq!(err(&w.run(create("/", 0))), Some(ErrorCode::NodeExists));
}

#[test]
fn sequential_suffix_uses_the_parent_creation_counter() {
    let mut w = World::new();
    w.run(create("/q", 0));
    w.run(create("/q/plain", 0));
    let TxnOp::Create { path, .. } = w.run(create("/q/s-", 2)) else {
        panic!("not a create")
    };
    assert_eq!(path, "/q/s-0000000001");
    w.run(Request::Delete(DeleteRequest {
        path: "/q/plain".into(),
        version: -1,
    }));
    let TxnOp::Create { path, .. } = w.run(create("/q/", 2)) else {
        panic!("not a create")
    };
    assert_eq!(
        path, "/q/0000000002",
        "trailing slash is allowed when sequential"
    );
}

#[test]
fn pipelined_writes_see_outstanding_changes() {
    let mut w = World::new();
    let (z1, a) = w.prep(create("/p", 0));
    let (z2, b) = w.prep(create("/p/c", 0));
    assert!(err(&b).is_none(), "child of an outstanding create");
    let (_, c) = w.prep(create("/p", 0));
    assert_eq!(err(&c), Some(ErrorCode::NodeExists));
    let (_, d) = w.prep(Request::Delete(DeleteRequest {
        path: "/p".into(),
        version: -1,
    }));
    assert_eq!(err(&d), Some(ErrorCode::NotEmpty));
    w.apply(z1, a, S);
    w.apply(z2, b, S);
    assert!(w.tree.get("/p/c").is_some());
}

#[test]
fn delete_checks() {
    let mut w = World::new();
    for special in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        let op = w.run(Request::Delete(DeleteRequest {
            path: special.into(),
            version: -1,
        }));
        assert_eq!(err(&op), Some(ErrorCode::BadArguments), "{special}");
    }
    assert_eq!(
        err(&w.run(Request::Delete(DeleteRequest {
            path: "/nope".into(),
            version: -1
        }))),
        Some(ErrorCode::NoNode)
    );
    w.run(create("/v", 0));
    assert_eq!(
        err(&w.run(Request::Delete(DeleteRequest {
            path: "/v".into(),
            version: 3
        }))),
        Some(ErrorCode::BadVersion)
    );
}

#[test]
fn failed_multi_rolls_back_and_reports_per_op() {
    let mut w = World::new();
    let (_, op) = w.prep(Request::Multi(Ok(vec![
        MultiOp::Create(
            opcode::CREATE,
            CreateRequest {
                path: "/m".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: 0,
            },
        ),
        MultiOp::Check(CheckVersionRequest {
            path: "/m".into(),
            version: 5,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/m".into(),
            version: -1,
        }),
    ])));
    assert_eq!(op, TxnOp::MultiFailed(vec![0, -103, -2]));
    let (_, again) = w.prep(create("/m", 0));
    assert!(
        err(&again).is_none(),
        "the failed multi's create was rolled back"
    );
}

#[test]
fn close_session_lists_outstanding_ephemerals() {
    let mut w = World::new();
    w.run(create("/e1", 1));
    let _pending = w.prep(create("/e2", 3));
    let (_, close) = w.prep(Request::CloseSession);
    let TxnOp::CloseSession { ephemerals } = close else {
        panic!("not a close")
    };
    assert_eq!(
        ephemerals,
        vec!["/e1".to_string(), "/e20000000001".to_string()]
    );
    let (_, after) = w.prep(create("/late", 0));
    assert_eq!(err(&after), Some(ErrorCode::SessionExpired));
}

#[test]
fn set_acl_and_set_data_bump_their_versions() {
    let mut w = World::new();
    w.run(create("/n", 0));
    let op = w.run(Request::SetData(SetDataRequest {
        path: "/n".into(),
        data: None,
        version: 0,
    }));
    assert!(matches!(op, TxnOp::SetData { version: 1, .. }));
    let op = w.run(Request::SetAcl(SetAclRequest {
        path: "/n".into(),
        acl: Acl::read_unsafe(),
        version: 0,
    }));
    assert!(matches!(op, TxnOp::SetAcl { aversion: 1, .. }));
    let op = w.run(Request::SetData(SetDataRequest {
        path: "/n".into(),
        data: None,
        version: -1,
    }));
    assert_eq!(err(&op), Some(ErrorCode::NoAuth), "READ-only ACL now");
}
