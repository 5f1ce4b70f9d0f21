//! Rebuilding the state a ZooKeeper server would load: its newest snapshot, then every logged
//! txn after the snapshot's zxid (`FileTxnSnapLog.restore`), then the clean-up it does before
//! serving (ephemerals of sessions that are not in the session table are deleted).
//!
//! Stricter than ZooKeeper where ZooKeeper would go on with missing data: a txn that does not
//! directly follow the one before it (a gap, or a zxid going back) is an error naming the file
//! and offset. The tree digests ZooKeeper 3.6+ records are checked where they describe the
//! rebuilt tree: the last logged txn's at the end, and the snapshot's only when no logged txn
//! follows its zxid. A snapshot is fuzzy (txns go on while its tree is written), so its tree
//! may already hold changes of txns after the zxid its digest was taken at; ZooKeeper itself
//! only logs such a mismatch. With txns after it, the snapshot's digest is reported as not
//! compared, and the last txn's digest (taken by the leader in order) vouches for the result.

use std::collections::HashSet;

use super::convert::{self, ConvertError};
use super::fuzzy_acls::UnresolvedAcls;
use super::records::DIGEST_VERSION;
use super::snapshot::ZxidDigest;
use super::txnlog::Entry;
use crate::tree::{DataTree, Node, NodeKind};
use crate::txn::Zxid;
use crate::txnlog::recovery::follows;

/// A digest check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCheck {
    /// Which digest ("the snapshot's", "txn 0x..'s").
    pub what: String,
    /// The zxid it is for.
    pub zxid: Zxid,
    /// What ZooKeeper recorded.
    pub recorded: i64,
    /// What the rebuilt tree gives.
    pub computed: i64,
}

impl DigestCheck {
    /// Do they agree?
    pub fn matches(&self) -> bool {
        self.recorded == self.computed
    }
}

/// Why the replay stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A txn does not follow the previous one.
    #[error("at offset {offset}: txn {found:#x} does not follow {after:#x} (txns are missing: the logs are incomplete or damaged)")]
    Gap {
        /// Offset of the txn.
        offset: u64,
        /// The last txn applied.
        after: Zxid,
        /// The txn found.
        found: Zxid,
    },
    /// A txn without a zkr equivalent.
    #[error("at offset {offset}: txn {zxid:#x}: {source}")]
    Convert {
        /// Offset of the txn.
        offset: u64,
        /// Its zxid.
        zxid: Zxid,
        /// Why.
        source: ConvertError,
    },
}

/// What the replay of one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReplay {
    /// Entries already covered by the snapshot (skipped).
    pub skipped: u64,
    /// Entries applied.
    pub applied: u64,
    /// First and last applied zxid.
    pub range: Option<(Zxid, Zxid)>,
}

/// The replay in progress.
#[derive(Debug)]
pub struct Replay {
    tree: DataTree,
    snapshot_zxid: Zxid,
    pending: Option<ZxidDigest>,
    last_digest: Option<(Zxid, i64)>,
    checks: Vec<DigestCheck>,
    unresolved_acls: UnresolvedAcls,
}

impl Replay {
    /// Starts from a snapshot's tree (its last zxid is the snapshot's) and the digest it
    /// carries.
    pub fn new(tree: DataTree, digest: Option<ZxidDigest>) -> Replay {
        let snapshot_zxid = tree.last_zxid();
        // A digest older than the snapshot's zxid cannot be checked (ZooKeeper ignores it too).
        let pending =
            digest.filter(|d| d.version == DIGEST_VERSION && d.zxid >= snapshot_zxid && d.zxid > 0);
        Replay {
            tree,
            snapshot_zxid,
            pending,
            last_digest: None,
            checks: Vec::new(),
            unresolved_acls: UnresolvedAcls::default(),
        }
    }

    /// The snapshot's nodes that name an ACL key its table lacks (from
    /// [`convert::tree_from_snapshot`]): the replay settles them, [`Replay::finish`] reports
    /// those it could not.
    pub fn with_unresolved_acls(mut self, unresolved: UnresolvedAcls) -> Replay {
        self.unresolved_acls = unresolved;
        self
    }

