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
    assert_eq!(cfg.acl().as_ref(), &Acl::read_unsafe());
    assert_eq!(t.descendant_count("/"), 3);
}

#[test]
fn empty_path_reads_as_the_root() {
    let t = DataTree::new();
    let root = t.get("/").expect("root");
    let empty = t.get("").expect("\"\" is the root, as in ZooKeeper");
    assert_eq!(root.id(), empty.id());
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
    assert_eq!(t.get("/a").unwrap().data(), None, "null data stays null");
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

fn create_with(path: &str, data: &[u8], parent_cversion: i32) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_cversion,
    }
}

fn data_of(t: &DataTree, path: &str) -> String {
    let n = t.get(path).expect(path);
    String::from_utf8_lossy(n.data().unwrap_or_default()).into_owned()
}

/// As zkCli's setquota leaves it, then the changes ZooKeeper counts (checked against 3.8.0).
#[test]
fn quota_stats_follow_the_subtree() {
    let mut t = DataTree::new();
    let mut z = 0;
    let mut apply = |t: &mut DataTree, op: TxnOp| {
        z += 1;
        t.apply(&txn(z, op))
    };
    apply(&mut t, create_with("/q", b"abc", 1));
    apply(&mut t, create_with("/q/x", b"12345", 1));
    apply(&mut t, create_with("/qx", b"zz", 2));
    apply(&mut t, create_with("/zookeeper/quota/q", b"", 1));
    let limits = "/zookeeper/quota/q/zookeeper_limits";
    let stats = "/zookeeper/quota/q/zookeeper_stats";
    apply(&mut t, create_with(limits, b"count=5,bytes=-1", 1));
    apply(&mut t, create_with(stats, b"count=0,bytes=0", 2));
    assert_eq!(data_of(&t, stats), "count=2,bytes=8");
    let before = t.get(stats).unwrap().stat();
    apply(&mut t, create_with("/q/x/n", b"hello", 1));
    assert_eq!(data_of(&t, stats), "count=3,bytes=13");
    apply(
        &mut t,
        TxnOp::SetData {
            path: "/q/x/n".into(),
            data: Some(Bytes::from_static(b"hi")),
            version: 1,
        },
    );
    assert_eq!(data_of(&t, stats), "count=3,bytes=10");
    // A sibling whose name extends the quota'd path is not under it.
    apply(
        &mut t,
        TxnOp::SetData {
            path: "/qx".into(),
            data: Some(Bytes::from_static(b"longer")),
            version: 1,
        },
    );
    assert_eq!(data_of(&t, stats), "count=3,bytes=10");
    apply(
        &mut t,
        TxnOp::Delete {
            path: "/q/x/n".into(),
        },
    );
    assert_eq!(data_of(&t, stats), "count=2,bytes=8");
    // Rewritten in place: the stats node's own version and zxids stay.
    let after = t.get(stats).unwrap().stat();
    assert_eq!(
        (after.version, after.mzxid, after.czxid),
        (before.version, before.mzxid, before.czxid)
    );
    assert_eq!(after.data_length, "count=2,bytes=8".len() as i32);
    // Extra keys survive; a restored tree recounts.
    apply(
        &mut t,
        TxnOp::SetData {
            path: stats.into(),
            data: Some(Bytes::from_static(b"count=1,bytes=2=;foo=7")),
            version: 1,
        },
    );
    apply(&mut t, create_with("/q/m", b"1", 2));
    assert_eq!(data_of(&t, stats), "count=2,bytes=3=;foo=7");
    let nodes: Vec<(String, Node)> = t.paths().map(|(p, n)| (p, n.to_node())).collect();
    let restored = DataTree::restore(nodes, Vec::new(), t.last_zxid());
    assert_eq!(data_of(&restored, stats), "count=3,bytes=9");
    assert_eq!(
        restored.approximate_data_size(),
        restored
            .paths()
            .map(|(p, n)| (p.len() + n.data_len()) as u64)
            .sum::<u64>()
    );
    // Unreadable stats are left alone; removing the limits ends the counting.
    apply(
        &mut t,
        TxnOp::SetData {
            path: stats.into(),
            data: Some(Bytes::from_static(b"garbage")),
            version: 2,
        },
    );
    apply(&mut t, create_with("/q/g", b"1", 3));
    assert_eq!(data_of(&t, stats), "garbage");
    apply(
        &mut t,
        TxnOp::SetData {
            path: stats.into(),
            data: Some(Bytes::from_static(b"count=0,bytes=0")),
            version: 3,
        },
    );
    apply(
        &mut t,
        TxnOp::Delete {
            path: limits.into(),
        },
    );
    apply(&mut t, create_with("/q/k", b"1", 4));
    assert_eq!(data_of(&t, stats), "count=0,bytes=0");
}

