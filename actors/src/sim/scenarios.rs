//! ZooKeeper's history of data-loss bugs, replayed as scripted scenarios on the deterministic
//! simulator (`sim.rs`).
//!
//! Each scenario builds the exact interleaving of a known ZooKeeper bug with the simulator's
//! hooks (crash a server when it sends a given message, or when a durable action completes;
//! hold or drop messages; start client requests at a precise point), then lets the ensemble
//! recover and checks the simulator's invariants (one leader per epoch, committed txns never
//! lost or reordered, every serving server's history a prefix of the committed one,
//! convergence of histories, trees and session tables, no orphaned ephemerals) and the
//! scenario's specific outcome.
//!
//! Replay one with its trace: `ZKR_SIM_TRACE=1 cargo test -p zkr-actors scenario_<name> --
//! --nocapture`.

use std::sync::Arc;

use bytes::Bytes;

use super::{ClientOp, DurableHookAction, DurableStage, MsgAction, Sim};
use crate::proto::{Acl, Id};
use crate::quorum::core::DurableAction;
use crate::quorum::msg::{counter_of, epoch_of, make_zxid, PeerMsg, Sid};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

/// Simulated time limit of every wait, ms.
const WAIT: i64 = 20_000;

/// A 3-server ensemble (ids 1..=3) without random faults or writes, settled: one leader
/// serving, both followers serving.
fn three(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, 3, 0);
    sim.chaos = false;
    sim.auto_writes = false;
    assert!(sim.run_until(WAIT, everyone_serves), "no stable ensemble");
    sim
}

fn everyone_serves(s: &Sim) -> bool {
    s.stable() && s.servers.keys().all(|id| s.alive(*id) && s.serving(*id))
}

fn leader(sim: &Sim) -> Sid {
    sim.leader().expect("a serving leader")
}

/// The two servers other than `l`.
fn others(l: Sid) -> (Sid, Sid) {
    let v: Vec<Sid> = (1..=3).filter(|x| *x != l).collect();
    (v[0], v[1])
}

/// Submits `n` creates `/{tag}{i}`; returns their zxids (all must be accepted).
fn submit(sim: &mut Sim, tag: &str, n: usize) -> Vec<Zxid> {
    (0..n)
        .map(|i| {
            sim.submit(ClientOp::Create {
                path: format!("/{tag}{i}"),
                data: format!("{tag}{i}"),
                flags: 0,
                session: 0,
            })
            .expect("the leader takes the write")
        })
        .collect()
}

/// Submits `n` creates and waits until they are committed and applied by every running
/// server.
fn commit(sim: &mut Sim, tag: &str, n: usize) -> Vec<Zxid> {
    let zs = submit(sim, tag, n);
    let last = *zs.last().expect("n > 0");
    assert!(
        sim.run_until(WAIT, |s| {
            s.committed.contains_key(&last)
                && s.servers
                    .keys()
                    .all(|id| !s.alive(*id) || s.last_applied(*id) >= last)
        }),
        "writes {tag} not committed and applied everywhere"
    );
    zs
}

fn is_newleader_ack(m: &PeerMsg) -> bool {
    matches!(m, PeerMsg::Ack { zxid } if counter_of(*zxid) == 0)
}

/// Matches the last chunk of a streamed snapshot (the one whose ACK says it is installed).
fn last_snap_chunk() -> impl FnMut(&PeerMsg) -> bool {
    let mut last = u64::MAX;
    move |m| match m {
        PeerMsg::SnapBegin(s) => {
            last = s.chunks - 1;
            false
        }
        PeerMsg::SnapChunk { seq, .. } => *seq == last,
        _ => false,
    }
}

/// Hooks of the interrupted-SNAP scenarios: `l` dies right after the last chunk of a SNAP to
/// `a`, and `a`'s install of it is held on its disk until `release_durable`. Returns the
/// message hook and the durable hook.
fn leader_dies_after_its_snap_and_the_install_is_held(
    sim: &mut Sim,
    l: Sid,
    a: Sid,
) -> (usize, usize) {
    let snap = sim.on_msg(
        Some(l),
        Some(a),
        last_snap_chunk(),
        MsgAction::CrashSenderAfter,
        1,
    );
    let install = sim.on_durable(
        a,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::InstallSnapshot(_)),
        DurableHookAction::Hold,
        1,
    );
    (snap, install)
}

fn epoch_leading(sim: &Sim, id: Sid) -> Option<u64> {
    match sim.role(id) {
        Some(crate::quorum::core::RoleView::Leading { epoch }) => Some(epoch),
        _ => None,
    }
}

/// `a` is taken down, and the leader `first` restarted: `first` and the third server establish
/// a new epoch without `a`, so that `a`'s currentEpoch stays behind theirs. Returns (the new
/// leader, the other one).
fn new_epoch_without(sim: &mut Sim, first: Sid, a: Sid) -> (Sid, Sid) {
    sim.crash(a);
    sim.crash(first);
    sim.restart(first);
    let up: Vec<Sid> = (1..=3).filter(|x| *x != a).collect();
    assert!(
        sim.run_until(WAIT, |s| s.leader().is_some()
            && up.iter().all(|x| s.serving(*x))
            && s.role(first) != Some(crate::quorum::core::RoleView::Looking)),
        "no new epoch without a"
    );
    let l = leader(sim);
    let b = up
        .iter()
        .copied()
        .find(|x| *x != l)
        .expect("the third server");
    (l, b)
}

/// The leader `l` logs `n` writes (`c*`) that never reach `b`; then `b` and `l` are down.
/// Returns their zxids (committed nowhere).
fn private_tail_then_down(sim: &mut Sim, l: Sid, b: Sid, n: usize) -> Vec<Zxid> {
    sim.hold(l, b);
    let cs = submit(sim, "c", n);
    let last_c = *cs.last().expect("c*");
    assert!(sim.run_until(WAIT, |s| s.servers[&l].disk.last_zxid() == last_c));
    sim.crash(b);
    sim.release(l, b);
    sim.crash(l);
    cs
}

/// The state every scenario of the NEWLEADER family starts from: `l` led, `a` is stale (down
/// while `l` and `b` committed the `b*` writes), `l` holds 5 txns (`c*`) nobody else has,
/// `b` is down, `l` is alone. Returns (l, a, b, c zxids).
fn leader_with_private_tail(sim: &mut Sim) -> (Sid, Sid, Sid, Vec<Zxid>) {
    let l = leader(sim);
    let (a, b) = others(l);
    commit(sim, "a", 5);
    sim.crash(a);
    commit(sim, "b", 5);
    // The c* proposals never reach b (held on the link, then lost with b's crash).
    sim.hold(l, b);
    let cs = submit(sim, "c", 5);
    let last = *cs.last().expect("5 writes");
    assert!(
        sim.run_until(WAIT, |s| s.servers[&l].disk.last_zxid() == last),
        "the leader logs its own proposals"
    );
    sim.crash(b);
    sim.release(l, b);
    for z in &cs {
        assert!(!sim.committed.contains_key(z), "c* cannot be committed yet");
    }
    (l, a, b, cs)
}

/// ZOOKEEPER-3911 / ZOOKEEPER-4646 / ZOOKEEPER-3023 / ZOOKEEPER-4785: a follower synchronised
/// by DIFF acknowledged NEWLEADER before the synced txns were on its disk, then crashed; the
/// new leader had counted that ACK for its quorum and committed the txns; they were lost.
///
/// Here `l` (with the uncommitted `c*` txns) is elected with the stale `a`, synchronises it by
/// DIFF, and `a` is killed right after its NEWLEADER ACK reaches `l`; `l` establishes its
/// epoch (committing `c*`) and is killed right after. `a` and `b` must then elect a leader
/// that still has `c*`.
#[test]
fn scenario_zk4646_follower_killed_right_after_acking_newleader() {
    let mut sim = three(1);
    let (l, a, b, cs) = leader_with_private_tail(&mut sim);
    let last_c = *cs.last().expect("c*");
    let ack = sim.on_msg(
        Some(a),
        Some(l),
        is_newleader_ack,
        MsgAction::CrashSenderAfter,
        1,
    );
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.msg_fired(ack) == 1 && !s.alive(a)),
        "a never acknowledged NEWLEADER"
    );
    // When a's ACK left, its disk already held every synced txn (ZOOKEEPER-4646's fix: the
    // ACK is a continuation of the durable write).
    let acked_epoch = sim
        .completions
        .iter()
        .rev()
        .find(|c| {
            c.id == a && matches!(c.action, DurableAction::SaveEpochs { current, .. } if current == c.epochs.1 && current > epoch_of(last_c))
        })
        .map(|c| (c.epochs.1, c.disk_last))
        .expect("a persisted the new currentEpoch");
    assert!(
        acked_epoch.1 >= last_c,
        "a's currentEpoch {} was durable before the synced txns (disk up to {:#x}, synced up to {last_c:#x})",
        acked_epoch.0,
        acked_epoch.1
    );
    assert!(sim.servers[&a].disk.holds(last_c));
    // l establishes its epoch on a's ACK: c* are committed now.
    assert!(
        sim.run_until(WAIT, |s| s.committed.contains_key(&last_c)),
        "l did not establish its epoch with a's ACK"
    );
    sim.crash(l);
    // a (which has c* durably) and b (which never saw them) elect.
    sim.restart(a);
    sim.restart(b);
    assert!(
        sim.run_until(WAIT, |s| s.alive(a)
            && s.alive(b)
            && s.serving(a)
            && s.serving(b)),
        "a and b did not recover without l"
    );
    assert_eq!(sim.leader(), Some(a), "only a has the committed c* txns");
    for z in &cs {
        assert!(
            sim.servers[&b].applied.iter().any(|t| t.zxid == *z),
            "b lost committed {z:#x}"
        );
    }
    sim.restart(l);
    sim.settle_and_check();
}

/// The same, with `a` killed before the first synced txn reached its disk: it never
/// acknowledges NEWLEADER, so `l` never establishes its epoch and `c*` stay uncommitted; they
/// may be dropped (here `b`, whose history is the longest of the two, leads, and `l`'s `c*`
/// are truncated when it comes back).
#[test]
fn scenario_zk4646_follower_killed_before_persisting_the_diff() {
    let mut sim = three(2);
    let (l, a, b, cs) = leader_with_private_tail(&mut sim);
    let epoch_before = sim.leaders.keys().next_back().copied().unwrap_or(0);
    let acks_before = sim.sent_count(a, l, "Ack");
    let first_c = cs[0];
    let h = sim.on_durable(
        a,
        DurableStage::Completing,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid == first_c)),
        DurableHookAction::Crash,
        1,
    );
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(h) == 1),
        "a never got the DIFF"
    );
    assert!(!sim.alive(a));
    assert_eq!(
        sim.sent_count(a, l, "Ack"),
        acks_before,
        "a acknowledged nothing"
    );
    assert!(
        !sim.servers[&a].disk.holds(first_c),
        "nothing of the DIFF is on a's disk"
    );
    // l cannot establish alone: it steps down; c* were never committed.
    assert!(
        sim.run_until(WAIT, |s| s.role(l)
            == Some(crate::quorum::core::RoleView::Looking)),
        "l kept leading without a quorum"
    );
    assert_eq!(
        sim.leaders.keys().next_back().copied().unwrap_or(0),
        epoch_before,
        "no epoch was established on the lost ACK"
    );
    sim.crash(l);
    sim.restart(a);
    sim.restart(b);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    commit(&mut sim, "d", 3);
    sim.restart(l);
    assert!(sim.run_until(WAIT, everyone_serves));
    // l's uncommitted c* were cut from its log (TRUNC), committed history kept.
    for z in &cs {
        assert!(!sim.committed.contains_key(z));
        assert!(!sim.servers[&l].disk.holds(*z), "l kept uncommitted {z:#x}");
    }
    sim.settle_and_check();
}

/// ZOOKEEPER-4643: a follower updated its currentEpoch file before the synced txns were on
/// disk and crashed; on restart its (higher) epoch made it win an election with a history
/// missing committed txns, which were then truncated everywhere.
///
/// Here `a` is killed the moment its new currentEpoch is on disk (before the ACK): its disk
/// must already hold every synced txn; `a` and `b` then elect `a` (newer epoch), which keeps
/// and commits `c*`.
#[test]
fn scenario_zk4643_follower_killed_once_its_current_epoch_is_durable() {
    let mut sim = three(3);
    let (l, a, b, cs) = leader_with_private_tail(&mut sim);
    let last_c = *cs.last().expect("c*");
    let old_epoch = epoch_of(last_c);
    let acks_before = sim.sent_count(a, l, "Ack");
    let h = sim.on_durable(
        a,
        DurableStage::Persisted,
        move |act| matches!(act, DurableAction::SaveEpochs { current, .. } if *current > old_epoch),
        DurableHookAction::Crash,
        1,
    );
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.durable_fired(h) == 1));
    let disk = &sim.servers[&a].disk;
    assert!(disk.epochs.1 > old_epoch, "the new currentEpoch is on disk");
    assert!(
        disk.holds(last_c) && disk.last_zxid() == last_c,
        "a's currentEpoch is durable but its log ends at {:#x}, not {last_c:#x}",
        disk.last_zxid()
    );
    assert_eq!(
        sim.sent_count(a, l, "Ack"),
        acks_before,
        "killed before its ACK"
    );
    sim.crash(l);
    sim.restart(a);
    sim.restart(b);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    assert_eq!(sim.leader(), Some(a), "a has the newest epoch");
    for z in &cs {
        assert!(sim.committed.contains_key(z), "{z:#x} was not kept");
    }
    sim.restart(l);
    sim.settle_and_check();
}

