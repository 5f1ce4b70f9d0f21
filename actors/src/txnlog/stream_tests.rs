//! Tests of streamed snapshots: chunks, checksums, fuzzy encodes made exact by their tail,
//! and what a restart recovers from an installed snapshot whose tail was cut short.

use super::*;
use crate::proto::Acl;
use crate::txn::{Txn, TxnOp};
use tempfile::TempDir;

/// A temporary directory, removed on drop.
fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("zkr-snapstream-")
        .tempdir()
        .expect("temp dir")
}

fn tree() -> DataTree {
    let mut t = DataTree::new();
    for i in 1..=300i64 {
        t.apply(&Txn {
            zxid: i,
            time_ms: 0,
            session_id: 0,
            cxid: 0,
            op: TxnOp::Create {
                path: format!("/n{i}"),
                data: Some(Bytes::from(vec![i as u8; 40])),
                acl: Vec::new(),
                ephemeral_owner: 0,
                parent_cversion: i as i32,
            },
        });
    }
    t
}

/// Streams `t` through an outgoing and an incoming file, `corrupt` flipping a bit of that
/// chunk on its way; returns the incoming file and what was announced.
fn stream(dir: &TempDir, t: &DataTree, corrupt: Option<u64>) -> (PathBuf, SnapshotMeta) {
    let out = outgoing_path(dir.path(), 2, 1);
    let m = write_outgoing(&out, 512, snapshot::CHUNK_NODES, |f| {
        f(t);
        true
    })
    .expect("write");
    assert!(m.chunks > 3, "several chunks: {m:?}");
    let inc = incoming_path(dir.path());
    for seq in 0..m.chunks {
        let mut c = read_chunk(&out, seq, 512).expect("read").to_vec();
        assert!(!c.is_empty() && c.len() <= 512);
        if corrupt == Some(seq) {
            c[7] ^= 0x40;
        }
        write_chunk(&inc, seq, &c).expect("write chunk");
    }
    (inc, m)
}

#[test]
fn a_snapshot_streamed_in_chunks_is_rebuilt_exactly() {
    let dir = temp_dir();
    let t = tree();
    let (inc, m) = stream(&dir, &t, None);
    check(&inc, &m).expect("whole crc");
    let back = snapshot::load(&inc).expect("load");
    assert_eq!(back.last_zxid(), 300);
    assert_eq!(back.node_count(), t.node_count());
    let n = back.get("/n7").expect("node");
    assert_eq!(n.data(), Some(&[7u8; 40][..]));
}

#[test]
fn a_corrupt_streamed_snapshot_is_refused_and_removed() {
    let dir = temp_dir();
    let (inc, m) = stream(&dir, &tree(), Some(1));
    assert!(matches!(
        check(&inc, &m),
        Err(SnapshotError::Invalid { .. })
    ));
    let mut mem = super::super::memory::MemoryLog::default();
    assert!(install(&mut mem, &inc, &m).is_err(), "not installed");
    assert!(!inc.exists(), "the partial file is removed");
    assert_eq!(mem.last_zxid(), 0);
    assert!(mem.disk().lock().expect("disk").snapshots.is_empty());
}

/// A leader's tree and the txns it applied, made as the leader's pipeline makes them
/// (parent counters, versions, the closing session's ephemerals from the tree).
struct Leader {
    tree: DataTree,
    txns: Vec<Txn>,
    rng: rand::rngs::SmallRng,
    next_session: i64,
}

impl Leader {
    fn new(seed: u64) -> Leader {
        use rand::SeedableRng;
        Leader {
            tree: DataTree::new(),
            txns: Vec::new(),
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            next_session: 0x100,
        }
    }

    fn commit(&mut self, session_id: i64, op: TxnOp) {
        let t = Txn {
            zxid: self.tree.last_zxid() + 1,
            time_ms: 5000 + self.tree.last_zxid(),
            session_id,
            cxid: 0,
            op,
        };
        let (r, _) = self.tree.apply(&t);
        assert!(
            !matches!(r, crate::tree::OpResult::Error(_)),
            "the leader only commits what succeeds: {t:?} gave {r:?}"
        );
        self.txns.push(t);
    }