/// One node as a client sees it: path, stat, data, ACL and children.
pub(crate) type NodeDigest = (
    String,
    crate::proto::Stat,
    Option<Vec<u8>>,
    Vec<Acl>,
    Vec<String>,
);

/// Everything a client can see of a tree: each node's path, stat, data, ACL and children.
/// Every ACL list in use with its reference count.
pub(crate) fn acl_refs(t: &DataTree) -> Vec<(Vec<Acl>, u32)> {
    t.acls.refs()
}

pub(crate) fn digest(t: &DataTree) -> Vec<NodeDigest> {
    let mut v: Vec<_> = t
        .paths()
        .map(|(p, n)| {
            (
                p,
                n.stat(),
                n.data().map(<[u8]>::to_vec),
                n.acl().as_ref().clone(),
                n.child_names(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn a_restore_takes_children_before_their_parents() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 1)));
    t.apply(&txn(2, create("/a/b", 0, 1)));
    t.apply(&txn(3, create("/a/b/c", 7, 1)));
    t.apply(&txn(4, create_with("/x", b"", 2)));
    let mut nodes: Vec<(String, Node)> = t.paths().map(|(p, n)| (p, n.to_node())).collect();
    nodes.sort_by(|a, b| b.0.cmp(&a.0)); // deepest first: every parent comes late
    let restored = DataTree::restore(nodes, Vec::new(), t.last_zxid());
    assert_eq!(digest(&restored), digest(&t));
    assert_eq!(restored.node_count(), t.node_count());
    assert_eq!(restored.ephemerals_of(7), vec!["/a/b/c".to_string()]);
    assert_eq!(restored.approximate_data_size(), t.approximate_data_size());
}

#[test]
fn nodes_left_without_a_parent_by_the_replay_are_dropped_and_named() {
    // A fuzzy snapshot: /p/q/c and /p/q/d without /p/q (deleted before its chunk was
    // written), /r/s without /r (created after the snapshot began), and /a with a child whose
    // own parent is missing.
    let open = std::sync::Arc::new(Acl::open_unsafe());
    let node = |czxid: i64| Node {
        data: Some(Bytes::from_static(b"d")),
        acl: open.clone(),
        czxid,
        mzxid: czxid,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        pzxid: czxid,
    };
    let fresh = DataTree::new();
    let mut nodes: Vec<(String, Node)> = fresh.paths().map(|(p, n)| (p, n.to_node())).collect();
    for p in ["/p/q/c", "/p/q/d", "/r/s", "/a", "/a/b/c"] {
        nodes.push((p.to_string(), node(5)));
    }
    let mut t = DataTree::restore(nodes, Vec::new(), 5);
    assert!(
        t.get("/p").is_none() && t.get("/p/q").is_none(),
        "placeholders are invisible"
    );
    assert_eq!(
        t.get("/").unwrap().num_children,
        2,
        "/zookeeper and /a only"
    );
    // The replay creates /r (a placeholder becomes a real node with its child) and deletes /a.
    let (r, _) = t.apply(&txn(6, create("/r", 0, 2)));
    assert!(matches!(r, OpResult::Created(..)));
    assert_eq!(t.get("/r").unwrap().stat().num_children, 1);
    assert!(matches!(
        t.apply(&txn(7, create("/p/q/e", 0, 1))).0,
        OpResult::Error(e) if e == ErrorCode::NoNode.code()
    ));
    t.apply(&txn(8, TxnOp::Delete { path: "/a".into() }));
    assert!(t.get("/a").is_none());
    let orphans = t.drop_orphans();
    assert_eq!(orphans, vec!["/a/b/c", "/p/q/c", "/p/q/d"]);
    assert!(t.get("/p/q/c").is_none() && t.get("/a/b/c").is_none());
    assert_eq!(
        t.paths()
            .map(|(p, _)| p)
            .filter(|p| p.starts_with("/r"))
            .count(),
        2
    );
    assert_eq!(t.node_count(), DataTree::new().node_count() + 2);
    assert!(t.drop_orphans().is_empty());
}

#[test]
fn acl_lists_are_shared_and_released_with_their_last_node() {
    let mut t = DataTree::new();
    let base = t.acl_list_count();
    let digest_acl = vec![Acl::new(31, "digest", "u:x")];
    for (i, p) in ["/d1", "/d2"].iter().enumerate() {
        t.apply(&txn(
            i as i64 + 1,
            TxnOp::Create {
                path: p.to_string(),
                data: None,
                acl: digest_acl.clone(),
                ephemeral_owner: 0,
                parent_cversion: i as i32 + 1,
            },
        ));
    }
    assert_eq!(t.acl_list_count(), base + 1);
    assert!(std::sync::Arc::ptr_eq(
        t.get("/d1").unwrap().acl(),
        t.get("/d2").unwrap().acl()
    ));
    t.apply(&txn(3, TxnOp::Delete { path: "/d1".into() }));
    assert_eq!(t.acl_list_count(), base + 1);
    t.apply(&txn(
        4,
        TxnOp::SetAcl {
            path: "/d2".into(),
            acl: Acl::open_unsafe(),
            aversion: 1,
        },
    ));
    assert_eq!(
        t.acl_list_count(),
        base,
        "no node has the digest list any more"
    );
}

#[test]
fn data_is_copied_out_of_the_txn() {
    // A request's data is a slice of the connection's receive buffer: the tree must not keep
    // that buffer alive.
    let frame = Bytes::from(vec![b'v'; 4096]);
    let mut t = DataTree::new();
    t.apply(&txn(
        1,
        TxnOp::Create {
            path: "/n".into(),
            data: Some(frame.slice(10..20)),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 1,
        },
    ));
    assert!(
        frame.is_unique(),
        "the tree holds no reference to the frame"
    );
    assert_eq!(t.get("/n").unwrap().data(), Some(&b"vvvvvvvvvv"[..]));
}

#[test]
fn a_znode_of_100_bytes_takes_about_220_bytes_of_heap() {
    // The memory model (docs/benchmarks.md): a 96-byte slot, one block with the name and the
    // data, a 4-byte index entry (plus the index's free room); no path string, no second copy of names.
    let mut t = DataTree::new();
    let n = 20_000;
    let mut zxid = 0;
    for p in 0..n / 1000 {
        zxid += 1;
        t.apply(&txn(zxid, create_with(&format!("/p{p:04}"), b"", 1)));
        for c in 0..1000 {
            zxid += 1;
            let path = format!("/p{p:04}/n{:08}", p * 1000 + c);
            t.apply(&txn(zxid, create_with(&path, &[b'x'; 100], c + 1)));
        }
    }
    let per_node = t.node_heap_bytes() / t.node_count();
    assert!(
        (200..=230).contains(&per_node),
        "{per_node} heap bytes per znode"
    );
}

#[test]
fn the_built_in_nodes_keep_their_acl_when_the_root_acl_changes() {
    // /zookeeper and /zookeeper/quota share the root's list: each must hold a reference to it.
    let mut t = DataTree::new();
    t.apply(&txn(
        1,
        TxnOp::SetAcl {
            path: "/".into(),
            acl: vec![Acl::new(31, "digest", "u:x")],
            aversion: 1,
        },
    ));
    t.apply(&txn(
        2,
        TxnOp::Create {
            path: "/other".into(),
            data: None,
            acl: vec![Acl::new(1, "world", "anyone")],
            ephemeral_owner: 0,
            parent_cversion: 1,
        },
    ));
    for p in ["/zookeeper", "/zookeeper/quota"] {
        assert_eq!(t.get(p).unwrap().acl().as_ref(), &Acl::open_unsafe(), "{p}");
    }
    assert_eq!(
        acl_refs(&t),
        acl_refs(&DataTree::restore(
            t.paths().map(|(p, n)| (p, n.to_node())).collect(),
            Vec::new(),
            2
        )),
        "a node, a reference"
    );
}