/// ZOOKEEPER-3642 (and ZOOKEEPER-3104): the leader died after sending a SNAP but before
/// NEWLEADER; the learner had the snapshot only in memory but advanced its zxid; a new leader
/// then synchronised it by DIFF from that zxid; a restart lost everything up to it.
///
/// Here `a` is far behind (SNAP), `l` is killed right after the SNAP reaches `a`, and `a`'s
/// snapshot install is slow (held). Until the snapshot is on disk `a` acknowledges nothing
/// (not even the next leader's epoch), so `b` cannot establish an epoch with it; once the
/// install completes, `b` synchronises `a` by DIFF from the snapshot's zxid, and `a` killed
/// right after its NEWLEADER ACK comes back with the snapshot and the DIFF on disk.
#[test]
fn scenario_zk3642_snap_interrupted_by_the_leaders_death_then_diff() {
    let mut sim = three(4);
    let l = leader(&sim);
    let (a, b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 30); // beyond the 20 txns kept for DIFF: a needs a SNAP
    let (snap, install) = leader_dies_after_its_snap_and_the_install_is_held(&mut sim, l, a);
    let acks_before = sim.sent_count(a, b, "Ack") + sim.sent_count(a, b, "AckEpoch");
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(snap) == 1 && !s.alive(l)));
    assert!(sim.run_until(WAIT, |s| s.durable_fired(install) == 1));
    let snap_zxid = sim.last_committed();
    sim.run_for(3_000);
    assert_eq!(
        sim.sent_count(a, b, "Ack") + sim.sent_count(a, b, "AckEpoch"),
        acks_before,
        "a acknowledged b while its snapshot was not on disk"
    );
    assert_eq!(
        sim.leader(),
        None,
        "b established an epoch without a durable a"
    );
    // The install completes: b synchronises a by DIFF from the snapshot's zxid.
    let ack = sim.on_msg(
        Some(a),
        Some(b),
        is_newleader_ack,
        MsgAction::CrashSenderAfter,
        1,
    );
    let diffs = sim.sent_count(b, a, "Diff");
    sim.release_durable(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(ack) == 1 && !s.alive(a)));
    assert_eq!(
        sim.sent_count(b, a, "Diff"),
        diffs + 1,
        "b synchronised a by DIFF"
    );
    let disk = &sim.servers[&a].disk;
    assert_eq!(disk.newest().map(|s| s.zxid), Some(snap_zxid));
    assert!(disk.last_zxid() >= snap_zxid);
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    commit(&mut sim, "c", 3);
    sim.restart(l);
    sim.settle_and_check();
}

/// A learner whose snapshot install is still on its way to the disk registers with a new
/// leader whose history ends below that snapshot (found by a fresh simulation seed, 2026-12-07).
///
/// `l` holds txns nobody else has (`c*`), restarts (its tree now holds them) and is elected
/// with the stale `a`, which it synchronises by SNAP (before its epoch is established, its
/// whole history counts); `l` dies right after the last chunk, and `a`'s install is held on its
/// disk. `b` (newer epoch than `a`, history up to `b*`) is elected with `a`. `a` must offer the
/// snapshot's zxid as its floor, so that `b` sends a SNAP: a TRUNC to `b`'s last txn would be a
/// cut below `a`'s only snapshot, which its log cannot make.
#[test]
fn scenario_a_learner_installing_a_snapshot_is_not_offered_a_cut_below_it() {
    let mut sim = three(11);
    let first = leader(&sim);
    let (a, _) = others(first);
    commit(&mut sim, "a", 3);
    let (l, b) = new_epoch_without(&mut sim, first, a);
    let bs = commit(&mut sim, "b", 30); // beyond the 20 txns kept for DIFF: a needs a SNAP
    let cs = private_tail_then_down(&mut sim, l, b, 3);
    let (snap, install) = leader_dies_after_its_snap_and_the_install_is_held(&mut sim, l, a);
    sim.restart(l);
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.msg_fired(snap) == 1
            && s.durable_fired(install) == 1),
        "l did not synchronise a by SNAP before dying"
    );
    assert!(!sim.alive(l));
    let (truncs, snaps) = (
        sim.sent_count(b, a, "Trunc"),
        sim.sent_count(b, a, "SnapBegin"),
    );
    let infos = sim.sent_count(a, b, "FollowerInfo");
    sim.restart(b);
    assert!(
        sim.run_until(WAIT, |s| s.sent_count(a, b, "FollowerInfo") > infos),
        "a did not register with b"
    );
    sim.release_durable(a);
    assert!(
        sim.run_until(WAIT, |s| s.sent_count(b, a, "Trunc") > truncs
            || s.sent_count(b, a, "SnapBegin") > snaps),
        "b never synchronised a"
    );
    assert_eq!(
        sim.sent_count(b, a, "Trunc"),
        truncs,
        "b was offered a cut below a's snapshot"
    );
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    // c* were never committed (l never established an epoch with them): b's history wins.
    let last_b = *bs.last().expect("b*");
    assert!(sim.committed.contains_key(&last_b));
    for z in &cs {
        assert!(
            !sim.committed.contains_key(z),
            "{z:#x} was never acknowledged"
        );
    }
    sim.restart(l);
    sim.settle_and_check();
}

/// A learner's disk lost the last record before the new leader's cut (a lying disk, a bit
/// flip): its truncation rebuilds one txn short. As the log actor does (decision 9), the
/// rebuilt state is reported and the NEWLEADER's epoch save queued behind the cut fails, so
/// the learner keeps its old epochs, goes back to LOOKING, is synchronised again (the lost txn
/// included), and nothing committed is lost.
#[test]
fn scenario_a_cut_that_rebuilds_short_drops_the_epoch_save_behind_it() {
    let mut sim = three(13);
    let l = leader(&sim);
    let (a, b) = others(l);
    let as_ = commit(&mut sim, "a", 3);
    // c* reach only l's disk: l must cut them when it rejoins.
    sim.hold(l, a);
    sim.hold(l, b);
    let cs = submit(&mut sim, "c", 3);
    let last_c = *cs.last().expect("c*");
    assert!(sim.run_until(WAIT, |s| s.servers[&l].disk.last_zxid() == last_c));
    sim.crash(l);
    sim.release(l, a);
    sim.release(l, b);
    assert!(
        sim.run_until(WAIT, |s| s.leader().is_some_and(|x| x != l)
            && s.serving(a)
            && s.serving(b)),
        "a and b did not form an epoch without l"
    );
    // No write in the new epoch yet: the NEWLEADER (and its epoch save) follows the cut at
    // once, with no append between them that would fail on the short log first.
    let old_epochs = sim.servers[&l].disk.epochs;
    let held = sim.on_durable(
        l,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::Truncate { .. }),
        DurableHookAction::Hold,
        1,
    );
    sim.restart(l);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(held) == 1
            && s.servers[&l]
                .pending
                .iter()
                .any(|(_, act)| matches!(act, DurableAction::SaveEpochs { .. }))),
        "l's cut and the epoch save behind it were not queued"
    );
    let short = sim.on_durable(
        l,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::Truncate { .. }),
        DurableHookAction::LoseRecordBeforeCut,
        1,
    );
    sim.release_durable(l);
    assert!(sim.run_until(WAIT, |s| s.durable_fired(short) == 1));
    let last_a = *as_.last().expect("a*");
    assert!(
        sim.servers[&l].disk.last_zxid() < last_a,
        "the cut did not lose a record"
    );
    assert!(
        sim.run_until(WAIT, |s| s.serving(l) && s.last_applied(l) >= last_a),
        "l was not synchronised again"
    );
    assert!(sim.servers[&l].disk.epochs.1 > old_epochs.1);
    // Its currentEpoch (saved at NEWLEADER; the acceptedEpoch is saved before the cut, at
    // LEADERINFO) never moved while its log was short of the history it was synchronised to.
    let short_with_new_epoch: Vec<_> = sim
        .completions
        .iter()
        .filter(|c| c.id == l && c.epochs.1 > old_epochs.1 && c.disk_last < last_a)
        .map(|c| (c.at, c.disk_last, c.epochs))
        .collect();
    assert!(
        short_with_new_epoch.is_empty(),
        "l saved the new epoch on a short log: {short_with_new_epoch:x?}"
    );
    let bs = commit(&mut sim, "b", 3);
    assert!(sim.last_applied(l) >= *bs.last().expect("b*"));
    for z in &cs {
        assert!(
            !sim.committed.contains_key(z),
            "{z:#x} was never acknowledged"
        );
    }
    sim.settle_and_check();
}

/// The learner side of an interrupted SNAP (ZOOKEEPER-3104's window): `a` is killed while
/// installing the snapshot, then again right after acknowledging NEWLEADER of the next sync;
/// each time it restarts from what its disk really holds.
#[test]
fn scenario_zk3104_learner_killed_during_and_after_a_snap() {
    let mut sim = three(5);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 30);
    let during = sim.on_durable(
        a,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::InstallSnapshot(_)),
        DurableHookAction::Crash,
        1,
    );
    let before = sim.servers[&a].disk.last_zxid();
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.durable_fired(during) == 1));
    assert!(!sim.alive(a));
    assert_eq!(
        sim.servers[&a].disk.last_zxid(),
        before,
        "nothing installed"
    );
    // Second attempt: killed right after its NEWLEADER ACK is delivered; writes go on.
    let ack = sim.on_msg(
        Some(a),
        Some(l),
        is_newleader_ack,
        MsgAction::CrashSenderAfter,
        1,
    );
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(ack) == 1 && !s.alive(a)));
    let snap_zxid = sim.servers[&a]
        .disk
        .newest()
        .map(|s| s.zxid)
        .expect("the snapshot was on disk before the ACK");
    assert!(snap_zxid > before);
    commit(&mut sim, "c", 5);
    sim.restart(a);
    assert!(sim.run_until(WAIT, everyone_serves));
    sim.settle_and_check();
}

/// The leader killed right after sending NEWLEADER, while establishing a new epoch with
/// inherited, uncommitted txns (the window of ZOOKEEPER-3104 / ZOOKEEPER-4685 on the leader's
/// side): the learner persists the history and the new currentEpoch but its ACK goes nowhere.
/// The next election must pick a server with that history; nothing committed is lost and no
/// epoch has two leaders.
#[test]
fn scenario_leader_killed_right_after_sending_newleader() {
    let mut sim = three(6);
    let (l, a, b, cs) = leader_with_private_tail(&mut sim);
    let nl = sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::NewLeader { .. }),
        MsgAction::CrashSenderAfter,
        1,
    );
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(nl) == 1 && !s.alive(l)));
    let dead_epoch = sim.servers[&l].disk.epochs.0;
    // a persists the synced history and the epoch; its ACK is lost with l.
    let last_c = *cs.last().expect("c*");
    assert!(sim.run_until(WAIT, |s| s.servers[&a].disk.epochs.1 == dead_epoch));
    assert!(sim.servers[&a].disk.holds(last_c));
    assert!(
        !sim.leaders.contains_key(&dead_epoch),
        "l never established its epoch"
    );
    sim.restart(b);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    assert_eq!(sim.leader(), Some(a), "a has the newest epoch and history");
    let new_epoch = epoch_leading(&sim, a).expect("a leads");
    assert!(new_epoch > dead_epoch);
    for z in &cs {
        assert!(sim.committed.contains_key(z), "{z:#x} dropped");
    }
    commit(&mut sim, "d", 3);
    sim.restart(l);
    sim.settle_and_check();
}

/// A group commit: proposals logged together are acknowledged by one cumulative ACK (of the
/// last), and a quorum step commits them by one cumulative COMMIT per follower; every write is
/// still committed, in order, on every server.
#[test]
fn scenario_a_group_commit_is_acknowledged_and_committed_by_one_message_each() {
    let mut sim = three(11);
    let l = leader(&sim);
    let (a, b) = others(l);
    sim.traced_links.extend([(a, l), (l, a), (b, l), (l, b)]);
    let t = sim.now;
    let zs = commit(&mut sim, "g", 20);
    let sent = |from: Sid, to: Sid, prefix: &str| {
        sim.link_log
            .iter()
            .filter(|(at, f, d, m)| *at >= t && *f == from && *d == to && m.starts_with(prefix))
            .count()
    };
    for f in [a, b] {
        assert_eq!(
            sent(l, f, "Proposal"),
            zs.len(),
            "every proposal goes to s{f}"
        );
        let (acks, commits) = (sent(f, l, "Ack"), sent(l, f, "Commit"));
        assert!(
            (1..zs.len()).contains(&acks),
            "s{f} sent {acks} ACKs for {} proposals logged in group commits",
            zs.len()
        );
        assert!(
            (1..zs.len()).contains(&commits),
            "s{f} got {commits} COMMITs for {} txns",
            zs.len()
        );
    }
    sim.settle_and_check();
}

/// The leader's messages to `a` from `t` until NEWLEADER (its sync).
fn sync_log(sim: &Sim, l: Sid, a: Sid, t: i64) -> Vec<&str> {
    sim.link_log
        .iter()
        .filter(|(at, f, d, _)| *at >= t && *f == l && *d == a)
        .map(|(_, _, _, m)| m.as_str())
        .take_while(|m| !m.starts_with("NewLeader"))
        .collect()
}

/// The proposals of each slice of a sync's tail (the leader's `ContinueSync` marks the end of
/// every slice but the last in the traced link's log).
fn slice_sizes(sync: &[&str]) -> Vec<usize> {
    sync.split(|m| *m == "ContinueSync")
        .map(|part| part.iter().filter(|m| m.starts_with("Proposal")).count())
        .collect()
}