    fn create_op(&self, path: &str, data: &[u8], acl: Vec<Acl>, owner: i64) -> TxnOp {
        let parent = crate::tree::path::parent(path).expect("parent");
        TxnOp::Create {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl,
            ephemeral_owner: owner,
            parent_cversion: self.tree.get(parent).map_or(0, |n| n.cversion) + 1,
        }
    }

    fn create(&mut self, path: &str, data: &[u8], owner: i64) {
        let op = self.create_op(path, data, Acl::open_unsafe(), owner);
        self.commit(if owner > 0 { owner } else { 0 }, op);
    }

    fn set_data(&mut self, path: &str, data: &[u8]) -> TxnOp {
        TxnOp::SetData {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            version: self.tree.get(path).expect("node").version + 1,
        }
    }

    /// Deletes `path` and everything under it, children first.
    fn delete_subtree(&mut self, path: &str) {
        let mut below: Vec<String> = self
            .tree
            .paths()
            .map(|(p, _)| p)
            .filter(|p| p.starts_with(&format!("{path}/")))
            .collect();
        below.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
        for p in below.into_iter().chain([path.to_string()]) {
            self.commit(0, TxnOp::Delete { path: p });
        }
    }

    /// Nodes a test may change (not the built-in ones).
    fn user_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tree
            .paths()
            .map(|(p, _)| p)
            .filter(|p| p != "/" && !p.starts_with("/zookeeper"))
            .collect();
        v.sort();
        v
    }

    /// One random change among the kinds a client makes.
    fn random_change(&mut self) {
        use rand::Rng;
        let paths = self.user_paths();
        let pick = |rng: &mut rand::rngs::SmallRng| paths[rng.random_range(0..paths.len())].clone();
        let acls = [
            Acl::open_unsafe(),
            vec![Acl::new(31, "digest", "u:x")],
            vec![Acl::new(1, "world", "anyone")],
        ];
        match self.rng.random_range(0..10) {
            0 | 1 => {
                let parent = pick(&mut self.rng);
                let path = format!("{parent}/n{}", self.rng.random_range(0..6));
                let persistent = self
                    .tree
                    .get(&parent)
                    .is_some_and(|n| n.ephemeral_owner() == 0);
                if persistent && self.tree.get(&path).is_none() && path.matches('/').count() < 5 {
                    self.create(&path, b"new", 0);
                }
            }
            2 => {
                let p = pick(&mut self.rng);
                if !p.starts_with("/q") || self.rng.random_bool(0.3) {
                    self.delete_subtree(&p);
                }
            }
            3 | 4 => {
                let p = pick(&mut self.rng);
                let len = self.rng.random_range(0..40);
                let op = self.set_data(&p, &vec![b'd'; len]);
                self.commit(0, op);
            }
            5 => {
                let p = pick(&mut self.rng);
                let acl = acls[self.rng.random_range(0..acls.len())].clone();
                let aversion = self.tree.get(&p).expect("node").aversion + 1;
                self.commit(
                    0,
                    TxnOp::SetAcl {
                        path: p,
                        acl,
                        aversion,
                    },
                );
            }
            6 => {
                self.next_session += 1;
                let s = self.next_session;
                self.commit(
                    s,
                    TxnOp::CreateSession {
                        timeout_ms: 4000,
                        password: Bytes::from(vec![s as u8; 16]),
                    },
                );
                let parent = pick(&mut self.rng);
                if self
                    .tree
                    .get(&parent)
                    .is_some_and(|n| n.ephemeral_owner() == 0)
                {
                    let path = format!("{parent}/e{s:x}");
                    self.create(&path, b"eph", s);
                }
            }
            7 => {
                let sessions: Vec<i64> = self.tree.sessions().keys().copied().collect();
                if let Some(s) = sessions.first().copied() {
                    let ephemerals = self.tree.ephemerals_of(s);
                    self.commit(s, TxnOp::CloseSession { ephemerals });
                }
            }
            _ => {
                // A multi: a create, a setData elsewhere and the delete of a leaf.
                let parent = pick(&mut self.rng);
                let path = format!("{parent}/m{}", self.rng.random_range(0..4));
                let other = pick(&mut self.rng);
                let leaf = pick(&mut self.rng);
                let ok = self
                    .tree
                    .get(&parent)
                    .is_some_and(|n| n.ephemeral_owner() == 0)
                    && self.tree.get(&path).is_none()
                    && path.matches('/').count() < 5
                    && leaf != parent
                    && leaf != other
                    && self.tree.get(&leaf).is_some_and(|n| n.num_children == 0);
                if ok {
                    use crate::proto::codes::opcode;
                    let ops = vec![
                        (
                            opcode::CREATE,
                            self.create_op(&path, b"multi", Acl::open_unsafe(), 0),
                        ),
                        (opcode::SET_DATA, self.set_data(&other, b"by a multi")),
                        (opcode::DELETE, TxnOp::Delete { path: leaf }),
                    ];
                    self.commit(0, TxnOp::Multi(ops));
                }
            }
        }
    }
}

