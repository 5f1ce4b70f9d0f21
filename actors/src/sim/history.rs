//! The end-of-run checks of what clients saw against the committed history, and the
//! node-by-node comparison of the servers' trees.
//!
//! The committed history is replayed into a reference tree, in zxid order:
//!
//! * every write reply a client got (and every reply lost with its connection, the client
//!   having dropped it first: the write's effects are real) is the result of the txn that
//!   answered it, as the
//!   reference tree gives it (error codes included), and for single ops the error code is the
//!   one ZooKeeper's rules give on the tree before that txn (a small model, independent of
//!   prep: NoNode, NoAuth, NodeExists, NoChildrenForEphemerals, BadVersion, NotEmpty,
//!   SessionExpired, in ZooKeeper's order of checks), and a multi fails with the code of its
//!   first failing op, each op checked against the effects of the ones before; a failed multi
//!   changes nothing, a multi that succeeds succeeds in every op;
//! * every read reply frame (getData, exists, getChildren) equals, byte for byte, the frame the
//!   store's read code builds from the reference tree at the zxid it was read at.
//!
//! Trees are equal when every node has the same data, every stat field (czxid, mzxid, pzxid,
//! ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength, numChildren) and
//! the same ACL, and the session tables agree.

use std::collections::BTreeMap;

use super::workload::{Answer, ReadSeen};
use super::Sim;
use crate::acl::{self, AclPolicy};
use crate::outbox::Outbox;
use crate::proto::codes::perms;
use crate::proto::records::Stat;
use crate::proto::{Acl, ErrorCode, MultiOp, Request};
use crate::store::read::{execute, Watches};
use crate::tree::watches::WatchManager;
use crate::tree::{path, DataTree, NodeKind, OpResult};
use crate::txn::{SessionId, Zxid};

/// A tree's nodes with every stat field, data and ACL, and its sessions.
type Digest = (
    BTreeMap<String, (Stat, Option<bytes::Bytes>, Vec<Acl>)>,
    Vec<(SessionId, i32, bytes::Bytes)>,
);

/// Every node with its full stat, data and ACL, and the session table.
pub(crate) fn digest(t: &DataTree) -> Digest {
    let nodes = t
        .paths()
        .map(|(p, n)| {
            let data = n.data().map(bytes::Bytes::copy_from_slice);
            (p, (n.stat(), data, n.acl().to_vec()))
        })
        .collect();
    let sessions = t
        .sessions()
        .iter()
        .map(|(id, r)| (*id, r.timeout_ms, r.password.clone()))
        .collect();
    (nodes, sessions)
}

/// The first difference between two digests, for the failure message.
pub(crate) fn first_difference(a: &Digest, b: &Digest) -> String {
    for (p, n) in &a.0 {
        match b.0.get(p) {
            None => return format!("{p} only on the first"),
            Some(m) if m != n => return format!("{p}: {n:?} vs {m:?}"),
            _ => {}
        }
    }
    if let Some(p) = b.0.keys().find(|p| !a.0.contains_key(*p)) {
        return format!("{p} only on the second");
    }
    format!("sessions {:?} vs {:?}", a.1, b.1)
}

impl Sim {
    /// Every listed server's tree equals the first's, node by node, every stat field, data and
    /// ACL, and the session tables.
    pub(crate) fn check_trees_equal(&self, ids: &[crate::quorum::msg::Sid]) {
        let first = digest(&self.servers[&ids[0]].tree);
        let books = |t: &DataTree| {
            (
                t.approximate_data_size(),
                t.node_count(),
                t.all_ephemerals(),
                crate::tree::tests::acl_refs(t),
                t.replaying(),
            )
        };
        let first_books = books(&self.servers[&ids[0]].tree);
        assert!(!first_books.4, "s{} still replays a snapshot", ids[0]);
        for id in &ids[1..] {
            let d = digest(&self.servers[id].tree);
            assert!(
                d == first,
                "s{id}'s tree differs from s{}'s: {}",
                ids[0],
                first_difference(&first, &d)
            );
            // What the tree keeps besides its nodes: data size, ephemeral owners, the ACL
            // lists' reference counts.
            assert_eq!(
                books(&self.servers[id].tree),
                first_books,
                "s{id}'s bookkeeping differs from s{}'s",
                ids[0]
            );
        }
    }