/// The zxid of a logged message (`Proposal(0x..)` or `Commit { zxid: .. }`).
fn zxid_in(m: &str) -> Option<Zxid> {
    if let Some(hex) = m
        .strip_prefix("Proposal(0x")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Zxid::from_str_radix(hex, 16).ok();
    }
    m.strip_prefix("Commit { zxid: ")
        .and_then(|r| r.strip_suffix(" }"))
        .and_then(|z| z.parse().ok())
}

/// A learner synchronised by DIFF gets the committed txns it lacks as proposals, in slices of
/// at most `tail_slice` (the simulator's: 3) sent from separate steps of the leader, each
/// followed by one cumulative COMMIT of its last txn (not a COMMIT per txn: a long tail after
/// a big SNAP was twice the messages, all from one step), then NEWLEADER; it ends with every
/// txn.
#[test]
fn scenario_a_diff_tail_goes_in_slices_each_committed_by_one_commit() {
    let mut sim = three(15);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "before", 2);
    sim.crash(a);
    let missed = commit(&mut sim, "missed", 12);
    sim.traced_links.insert((l, a));
    let t = sim.now;
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.serving(a)));
    let sync = sync_log(&sim, l, a, t);
    assert!(
        sync.iter().any(|m| m.starts_with("Diff")),
        "a DIFF sync: {sync:?}"
    );
    let slices = slice_sizes(&sync);
    let proposals: usize = slices.iter().sum();
    let commits: Vec<Zxid> = sync
        .iter()
        .filter(|m| m.starts_with("Commit"))
        .filter_map(|m| zxid_in(m))
        .collect();
    assert!(
        proposals >= missed.len(),
        "{proposals} proposals for {} missed txns",
        missed.len()
    );
    assert!(
        slices.len() >= missed.len().div_ceil(super::SIM_TAIL_SLICE)
            && slices.iter().all(|n| *n <= super::SIM_TAIL_SLICE),
        "slices of at most {}: {slices:?} in {sync:?}",
        super::SIM_TAIL_SLICE
    );
    assert_eq!(commits.len(), slices.len(), "a COMMIT per slice: {sync:?}");
    assert!(commits.windows(2).all(|w| w[0] < w[1]), "{commits:?}");
    assert!(commits.last() >= missed.last(), "{commits:?} {missed:?}");
    assert!(sim.last_applied(a) >= *missed.last().expect("12 txns"));
    sim.settle_and_check();
}

/// A follower `a` that missed 9 committed txns restarts and is synchronised by DIFF; `writes`
/// client writes are submitted the moment the DIFF goes out (so they arrive while its tail is
/// sent). Checks that `a` took it all in one sync; returns the simulation, the sync's log and
/// how many of its proposals were written after the missed txns.
fn diff_sync_with_writes(seed: u64, writes: usize) -> (Sim, Vec<String>, usize) {
    let mut sim = three(seed);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "before", 2);
    sim.crash(a);
    let missed = commit(&mut sim, "missed", 9);
    let diff = sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::Diff { .. }),
        MsgAction::Writes(writes),
        1,
    );
    sim.traced_links.insert((l, a));
    let t = sim.now;
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(diff) == 1));
    assert!(sim.run_until(WAIT, everyone_serves));
    let sync: Vec<String> = sync_log(&sim, l, a, t)
        .into_iter()
        .map(String::from)
        .collect();
    let last_missed = *missed.last().expect("9 txns");
    let joined = sync
        .iter()
        .filter(|m| m.starts_with("Proposal"))
        .filter_map(|m| zxid_in(m))
        .filter(|z| *z > last_missed)
        .count();
    assert_eq!(sim.lookings_since(a, t), 1, "a left its sync");
    assert!(sim.last_applied(a) > last_missed);
    (sim, sync, joined)
}

/// Writes proposed and committed while a learner's tail is sent (between its slices) join
/// the tail: the learner gets their proposals before NEWLEADER, a COMMIT never of a txn it was
/// not sent yet (it would go back to LOOKING), and it ends with every txn.
#[test]
fn scenario_writes_during_a_diff_sync_join_its_tail() {
    let (mut sim, sync, joined) = diff_sync_with_writes(16, 6);
    assert!(joined > 0, "no write joined the tail: {sync:?}");
    let mut sent = 0;
    for m in &sync {
        match (m.starts_with("Proposal"), zxid_in(m)) {
            (true, Some(z)) => sent = z,
            (false, Some(z)) => {
                assert!(z <= sent, "COMMIT of {z:#x} before its proposal: {sync:?}")
            }
            _ => {}
        }
    }
    sim.settle_and_check();
}

/// A tail outpaced by writes still ends: 40 writes arrive right after the first slice (far
/// more than a slice of 3 per step); the next slice takes at least twice what was proposed
/// since the one before, so the sync ends in a few slices instead of trailing the writes (at a
/// write rate above a fixed slice per step it would never end).
#[test]
fn scenario_a_tail_outpaced_by_writes_ends_with_slices_growing_with_them() {
    let (mut sim, sync, joined) = diff_sync_with_writes(17, 40);
    let sync: Vec<&str> = sync.iter().map(String::as_str).collect();
    let slices = slice_sizes(&sync);
    assert!(joined >= 20, "{joined} writes joined the tail: {sync:?}");
    assert!(
        slices.iter().any(|n| *n > super::SIM_TAIL_SLICE) && slices.len() <= 4,
        "slices {slices:?} for {} txns: {sync:?}",
        slices.iter().sum::<usize>()
    );
    sim.settle_and_check();
}

/// ZOOKEEPER-4394: proposals and commits arriving while a learner is being synchronised
/// (DIFF → PROPOSAL → NEWLEADER → COMMIT → UPTODATE) made the follower fail (NPE) or apply
/// txns out of order.
///
/// Here `a` restarts stale; while it is synchronised, `l` has proposals outstanding (b's ACKs
/// are held back) and new writes start the moment NEWLEADER goes out (writes while the tail
/// is still being sent join it: `scenario_writes_during_a_diff_sync_join_its_tail`). `a` must
/// take it all in one sync, without going back to LOOKING, and apply everything in order.
#[test]
fn scenario_zk4394_proposals_during_a_diff_sync() {
    let mut sim = three(7);
    let l = leader(&sim);
    let (a, b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 5);
    // Outstanding proposals: b logs them but its ACKs are held, so they stay uncommitted.
    sim.hold(b, l);
    let pending = submit(&mut sim, "p", 3);
    sim.run_for(100);
    for z in &pending {
        assert!(!sim.committed.contains_key(z));
    }
    let newleader = sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::NewLeader { .. }),
        MsgAction::Writes(4),
        1,
    );
    sim.traced_links.insert((l, a));
    let t = sim.now;
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(newleader) == 1));
    assert!(sim.run_until(WAIT, |s| s.serving(a)), "a never served");
    sim.release(b, l);
    assert!(sim.run_until(WAIT, everyone_serves));
    // The interleaving happened: uncommitted proposals in the sync, commits after NEWLEADER.
    let log: Vec<&str> = sim
        .link_log
        .iter()
        .filter(|(at, ..)| *at >= t)
        .map(|(_, _, _, m)| m.as_str())
        .collect();
    let nl = log
        .iter()
        .position(|m| m.starts_with("NewLeader"))
        .expect("NEWLEADER sent");
    let up = log
        .iter()
        .position(|m| *m == "UpToDate")
        .expect("UPTODATE sent");
    let pz = format!("Proposal({:#x})", pending[0]);
    let p_at = log
        .iter()
        .position(|m| *m == pz)
        .expect("pending in the sync");
    // The first COMMIT that covers it (a COMMIT is cumulative).
    let commit_of = |m: &str| {
        m.strip_prefix("Commit { zxid: ")
            .and_then(|r| r.strip_suffix(" }"))
            .and_then(|z| z.parse::<i64>().ok())
    };
    let c_at = log
        .iter()
        .position(|m| commit_of(m).is_some_and(|z| z >= pending[0]))
        .expect("its commit");
    assert!(p_at < nl && nl < c_at, "sync order: {log:?}");
    assert!(
        log[nl..up].iter().any(|m| m.starts_with("Proposal")),
        "new proposals between NEWLEADER and UPTODATE: {log:?}"
    );
    assert_eq!(
        sim.lookings_since(a, t),
        1,
        "a went back to LOOKING during its sync (only the boot election expected)"
    );
    sim.settle_and_check();
}

/// ZOOKEEPER-2355 (and ZOOKEEPER-4785's ephemeral symptom): a follower that failed while
/// reading the closeSession proposal came back without it; the session's ephemerals were never
/// deleted there. Also: a session closed while a learner is being synchronised.
#[test]
fn scenario_zk2355_session_closed_during_a_diff_sync() {
    let mut sim = three(8);
    let l = leader(&sim);
    let (a, b) = others(l);
    let s1: SessionId = 0x51;
    let s2: SessionId = 0x52;
    for op in [
        ClientOp::CreateSession(s1),
        ClientOp::CreateSession(s2),
        eph("/e1", s1),
        eph("/e2", s1),
        eph("/e3", s2),
    ] {
        sim.submit(op).expect("accepted");
    }
    commit(&mut sim, "x", 1);
    for id in [l, a, b] {
        assert_eq!(sim.servers[&id].tree.ephemeral_count(), 3);
    }
    sim.crash(a);
    commit(&mut sim, "y", 3);
    // s1 is closed the moment l starts synchronising a; s2's close reaches a as a proposal
    // after the sync, and a dies reading it.
    let diff = sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::Diff { .. }),
        MsgAction::Ops(vec![ClientOp::CloseSession(s1)]),
        1,
    );
    let close2 = sim.on_msg(
        Some(l),
        Some(a),
        move |m| matches!(m, PeerMsg::Proposal(t) if t.session_id == s2 && matches!(t.op, TxnOp::CloseSession { .. })),
        MsgAction::CrashReceiverBefore,
        1,
    );
    sim.restart(a);
    assert!(sim.run_until(WAIT, |s| s.msg_fired(diff) == 1 && s.serving(a)));
    assert!(sim.closed_sessions.contains(&s1));
    sim.check_no_orphan_ephemerals();
    assert!(sim.submit(ClientOp::CloseSession(s2)).is_some());
    assert!(sim.run_until(WAIT, |s| s.msg_fired(close2) == 1 && !s.alive(a)));
    assert!(sim.run_until(WAIT, |s| s.closed_sessions.contains(&s2)));
    commit(&mut sim, "z", 2);
    sim.restart(a);
    assert!(sim.run_until(WAIT, everyone_serves));
    for id in [l, a, b] {
        let t = &sim.servers[&id].tree;
        assert_eq!(t.ephemeral_count(), 0, "s{id} kept ephemerals");
        assert!(!t.sessions().contains_key(&s1) && !t.sessions().contains_key(&s2));
    }
    sim.settle_and_check();
}

fn eph(path: &str, session: SessionId) -> ClientOp {
    ClientOp::Create {
        path: path.into(),
        data: String::new(),
        flags: 1,
        session,
    }
}

/// ZOOKEEPER-1154 / ZOOKEEPER-2845: the server with the highest zxid (a leader with logged,
/// uncommitted proposals) is absent from the election; the others elect a leader and go on;
/// when it rejoins, its extra txns must be truncated, and the ones a quorum had (committed)
/// kept.
#[test]
fn scenario_zk1154_highest_zxid_absent_then_rejoins() {
    let mut sim = three(9);
    let l = leader(&sim);
    let (a, b) = others(l);
    let z0 = *commit(&mut sim, "a", 5).last().expect("a*");
    // a hears nothing more from l; b gets only the first two proposals.
    sim.hold(l, a);
    let drop_b = sim.on_msg(
        Some(l),
        Some(b),
        move |m| matches!(m, PeerMsg::Proposal(t) if t.zxid > z0 + 2),
        MsgAction::Drop,
        usize::MAX,
    );
    let zs = submit(&mut sim, "c", 5);
    assert!(
        sim.run_until(WAIT, |s| s.servers[&l].disk.last_zxid() == zs[4]
            && s.committed.contains_key(&zs[1]))
    );
    assert!(sim.msg_fired(drop_b) >= 3);
    sim.crash(l);
    sim.release(l, a);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    assert_eq!(sim.leader(), Some(b), "b has the longest history");
    let after = commit(&mut sim, "d", 3);
    sim.restart(l);
    assert!(sim.run_until(WAIT, everyone_serves));
    assert!(sim.sent_count(b, l, "Trunc") >= 1, "l was truncated");
    let disk = &sim.servers[&l].disk;
    for z in &zs[..2] {
        assert!(disk.holds(*z), "committed {z:#x} cut from l");
    }
    for z in &zs[2..] {
        assert!(!disk.holds(*z), "uncommitted {z:#x} kept by l");
        assert!(!sim.committed.contains_key(z));
    }
    assert!(disk.holds(*after.last().expect("d*")));
    sim.settle_and_check();
}

/// A learner synchronised by TRUNC with a non-empty tail: found by the scenario above. The
/// follower checks, when the truncation completes, that its last logged zxid is the
/// truncation point, but the tail's proposals were logged after the TRUNC message and before
/// the truncation completed: the check fails and the learner goes back to LOOKING, then
/// synchronises again by DIFF. Safe, but every TRUNC (and SNAP) sync with a tail costs an
/// extra election round and sync.
#[test]
fn scenario_trunc_with_a_tail_syncs_in_one_go() {
    let mut sim = three(9);
    let l = leader(&sim);
    let (a, b) = others(l);
    let z0 = *commit(&mut sim, "a", 5).last().expect("a*");
    sim.hold(l, a);
    sim.on_msg(
        Some(l),
        Some(b),
        move |m| matches!(m, PeerMsg::Proposal(t) if t.zxid > z0 + 2),
        MsgAction::Drop,
        usize::MAX,
    );
    let zs = submit(&mut sim, "c", 5);
    assert!(sim.run_until(WAIT, |s| s.servers[&l].disk.last_zxid() == zs[4]));
    sim.crash(l);
    sim.release(l, a);
    assert!(sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)));
    commit(&mut sim, "d", 3);
    let t = sim.now;
    sim.restart(l);
    assert!(sim.run_until(WAIT, everyone_serves));
    assert_eq!(sim.lookings_since(l, t), 1);
}

