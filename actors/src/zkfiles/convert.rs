//! Between ZooKeeper's records and zkr's tree and txns.
//!
//! * A ZooKeeper snapshot becomes a [`DataTree`] (root path `""` becomes `"/"`; every stat
//!   field is kept as persisted: ZooKeeper and zkr both store the child-creation count as
//!   `cversion` and the container/TTL markers in `ephemeralOwner`).
//! * A logged ZooKeeper txn becomes the zkr [`Txn`] that applies the same change.
//! * Sessions get the password ZooKeeper derives from their id (`generatePasswd`), so a client
//!   of the old ensemble can resume its session on zkr.
//! * The tree digest is ZooKeeper's (`DigestCalculator`, digest version 2): the sum of a CRC-32
//!   per node over its path, data and persisted stat, leaving out everything under
//!   `/zookeeper/`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::fuzzy_acls::UnresolvedAcls;
use super::records::{DataNode, StatPersisted, TxnHeader, DIGEST_VERSION};
use super::snapshot::{Snapshot, ZxidDigest, OPEN_ACL_KEY};
use super::txnlog::ZkTxn;
use crate::proto::codes::{ephemeral_owner, opcode};
use crate::proto::{Acl, ErrorCode};
use crate::tree::{DataTree, Node, NodeKind, NodeRef, SessionRecord};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

/// `ZooKeeperServer.superSecret`, the seed ZooKeeper mixes into session passwords.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// The password ZooKeeper gives session `id`: 16 bytes of `java.util.Random(id ^ superSecret)`.
pub fn zookeeper_password(id: SessionId) -> Bytes {
    let mut r = java_rand::Random::new((id ^ SUPER_SECRET) as u64);
    let mut p = [0u8; 16];
    r.next_bytes(&mut p);
    Bytes::copy_from_slice(&p)
}

/// The persisted stat of a zkr node.
pub fn stat_of(n: &NodeRef<'_>) -> StatPersisted {
    StatPersisted {
        czxid: n.czxid,
        mzxid: n.mzxid,
        ctime: n.ctime,
        mtime: n.mtime,
        version: n.version,
        cversion: n.cversion,
        aversion: n.aversion,
        ephemeral_owner: n.ephemeral_owner(),
        pzxid: n.pzxid,
    }
}

/// ZooKeeper's digest of one node (0 for nodes under `/zookeeper/`).
pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut h = crc32fast::Hasher::new();
    h.update(path.as_bytes());
    if let Some(d) = data {
        h.update(d);
    }
    let mut b = Vec::with_capacity(60);
    for v in [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    for v in [stat.version, stat.cversion, stat.aversion] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&stat.ephemeral_owner.to_be_bytes());
    h.update(&b);
    i64::from(h.finalize())
}

/// ZooKeeper's digest of a whole tree.
pub fn tree_digest(tree: &DataTree) -> i64 {
    tree.paths().fold(0i64, |acc, (p, n)| {
        acc.wrapping_add(node_digest(&p, n.data(), &stat_of(&n)))
    })
}

/// What a snapshot converts to, besides the tree.
#[derive(Debug, Clone)]
pub struct FromSnapshot {
    /// The tree (its last zxid is the snapshot's), nodes and sessions as in the file.
    pub tree: DataTree,
    /// Nodes read (the root included).
    pub nodes: usize,
    /// Nodes naming an ACL key the snapshot's table lacks (they hold an empty ACL until the
    /// replay settles them).
    pub unresolved_acls: UnresolvedAcls,
}

/// Builds zkr's tree from a decoded ZooKeeper snapshot covering `zxid`.
pub fn tree_from_snapshot(snap: Snapshot, zxid: Zxid) -> FromSnapshot {
    let mut acls: HashMap<i64, Arc<Vec<Acl>>> = snap
        .acls
        .into_iter()
        .map(|(k, v)| (k, Arc::new(v)))
        .collect();
    acls.insert(OPEN_ACL_KEY, Arc::new(Acl::open_unsafe()));
    let count = snap.nodes.len();
    let mut unresolved_acls = UnresolvedAcls::default();
    let nodes = snap
        .nodes
        .into_iter()
        .map(|(path, n)| {
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            let acl = match acls.get(&n.acl) {
                Some(acl) => acl.clone(),
                None => {
                    unresolved_acls.add(path.clone(), n.acl, n.stat.czxid);
                    UnresolvedAcls::placeholder()
                }
            };
            let s = n.stat;
            (
                path,
                Node {
                    data: n.data,
                    acl,
                    czxid: s.czxid,
                    mzxid: s.mzxid,
                    ctime: s.ctime,
                    mtime: s.mtime,
                    version: s.version,
                    cversion: s.cversion,
                    aversion: s.aversion,
                    ephemeral_owner: s.ephemeral_owner,
                    pzxid: s.pzxid,
                },
            )
        })
        .collect();
    let sessions = snap
        .sessions
        .into_iter()
        .map(|(id, timeout_ms)| {
            (
                id,
                SessionRecord {
                    timeout_ms,
                    password: zookeeper_password(id),
                },
            )
        })
        .collect();
    FromSnapshot {
        tree: DataTree::restore(nodes, sessions, zxid),
        nodes: count,
        unresolved_acls,
    }
}

