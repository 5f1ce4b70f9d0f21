//! The invariants checked while a simulation runs and once it settles:
//!
//! * at most one leader establishes each epoch;
//! * every txn a server applies was committed by a leader, with the same content, and a txn is
//!   committed only once a quorum of the configuration it commits under (the last one committed
//!   before it; for a reconfig, the one it brings too) holds it on disk;
//! * every serving server's applied history is a prefix of the committed history (no holes,
//!   no reordering);
//! * no ephemeral outlives its session;
//! * every client request handed to a pipeline comes out of it exactly once (answered, closed,
//!   abandoned, or lost with a crash of its server);
//! * at the end, healed and quiet, every server has applied the same history and holds the
//!   same tree (node by node, every stat field, data and ACL, and the session table), and every
//!   txn any leader committed is in it; with the client workload, every reply and read matches
//!   the committed history ([`super::history`]).

use std::cmp::Reverse;
use std::sync::Arc;

use super::{Event, Sim};
use crate::quorum::core::RoleView;
use crate::quorum::msg::Sid;
use crate::tree::{NodeKind, OpResult};
use crate::txn::Txn;

/// Simulated milliseconds the settling runs with no faults and no new writes.
const QUIET_MS: i64 = 8000;
/// How much longer the settling may wait for every server to apply the last commit.
const CONVERGE_MS: i64 = 30_000;

impl Sim {
    /// Applies committed txns on `id` (checking them against the committed history); returns
    /// each one's result, as the store reports it.
    pub(crate) fn apply(&mut self, id: Sid, txns: Vec<Arc<Txn>>) -> Vec<OpResult> {
        let mut results = Vec::with_capacity(txns.len());
        // The role as the outputs performed so far show it: a leader that commits a reconfig
        // removing itself applies it, then steps down, in one step.
        let is_leader = matches!(
            self.roles.iter().rev().find(|(_, s, _)| *s == id),
            Some((_, _, RoleView::Leading { .. }))
        );
        if is_leader {
            // A leader commits its whole history before anything new.
            let history: Vec<Arc<Txn>> = self.servers[&id].applied.clone();
            for t in history {
                self.commit(&t);
            }
        }
        for t in txns {
            if is_leader {
                self.commit(&t);
            } else {
                let c = self.committed.get(&t.zxid);
                assert_eq!(
                    c,
                    Some(&t),
                    "s{id} applied {:#x}, which no leader committed (or different)",
                    t.zxid
                );
            }
            let s = self.servers.get_mut(&id).expect("server");
            results.push(s.tree.apply(&t).0);
            s.applied.push(t.clone());
            self.sessions_applied(id, &t);
        }
        if self.servers[&id].serving {
            self.check_prefix(id);
        }
        results
    }

    pub(crate) fn commit(&mut self, t: &Arc<Txn>) {
        if let Some(prev) = self.committed.get(&t.zxid) {
            assert_eq!(prev, t, "zxid {:#x} committed with two contents", t.zxid);
        } else {
            if let Some((last, _)) = self.committed.last_key_value() {
                assert!(
                    t.zxid > *last,
                    "commit {:#x} after {:#x}: a committed txn was skipped",
                    t.zxid,
                    last
                );
            }
            if matches!(t.op, crate::txn::TxnOp::CloseSession { .. }) {
                self.closed_sessions.insert(t.session_id);
            }
            let next = match &t.op {
                crate::txn::TxnOp::Reconfig { data, .. } => {
                    let text = String::from_utf8_lossy(data);
                    let c = crate::quorum::dynconfig::parse(&text).expect("a committed config");
                    let voters: Vec<Sid> = c.membership(0).voters().into_iter().collect();
                    Some(voters)
                }
                _ => None,
            };
            // The configuration this txn commits under: the last one committed before it (a
            // reconfig needs a quorum of the one it brings too).
            let current = self
                .configs
                .values()
                .next_back()
                .cloned()
                .unwrap_or_else(|| self.voters.clone());
            self.check_durable_on_a_quorum(t.zxid, &current);
            if let Some(next) = next {
                self.check_durable_on_a_quorum(t.zxid, &next);
                self.configs.insert(t.zxid, next);
            }
            self.committed.insert(t.zxid, t.clone());
        }
    }

    /// A txn is committed only once a quorum of `voters` (the configuration it commits
    /// under) holds it on disk.
    pub(crate) fn check_durable_on_a_quorum(&self, z: crate::txn::Zxid, voters: &[Sid]) {
        let holders: Vec<Sid> = voters
            .iter()
            .copied()
            .filter(|v| self.servers.get(v).is_some_and(|s| s.disk.holds(z)))
            .collect();
        assert!(
            holders.len() * 2 > voters.len(),
            "{z:#x} committed while durable only on {holders:?} of the voters {voters:?}"
        );
    }