/// A continuation outlives the sync it belongs to: a follower whose ACK of NEWLEADER is
/// still waiting for its disk goes back to LOOKING (its link to the leader broke), registers
/// again with the same leader in the same epoch and gets a second sync; then its disk catches
/// up and the first sync's ACK goes out. The leader takes it as the ACK of the second sync,
/// which covers proposals the follower has not written yet, and commits them on it.
///
/// Here `p` is proposed while `x`'s disk is slow and `y`'s disk does not take it; `x`'s link
/// breaks; `x` is synchronised again; its disk resumes and `x` is killed before `p` is on it.
/// A quorum never held `p` durably, so `p` must not be committed (ZOOKEEPER-4646's class: an
/// ACK of NEWLEADER that does not mean what it says).
/// Fixed: continuations carry the term (role instance) that asked for them; after `look()` an
/// older term's continuation only does its durability bookkeeping and never sends.
#[test]
fn scenario_stale_newleader_ack_from_an_earlier_sync() {
    let mut sim = three(12);
    let l = leader(&sim);
    let (x, y) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(x);
    let b_last = *commit(&mut sim, "b", 3).last().expect("b*");
    // Sync #1 of x: its NEWLEADER ACK waits for the epoch write, which is slow.
    let slow = sim.on_durable(
        x,
        DurableStage::Completing,
        |a| matches!(a, DurableAction::SaveEpochs { .. }),
        DurableHookAction::Hold,
        1,
    );
    let nl_before = sim.sent_count(l, x, "NewLeader");
    sim.restart(x);
    assert!(sim.run_until(WAIT, |s| s.durable_fired(slow) == 1
        && s.sent_count(l, x, "NewLeader") == nl_before + 1));
    // y will not write p.
    let y_hold = sim.on_durable(
        y,
        DurableStage::Completing,
        move |a| matches!(a, DurableAction::Append(t) if t.iter().any(|t| t.zxid > b_last)),
        DurableHookAction::Hold,
        1,
    );
    let p = submit(&mut sim, "p", 1)[0];
    assert!(sim.run_until(WAIT, |s| s.durable_fired(y_hold) == 1
        && s.servers[&l].disk.holds(p)));
    sim.run_for(50);
    assert!(!sim.committed.contains_key(&p));
    // x's link breaks: it looks, rejoins l, and gets sync #2.
    sim.break_link(x, l);
    assert!(
        sim.run_until(WAIT, |s| s.sent_count(l, x, "NewLeader") == nl_before + 2),
        "x was not synchronised again"
    );
    // x's disk resumes: sync #1's epoch write completes. Its ACK must not go out (it belongs
    // to an abandoned sync); x is killed before p reaches its disk.
    let acks_before = sim.sent_count(x, l, "Ack");
    sim.release_durable(x);
    sim.run_for(5);
    assert_eq!(
        sim.sent_count(x, l, "Ack"),
        acks_before,
        "the ACK of an abandoned sync was sent"
    );
    sim.crash(x);
    sim.run_for(100);
    let committed = sim.committed.contains_key(&p);
    let holders: Vec<Sid> = [l, x, y]
        .into_iter()
        .filter(|id| sim.servers[id].disk.holds(p))
        .collect();
    assert!(
        !committed || holders.len() >= 2,
        "{p:#x} was committed while only {holders:?} had it on disk (x's stale NEWLEADER ACK counted)"
    );
    sim.release_durable(y);
    sim.restart(x);
    sim.settle_and_check();
}

/// A follower that restarts with a proposal the leader has not committed yet is
/// synchronised by DIFF from that proposal's zxid; it takes the DIFF point as committed and
/// applies the proposal after UPTODATE, before the leader commits it. If the leader then fails
/// before a quorum holds it, the txn is dropped, but the follower served it (and answered the
/// client that wrote it, if that client was on the follower).
///
/// Here the disks of the leader and of `b` are slow on `p`; `a` logs `p` and restarts: `a`
/// must not apply `p` until the leader commits it (the simulator checks every apply against
/// the committed history).
/// Fixed: DIFF and TRUNC carry the leader's commit point, and a broadcasting leader cuts a
/// learner back to its commit point (TRUNC) rather than DIFF from an uncommitted proposal.
#[test]
fn scenario_diff_point_is_not_a_commit_point() {
    let mut sim = three(14);
    let l = leader(&sim);
    let (a, b) = others(l);
    let last = *commit(&mut sim, "a", 3).last().expect("a*");
    let slow_b = sim.on_durable(
        b,
        DurableStage::Completing,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid > last)),
        DurableHookAction::Hold,
        1,
    );
    let slow = sim.on_durable(
        l,
        DurableStage::Completing,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid > last)),
        DurableHookAction::Hold,
        1,
    );
    let logged = sim.on_durable(
        a,
        DurableStage::Persisted,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid > last)),
        DurableHookAction::Crash,
        1,
    );
    let p = submit(&mut sim, "p", 1)[0];
    assert!(sim.run_until(WAIT, |s| s.durable_fired(slow) == 1
        && s.durable_fired(slow_b) == 1
        && s.durable_fired(logged) == 1));
    assert!(sim.servers[&a].disk.holds(p) && !sim.servers[&l].disk.holds(p));
    sim.restart(a);
    // a syncs (DIFF from p) and serves; p is still not committed: a must not have applied it.
    assert!(sim.run_until(WAIT, |s| s.serving(a)));
    sim.run_for(500);
    assert!(!sim.committed.contains_key(&p), "nothing could commit p");
    assert!(
        sim.last_applied(a) < p,
        "a applied {p:#x}, which is not committed"
    );
    sim.release_durable(l);
    sim.release_durable(b);
    sim.settle_and_check();
}

/// Random runs where some disk writes stall for 100-1000 ms (busy disks), under the usual
/// faults, with the session workload: syncs of one term are still on the disk queue when the
/// next term starts (the DIFF-point, stale-ACK and stale-reload bugs were found this way).
#[test]
fn sim_slow_disks_three_servers() {
    let n: u64 = std::env::var("ZKR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seeds: Vec<u64> = match std::env::var("ZKR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("ZKR_SIM_SEED is a number")],
        Err(_) => (0..n).map(|s| 30_000 + s).collect(),
    };
    for seed in seeds {
        let r = std::panic::catch_unwind(|| {
            let mut sim = Sim::new(seed, 3, 0);
            sim.slow_disks = true;
            sim.session_workload = true;
            sim.run_random(6000);
            sim.settle_and_check();
        });
        if let Err(e) = r {
            panic!("seed {seed} failed (replay: ZKR_SIM_SEED={seed}): {e:?}");
        }
    }
}

/// ZOOKEEPER-1277 / ZOOKEEPER-4883: the zxid counter of an epoch is 32 bits; at its end the
/// leader must not wrap (or reuse zxids) but step down so that a new epoch starts.
///
/// The servers start from disks whose log ends at epoch 2, counter 0xffff_fff4, with
/// acceptedEpoch = currentEpoch = 1, so that the election re-establishes epoch 2 and its
/// counter goes on from there (a shortcut: reaching it by 2^32 proposals is not practical).
/// The log follows a snapshot of the empty tree at the txn before it, as a node's data
/// directory must (recovery refuses a log that does not follow what it starts from).
#[test]
fn scenario_zk1277_zxid_counter_exhausted_starts_a_new_epoch() {
    let mut sim = Sim::new_unbooted(10, 3, 0);
    sim.chaos = false;
    sim.auto_writes = false;
    let seeded: Vec<Arc<Txn>> = (0..5u64)
        .map(|i| {
            Arc::new(Txn {
                zxid: make_zxid(2, 0xffff_fff0 + i),
                time_ms: 0,
                session_id: 0,
                cxid: i as i32,
                op: TxnOp::Create {
                    path: format!("/pre{i}"),
                    data: Some(Bytes::from(format!("pre{i}"))),
                    acl: Acl::open_unsafe(),
                    ephemeral_owner: 0,
                    parent_cversion: i as i32 + 1,
                },
            })
        })
        .collect();
    let before = make_zxid(2, 0xffff_ffef);
    for s in sim.servers.values_mut() {
        let snap = crate::txnlog::suite::snapshot_bytes(before);
        s.disk.add_snapshot(before, snap, Vec::new(), before);
        s.disk.log = seeded.clone();
        s.disk.epochs = (1, 1);
    }
    sim.boot_all();
    assert!(sim.run_until(WAIT, everyone_serves));
    let l = leader(&sim);
    assert_eq!(epoch_leading(&sim, l), Some(2));
    let mut accepted = Vec::new();
    let mut refused_at = None;
    for i in 0..20 {
        match sim.submit(ClientOp::Create {
            path: format!("/r{i}"),
            data: String::new(),
            flags: 0,
            session: 0,
        }) {
            Some(z) => {
                accepted.push(z);
                assert!(sim.run_until(WAIT, |s| s.committed.contains_key(&z)));
            }
            None => {
                refused_at = Some(i);
                break;
            }
        }
    }
    assert_eq!(
        accepted.last().copied(),
        Some(make_zxid(2, 0xffff_fffe)),
        "the counter runs to 0xfffffffe"
    );
    assert_eq!(
        refused_at,
        Some(10),
        "the 11th write finds the counter exhausted"
    );
    assert_eq!(
        sim.role(l),
        Some(crate::quorum::core::RoleView::Looking),
        "l stepped down"
    );
    assert!(sim.run_until(WAIT, everyone_serves));
    let l2 = leader(&sim);
    assert!(epoch_leading(&sim, l2).expect("leads") >= 3);
    let next = submit(&mut sim, "n", 3);
    assert!(sim.run_until(WAIT, |s| s.committed.contains_key(&next[2])));
    assert!(
        epoch_of(next[0]) >= 3 && counter_of(next[0]) == 1,
        "{:#x}",
        next[0]
    );
    for z in &accepted {
        assert!(
            sim.committed.contains_key(z),
            "{z:#x} lost over the rollover"
        );
    }
    assert!(sim.committed.keys().all(|z| counter_of(*z) != 0xffff_ffff));
    sim.settle_and_check();
}

/// ZOOKEEPER-2101 / ZOOKEEPER-3496: a txn larger than what a peer can read made every
/// follower drop its connection on the proposal, re-synchronise, receive it again, and so on:
/// the ensemble was unavailable until the txn was removed by hand.
///
/// The core has no size limit of its own (a txn is a value in memory); the peer codec refuses
/// frames above `MAX_PEER_FRAME_BYTES`. This scenario scales the frame limit down (16 KiB) and
/// proposes a 64 KiB txn at the leader: the links break on it, every resync carries it again,
/// and nothing after it commits. The limit therefore has to be enforced where requests enter
/// (the client port's jute_max_buffer_bytes, far below the peer frame limit: see the next
/// test), which keeps such a txn from ever being proposed.
#[test]
fn scenario_zk3496_oversized_txn_livelocks_the_ensemble_so_the_limit_is_at_entry() {
    let mut sim = three(11);
    let l = leader(&sim);
    commit(&mut sim, "a", 3);
    sim.frame_limit = Some(16 * 1024);
    let big = sim
        .submit(ClientOp::Create {
            path: "/big".into(),
            data: "x".repeat(64 * 1024),
            flags: 0,
            session: 0,
        })
        .expect("the core takes any txn");
    sim.run_for(10_000);
    assert!(sim.servers[&l].disk.holds(big), "the leader logged it");
    assert!(
        !sim.committed.contains_key(&big),
        "a txn no follower can receive was committed"
    );
    // The followers kept trying: several elections, nothing committed after it.
    let lookings: usize = (1..=3).map(|id| sim.lookings_since(id, 0)).sum();
    assert!(lookings > 6, "only {lookings} elections");
    assert!(sim.last_committed() < big);
}

/// The entry limit keeps requests far below the peer frame limit: a maximal client request
/// (jute_max_buffer_bytes, default 1 MiB), forwarded by a follower or proposed as a txn,
/// encodes to a peer frame well under `MAX_PEER_FRAME_BYTES`.
#[test]
fn a_maximal_client_request_fits_a_peer_frame() {
    use crate::peer::codec::MAX_PEER_FRAME_BYTES;
    use crate::proto::codes::JUTE_MAX_BUFFER_DEFAULT;
    let body = Bytes::from(vec![7u8; JUTE_MAX_BUFFER_DEFAULT]);
    let forwarded = PeerMsg::Request {
        session_id: 1,
        xid: 1,
        opcode: 1,
        body,
        ids: vec![
            Id {
                scheme: "ip".into(),
                id: "127.0.0.1".into(),
            };
            16
        ],
    };
    let f = rmp_serde::to_vec(&forwarded).expect("encodes").len();
    let proposal = PeerMsg::Proposal(Arc::new(Txn {
        zxid: make_zxid(1, 1),
        time_ms: 0,
        session_id: 1,
        cxid: 1,
        op: TxnOp::Create {
            path: format!("/{}", "p".repeat(4096)),
            data: Some(Bytes::from(vec![7u8; JUTE_MAX_BUFFER_DEFAULT])),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 1,
        },
    }));
    let p = rmp_serde::to_vec(&proposal).expect("encodes").len();
    // Bytes are encoded as msgpack bin: a few bytes of overhead, not a multiple.
    assert!(f < JUTE_MAX_BUFFER_DEFAULT + 4096, "{f}");
    assert!(p < 2 * JUTE_MAX_BUFFER_DEFAULT, "{p}");
    assert!(
        f.max(p) * 512 < MAX_PEER_FRAME_BYTES,
        "a default-sized request no longer fits a peer frame comfortably"
    );
}