/// The learner's view of the whole state matches the leader's: every node (all stat
/// fields, data, ACL, children), the session table, the ephemeral owners, the data size,
/// the ACL lists and their reference counts.
fn assert_same_state(learner: &DataTree, leader: &DataTree) {
    use crate::tree::tests::{acl_refs, digest};
    let (a, b) = (digest(learner), digest(leader));
    if a != b {
        let diff = a
            .iter()
            .zip(&b)
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("learner {x:?}\nleader  {y:?}"))
            .unwrap_or_else(|| format!("{} nodes vs {}", a.len(), b.len()));
        panic!("trees differ: {diff}");
    }
    assert_eq!(learner.sessions(), leader.sessions());
    assert_eq!(learner.all_ephemerals(), leader.all_ephemerals());
    assert_eq!(learner.node_count(), leader.node_count());
    assert_eq!(
        learner.approximate_data_size(),
        leader.approximate_data_size()
    );
    assert_eq!(acl_refs(learner), acl_refs(leader));
    assert_eq!(learner.last_zxid(), leader.last_zxid());
}

/// The leader of a fuzzy-stream test: parents with many children (so a chunk of a few
/// nodes scans a parent long before its last children), a quota'd subtree, sessions with
/// ephemerals.
fn busy_leader(seed: u64) -> Leader {
    let mut l = Leader::new(seed);
    for p in 0..6 {
        l.create(&format!("/p{p}"), b"parent", 0);
        for c in 0..40 {
            l.create(&format!("/p{p}/c{c}"), &[b'c'; 20], 0);
        }
    }
    l.create("/q", b"quota'd", 0);
    l.create("/zookeeper/quota/q", b"", 0);
    l.create(
        "/zookeeper/quota/q/zookeeper_limits",
        b"count=-1,bytes=-1",
        0,
    );
    l.create("/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0", 0);
    for c in 0..30 {
        l.create(&format!("/q/x{c}"), &[b'q'; 10], 0);
    }
    for _ in 0..3 {
        l.next_session += 1;
        let s = l.next_session;
        l.commit(
            s,
            TxnOp::CreateSession {
                timeout_ms: 3000,
                password: Bytes::from_static(b"0123456789abcdef"),
            },
        );
        l.create(&format!("/p1/e{s:x}"), b"e", s);
    }
    l
}