    /// The server's applied history must be exactly the committed history up to its last zxid.
    pub(crate) fn check_prefix(&self, id: Sid) {
        let s = &self.servers[&id];
        let last = s.applied.last().map_or(0, |t| t.zxid);
        let expected: Vec<&Arc<Txn>> = self.committed.range(..=last).map(|(_, t)| t).collect();
        let mine: Vec<&Arc<Txn>> = s.applied.iter().collect();
        if mine != expected {
            let z = |v: &[&Arc<Txn>]| {
                v.iter()
                    .map(|t| format!("{:#x}", t.zxid))
                    .collect::<Vec<_>>()
            };
            panic!(
                "s{id} (serving) applied history differs from the committed one:\n mine: {:?}\n committed: {:?}",
                z(&mine),
                z(&expected)
            );
        }
    }

    /// Checks the trees' session invariants: every ephemeral's owner is a live session (never
    /// one whose closeSession committed), on every running server.
    pub(crate) fn check_no_orphan_ephemerals(&self) {
        for s in self.servers.values().filter(|s| s.pipeline.is_some()) {
            for (path, node) in s.tree.paths() {
                if let NodeKind::Ephemeral(owner) = node.kind() {
                    // A closed session is gone from the table: its ephemerals must be too.
                    assert!(
                        s.tree.sessions().contains_key(&owner),
                        "s{}: ephemeral {path} belongs to {owner:#x}, which is not a live session{}",
                        s.id,
                        if self.closed_sessions.contains(&owner) {
                            " (its closeSession committed)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }

    /// Runs queued events only (no faults, no new writes) until `done` holds or `limit_ms` of
    /// simulated time passed.
    fn run_quiet_until(&mut self, limit_ms: i64, done: impl Fn(&Sim) -> bool) {
        let end = self.now + limit_ms;
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > end || done(self) {
                break;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
    }

    /// Every server serves, has no durable action outstanding, and has applied the last
    /// committed txn.
    fn converged(&self) -> bool {
        let last = self.last_committed();
        self.servers.values().all(|s| {
            s.serving && s.pending.is_empty() && s.applied.last().map_or(0, |t| t.zxid) == last
        })
    }

    /// Heals everything, restarts crashed servers, lets the ensemble settle, and checks that
    /// everyone converged on the committed history.
    pub(crate) fn settle_and_check(&mut self) {
        self.chaos = false;
        // Scripted faults end here: hooks off, held links and disk writes released.
        self.msg_hooks.iter_mut().for_each(|h| h.times = 0);
        self.durable_hooks.iter_mut().for_each(|h| h.times = 0);
        let held: Vec<(Sid, Sid)> = self.held_links.iter().copied().collect();
        for (a, b) in held {
            self.release(a, b);
        }
        let held: Vec<Sid> = self.held_durable.keys().copied().collect();
        for id in held {
            self.release_durable(id);
        }
        self.run_event(Event::Heal);
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        for id in &ids {
            self.run_event(Event::Restart(*id));
        }
        // Quiet period: no faults, writes continue briefly (past the read timeout of the
        // clients of a server paused last), then stop.
        let writes = self
            .settle_writes_ms
            .max(self.workload.writes_until - self.now);
        self.run(writes, false);
        // Then at least QUIET_MS with nothing but the servers' own work (elections, session
        // expiry, catch-up), and on until they converge: a slow disk may still hold the last
        // commits when the window ends (converging late is not diverging), but never longer
        // than CONVERGE_MS more, so a server that never catches up still fails below.
        self.run_quiet_until(QUIET_MS, |_| false);
        self.run_quiet_until(CONVERGE_MS, Sim::converged);
        let serving: Vec<Sid> = self
            .servers
            .values()
            .filter(|s| s.serving)
            .map(|s| s.id)
            .collect();
        assert_eq!(
            serving.len(),
            ids.len(),
            "not everyone serves after settling: {serving:?}"
        );
        let last = self.committed.keys().next_back().copied().unwrap_or(0);
        for id in &ids {
            self.check_prefix(*id);
            let s = &self.servers[id];
            let mine = s.applied.last().map_or(0, |t| t.zxid);
            assert_eq!(mine, last, "s{id} has not applied every committed txn");
        }
        self.check_trees_equal(&ids);
        if self.clients_on {
            self.check_replies();
        }
        self.check_no_orphan_ephemerals();
        // Quiet and converged: every request handed to a running server came out.
        let in_flight = self.requests.in_flight();
        assert!(
            in_flight.is_empty(),
            "requests never answered, closed or abandoned: {in_flight:?}"
        );
    }
}