/// Random runs with the session workload (createSession, ephemerals, closeSession) under the
/// simulator's usual faults: no orphaned ephemeral, session tables converge.
#[test]
fn sim_sessions_three_servers() {
    let n: u64 = std::env::var("ZKR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seeds: Vec<u64> = match std::env::var("ZKR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("ZKR_SIM_SEED is a number")],
        Err(_) => (0..n).map(|s| 20_000 + s).collect(),
    };
    let mut closed = 0;
    for seed in seeds {
        let r = std::panic::catch_unwind(|| {
            let mut sim = Sim::new(seed, 3, 0);
            sim.session_workload = true;
            sim.run_random(6000);
            sim.settle_and_check();
            sim.closed_sessions.len()
        });
        match r {
            Ok(c) => closed += c,
            Err(e) => panic!("seed {seed} failed (replay: ZKR_SIM_SEED={seed}): {e:?}"),
        }
    }
    assert!(closed > 0, "no session was ever closed");
}

/// The simulator's hooks do what they say: a sender killed before a message never sends it
/// (nor anything after it), a receiver killed after a message has handled it, a held link
/// delivers in order on release, and every durable completion is recorded with its disk.
#[test]
fn sim_hooks_fire_as_described() {
    let mut sim = three(13);
    let l = leader(&sim);
    let (a, b) = others(l);
    commit(&mut sim, "a", 2);
    // Hold l -> a: a gets nothing until the release, then everything, in order.
    let hold = sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::Proposal(_)),
        MsgAction::Hold,
        1,
    );
    let held = submit(&mut sim, "h", 3);
    sim.run_for(100);
    assert_eq!(sim.msg_fired(hold), 1);
    assert!(sim.last_logged(a).expect("a runs") < held[0]);
    assert!(sim.committed.contains_key(&held[2]), "l and b commit");
    sim.release(l, a);
    assert!(sim.run_until(WAIT, |s| s.last_applied(a) == held[2]));
    // A receiver killed once it handled a proposal: it was logged (maybe not durably).
    let recv = sim.on_msg(
        Some(l),
        Some(b),
        |m| matches!(m, PeerMsg::Proposal(_)),
        MsgAction::CrashReceiverAfter,
        1,
    );
    let z = submit(&mut sim, "r", 1)[0];
    assert!(sim.run_until(WAIT, |s| s.msg_fired(recv) == 1 && !s.alive(b)));
    assert!(sim.crashes.iter().any(|(_, id)| *id == b));
    assert!(
        sim.run_until(WAIT, |s| s.committed.contains_key(&z)),
        "l and a commit"
    );
    sim.restart(b);
    assert!(sim.run_until(WAIT, everyone_serves));
    // A sender killed before a message: neither it nor the rest of that step goes out (l
    // pings its learners in id order in one step).
    sim.traced_links.insert((l, a));
    sim.traced_links.insert((l, b));
    let first = a.min(b);
    let before = sim.on_msg(
        Some(l),
        Some(first),
        |m| matches!(m, PeerMsg::Ping { .. }),
        MsgAction::CrashSenderBefore,
        1,
    );
    assert!(sim.run_until(WAIT, |s| s.msg_fired(before) == 1 && !s.alive(l)));
    let (t, _, to, m) = sim.link_log.last().expect("traced").clone();
    assert_eq!(
        (to, m.split_whitespace().next()),
        (first, Some("Ping")),
        "the hooked ping is l's last output"
    );
    assert!(
        !sim.link_log
            .iter()
            .any(|(at, _, to, _)| *at == t && *to != first),
        "l's step went on after it was killed"
    );
    assert!(sim.completions.windows(2).all(|w| w[0].at <= w[1].at));
    let last = sim.completions.last().expect("durable actions completed");
    assert!(last.disk_last <= sim.servers[&last.id].disk.last_zxid() || !sim.alive(last.id));
    sim.restart(l);
    sim.settle_and_check();
}

/// Issue 12, hole 2: a leader whose fsync of a proposal fails after both followers ACKed it
/// has committed and applied it (a quorum without itself); it leaves its role (decision 8),
/// its log now ends before that txn, and the new leader synchronises it by DIFF from there.
/// Re-applying the txn its tree already has tripped `Shared::apply`'s order assert (a panic:
/// the process aborted). It must log the txn again, not apply it twice, and rejoin.
#[test]
fn scenario_a_leader_whose_fsync_failed_after_a_quorum_committed_rejoins_by_diff() {
    let mut sim = three(41);
    let l = leader(&sim);
    let before = *commit(&mut sim, "a", 3).last().expect("a*");
    let hold = sim.on_durable(
        l,
        DurableStage::Completing,
        move |a| matches!(a, DurableAction::Append(t) if t.iter().any(|t| t.zxid > before)),
        DurableHookAction::Hold,
        1,
    );
    let p = submit(&mut sim, "p", 1)[0];
    // The followers ACK p: it is committed and applied at the leader, its own write pending.
    assert!(sim.run_until(WAIT, |s| s.durable_fired(hold) == 1
        && s.committed.contains_key(&p)
        && s.last_applied(l) >= p));
    assert!(!sim.servers[&l].disk.holds(p));
    // Then the disk refuses it.
    let fail = sim.on_durable(
        l,
        DurableStage::Completing,
        move |a| matches!(a, DurableAction::Append(t) if t.iter().any(|t| t.zxid == p)),
        DurableHookAction::Fail,
        1,
    );
    sim.release_durable(l);
    assert!(sim.run_until(WAIT, |s| s.durable_fired(fail) == 1));
    assert!(
        sim.run_until(WAIT, |s| s.lookings_since(l, 0) > 0 && everyone_serves(s)),
        "the old leader rejoins"
    );
    assert!(
        sim.run_until(WAIT, |s| s.servers[&l].disk.holds(p)),
        "the txn its disk refused is logged again"
    );
    commit(&mut sim, "b", 3);
    sim.settle_and_check();
}

/// Issue 12, hole 3: a learner synchronised by SNAP gets the snapshot and then the txns after
/// it. The snapshot is encoded in the background while writes go on; if more txns commit
/// meanwhile than the leader keeps in memory for DIFFs (`commit_log_count`), the tail after
/// the snapshot must still reach back to it: no txn may be skipped (under sustained load the
/// learner would otherwise never rejoin, and across an epoch boundary it could not even tell).
#[test]
fn scenario_a_snap_tail_reaches_back_to_a_snapshot_encoded_while_writes_went_on() {
    let mut sim = Sim::new_unbooted(7, 3, 0);
    sim.chaos = false;
    sim.auto_writes = false;
    sim.commit_log_count = 5;
    sim.boot_all();
    assert!(sim.run_until(WAIT, everyone_serves), "no stable ensemble");
    let l = leader(&sim);
    let (a, _) = others(l);
    sim.crash(a);
    commit(&mut sim, "before", 20);
    sim.hold_snapshots = true;
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.held_snapshot_count() > 0),
        "the leader never took a snapshot for the restarted learner"
    );
    // Writes go on while the snapshot is "being encoded": more than commit_log_count commit.
    let during = submit(&mut sim, "during", 20);
    let last = *during.last().expect("writes");
    assert!(
        sim.run_until(WAIT, |s| s.committed.contains_key(&last)
            && s.last_applied(l) >= last),
        "the writes during the snapshot were not committed"
    );
    let released_at = sim.now;
    sim.release_snapshots();
    assert!(
        sim.run_until(WAIT, |s| s.serving(a) && s.last_applied(a) >= last),
        "the learner never caught up"
    );
    assert_eq!(
        sim.lookings_since(a, released_at),
        0,
        "the learner had to give up its sync (the tail after the snapshot had a hole)"
    );
    assert_eq!(
        sim.sent_count(l, a, "SnapBegin"),
        1,
        "one snapshot was enough"
    );
    sim.settle_and_check();
}

/// Issue 12, hole 5: a follower ACKed a proposal, then registered again (its connection to
/// the leader broke) and was synchronised with a TRUNC below that proposal: it no longer holds
/// it. Its old ACK must not count: the leader may commit the proposal only once a quorum holds
/// it durably *now* (here: the leader itself and the follower's NEWLEADER ACK after it logged
/// the proposal again, or the other follower).
#[test]
fn scenario_a_stale_ack_of_a_follower_truncated_since_does_not_count() {
    let mut sim = three(11);
    let l = leader(&sim);
    let (a, b) = others(l);
    // Neither the leader nor b makes the next proposal durable for now.
    let hold_l = sim.on_durable(
        l,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::Append(_)),
        DurableHookAction::Hold,
        1,
    );
    let hold_b = sim.on_durable(
        b,
        DurableStage::Completing,
        |act| matches!(act, DurableAction::Append(_)),
        DurableHookAction::Hold,
        1,
    );
    let acks_before = sim.sent_count(a, l, "Ack");
    let p = submit(&mut sim, "p", 1)[0];
    assert!(
        sim.run_until(WAIT, |s| s.sent_count(a, l, "Ack") > acks_before
            && s.durable_fired(hold_l) == 1
            && s.durable_fired(hold_b) == 1),
        "a never acknowledged the proposal"
    );
    assert!(!sim.committed.contains_key(&p), "only a holds it so far");
    // a's connection breaks: it registers again and is cut back to the commit point, then
    // gets the proposal again; its append of it is held (it has truncated it, not re-logged it).
    let hold_a = sim.on_durable(
        a,
        DurableStage::Completing,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid == p)),
        DurableHookAction::Hold,
        1,
    );
    sim.break_link(l, a);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(hold_a) == 1),
        "a was never synchronised again"
    );
    assert!(
        !sim.servers[&a].disk.holds(p),
        "a was truncated below the proposal"
    );
    // The leader's own append completes: with a's stale ACK it would have a "quorum".
    sim.release_durable(l);
    sim.run_for(2_000);
    if sim.committed.contains_key(&p) {
        let holders: Vec<Sid> = [l, a, b]
            .into_iter()
            .filter(|id| sim.servers[id].disk.holds(p))
            .collect();
        panic!("{p:#x} committed while only {holders:?} hold it durably");
    }
    sim.release_durable(a);
    sim.release_durable(b);
    assert!(
        sim.run_until(WAIT, |s| s.committed.contains_key(&p)),
        "committed once a quorum holds it"
    );
    sim.settle_and_check();
}

/// Issue 12, hole 7 (second half): a reconfig was logged but not committed when its leader
/// died; the new leader inherits it. Committing it with its epoch needs NEWLEADER ACKs from a
/// quorum of the old configuration AND of the one it brings (as ZooKeeper's leader waits for
/// both): a reconfig must never take effect while most of the new voters do not hold it.
///
/// Five voters; the reconfig shrinks them to {l, a, b}. Only c and d log it (l's proposals to
/// a and b are held), then l and b die. c or d leads with a, c, d: a quorum of the old five,
/// but only a of the new three.
#[test]
fn scenario_an_inherited_reconfig_commits_only_with_a_quorum_of_the_next_configuration() {
    let mut sim = Sim::new_unbooted(5, 5, 0);
    sim.chaos = false;
    sim.auto_writes = false;
    sim.boot_all();
    assert!(sim.run_until(WAIT, everyone_serves), "no stable ensemble");
    let l = leader(&sim);
    let rest: Vec<Sid> = (1..=5).filter(|x| *x != l).collect();
    let (a, b, c, d) = (rest[0], rest[1], rest[2], rest[3]);
    sim.hold(l, a);
    sim.hold(l, b);
    let r = sim
        .submit(ClientOp::Reconfig(vec![l, a, b]))
        .expect("the leader takes the reconfig");
    assert!(
        sim.run_until(WAIT, |s| [c, d].iter().all(|x| s.servers[x].disk.holds(r))),
        "c and d log the reconfig"
    );
    assert!(
        !sim.committed.contains_key(&r),
        "pending: the next configuration has no quorum yet"
    );
    sim.crash(l);
    sim.crash(b);
    sim.release(l, a);
    sim.release(l, b);
    // a, c, d: a quorum of the old configuration, one of three in the next.
    sim.run_for(10_000);
    assert!(
        !sim.committed.contains_key(&r),
        "{r:#x} committed with only {a} of the next configuration's voters {:?} holding it",
        [l, a, b]
    );
    sim.restart(b);
    sim.restart(l);
    assert!(
        sim.run_until(WAIT, |s| s.committed.contains_key(&r)),
        "committed once the next configuration has a quorum"
    );
    sim.settle_and_check();
}

/// Seen in a 30-minute `zkr chaos` run (seed 14113659898578639839): server 3's disk failed
/// the save of each new epoch it proposed as leader (EIO), so it left the role, won the next
/// election and failed again, each time raising its acceptedEpoch in memory though nothing was
/// saved and nobody was told. Once the others elected a leader among themselves (at their own
/// acceptedEpoch + 1), server 3 refused it as "an older epoch" in a tight loop and never served
/// again until restarted. An epoch this server failed to save was promised to nobody: after a
/// failed durable action the epochs are those on its disk.
#[test]
fn scenario_a_server_whose_disk_refused_its_new_epochs_follows_the_next_leader() {
    let mut sim = three(5);
    let f: Sid = 3;
    let fails = sim.on_durable(
        f,
        DurableStage::Completing,
        |a| matches!(a, DurableAction::SaveEpochs { accepted, current } if accepted > current),
        DurableHookAction::Fail,
        5,
    );
    // An election that server 3 (the highest id, with everyone's zxid) wins, again and again.
    for other in [1, 2] {
        sim.break_link(f, other);
    }
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(fails) == 5),
        "server 3 never failed to save its epochs five times"
    );
    // The others elect a leader without it, then it comes back.
    for other in [1, 2] {
        sim.hold(f, other);
        sim.hold(other, f);
    }
    assert!(
        sim.run_until(WAIT, |s| [1, 2].iter().all(|id| s.serving(*id))
            && s.leader().is_some_and(|l| l != f)),
        "servers 1 and 2 never elected a leader between them"
    );
    for other in [1, 2] {
        sim.release(f, other);
        sim.release(other, f);
    }
    assert!(
        sim.run_until(WAIT, everyone_serves),
        "server 3 never followed the new leader"
    );
    commit(&mut sim, "after", 3);
    sim.settle_and_check();
}