    /// Replays the committed history and checks every reply the workload's clients got.
    pub(crate) fn check_replies(&self) {
        let mut by_zxid: BTreeMap<Zxid, Vec<&Answer>> = BTreeMap::new();
        for a in self.workload.answers.iter().chain(&self.workload.unheard) {
            assert!(
                self.committed.contains_key(&a.zxid),
                "a reply names {:#x}, which was never committed",
                a.zxid
            );
            by_zxid.entry(a.zxid).or_default().push(a);
        }
        let mut reads: Vec<&ReadSeen> = self.workload.reads.iter().collect();
        reads.sort_by_key(|r| r.zxid);
        let mut reads = reads.into_iter().peekable();
        let outbox = Outbox::detached(1);
        let mut reference = DataTree::new();
        let check_reads =
            |reference: &DataTree,
             upto: Zxid,
             reads: &mut std::iter::Peekable<std::vec::IntoIter<&ReadSeen>>| {
                while let Some(r) = reads.next_if(|r| r.zxid <= upto) {
                    assert_eq!(
                        r.zxid,
                        reference.last_zxid(),
                        "a read at an uncommitted zxid"
                    );
                    let mut watches = WatchManager::new();
                    let (expected, _) = execute(
                        reference,
                        &mut Watches::Locked(&mut watches),
                        &AclPolicy::default(),
                        &outbox,
                        r.xid,
                        r.request.clone(),
                    );
                    assert!(
                        expected == r.reply,
                        "s{}: {:?} read at {:#x} answered {:?}; the committed history says {:?}",
                        r.server,
                        r.request,
                        r.zxid,
                        r.reply,
                        expected
                    );
                }
            };
        for (z, t) in &self.committed {
            check_reads(&reference, z - 1, &mut reads);
            let answers = by_zxid.remove(z).unwrap_or_default();
            let expected: Vec<Option<i32>> =
                answers.iter().map(|a| model_code(&reference, a)).collect();
            let before =
                matches!(t.op, crate::txn::TxnOp::MultiFailed(_)).then(|| digest(&reference).0);
            let (result, _) = reference.apply(t);
            if let Some(before) = before {
                assert!(
                    digest(&reference).0 == before,
                    "failed multi {z:#x} changed the tree"
                );
            }
            if let OpResult::Multi(rs) = &result {
                if let crate::txn::TxnOp::Multi(_) = t.op {
                    assert!(
                        rs.iter().all(|(_, r)| !matches!(r, OpResult::Error(_))),
                        "multi {z:#x} committed with a failed op: {rs:?}"
                    );
                }
            }
            for (a, code) in answers.iter().zip(expected) {
                assert_eq!(
                    a.result, result,
                    "the reply to {:?} ({z:#x}) differs from the committed history's result",
                    a.sent.request
                );
                let got = match &result {
                    OpResult::Error(c) => *c,
                    OpResult::Multi(rs) => rs
                        .iter()
                        .find_map(|(_, r)| match r {
                            OpResult::Error(c) if *c != 0 => Some(*c),
                            _ => None,
                        })
                        .unwrap_or(0),
                    _ => 0,
                };
                if let Some(code) = code {
                    if got != ErrorCode::SessionMoved.code() {
                        assert_eq!(
                            got, code,
                            "{:?} of session {:#x} ({z:#x}) answered {got}; ZooKeeper's rules give {code}",
                            a.sent.request, a.sent.session
                        );
                    }
                }
            }
        }
        check_reads(&reference, Zxid::MAX, &mut reads);
        assert!(by_zxid.is_empty());
    }
}

/// The error code ZooKeeper gives a write on `tree` (the tree before its txn), in ZooKeeper's
/// order of checks: for a single op its code; for a multi the code of its first failing op
/// (each op checked against the effects of the ones before it), 0 if none fails; `None`
/// where the model says nothing (closeSession, createSession).
fn model_code(tree: &DataTree, a: &Answer) -> Option<i32> {
    let request = a.sent.request.as_ref()?;
    if matches!(request, Request::CloseSession) {
        return None;
    }
    if !tree.sessions().contains_key(&a.sent.session) {
        return Some(ErrorCode::SessionExpired.code());
    }
    let mut view = View {
        tree,
        over: BTreeMap::new(),
    };
    match request {
        Request::Multi(Ok(ops)) => {
            for op in ops {
                let r = match op.clone() {
                    MultiOp::Create(code, c) => Request::Create(code, c),
                    MultiOp::Delete(d) => Request::Delete(d),
                    MultiOp::SetData(d) => Request::SetData(d),
                    MultiOp::Check(c) => Request::Check(c),
                    _ => return None,
                };
                match view.op(&r)? {
                    0 => {}
                    e => return Some(e),
                }
            }
            Some(0)
        }
        r => view.op(r),
    }
}