    /// The tree so far.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Applies a file's entries (those after the tree's last zxid).
    pub fn feed(&mut self, entries: &[Entry]) -> Result<FileReplay, ReplayError> {
        let mut out = FileReplay::default();
        for e in entries {
            let zxid = e.header.zxid;
            let last = self.tree.last_zxid();
            if zxid <= self.snapshot_zxid && last == self.snapshot_zxid {
                out.skipped += 1;
                continue;
            }
            if !follows(last, zxid) {
                return Err(ReplayError::Gap {
                    offset: e.offset,
                    after: last,
                    found: zxid,
                });
            }
            let txn =
                convert::txn_from_zookeeper(&e.header, &e.txn, &self.tree).map_err(|source| {
                    ReplayError::Convert {
                        offset: e.offset,
                        zxid,
                        source,
                    }
                })?;
            self.unresolved_acls.observe(zxid, &txn.op);
            self.tree.apply(&txn);
            out.applied += 1;
            out.range = Some((out.range.map_or(zxid, |r| r.0), zxid));
            self.last_digest = e
                .digest
                .as_ref()
                .filter(|d| d.version == DIGEST_VERSION)
                .map(|d| (zxid, d.tree_digest));
        }
        Ok(out)
    }

    /// Ends the replay: checks the last txn's digest, deletes ephemerals whose session is not
    /// in the session table (as ZooKeeper does before serving; their parents' pzxid moves to
    /// the last zxid), empties `/zookeeper/config` (ZooKeeper's ensemble configuration; a zkr
    /// ensemble publishes its own there) and raises the last zxid to at least `floor` (the
    /// first zxid of ZooKeeper's current epoch).
    pub fn finish(mut self, floor: Zxid) -> Finished {
        let mut snapshot_digest_not_compared = None;
        if let Some(d) = self.pending {
            if d.zxid == self.tree.last_zxid() && d.zxid == self.snapshot_zxid {
                self.checks.push(DigestCheck {
                    what: "the snapshot's digest".into(),
                    zxid: d.zxid,
                    recorded: d.digest,
                    computed: convert::tree_digest(&self.tree),
                });
            } else {
                snapshot_digest_not_compared = Some(d.zxid);
            }
        }
        if let Some((zxid, recorded)) = self.last_digest {
            if zxid == self.tree.last_zxid() && zxid != self.snapshot_zxid {
                self.checks.push(DigestCheck {
                    what: format!("the digest logged with txn {zxid:#x}"),
                    zxid,
                    recorded,
                    computed: convert::tree_digest(&self.tree),
                });
            }
        }
        let last = self.tree.last_zxid();
        let sessions = self.tree.sessions().clone();
        let mut nodes: Vec<(String, Node)> =
            self.tree.paths().map(|(p, n)| (p, n.to_node())).collect();
        let mut dead = Vec::new();
        nodes.retain(|(p, n)| match n.kind() {
            NodeKind::Ephemeral(s) if !sessions.contains_key(&s) => {
                dead.push(p.clone());
                false
            }
            _ => true,
        });
        dead.sort();
        let unresolved_acls = std::mem::take(&mut self.unresolved_acls).resolve(&mut nodes);
        let parents: HashSet<&str> = dead
            .iter()
            .filter_map(|d| crate::tree::path::parent(d))
            .collect();
        let fresh = DataTree::new();
        let mut config = None;
        for (p, n) in nodes.iter_mut() {
            if parents.contains(p.as_str()) && last > n.pzxid {
                n.pzxid = last;
            }
            if p == CONFIG_NODE {
                if let Some(f) = fresh.get(CONFIG_NODE) {
                    if n.data.as_ref().is_some_and(|d| !d.is_empty()) {
                        config = n.data.clone();
                        *n = f.to_node();
                    }
                }
            }
        }
        Finished {
            tree: DataTree::restore(nodes, sessions.into_iter().collect(), last.max(floor)),
            checks: self.checks,
            dead_ephemerals: dead,
            config_dropped: config,
            snapshot_digest_not_compared,
            unresolved_acls,
        }
    }
}

/// The state to write, and what was done to get it.
#[derive(Debug)]
pub struct Finished {
    /// The tree (its last zxid is the zxid to continue from).
    pub tree: DataTree,
    /// Digest checks made.
    pub checks: Vec<DigestCheck>,
    /// Ephemerals deleted because their session was not in the session table.
    pub dead_ephemerals: Vec<String>,
    /// ZooKeeper's ensemble configuration, if `/zookeeper/config` held one (not imported).
    pub config_dropped: Option<bytes::Bytes>,
    /// The zxid of the snapshot's digest when txns were replayed after the snapshot (the
    /// snapshot is fuzzy, so its digest does not describe any tree the replay goes through).
    pub snapshot_digest_not_compared: Option<Zxid>,
    /// Nodes of the snapshot naming an ACL key its table lacks that no replayed txn settled
    /// (path, key): damage.
    pub unresolved_acls: Vec<(String, i64)>,
}