/// Two voters of five accepted the epoch of a leader attempt that failed (it reached a quorum of
/// FOLLOWERINFO, not of epoch ACKs) after the leader that stays had established a lower epoch;
/// seen in a random run (seed 105114208876228, 5 voters and an observer). They refuse that
/// leader's LEADERINFO forever (Zab forbids a follower to take an epoch below one it accepted),
/// so the ensemble runs on three of five and survives no further fault. The leader, told of a
/// learner's higher accepted epoch, steps down: the election that follows picks an epoch every
/// voter can accept, and all five serve again.
#[test]
fn scenario_voters_that_accepted_a_failed_leaders_higher_epoch_rejoin_the_ensemble() {
    let mut sim = Sim::new(11, 5, 0);
    sim.chaos = false;
    sim.auto_writes = false;
    assert!(sim.run_until(WAIT, everyone_serves), "no stable ensemble");
    commit(&mut sim, "before", 3);
    let l = leader(&sim);
    let (accepted, current) = sim.servers[&l].disk.epochs;
    assert_eq!(accepted, current, "the leader's epoch is established");
    let stale: Vec<Sid> = (1..=5).filter(|x| *x != l).take(2).collect();
    for id in &stale {
        sim.crash(*id);
        // What the failed attempt left on their disks: its epoch accepted, not established.
        let disk = &mut sim.servers.get_mut(id).expect("server").disk;
        disk.epochs = (current + 1, disk.epochs.1);
        sim.restart(*id);
    }
    assert!(
        sim.run_until(WAIT, everyone_serves),
        "the voters that accepted a higher epoch never rejoined: serving {:?}",
        (1..=5).filter(|id| sim.serving(*id)).collect::<Vec<_>>()
    );
    commit(&mut sim, "after", 3);
    sim.settle_and_check();
}

/// ZooKeeper's rule for an epoch ACK (`Learner.registerWithLeader`, `Leader.waitForEpochAck`): a
/// learner that had already accepted the epoch a leader proposes answers it, but its answer does
/// not count toward establishing that epoch. Two leader attempts can choose the same epoch
/// number; counting such an answer lets one server's acceptance count for both, so both could
/// establish the epoch and propose different txns under the same zxids. Here the new leader has
/// chosen epoch E+1 with the only other up-to-date server, whose epoch save is held; a third
/// server that accepted E+1 from an attempt that failed registers late and answers: the leader
/// must not establish E+1 on that answer.
#[test]
fn scenario_an_epoch_ack_from_a_server_that_had_already_accepted_that_epoch_does_not_establish_it()
{
    let mut sim = three(13);
    commit(&mut sim, "before", 3);
    let l = leader(&sim);
    let (a, b) = others(l);
    let (_, epoch) = sim.servers[&l].disk.epochs;
    // b accepted epoch+1 from a leader attempt that failed, and is down for now.
    sim.crash(l);
    sim.crash(b);
    {
        let disk = &mut sim.servers.get_mut(&b).expect("server").disk;
        disk.epochs = (epoch + 1, disk.epochs.1);
    }
    // l and a elect a leader between them (the higher id: their histories are equal), which
    // chooses epoch+1; the follower's save of it is held, so its epoch ACK does not come.
    let follower = l.min(a);
    let held = sim.on_durable(
        follower,
        DurableStage::Completing,
        move |x| matches!(x, DurableAction::SaveEpochs { accepted, .. } if *accepted == epoch + 1),
        DurableHookAction::Hold,
        1,
    );
    sim.restart(l);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(held) == 1),
        "the follower never got LEADERINFO({})",
        epoch + 1
    );
    sim.restart(b);
    let established = sim.run_until(5_000, |s| {
        s.servers.values().any(|x| x.disk.epochs.1 == epoch + 1)
    });
    assert!(
        !established,
        "epoch {} was established on the answer of a server that had already accepted it",
        epoch + 1
    );
    sim.release_durable(follower);
    assert!(
        sim.run_until(WAIT, everyone_serves),
        "the ensemble never served again"
    );
    commit(&mut sim, "after", 3);
    sim.settle_and_check();
}

/// A 3-server ensemble where a follower `a` is far behind (SNAP) and restarting, with chunk
/// `seq` and everything after it on the leader's link to `a` held; returns (leader, `a`) once
/// `a` has written the chunks before `seq`.
fn snap_stream_held_at(seed: u64, seq: u64) -> (Sim, Sid, Sid) {
    let mut sim = three(seed);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 60); // beyond the 20 txns kept for DIFF: a needs a SNAP
    let held = sim.on_msg(
        Some(l),
        Some(a),
        move |m| matches!(m, PeerMsg::SnapChunk { seq: s, .. } if *s == seq),
        MsgAction::Hold,
        1,
    );
    sim.restart(a);
    let written = (seq * super::snapstream::SIM_CHUNK_BYTES) as usize;
    assert!(sim.run_until(WAIT, |s| s.msg_fired(held) == 1
        && s.servers[&a].disk.incoming.as_ref().map(Vec::len) == Some(written)));
    (sim, l, a)
}

/// After a broken stream (at `since`): `a` discarded the partial file, then installed a whole
/// snapshot from a second stream, serves, and agrees with the others while writes go on.
fn snap_stream_started_over(mut sim: Sim, l: Sid, a: Sid, since: i64) {
    assert!(
        sim.completions
            .iter()
            .filter(|c| c.id == a && c.at < since)
            .all(|c| !matches!(c.action, DurableAction::InstallSnapshot(_))),
        "nothing of the broken stream was installed"
    );
    submit(&mut sim, "c", 5); // writes go on while a catches up again
    assert!(sim.run_until(WAIT, |s| s.serving(a)), "a never caught up");
    let done: Vec<DurableAction> = sim
        .completions
        .iter()
        .filter(|c| c.id == a && c.at >= since)
        .map(|c| c.action.clone())
        .collect();
    let aborted = done
        .iter()
        .position(|x| matches!(x, DurableAction::AbortSnapshot))
        .expect("the partial stream was discarded");
    let installed = done
        .iter()
        .position(|x| matches!(x, DurableAction::InstallSnapshot(_)))
        .expect("the snapshot was installed from a new stream");
    assert!(
        aborted < installed,
        "discarded before the new one was installed"
    );
    assert_eq!(
        sim.sent_count(l, a, "SnapBegin"),
        2,
        "the stream started over once"
    );
    assert!(
        sim.sent_count(l, a, "SnapChunk") > 8,
        "streamed in many chunks"
    );
    commit(&mut sim, "d", 3);
    sim.settle_and_check();
}

/// Issue 16, streamed SNAP: the link between the leader and a learner far behind breaks in the
/// middle of the snapshot stream (chunks in flight lost). The learner installs nothing of the
/// partial stream and discards it; it registers again, the stream starts over, and it ends with
/// the leader's state while writes go on.
#[test]
fn scenario_snap_stream_broken_mid_transfer_starts_over_and_installs_nothing_partial() {
    let (mut sim, l, a) = snap_stream_held_at(21, 2);
    let broke_at = sim.now;
    sim.break_link(l, a);
    sim.release(l, a);
    snap_stream_started_over(sim, l, a, broke_at);
}

/// Issue 16, streamed SNAP: a chunk whose crc32c does not match its bytes (corrupted on the
/// way) is refused: the learner writes nothing of it, goes back to LOOKING, discards the
/// partial stream, and the stream starts over from a new registration.
#[test]
fn scenario_snap_stream_corrupt_chunk_is_refused_and_the_stream_starts_over() {
    let (mut sim, l, a) = snap_stream_held_at(22, 1);
    let at = sim.now;
    let corrupt = PeerMsg::SnapChunk {
        seq: 1,
        data: Bytes::from_static(b"not the leader's bytes"),
        crc: crc32c::crc32c(b"something else"),
    };
    sim.step(
        a,
        crate::quorum::core::Input::Message {
            from: l,
            msg: corrupt,
        },
    );
    assert_eq!(
        sim.lookings_since(a, at),
        1,
        "the corrupt chunk sent a back to LOOKING"
    );
    assert!(
        !sim.servers[&a]
            .pending
            .iter()
            .any(|(_, x)| matches!(x, DurableAction::SnapChunk { seq: 1, .. })),
        "the corrupt chunk is not written"
    );
    // What the link held is lost with it; a registers again.
    sim.break_link(l, a);
    sim.release(l, a);
    snap_stream_started_over(sim, l, a, at);
}

/// Issue 16: the snapshot a leader streams to a learner is encoded fuzzily, a few nodes at a
/// time while commits apply (creates under nodes already scanned and not yet, setData on both
/// sides, a session's ephemerals and their deletion by closeSession); the learner replays the
/// txns after the snapshot's zxid over it and ends with the leader's tree, node by node.
#[test]
fn scenario_a_snapshot_encoded_while_commits_apply_is_exact_on_the_learner_once_its_tail_is_applied(
) {
    let mut sim = three(7);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 60); // beyond the 20 txns kept for DIFF: a needs a SNAP
    let session: SessionId = 0x77;
    sim.submit(ClientOp::CreateSession(session)).expect("taken");
    for i in 0..4 {
        sim.submit(ClientOp::Create {
            path: format!("/b{}/e{i}", i * 17),
            data: "eph".into(),
            flags: 1,
            session,
        })
        .expect("taken");
    }
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.snap_encoding()),
        "the leader never encoded a snapshot for a"
    );
    let mut writes = 0;
    while sim.snap_encoding() && writes < 300 {
        let i = writes;
        let ops = [
            ClientOp::Create {
                path: format!("/b{}/n{i}", (i * 13) % 60),
                data: format!("n{i}"),
                flags: 0,
                session: 0,
            },
            ClientOp::SetData {
                path: format!("/b{}", (i * 7) % 60),
                data: format!("v{i}"),
            },
        ];
        for op in ops {
            sim.submit(op).expect("the leader takes the write");
        }
        if i == 3 {
            sim.submit(ClientOp::CloseSession(session)).expect("taken");
        }
        writes += 1;
        let until = sim.now + 4;
        sim.run_until(WAIT, |s| s.now >= until);
    }
    assert!(
        writes > 5,
        "only {writes} writes went on while the snapshot was encoded"
    );
    assert!(sim.run_until(WAIT, |s| s.serving(a)), "a never caught up");
    assert!(
        sim.snaps_encoded.1 >= 1,
        "no commit applied while a snapshot was encoded: {:?}",
        sim.snaps_encoded
    );
    sim.settle_and_check();
}

/// Decision 17's last gap: a learner far behind installs a *fuzzy* snapshot (encoded while the
/// leader applied writes: it shows txns after its zxid `S`, up to `E`) and is killed once part
/// of the tail behind it, short of `E`, is on its disk. Its disk then holds a tree no server
/// ever had. On restart it must know it (the tree waits for the rest of its tail: no
/// read-only serving, no snapshot of it, its orphans kept) and report the log's last zxid, so
/// that the leader continues the replay (DIFF) or sends a new SNAP; then it serves, with
/// nothing left without a parent, and agrees with the others node by node.
#[test]
fn scenario_learner_killed_between_a_fuzzy_snap_install_and_the_end_of_its_tail() {
    use std::cell::Cell;
    use std::rc::Rc;
    let mut sim = three(31);
    let l = leader(&sim);
    let (a, _b) = others(l);
    commit(&mut sim, "a", 3);
    sim.crash(a);
    commit(&mut sim, "b", 60); // beyond the 20 txns kept for DIFF: a needs a SNAP
    let announced = Rc::new(Cell::new(None));
    let seen = announced.clone();
    sim.on_msg(
        Some(l),
        Some(a),
        move |m| {
            if let PeerMsg::SnapBegin(s) = m {
                seen.set(Some(*s));
            }
            false
        },
        MsgAction::Drop,
        1,
    );
    let meta = announced.clone();
    let killed = sim.on_durable(
        a,
        DurableStage::Persisted,
        move |act| match (act, meta.get()) {
            (DurableAction::Append(txns), Some(m)) => txns
                .last()
                .is_some_and(|t| t.zxid > m.zxid && t.zxid < m.end),
            _ => false,
        },
        DurableHookAction::Crash,
        1,
    );
    sim.restart(a);
    // Writes while the leader encodes a's snapshot: the encode is fuzzy.
    assert!(sim.run_until(WAIT, |s| s.snap_encoding()));
    submit(&mut sim, "w", 20);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(killed) == 1 && !s.alive(a)),
        "a was not killed inside its tail (announced {:?})",
        announced.get()
    );
    let m = announced.get().expect("a SNAP was announced");
    assert!(m.end > m.zxid + 1, "a fuzzy encode: {m:?}");
    let on_disk = sim.servers[&a].disk.last_zxid();
    assert!(
        m.zxid < on_disk && on_disk < m.end,
        "{m:?}, disk at {on_disk:#x}"
    );

    sim.restart(a);
    let s = &sim.servers[&a];
    assert_eq!(s.tree.last_zxid(), on_disk);
    assert!(
        s.tree.tail_pending(),
        "the restarted tree (S {:#x}, log at {on_disk:#x}, E {:#x}) is no state any server had",
        m.zxid,
        m.end
    );
    assert!(sim.run_until(WAIT, |s| s.serving(a)), "a never caught up");
    assert!(!sim.servers[&a].tree.tail_pending());
    commit(&mut sim, "c", 3);
    sim.settle_and_check();
}

