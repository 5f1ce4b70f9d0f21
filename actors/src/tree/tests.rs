//! Data tree: stats exactly as ZooKeeper sets them, special nodes, watches' changes.

use bytes::Bytes;

use super::*;
use crate::proto::Acl;
use crate::txn::{Txn, TxnOp};

fn txn(zxid: i64, op: TxnOp) -> Txn {
    Txn {
        zxid,
        time_ms: 1000 + zxid,
        session_id: 7,
        cxid: 0,
        op,
    }
}

fn create(path: &str, owner: i64, parent_cversion: i32) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: Some(Bytes::from_static(b"xy")),
        acl: Acl::open_unsafe(),
        ephemeral_owner: owner,
        parent_cversion,
    }
}

#[test]
fn fresh_tree_matches_zookeeper() {
    let t = DataTree::new();
    assert_eq!(t.node_count(), 5);
    let root = t.get("/").unwrap().stat();
    assert_eq!((root.num_children, root.cversion), (1, -1));
    let zk = t.get("/zookeeper").unwrap().stat();
    assert_eq!((zk.num_children, zk.cversion), (2, -2));
    let cfg = t.get("/zookeeper/config").unwrap();
    assert_eq!(cfg.stat().aversion, -1);
    assert_eq!(cfg.acl.as_ref(), &Acl::read_unsafe());
    assert_eq!(t.descendant_count("/"), 3);
}

#[test]
fn empty_path_reads_as_the_root() {
    let t = DataTree::new();
    let root = t.get("/").expect("root");
    let empty = t.get("").expect("\"\" is the root, as in ZooKeeper");
    assert!(std::ptr::eq(root, empty));
}

#[test]
fn create_and_delete_stats() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 1)));
    let a = t.get("/a").unwrap().stat();
    assert_eq!((a.czxid, a.mzxid, a.pzxid, a.ctime), (1, 1, 1, 1001));
    assert_eq!(a.data_length, 2);
    t.apply(&txn(2, create("/a/b", 0, 1)));
    let s = t.get("/a").unwrap().stat();
    assert_eq!((s.cversion, s.num_children, s.pzxid, s.mzxid), (1, 1, 2, 1));
    let (_, changes) = t.apply(&txn(
        3,
        TxnOp::Delete {
            path: "/a/b".into(),
        },
    ));
    let s = t.get("/a").unwrap().stat();
    assert_eq!(
        (s.cversion, s.num_children, s.pzxid),
        (2, 0, 3),
        "visible cversion +1 on delete"
    );
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.path.as_str(), c.event))
            .collect::<Vec<_>>(),
        vec![("/a/b", 2), ("/a", 4)]
    );
}

#[test]
fn set_data_and_set_acl_touch_only_their_fields() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 1)));
    t.apply(&txn(
        2,
        TxnOp::SetData {
            path: "/a".into(),
            data: None,
            version: 1,
        },
    ));
    let s = t.get("/a").unwrap().stat();
    assert_eq!(
        (s.version, s.mzxid, s.mtime, s.pzxid, s.data_length),
        (1, 2, 1002, 1, 0)
    );
    assert_eq!(t.get("/a").unwrap().data, None, "null data stays null");
    let (_, changes) = t.apply(&txn(
        3,
        TxnOp::SetAcl {
            path: "/a".into(),
            acl: Acl::read_unsafe(),
            aversion: 1,
        },
    ));
    assert!(changes.is_empty(), "setACL fires no watch");
    let s = t.get("/a").unwrap().stat();
    assert_eq!((s.aversion, s.mzxid), (1, 2));
}

#[test]
fn ephemerals_are_tracked_and_closed_with_their_session() {
    let mut t = DataTree::new();
    t.apply(&txn(
        1,
        TxnOp::CreateSession {
            timeout_ms: 5000,
            password: Bytes::new(),
        },
    ));
    t.apply(&txn(2, create("/e", 7, 1)));
    assert_eq!(t.get("/e").unwrap().stat().ephemeral_owner, 7);
    assert_eq!(t.ephemeral_count(), 1);
    t.apply(&txn(
        3,
        TxnOp::CloseSession {
            ephemerals: vec!["/e".into()],
        },
    ));
    assert!(t.get("/e").is_none());
    assert!(t.sessions().is_empty());
    assert_eq!(t.ephemeral_count(), 0);
}

#[test]
fn containers_and_ttl_nodes_show_owner_zero() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/c", i64::MIN, 1)));
    t.apply(&txn(2, create("/t", NodeKind::ttl_owner(5000), 2)));
    assert_eq!(t.get("/c").unwrap().stat().ephemeral_owner, 0);
    assert_eq!(t.get("/c").unwrap().kind(), NodeKind::Container);
    assert_eq!(t.get("/t").unwrap().kind(), NodeKind::Ttl(5000));
    assert_eq!(t.get("/t").unwrap().stat().ephemeral_owner, 0);
}

#[test]
fn multi_applies_with_one_zxid() {
    let mut t = DataTree::new();
    let (r, _) = t.apply(&txn(
        1,
        TxnOp::Multi(vec![(1, create("/m1", 0, 1)), (15, create("/m2", 0, 2))]),
    ));
    let OpResult::Multi(rs) = r else { panic!() };
    assert_eq!(rs[0].0, 1);
    assert_eq!(rs[1].0, 15);
    assert_eq!(t.get("/m2").unwrap().czxid, 1);
    assert_eq!(t.last_zxid(), 1);
}