/// What the model needs of a node.
#[derive(Debug, Clone)]
struct Lite {
    version: i32,
    aversion: i32,
    children: usize,
    acl: Vec<Acl>,
    ephemeral: bool,
}

/// The tree before a txn, with the effects of a multi's earlier ops on top.
struct View<'a> {
    tree: &'a DataTree,
    over: BTreeMap<String, Option<Lite>>,
}

impl View<'_> {
    fn get(&self, p: &str) -> Option<Lite> {
        match self.over.get(p) {
            Some(n) => n.clone(),
            None => self.tree.get(p).map(|n| Lite {
                version: n.version,
                aversion: n.aversion,
                children: n.num_children as usize,
                acl: n.acl().to_vec(),
                ephemeral: matches!(n.kind(), NodeKind::Ephemeral(_)),
            }),
        }
    }

    fn parent(&self, p: &str) -> Option<(String, Lite)> {
        let pp = path::parent(p)?;
        self.get(pp).map(|n| (pp.to_string(), n))
    }

    /// One op's code, and its effect on the view when it succeeds.
    fn op(&mut self, r: &Request) -> Option<i32> {
        let allowed = |acl: &[Acl], perm: i32| acl::check(&AclPolicy::default(), acl, perm, &[]);
        let code = |e: ErrorCode| Some(e.code());
        let bad = |want: i32, have: i32| want != -1 && want != have;
        match r {
            Request::Create(_, c) => {
                let Some((pp, mut parent)) = self.parent(&c.path) else {
                    return code(ErrorCode::NoNode);
                };
                if !allowed(&parent.acl, perms::CREATE) {
                    return code(ErrorCode::NoAuth);
                }
                let sequential = c.flags & 2 != 0;
                if !sequential && self.get(&c.path).is_some() {
                    return code(ErrorCode::NodeExists);
                }
                if parent.ephemeral {
                    return code(ErrorCode::NoChildrenForEphemerals);
                }
                if sequential {
                    return Some(0);
                }
                parent.children += 1;
                self.over.insert(pp, Some(parent));
                let node = Lite {
                    version: 0,
                    aversion: 0,
                    children: 0,
                    acl: c.acl.clone(),
                    ephemeral: c.flags & 1 != 0,
                };
                self.over.insert(c.path.clone(), Some(node));
            }
            Request::Delete(d) => {
                let Some((pp, mut parent)) = self.parent(&d.path) else {
                    return code(ErrorCode::NoNode);
                };
                if !allowed(&parent.acl, perms::DELETE) {
                    return code(ErrorCode::NoAuth);
                }
                let Some(n) = self.get(&d.path) else {
                    return code(ErrorCode::NoNode);
                };
                if bad(d.version, n.version) {
                    return code(ErrorCode::BadVersion);
                }
                if n.children > 0 {
                    return code(ErrorCode::NotEmpty);
                }
                parent.children -= 1;
                self.over.insert(pp, Some(parent));
                self.over.insert(d.path.clone(), None);
            }
            Request::SetData(s) => {
                let Some(mut n) = self.get(&s.path) else {
                    return code(ErrorCode::NoNode);
                };
                if !allowed(&n.acl, perms::WRITE) {
                    return code(ErrorCode::NoAuth);
                }
                if bad(s.version, n.version) {
                    return code(ErrorCode::BadVersion);
                }
                n.version += 1;
                self.over.insert(s.path.clone(), Some(n));
            }
            Request::SetAcl(s) => {
                let Some(mut n) = self.get(&s.path) else {
                    return code(ErrorCode::NoNode);
                };
                if !allowed(&n.acl, perms::ADMIN) {
                    return code(ErrorCode::NoAuth);
                }
                if bad(s.version, n.aversion) {
                    return code(ErrorCode::BadVersion);
                }
                n.aversion += 1;
                n.acl = s.acl.clone();
                self.over.insert(s.path.clone(), Some(n));
            }
            Request::Check(c) => {
                let Some(n) = self.get(&c.path) else {
                    return code(ErrorCode::NoNode);
                };
                if !allowed(&n.acl, perms::READ) {
                    return code(ErrorCode::NoAuth);
                }
                if bad(c.version, n.version) {
                    return code(ErrorCode::BadVersion);
                }
            }
            _ => return None,
        }
        Some(0)
    }
}