/// Streams the leader's tree through the outgoing and incoming files (in `dir`) while
/// `between` changes it before loan `n` of the tree (loan 0 begins the scan, each later one
/// takes a chunk of `nodes` nodes); returns the incoming file and what the learner is told.
fn fuzzy_stream(
    dir: &TempDir,
    l: &mut Leader,
    nodes: usize,
    mut between: impl FnMut(&mut Leader, usize),
) -> (PathBuf, SnapshotMeta) {
    let out = outgoing_path(dir.path(), 2, 1);
    let mut loans = 0;
    let m = write_outgoing(&out, 512, nodes, |f| {
        if loans > 0 {
            between(l, loans);
        }
        loans += 1;
        f(&l.tree);
        true
    })
    .expect("write");
    assert!(loans > 10, "the scan took {loans} loans");
    assert_eq!(
        m.end,
        l.tree.last_zxid(),
        "E: the last txn applied at the end"
    );
    let inc = incoming_path(dir.path());
    for seq in 0..m.chunks {
        write_chunk(&inc, seq, &read_chunk(&out, seq, 512).expect("read")).expect("chunk");
    }
    (inc, m)
}

/// [`fuzzy_stream`], then installs it as a learner does, and applies the txns after its zxid
/// (as the tail behind SNAP); returns the learner's tree, settled as before it serves.
fn fuzzy_catch_up(
    l: &mut Leader,
    nodes: usize,
    between: impl FnMut(&mut Leader, usize),
) -> DataTree {
    let dir = temp_dir();
    let (inc, m) = fuzzy_stream(&dir, l, nodes, between);
    let mut mem = super::super::memory::MemoryLog::default();
    let mut learner = install(&mut mem, &inc, &m).expect("installed");
    assert_eq!(learner.last_zxid(), m.zxid);
    assert!(
        learner.tail_pending(),
        "no client may read it before its tail"
    );
    for t in l.txns.iter().filter(|t| t.zxid > m.zxid) {
        learner.apply(t);
    }
    let orphans = learner.finish_replay();
    assert!(orphans.is_empty(), "left without a parent: {orphans:?}");
    assert!(!learner.tail_pending() && !learner.replaying());
    learner
}

/// The learner's file log, continuing what `layout` holds (recovered up to `last`).
fn file_log(layout: &super::super::recovery::Layout) -> super::super::segment::FileLog {
    let rec = super::super::recovery::recover(layout).expect("recovery");
    super::super::segment::FileLog::open(layout, rec.tail, rec.tree.last_zxid(), true, 4096)
        .expect("log")
}

/// A tree recovered short of its snapshot's `E` (`held`), then `rest` (the txns after the log's
/// end): the next sync continues the replay from the log's end (a DIFF) and makes it `leader`'s
/// state; and once the log in `layout` reaches `E`, a restart recovers a valid state.
fn exact_once_the_rest_is_replayed(
    layout: &super::super::recovery::Layout,
    held: DataTree,
    rest: &[std::sync::Arc<Txn>],
    leader: &DataTree,
) {
    let mut tree = held;
    for t in rest {
        tree.apply(t);
    }
    let orphans = tree.finish_replay();
    assert!(orphans.is_empty(), "left without a parent: {orphans:?}");
    assert_same_state(&tree, leader);

    let mut log = file_log(layout);
    log.append(rest).expect("append");
    log.sync().expect("sync");
    drop(log);
    let rec = super::super::recovery::recover(layout).expect("recovered");
    assert!(!rec.tree.tail_pending() && rec.short_of.is_none());
    let mut tree = rec.tree;
    tree.finish_replay();
    assert_same_state(&tree, leader);
}