/// A leader stopped (SIGSTOP) for longer than its clients' session timeout wakes with every
/// session it tracked overdue by its own clock, and its session tracker (an actor of its own)
/// may run before its tick finds the quorum gone: it proposes their expiries. None of them may
/// commit (the others elected a leader meanwhile, which heard the clients, who moved to it,
/// all along); the old leader must rejoin with those proposals cut, and no live client's session
/// may end (the workload's expiry check, in `settle_and_check`).
#[test]
fn scenario_a_leader_woken_past_the_session_timeout_expires_no_live_session() {
    use super::workload::SESSION_TIMEOUT_MS;
    use crate::quorum::core::RoleView;

    let mut sim = Sim::new_unbooted(11, 3, 0);
    sim.skew_clocks();
    sim.chaos = false;
    sim.clients_on = true;
    sim.boot_all();
    assert!(
        sim.run_until(WAIT, |s| s.stable()
            && s.workload.clients.values().filter(|c| c.open).count() >= 6),
        "no sessions"
    );
    let old = leader(&sim);
    let Some(RoleView::Leading { epoch }) = sim.role(old) else {
        panic!("{old} leads")
    };
    let logged = sim.last_logged(old).expect("up");
    let sessions = sim.servers[&old].sessions.len();
    sim.pause_tracker_first(old, SESSION_TIMEOUT_MS + 1000);
    assert!(
        sim.run_until(WAIT, |s| s.leader().is_some_and(|l| l != old)),
        "no new leader while {old} is stopped"
    );
    assert!(
        sim.run_until(WAIT, |s| !s.servers[&old].paused
            && s.serving(old)
            && matches!(s.role(old), Some(RoleView::Following { .. }))),
        "{old} never rejoined"
    );
    let woke = sim.wake_expiries.get(&old).copied().unwrap_or(0);
    assert!(
        woke > 0,
        "{old} expired nothing on waking ({sessions} sessions before the pause)"
    );
    let stale: Vec<Zxid> = sim
        .committed
        .keys()
        .copied()
        .filter(|z| epoch_of(*z) == epoch && *z > logged)
        .collect();
    assert!(
        stale.is_empty(),
        "the woken leader's proposals committed: {stale:x?}"
    );
    sim.settle_and_check();
}

/// The zxids `pick` finds in the messages `from` sends (to `to`, if given) from now on.
fn zxids_sent(
    sim: &mut Sim,
    from: Sid,
    to: Option<Sid>,
    pick: fn(&PeerMsg) -> Option<Zxid>,
) -> std::rc::Rc<std::cell::RefCell<Vec<Zxid>>> {
    let seen: std::rc::Rc<std::cell::RefCell<Vec<Zxid>>> = Default::default();
    let record = seen.clone();
    let pred = move |m: &PeerMsg| {
        record.borrow_mut().extend(pick(m));
        false // never fires: it only looks
    };
    sim.on_msg(Some(from), to, pred, MsgAction::Drop, usize::MAX);
    seen
}

/// The purge half of the stale-floor race: a learner offers its floor in FOLLOWERINFO, then,
/// before the new leader's TRUNC reaches its disk, writes a snapshot of its own tree and
/// purges, which raises its floor above the cut.
///
/// `a` (stale, with a snapshot of its own at `F`, from the `a*` writes) is synchronised by `l`
/// by DIFF (`b*` and `c*`, which only `l` has: before its epoch is established `l`'s whole
/// history counts) and killed half-way, with the `b*` and the first `c*` on its disk; it
/// restarts (its tree now holds them), `l` sends it the rest of `c*`, and the count of its next
/// snapshot is reached: it begins at `S` (its last `c*`). `l`'s NEWLEADERs never reach `a`
/// (so its currentEpoch stays behind `b`'s) and `l` dies. `b` (history up to `b*`) is elected
/// with `a`; `a` registers offering `F`; then its snapshot is written and its purge (keeping
/// one) raises its floor to `S`; `b`'s TRUNC to its last `b*`, between `F` and `S`, reaches
/// `a`'s disk after that. The cut must be refused (the log before `S` may be
/// gone); `a` goes back to LOOKING, registers again with its floor as it is, gets a SNAP, and
/// nothing `l` alone had is committed or served.
#[test]
fn scenario_a_purge_between_followerinfo_and_trunc_gets_the_cut_refused_then_a_snap() {
    let mut sim = three(11);
    // Only the snapshots this scenario asks for (`snapshot_after`), one kept.
    sim.local_snapshots = Some(super::SnapPolicy {
        every: (u64::MAX, u64::MAX),
        retain: 1,
    });
    let first = leader(&sim);
    let (a, _) = others(first);
    sim.snapshot_after(a, 3);
    commit(&mut sim, "a", 3);
    assert!(
        sim.run_until(WAIT, |s| !s.servers[&a].disk.snapshots.is_empty()),
        "a took no snapshot"
    );
    let f = sim.servers[&a].disk.floor();
    commit(&mut sim, "x", 2); // in a's next log segment
    let (l, b) = new_epoch_without(&mut sim, first, a);
    let bs = commit(&mut sim, "b", 8); // a's DIFF stays within the 20 txns kept
    let last_b = *bs.last().expect("b*");
    let cs = private_tail_then_down(&mut sim, l, b, 6);
    let last_c = *cs.last().expect("c*");
    // l synchronises a by DIFF, and a is killed once it logged the first c*; l's NEWLEADERs
    // are lost.
    let third_c = cs[2];
    let killed = sim.on_durable(
        a,
        DurableStage::Completing,
        move |act| matches!(act, DurableAction::Append(t) if t.iter().any(|t| t.zxid == third_c)),
        DurableHookAction::Crash,
        1,
    );
    sim.on_msg(
        Some(l),
        Some(a),
        |m| matches!(m, PeerMsg::NewLeader { .. }),
        MsgAction::Drop,
        usize::MAX,
    );
    let floors = zxids_sent(&mut sim, a, None, |m| match m {
        PeerMsg::FollowerInfo { floor, .. } => Some(*floor),
        _ => None,
    });
    let cuts = zxids_sent(&mut sim, b, Some(a), |m| match m {
        PeerMsg::Trunc { zxid, .. } => Some(*zxid),
        _ => None,
    });
    sim.hold_local_snapshots = true;
    let (diffs, l_snaps) = (
        sim.sent_count(l, a, "Diff"),
        sim.sent_count(l, a, "SnapBegin"),
    );
    sim.restart(l);
    sim.restart(a);
    assert!(
        sim.run_until(WAIT, |s| s.durable_fired(killed) == 1 && !s.alive(a)),
        "l did not synchronise a"
    );
    let recovered = sim.servers[&a].disk.last_zxid();
    assert!(recovered > last_b && recovered < last_c, "{recovered:#x}");
    // Restarted, a holds the b* and c* it logged; the rest of c* it logs now (the snapshot's
    // count is reached); the snapshot is scanned, and held until a has registered with b.
    sim.restart(a);
    sim.snapshot_after(a, 1);
    assert!(
        sim.run_until(WAIT, |s| s.local_snapshot_held(a).is_some()),
        "a took no snapshot"
    );
    let s_zxid = sim.local_snapshot_held(a).expect("held");
    assert_eq!(
        s_zxid, recovered,
        "a's snapshot is of the tree it recovered"
    );
    assert!(
        s_zxid > last_b && f <= last_b,
        "F {f:#x} and S {s_zxid:#x} do not straddle b's last txn {last_b:#x}"
    );
    assert!(
        sim.sent_count(l, a, "Diff") > diffs && sim.sent_count(l, a, "SnapBegin") == l_snaps,
        "l synchronised a by DIFF"
    );
    sim.crash(l);
    let infos = sim.sent_count(a, b, "FollowerInfo");
    sim.restart(b);
    assert!(
        sim.run_until(WAIT, |s| s.sent_count(a, b, "FollowerInfo") > infos),
        "a did not register with b"
    );
    assert_eq!(floors.borrow().last(), Some(&f), "a offered its floor F");
    // Now the snapshot is written and the purge raises a's floor, before b's TRUNC arrives.
    assert_eq!(sim.sent_count(b, a, "Trunc"), 0);
    sim.release_local_snapshots();
    assert_eq!(
        sim.servers[&a].disk.floor(),
        s_zxid,
        "the purge raised a's floor"
    );
    assert!(
        sim.run_until(WAIT, |s| s.snap_stats.refused_cuts > 0),
        "b's cut never reached a's disk"
    );
    let cut = cuts.borrow()[0];
    assert!(
        f <= cut && cut < s_zxid,
        "b's TRUNC to {cut:#x} is not between F {f:#x} and S {s_zxid:#x}"
    );
    assert_eq!(sim.snap_stats.refused_cuts, 1);
    assert_eq!(
        sim.servers[&a].disk.floor(),
        s_zxid,
        "the refused cut changed nothing"
    );
    // a syncs again, offering its floor as it is now, and gets a SNAP.
    let snaps = sim.sent_count(b, a, "SnapBegin");
    assert!(
        sim.run_until(WAIT, |s| s.serving(a) && s.serving(b)),
        "a and b never served together"
    );
    assert!(floors.borrow().contains(&s_zxid), "a never offered S");
    assert!(sim.sent_count(b, a, "SnapBegin") > snaps, "a got no SNAP");
    assert_eq!(cuts.borrow().len(), 1, "b asked for no other cut");
    assert!(sim.committed.contains_key(&last_b));
    for z in &cs {
        assert!(
            !sim.committed.contains_key(z),
            "{z:#x} was never acknowledged"
        );
        assert!(!sim.servers[&a].disk.holds(*z), "a kept uncommitted {z:#x}");
    }
    commit(&mut sim, "d", 3);
    sim.restart(l);
    sim.settle_and_check();
}

/// A 3-server ensemble with the client workload and a syncLimit as long as a real ensemble's
/// (ZooKeeper's defaults, tickTime 2 s and syncLimit 5, give 10 s: longer than a client's read
/// timeout, so a follower paused past that timeout is still in the ensemble when it wakes), and
/// two scripted clients on a follower. Returns (sim, leader, follower, the two sessions).
fn clients_on_a_follower(seed: u64) -> (Sim, Sid, Sid, SessionId, SessionId) {
    let mut sim = Sim::new_unbooted(seed, 3, 0);
    sim.chaos = false;
    sim.clients_on = true;
    sim.timing.sync_limit = 100;
    sim.boot_all();
    assert!(
        sim.run_until(WAIT, |s| everyone_serves(s)
            && s.workload.clients.values().filter(|c| c.open).count() >= 3),
        "no stable ensemble with clients"
    );
    let l = leader(&sim);
    let (f, _) = others(l);
    let a = sim.open_session_on(f, true);
    let b = sim.open_session_on(f, true);
    assert!(
        sim.run_until(WAIT, |s| [a, b].iter().all(|x| s.workload.clients[x].open)),
        "the scripted sessions never opened"
    );
    (sim, l, f, a, b)
}

fn create(path: &str) -> crate::proto::Request {
    crate::proto::Request::Create(
        crate::proto::codes::opcode::CREATE,
        crate::proto::records::CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    )
}

fn exists(path: &str) -> crate::proto::Request {
    crate::proto::Request::Exists(crate::proto::records::PathWatchRequest {
        path: path.into(),
        watch: false,
    })
}

/// The txn committed for request `xid` of `session`.
fn txn_of(sim: &Sim, session: SessionId, xid: i32) -> Option<Arc<Txn>> {
    sim.committed
        .values()
        .find(|t| t.session_id == session && t.cxid == xid)
        .cloned()
}