/// Why a logged txn has no zkr equivalent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// An error code zkr does not know.
    #[error("error code {0} is not a ZooKeeper error code")]
    UnknownError(i32),
    /// A type that cannot appear where it is.
    #[error("txn type {0} inside a multi")]
    BadMultiOp(i32),
}

/// The zkr txn that applies what ZooKeeper logged, on `tree` as it is before it.
pub fn txn_from_zookeeper(
    header: &TxnHeader,
    txn: &ZkTxn,
    tree: &DataTree,
) -> Result<Txn, ConvertError> {
    Ok(Txn {
        zxid: header.zxid,
        time_ms: header.time,
        session_id: header.client_id,
        cxid: header.cxid,
        op: op_from_zookeeper(header, txn, tree, false)?,
    })
}

fn parent_cversion(tree: &DataTree, path: &str, logged: i32) -> i32 {
    if logged != -1 {
        return logged;
    }
    // Before 3.3 the parent's new cversion was not logged: ZooKeeper takes the current one + 1.
    crate::tree::path::parent(path)
        .and_then(|p| tree.get(p))
        .map_or(0, |p| p.cversion + 1)
}

fn op_from_zookeeper(
    header: &TxnHeader,
    txn: &ZkTxn,
    tree: &DataTree,
    in_multi: bool,
) -> Result<TxnOp, ConvertError> {
    let create =
        |path: &str, data: &Option<Bytes>, acl: &[Acl], owner: i64, pcv: i32| TxnOp::Create {
            path: path.to_string(),
            data: data.clone(),
            acl: acl.to_vec(),
            ephemeral_owner: owner,
            parent_cversion: parent_cversion(tree, path, pcv),
        };
    Ok(match txn {
        ZkTxn::CreateSession { timeout_ms } if !in_multi => TxnOp::CreateSession {
            timeout_ms: *timeout_ms,
            password: zookeeper_password(header.client_id),
        },
        ZkTxn::CloseSession { paths } if !in_multi => TxnOp::CloseSession {
            ephemerals: match paths {
                Some(p) => p.clone(),
                None => tree.ephemerals_of(header.client_id),
            },
        },
        ZkTxn::CreateSession { .. } => {
            return Err(ConvertError::BadMultiOp(opcode::CREATE_SESSION))
        }
        ZkTxn::CloseSession { .. } => return Err(ConvertError::BadMultiOp(opcode::CLOSE_SESSION)),
        ZkTxn::Create {
            path,
            data,
            acl,
            ephemeral,
            parent_cversion,
        } => create(
            path,
            data,
            acl,
            if *ephemeral { header.client_id } else { 0 },
            *parent_cversion,
        ),
        ZkTxn::CreateContainer {
            path,
            data,
            acl,
            parent_cversion,
        } => create(
            path,
            data,
            acl,
            ephemeral_owner::CONTAINER,
            *parent_cversion,
        ),
        ZkTxn::CreateTtl {
            path,
            data,
            acl,
            parent_cversion,
            ttl,
        } => create(path, data, acl, NodeKind::ttl_owner(*ttl), *parent_cversion),
        ZkTxn::Delete { path } => TxnOp::Delete { path: path.clone() },
        ZkTxn::SetData {
            path,
            data,
            version,
        } => TxnOp::SetData {
            path: path.clone(),
            data: data.clone(),
            version: *version,
        },
        ZkTxn::Reconfig { data, .. } => TxnOp::Reconfig {
            data: data.clone().unwrap_or_default(),
            version: header.zxid,
        },
        ZkTxn::SetAcl { path, acl, version } => TxnOp::SetAcl {
            path: path.clone(),
            acl: acl.clone(),
            aversion: *version,
        },
        ZkTxn::Check { path, .. } => TxnOp::Check { path: path.clone() },
        ZkTxn::Error { err } => {
            TxnOp::Error(ErrorCode::from_code(*err).ok_or(ConvertError::UnknownError(*err))?)
        }
        ZkTxn::Multi(ops) => {
            if ops.iter().any(|(_, op)| matches!(op, ZkTxn::Error { .. })) {
                // A failed multi changes nothing: every op reads as an error (DataTree.processTxn).
                let mut failed = false;
                TxnOp::MultiFailed(
                    ops.iter()
                        .map(|(_, op)| match op {
                            ZkTxn::Error { err } => {
                                failed = true;
                                *err
                            }
                            _ if failed => ErrorCode::RuntimeInconsistency.code(),
                            _ => 0,
                        })
                        .collect(),
                )
            } else {
                let mut out = Vec::with_capacity(ops.len());
                for (typ, op) in ops {
                    out.push((*typ, op_from_zookeeper(header, op, tree, true)?));
                }
                TxnOp::Multi(out)
            }
        }
    })
}