#[test]
fn a_learner_restarted_before_its_tail_reached_the_encode_end_recovers_a_tree_waiting_for_it() {
    use super::super::recovery::{recover, Layout};
    use std::sync::Arc;
    for seed in 0..10 {
        let mut l = busy_leader(seed);
        let dir = temp_dir();
        let (inc, m) = fuzzy_stream(&dir, &mut l, 7, |l, _| {
            for _ in 0..3 {
                l.random_change();
            }
        });
        assert!(m.end > m.zxid + 2, "a fuzzy encode: {m:?}");
        let layout = Layout::new(&dir.path().join("learner"));
        let mut log = file_log(&layout);
        install(&mut log, &inc, &m).expect("installed");
        let tail: Vec<Arc<Txn>> = l
            .txns
            .iter()
            .filter(|t| t.zxid > m.zxid)
            .map(|t| Arc::new(t.clone()))
            .collect();
        // The learner dies with its log between S and E (zxids of epoch 0 here: counters).
        let cut = m.zxid + (m.end - m.zxid) / 2;
        let (logged, rest): (Vec<_>, Vec<_>) = tail.iter().cloned().partition(|t| t.zxid <= cut);
        log.append(&logged).expect("append");
        log.sync().expect("sync");
        drop(log);

        let rec = recover(&layout).expect("recovered");
        assert_eq!(
            rec.tree.last_zxid(),
            cut,
            "the node's last zxid is its log's"
        );
        assert!(
            rec.tree.tail_pending(),
            "seed {seed}: a tree between S {:#x} and E {:#x} is no state any server had: \
             it must not be served (not even read-only) nor snapshotted",
            m.zxid,
            m.end
        );
        assert_eq!(rec.short_of, Some(m.end));
        exact_once_the_rest_is_replayed(&layout, rec.tree, &rest, &l.tree);
    }
}

/// A server's own snapshot is fuzzy too, and may hold txns its log does not: a server applies
/// a txn once a quorum of *others* has it durable, possibly before its own write of it
/// completes, and a scan meanwhile copies it. If the server then dies with its log short of
/// what the scan saw, that snapshot and that log make no state any server had: recovery must
/// hold the tree back as it does for a leader's snapshot whose tail never came (nothing served
/// from it, not even read-only, and no snapshot of it), until a sync replays the rest.
#[test]
fn a_restart_whose_log_stops_short_of_what_its_own_snapshot_scanned_recovers_a_tree_waiting_for_it()
{
    use super::super::recovery::{recover, Layout};
    use std::sync::Arc;
    let arcs =
        |txns: &[Txn]| -> Vec<Arc<Txn>> { txns.iter().map(|t| Arc::new(t.clone())).collect() };
    for seed in 0..10 {
        let mut l = busy_leader(seed);
        let dir = temp_dir();
        let layout = Layout::new(&dir.path().join("server"));
        // Everything up to S is on the server's log.
        let mut log = file_log(&layout);
        log.append(&arcs(&l.txns)).expect("append");
        log.sync().expect("sync");
        let s = l.tree.last_zxid();
        // Its snapshot is scanned while it applies txns whose own log writes are not done.
        let mut loans = 0;
        let w = snapshot::write_lent(&layout.snap_dir, 7, |f| {
            if loans > 0 {
                for _ in 0..3 {
                    l.random_change();
                }
            }
            loans += 1;
            f(&l.tree);
            true
        })
        .expect("snapshot");
        let end = l.tree.last_zxid();
        assert_eq!(w.zxid, s);
        assert!(
            loans > 10 && end > s + 2,
            "a fuzzy scan: {loans} loans, S {s:#x}, E {end:#x}"
        );
        assert_eq!(
            tail_end(&layout.snap_dir, s),
            Some(end),
            "E is kept beside it"
        );
        // It dies with half of those txns on its log.
        let cut = s + (end - s) / 2;
        let (logged, rest): (Vec<_>, Vec<_>) = arcs(&l.txns)
            .into_iter()
            .filter(|t| t.zxid > s)
            .partition(|t| t.zxid <= cut);
        log.append(&logged).expect("append");
        log.sync().expect("sync");
        drop(log);

        let rec = recover(&layout).expect("recovered");
        assert_eq!(
            rec.tree.last_zxid(),
            cut,
            "the node's last zxid is its log's"
        );
        assert!(
            rec.tree.tail_pending(),
            "seed {seed}: a tree rebuilt from a snapshot scanned up to {end:#x} and a log that \
             stops at {cut:#x} is no state any server had: it must not be served (not even \
             read-only) nor snapshotted"
        );
        assert_eq!(rec.short_of, Some(end));
        exact_once_the_rest_is_replayed(&layout, rec.tree, &rest, &l.tree);

        // A snapshot scanned with nothing applied meanwhile is exact: no E beside it.
        let quiet = snapshot::write_lent(&layout.snap_dir, 7, |f| {
            f(&l.tree);
            true
        })
        .expect("snapshot");
        assert_eq!(quiet.zxid, end);
        assert_eq!(tail_end(&layout.snap_dir, end), None);
    }
}