const CONFIG_NODE: &str = "/zookeeper/config";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::opcode;
    use crate::proto::Acl;
    use crate::zkfiles::records::{TxnDigest, TxnHeader};
    use crate::zkfiles::txnlog::ZkTxn;

    fn entry(zxid: Zxid, txn: ZkTxn, digest: Option<i64>) -> Entry {
        Entry {
            offset: zxid as u64 * 100,
            header: TxnHeader {
                client_id: 0x77,
                cxid: 1,
                zxid,
                time: 5000 + zxid,
                typ: opcode::CREATE,
            },
            txn,
            digest: digest.map(|d| TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: d,
            }),
        }
    }

    fn create(path: &str, ephemeral: bool) -> ZkTxn {
        ZkTxn::Create {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral,
            parent_cversion: -1,
        }
    }

    #[test]
    fn replays_after_the_snapshot_checks_digests_and_refuses_gaps() {
        let mut probe = DataTree::new();
        let first = entry(1, create("/a", false), None);
        let t = convert::txn_from_zookeeper(&first.header, &first.txn, &probe).unwrap();
        probe.apply(&t);
        let digest_after_1 = convert::tree_digest(&probe);
        let mut r = Replay::new(DataTree::new(), None);
        let f = r
            .feed(&[first.clone(), entry(2, create("/a/e", true), None)])
            .unwrap();
        assert_eq!((f.applied, f.range), (2, Some((1, 2))));
        // An ephemeral of a session missing from the table goes, as ZooKeeper's loadData does.
        let done = r.finish(0);
        assert_eq!(done.dead_ephemerals, vec!["/a/e".to_string()]);
        assert!(done.tree.get("/a/e").is_none());
        assert_eq!(done.tree.get("/a").unwrap().pzxid, 2);
        assert!(done.checks.is_empty());

        let mut r = Replay::new(DataTree::new(), None);
        r.feed(&[entry(1, create("/a", false), Some(digest_after_1))])
            .unwrap();
        let checks = r.finish(0x5_0000_0000).checks;
        assert_eq!(checks.len(), 1);
        assert!(checks[0].matches(), "{checks:?}");

        let mut r = Replay::new(DataTree::new(), None);
        let e = r
            .feed(&[first, entry(3, create("/b", false), None)])
            .unwrap_err();
        assert!(matches!(
            e,
            ReplayError::Gap {
                offset: 300,
                after: 1,
                found: 3
            }
        ));
    }

    /// ZooKeeper's snapshots are fuzzy: txns go on while the tree is written, so the tree in a
    /// snapshot named after zxid 1 may already hold txn 2's change, while the digest it carries
    /// (taken when txn 1 was applied) is that of the tree at 1. ZooKeeper compares the snapshot's
    /// digest only when its replay reaches that zxid, never against the fuzzy tree itself; seen
    /// in the rolling-migration test, where an import refused a healthy data dir.
    #[test]
    fn a_fuzzy_snapshot_whose_digest_predates_a_change_it_holds_is_not_a_mismatch() {
        // As ZooKeeper logs them: with the parent's cversion after the create.
        let root_cversion = DataTree::new().get("/").unwrap().cversion;
        let with_parent_cversion = |path: &str, cversion: i32| ZkTxn::Create {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: cversion,
        };
        let one = entry(1, with_parent_cversion("/a", root_cversion + 1), None);
        let two = entry(2, with_parent_cversion("/b", root_cversion + 2), None);
        let mut truth = DataTree::new();
        for e in [&one, &two] {
            let t = convert::txn_from_zookeeper(&e.header, &e.txn, &truth).unwrap();
            truth.apply(&t);
            if e.header.zxid == 1 {
                assert_eq!(truth.last_zxid(), 1);
            }
        }
        let mut at_one = DataTree::new();
        let t = convert::txn_from_zookeeper(&one.header, &one.txn, &at_one).unwrap();
        at_one.apply(&t);
        let digest_at_one = convert::tree_digest(&at_one);
        // The fuzzy snapshot: txn 2's node already in, the zxid and digest still txn 1's.
        let mut fuzzy = truth.clone();
        fuzzy.set_last_zxid(1);
        let recorded = ZxidDigest {
            zxid: 1,
            version: DIGEST_VERSION,
            digest: digest_at_one,
        };
        let mut r = Replay::new(fuzzy, Some(recorded));
        let digest_after_two = convert::tree_digest(&truth);
        r.feed(&[
            one.clone(),
            entry(
                2,
                with_parent_cversion("/b", root_cversion + 2),
                Some(digest_after_two),
            ),
        ])
        .unwrap();
        let checks = r.finish(0).checks;
        assert!(checks.iter().all(DigestCheck::matches), "{checks:?}");
        assert_eq!(
            checks.len(),
            1,
            "only the last txn's digest is comparable: {checks:?}"
        );

        // With nothing logged after it the snapshot is not fuzzy, and its digest is checked.
        let mut r = Replay::new(at_one.clone(), Some(recorded));
        r.feed(std::slice::from_ref(&one)).unwrap();
        let checks = r.finish(0).checks;
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert!(checks[0].matches(), "{checks:?}");
        let wrong = ZxidDigest {
            digest: digest_at_one ^ 1,
            ..recorded
        };
        let checks = Replay::new(at_one, Some(wrong)).finish(0).checks;
        assert!(!checks[0].matches(), "{checks:?}");
    }

    /// ZooKeeper writes a snapshot's ACL table before its nodes, so a setACL (or a create with a
    /// new ACL) between the two leaves a node naming a key the table lacks; ZooKeeper loads it
    /// and the replay sets the ACL. Seen in the migration suite: the import refused Apache's
    /// healthy data dir ("node \"/secure\" names ACL 4 that the table lacks").
    #[test]
    fn a_fuzzy_snapshot_naming_an_acl_its_table_lacks_is_settled_by_the_txns_after_it() {
        use crate::zkfiles::snapshot;
        let digest_acl = vec![Acl::new(31, "digest", "u:h")];
        let read_acl = vec![Acl::new(3, "world", "anyone")];
        let root_cversion = DataTree::new().get("/").unwrap().cversion;
        // zxid 1 makes /secure (open), 2 sets its ACL, 3 makes /born with an ACL of its own.
        let make = |path: &str, acl: &Vec<Acl>, cversion: i32| ZkTxn::Create {
            path: path.into(),
            data: None,
            acl: acl.clone(),
            ephemeral: false,
            parent_cversion: cversion,
        };
        let log = [
            entry(
                1,
                make("/secure", &Acl::open_unsafe(), root_cversion + 1),
                None,
            ),
            entry(
                2,
                ZkTxn::SetAcl {
                    path: "/secure".into(),
                    acl: digest_acl.clone(),
                    version: 1,
                },
                None,
            ),
            entry(3, make("/born", &read_acl, root_cversion + 2), None),
        ];
        let mut truth = DataTree::new();
        for e in &log {
            let t = convert::txn_from_zookeeper(&e.header, &e.txn, &truth).unwrap();
            truth.apply(&t);
        }
        // The fuzzy snapshot named after zxid 1: its table was written at 1 (no entry for the
        // two new lists), its nodes after 3.
        let mut snap = convert::snapshot_from_tree(&truth);
        let before = snap.acls.len();
        snap.acls
            .retain(|(_, l)| *l != digest_acl && *l != read_acl);
        assert_eq!(snap.acls.len(), before - 2);
        let snap = snapshot::decode(snapshot::encode(&snap).into()).expect("ZooKeeper loads it");
        let from = convert::tree_from_snapshot(snap.clone(), 1);
        assert_eq!(from.unresolved_acls.len(), 2);
        let mut r = Replay::new(from.tree, None).with_unresolved_acls(from.unresolved_acls);
        r.feed(&log).unwrap();
        let done = r.finish(0);
        assert!(
            done.unresolved_acls.is_empty(),
            "{:?}",
            done.unresolved_acls
        );
        assert_eq!(**done.tree.get("/secure").unwrap().acl(), digest_acl);
        assert_eq!(**done.tree.get("/born").unwrap().acl(), read_acl);

        // Without the txns after the snapshot nothing explains either key: damage, named.
        let from = convert::tree_from_snapshot(snap, 1);
        let mut r = Replay::new(from.tree, None).with_unresolved_acls(from.unresolved_acls);
        r.feed(&log[..1]).unwrap();
        let left = r.finish(0).unresolved_acls;
        assert_eq!(
            left.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["/born", "/secure"]
        );
    }

    #[test]
    fn the_floor_raises_the_last_zxid_to_the_current_epoch() {
        let r = Replay::new(DataTree::new(), None);
        assert_eq!(r.finish(0x5_0000_0000).tree.last_zxid(), 0x5_0000_0000);
    }
}