/// ZooKeeper's snapshot of a zkr tree: sessions, an ACL table, every node parent first
/// (children in name order), and the tree digest at the tree's last zxid.
pub fn snapshot_from_tree(tree: &DataTree) -> Snapshot {
    let sessions = tree
        .sessions()
        .iter()
        .map(|(id, r)| (*id, r.timeout_ms))
        .collect();
    let mut keys: HashMap<*const Vec<Acl>, i64> = HashMap::new();
    let mut acls = Vec::new();
    let mut nodes = Vec::with_capacity(tree.node_count());
    let mut stack = vec!["/".to_string()];
    while let Some(path) = stack.pop() {
        let Some(n) = tree.get(&path) else { continue };
        let next = acls.len() as i64 + 1;
        let key = *keys.entry(Arc::as_ptr(n.acl())).or_insert_with(|| {
            acls.push((next, n.acl().as_ref().clone()));
            next
        });
        stack.extend(
            n.child_names()
                .iter()
                .rev()
                .map(|c| crate::tree::path::join(&path, c)),
        );
        nodes.push((
            if path == "/" { String::new() } else { path },
            DataNode {
                data: n.data().map(Bytes::copy_from_slice),
                acl: key,
                stat: stat_of(&n),
            },
        ));
    }
    Snapshot {
        sessions,
        acls,
        nodes,
        digest: Some(ZxidDigest {
            zxid: tree.last_zxid(),
            version: DIGEST_VERSION,
            digest: tree_digest(tree),
        }),
        last_processed_zxid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_zookeepers() {
        // ZooKeeper 3.8 (Debian) gave session 0x100001117d30000 this password.
        let want: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&"ef6565e55052aacce5b739141953892a"[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(&zookeeper_password(0x0100_0011_17d3_0000)[..], &want[..]);
    }

    #[test]
    fn a_tree_survives_export_and_import() {
        let mut tree = DataTree::new();
        let t = |zxid, op| Txn {
            zxid,
            time_ms: 1000 + zxid,
            session_id: 0x55,
            cxid: 1,
            op,
        };
        tree.apply(&t(
            1,
            TxnOp::CreateSession {
                timeout_ms: 30000,
                password: zookeeper_password(0x55),
            },
        ));
        tree.apply(&t(
            2,
            TxnOp::Create {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"x")),
                acl: vec![Acl::new(31, "digest", "u:h")],
                ephemeral_owner: 0,
                parent_cversion: 1,
            },
        ));
        tree.apply(&t(
            3,
            TxnOp::Create {
                path: "/a/e".into(),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0x55,
                parent_cversion: 1,
            },
        ));
        let snap = snapshot_from_tree(&tree);
        assert_eq!(snap.nodes[0].0, "");
        let back = tree_from_snapshot(snap.clone(), tree.last_zxid()).tree;
        assert_eq!(tree_digest(&back), snap.digest.unwrap().digest);
        for (p, n) in tree.paths() {
            let m = back.get(&p).expect(&p);
            assert_eq!(
                (stat_of(&n), n.data(), n.acl()),
                (stat_of(&m), m.data(), m.acl())
            );
        }
        assert_eq!(back.sessions(), tree.sessions());
        assert_eq!(back.ephemerals_of(0x55).len(), 1);
    }
}