#[test]
fn where_an_installed_snapshots_encode_ended_is_kept_beside_it_until_it_goes() {
    let dir = temp_dir();
    let layout = super::super::recovery::Layout::new(dir.path());
    let mut log = file_log(&layout);
    let (inc, m) = stream(&dir, &tree(), None);
    let m = SnapshotMeta {
        end: m.zxid + 5,
        ..m
    };
    install(&mut log, &inc, &m).expect("installed");
    assert_eq!(tail_end(&layout.snap_dir, m.zxid), Some(m.zxid + 5));
    assert!(recover_short_of(&layout) == Some(m.zxid + 5));
    // An exact snapshot at another zxid replaces it: the marker goes with its snapshot.
    log.install_snapshot(400, &snapshot::encode_tree(&DataTree::new()))
        .expect("install");
    assert_eq!(tail_end(&layout.snap_dir, m.zxid), None);
    assert_eq!(tail_end(&layout.snap_dir, 400), None);
    let names: Vec<String> = std::fs::read_dir(&layout.snap_dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![snapshot::snapshot_name(400)]);
}

fn recover_short_of(layout: &super::super::recovery::Layout) -> Option<Zxid> {
    super::super::recovery::recover(layout)
        .expect("recovered")
        .short_of
}

#[test]
fn a_snapshot_streamed_while_the_leader_applies_writes_is_exact_once_its_tail_is_applied() {
    for seed in 0..40 {
        let mut l = busy_leader(seed);
        let learner = fuzzy_catch_up(&mut l, 7, |l, _| {
            for _ in 0..3 {
                l.random_change();
            }
        });
        assert!(l.txns.len() > 300);
        assert_same_state(&learner, &l.tree);
    }
}

#[test]
fn a_child_deleted_after_its_parent_was_scanned_moves_the_parents_pzxid_on_the_learner() {
    // /p0 is in the first chunk, its last child far behind: deleted between the two, the
    // learner's /p0 predates the delete and the child is not in the snapshot.
    let mut l = busy_leader(1);
    let learner = fuzzy_catch_up(&mut l, 7, |l, loan| {
        if loan == 2 {
            l.commit(
                0,
                TxnOp::Delete {
                    path: "/p0/c39".into(),
                },
            );
        }
    });
    assert_eq!(
        learner.get("/p0").unwrap().pzxid,
        l.tree.get("/p0").unwrap().pzxid
    );
    assert_same_state(&learner, &l.tree);
}

#[test]
fn nodes_created_under_a_parent_made_after_its_id_was_scanned_count_in_the_quota() {
    // /q/late is created at an id the scan has passed, its children at ids still ahead:
    // the snapshot holds the children without their parent.
    let mut l = busy_leader(2);
    let learner = fuzzy_catch_up(&mut l, 7, |l, loan| {
        // /p0's subtree frees ids around the scan position (reused last freed first):
        // /q/late takes /p0's (scanned), its children ids still ahead.
        if loan == 2 {
            l.delete_subtree("/p0");
        }
        if loan == 3 {
            l.create("/q/late", b"late", 0);
            for c in 0..10 {
                l.create(&format!("/q/late/k{c}"), b"kk", 0);
            }
        }
    });
    assert_same_state(&learner, &l.tree);
}