/// A client of a follower paused for less than its read timeout keeps its connection: its
/// write, sent during the pause, waits in the socket and is answered after the wake, its
/// session never expires, and its next read is not older than what it saw. Another client's
/// read, sent during the pause, is executed when the follower runs it: after the commits that
/// reached the follower before it, which it applies on waking (so it sees writes the follower
/// had not applied when the read was sent).
#[test]
fn scenario_a_client_of_a_follower_paused_within_its_read_timeout_stays_and_is_answered_on_waking()
{
    use super::workload::READ_TIMEOUT_MS;

    let (mut sim, _, f, a, b) = clients_on_a_follower(41);
    // Its ping falls due during the pause.
    assert!(sim.run_until(WAIT, |s| s.workload.clients[&a].next_ping - s.now < 500));
    // Writes the follower logs (its disk completes during the pause) and whose commits reach
    // it while it is stopped.
    let zs = submit(&mut sim, "while-stopped", 3);
    let last = *zs.last().expect("3");
    assert!(
        sim.run_until(WAIT, |s| s.servers[&f].pending.iter().any(
            |(_, act)| matches!(
                act,
                DurableAction::Append(t) if t.iter().any(|t| t.zxid == last)
            )
        )),
        "{f} never logged the writes"
    );
    let at_pause = sim.last_applied(f);
    let paused_at = sim.now;
    sim.pause(f, 1500);
    let xid = sim.client_request(a, create("/held"));
    assert!(sim.run_until(WAIT, |s| s.committed.contains_key(&last)));
    sim.run_for(500);
    sim.send_read(b, exists("/while-stopped2"));
    assert!(sim.waiting(a) && sim.waiting(b));
    assert!(
        sim.run_until(WAIT, |s| !s.servers[&f].paused),
        "{f} never woke"
    );
    let woke = sim.now;
    assert!(woke - paused_at >= 1500);
    // Its ping waited too, and touched the session as the follower woke.
    assert!(sim.workload.clients[&a].touches.contains(&woke));
    // The read ran as the follower woke, after the commits that had reached it.
    assert!(!sim.waiting(b), "the read was not answered on waking");
    let read = sim.workload.reads.last().expect("a read").clone();
    assert_eq!(read.server, f);
    assert!(
        read.zxid >= last && read.zxid > at_pause,
        "the read saw {:#x}; {f} was at {at_pause:#x} when it was sent",
        read.zxid
    );
    // The write is answered on the connection it was sent on.
    assert!(
        sim.run_until(WAIT, |s| !s.waiting(a)),
        "the write was never answered"
    );
    let answer = sim
        .workload
        .answers
        .iter()
        .find(|x| x.sent.session == a && x.sent.xid == xid)
        .expect("the client got its reply")
        .clone();
    assert!(matches!(answer.result, crate::tree::OpResult::Created(..)));
    let c = &sim.workload.clients[&a];
    assert_eq!(c.server, f, "the client moved");
    assert!(
        sim.workload
            .timeouts
            .iter()
            .all(|(_, s, _)| *s != a && *s != b),
        "a client timed out ({READ_TIMEOUT_MS} ms) on a 1.5-s pause"
    );
    // Its next read is not older than what it saw.
    let saw = c.last_zxid;
    assert!(saw >= answer.zxid);
    sim.send_read(a, exists("/held"));
    assert!(sim.run_until(WAIT, |s| !s.waiting(a)));
    let read = sim.workload.reads.last().expect("a read");
    assert!(read.zxid >= saw, "{:#x} < {saw:#x}", read.zxid);
    // Its session outlives the pause by more than a session timeout.
    sim.run_for(super::workload::SESSION_TIMEOUT_MS + 2000);
    assert!(sim.workload.clients.get(&a).is_some_and(|c| c.open));
    assert!(sim.servers[&f].tree.sessions().contains_key(&a));
    assert_eq!(sim.workload.expiries, 0, "a session expired");
    sim.settle_and_check();
}

/// A client of a follower paused for longer than its read timeout keeps its connection until
/// it has heard nothing for that timeout (not before), then moves its session to another
/// server, in time: the session survives (the leader heard none of its pings meanwhile).
#[test]
fn scenario_a_client_of_a_follower_paused_past_its_read_timeout_moves_then_and_keeps_its_session() {
    use super::workload::{READ_TIMEOUT_MS, SESSION_TIMEOUT_MS};

    let (mut sim, _, f, a, _) = clients_on_a_follower(42);
    sim.run_for(300);
    let heard = sim.workload.clients[&a].heard_at;
    let paused_at = sim.now;
    sim.pause(f, 6000);
    // Not before the read timeout.
    let before = heard + READ_TIMEOUT_MS - 1 - sim.now;
    assert!(!sim.run_until(before, |s| s.workload.clients[&a].server != f));
    assert!(sim.workload.timeouts.iter().all(|(_, s, _)| *s != a));
    // Then, at its next step.
    assert!(
        sim.run_until(100, |s| s.workload.clients[&a].server != f),
        "the client did not move on its read timeout"
    );
    let (at, _, from) = *sim
        .workload
        .timeouts
        .iter()
        .find(|(_, s, _)| *s == a)
        .expect("a read timeout");
    assert_eq!(from, f);
    assert!(
        at - heard >= READ_TIMEOUT_MS && at - heard < READ_TIMEOUT_MS + 50,
        "moved {} ms after it last heard from {f}",
        at - heard
    );
    assert!(sim.servers[&f].paused && at - paused_at < 6000);
    // Its session survives the pause and the follower's wake.
    assert!(sim.run_until(WAIT, |s| !s.servers[&f].paused));
    sim.run_for(SESSION_TIMEOUT_MS + 2000);
    let c = sim.workload.clients.get(&a).expect("the session lives");
    assert!(c.open && c.server != f);
    let l = leader(&sim);
    assert!(sim.servers[&l].tree.sessions().contains_key(&a));
    assert_eq!(sim.workload.expiries, 0, "a session expired");
    sim.settle_and_check();
}

/// A write a client sent its follower just as the follower stopped waits in the socket; the
/// client gives up on the follower after its read timeout and resumes its session on another
/// server, which tells the leader. When the follower wakes it runs the write all the same (the
/// connection is gone, but its bytes were read): the leader refuses it with SessionMoved (the
/// session's owner is the other server now), the tree is unchanged, and the reply reaches no
/// one (as Apache ZooKeeper's PrepRequestProcessor does: `checkSession` against the owner that
/// the revalidation set).
#[test]
fn scenario_a_write_left_on_a_paused_follower_by_a_client_that_moved_gets_session_moved() {
    use crate::proto::ErrorCode;

    let (mut sim, _, f, a, _) = clients_on_a_follower(43);
    sim.run_for(300);
    sim.pause(f, 6000);
    let xid = sim.client_request(a, create("/left-behind"));
    assert!(
        sim.run_until(WAIT, |s| s.workload.clients[&a].server != f),
        "the client never moved"
    );
    assert!(sim.servers[&f].paused);
    assert!(
        !sim.waiting(a),
        "the moved client still waits for the write"
    );
    assert!(txn_of(&sim, a, xid).is_none());
    assert!(
        sim.run_until(WAIT, |s| txn_of(s, a, xid).is_some()),
        "the write was never run"
    );
    let txn = txn_of(&sim, a, xid).expect("committed");
    assert_eq!(txn.op, TxnOp::Error(ErrorCode::SessionMoved), "{txn:?}");
    assert!(
        sim.run_until(WAIT, |s| s
            .workload
            .unheard
            .iter()
            .any(|x| x.zxid == txn.zxid)),
        "{f} never released the reply"
    );
    assert!(sim
        .workload
        .answers
        .iter()
        .all(|x| !(x.sent.session == a && x.sent.xid == xid)));
    sim.run_for(2000);
    for s in sim.servers.values() {
        assert!(s.tree.get("/left-behind").is_none(), "s{}", s.id);
    }
    assert!(sim.workload.clients.get(&a).is_some_and(|c| c.open));
    sim.settle_and_check();
}

/// A 3-server ensemble (syncLimit `sync_limit` ticks of 100 ms) with two scripted clients and
/// no random workload: `a` on the leader, `b` on a follower. Returns (sim, leader, its two
/// followers, a, b).
fn clients_on_the_leader_and_a_follower(
    seed: u64,
    sync_limit: i64,
) -> (Sim, Sid, (Sid, Sid), SessionId, SessionId) {
    let mut sim = Sim::new_unbooted(seed, 3, 0);
    sim.chaos = false;
    sim.clients_on = true;
    sim.auto_writes = false;
    sim.timing.sync_limit = sync_limit;
    sim.boot_all();
    assert!(sim.run_until(WAIT, everyone_serves), "no stable ensemble");
    let l = leader(&sim);
    let (f, g) = others(l);
    let a = sim.open_session_on(l, true);
    let b = sim.open_session_on(f, true);
    assert!(
        sim.run_until(WAIT, |s| [a, b].iter().all(|x| s.workload.clients[x].open)),
        "the scripted sessions never opened"
    );
    (sim, l, (f, g), a, b)
}

/// The followers `f` and `g` of `l` elect one of them, through which `b`'s create of `/after`
/// is committed and acknowledged; returns its zxid.
fn a_write_acknowledged_without(sim: &mut Sim, l: Sid, (f, g): (Sid, Sid), b: SessionId) -> Zxid {
    assert!(
        sim.run_until(WAIT, |s| s.serving(f)
            && s.serving(g)
            && s.leaders.values().any(|x| *x != l)),
        "the followers elected no new leader"
    );
    let xid = sim.client_request(b, create("/after"));
    assert!(
        sim.run_until(WAIT, |s| !s.waiting(b)),
        "the write was never answered"
    );
    let acked = txn_of(sim, b, xid).expect("committed").zxid;
    assert!(sim.workload.max_acked >= acked && sim.last_applied(l) < acked);
    acked
}

/// `a`, a client of the replaced leader `l`, syncs and reads `/after`: `l` must not answer
/// from its old tree (the read's check in `client_read` panics on a read older than what was
/// acknowledged before the sync began); the sync ends with `l` stepping down.
fn a_sync_on_the_replaced_leader(sim: &mut Sim, l: Sid, a: SessionId) {
    use crate::quorum::core::RoleView;

    let reads = sim.workload.reads.len();
    let synced_at = sim.now;
    sim.client_sync(a, exists("/after"));
    assert!(
        sim.run_until(WAIT, |s| !s.waiting(a)),
        "the sync was never answered nor its connection closed"
    );
    assert!(
        sim.workload.reads[reads..].iter().all(|r| r.server != l),
        "{l} answered the sync"
    );
    assert!(
        sim.roles.iter().any(|(t, id, r)| *id == l
            && *t >= synced_at
            && !matches!(r, RoleView::Leading { .. })),
        "{l} never stepped down"
    );
    sim.settle_and_check();
}

/// The followers' messages stop reaching the leader, then the leader's stop reaching them: what
/// they sent in the last 1.9 s (answers to its pings) arrives all at once, just before the
/// leader would have found them silent for syncLimit (2 s here), so it counts them as heard
/// for another syncLimit. They meanwhile give up on it, elect a new leader, which commits and
/// acknowledges a client's write. A client of the old leader then syncs and reads: the leader
/// must not answer from its old tree (a quorum heard within syncLimit is no lease: the
/// followers it heard had already left it). Decision 23.
#[test]
fn scenario_a_leader_whose_followers_left_it_answers_no_sync_from_its_old_tree() {
    use crate::quorum::core::RoleView;

    let (mut sim, l, (f, g), a, b) = clients_on_the_leader_and_a_follower(44, 20);
    let sync_ms = sim.timing.sync_ms();
    for x in [f, g] {
        sim.hold(x, l);
    }
    // Half a second later (they answer its pings meanwhile, into the held links).
    sim.run_for(500);
    for x in [f, g] {
        sim.hold(l, x);
    }
    sim.run_for(sync_ms - 600);
    assert!(matches!(sim.role(l), Some(RoleView::Leading { .. })));
    for x in [f, g] {
        sim.release(x, l);
    }
    let acked = a_write_acknowledged_without(&mut sim, l, (f, g), b);
    // The old leader still leads and serves: it counts its followers as heard.
    assert!(
        matches!(sim.role(l), Some(RoleView::Leading { .. })) && sim.serving(l),
        "{l} stepped down before the sync"
    );
    assert!(epoch_of(acked) > 1);
    a_sync_on_the_replaced_leader(&mut sim, l, a);
}

/// Decision 22's case, scripted (found by the fresh seed 29774472745766 of the long form, whose
/// schedule the read rounds' pings have since changed): a leader paused past syncLimit while
/// the other two elect a new one, which commits and acknowledges a client's write; a sync a
/// client of the old leader sent during the pause runs as it wakes. The old leader must not
/// answer it from its old tree: what it reads on waking was sent before (and none of it echoes
/// a read round started after the sync arrived).
#[test]
fn scenario_a_leader_woken_after_it_was_replaced_answers_no_sync_from_its_old_tree() {
    let (mut sim, l, followers, a, b) = clients_on_the_leader_and_a_follower(45, 5);
    sim.pause(l, 1500);
    a_write_acknowledged_without(&mut sim, l, followers, b);
    assert!(
        sim.servers[&l].paused,
        "{l} woke before the write was acknowledged"
    );
    a_sync_on_the_replaced_leader(&mut sim, l, a);
}

/// Syncs batch onto read rounds: three syncs reaching the leader at once take two rounds (the
/// first starts one; the other two arrived after it started, so they share the next, started
/// when it is confirmed), a follower's forwarded sync later takes a third, and each is answered
/// with everything acknowledged before it began.
#[test]
fn scenario_syncs_that_reach_the_leader_together_share_a_read_round() {
    let (mut sim, l, (f, _), a, b) = clients_on_the_leader_and_a_follower(46, 5);
    let (c, d) = (sim.open_session_on(l, true), sim.open_session_on(l, true));
    assert!(
        sim.run_until(WAIT, |s| [c, d].iter().all(|x| s.workload.clients[x].open)),
        "the scripted sessions never opened"
    );
    let xid = sim.client_request(b, create("/before"));
    assert!(sim.run_until(WAIT, |s| !s.waiting(b)));
    let acked = txn_of(&sim, b, xid).expect("committed").zxid;
    sim.traced_links.insert((l, f));
    let reads = sim.workload.reads.len();
    for x in [a, c, d] {
        sim.client_sync(x, exists("/before"));
    }
    assert!(sim.run_until(WAIT, |s| [a, c, d].iter().all(|x| !s.waiting(*x))));
    let rounds = |sim: &Sim| -> std::collections::BTreeSet<u64> {
        sim.link_log
            .iter()
            .filter(|(_, _, _, m)| m.starts_with("Ping {"))
            .filter_map(|(_, _, _, m)| {
                m.rsplit("round: ")
                    .next()?
                    .trim_end_matches(" }")
                    .parse()
                    .ok()
            })
            .filter(|r| *r > 0)
            .collect()
    };
    assert_eq!(rounds(&sim), [1, 2].into(), "{:?}", sim.link_log);
    sim.client_sync(b, exists("/before"));
    assert!(sim.run_until(WAIT, |s| !s.waiting(b)));
    assert_eq!(rounds(&sim), [1, 2, 3].into());
    let seen: Vec<(Sid, Zxid)> = sim.workload.reads[reads..]
        .iter()
        .map(|r| (r.server, r.zxid))
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|(_, z)| *z >= acked), "{seen:?}");
    sim.settle_and_check();
}
