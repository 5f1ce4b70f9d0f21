//! Leader election, FastLeaderElection's rules, as a pure core.
//!
//! * Votes are ordered by (epoch, last zxid, server id); observers never vote.
//! * Entering LOOKING increments the round and votes for itself; a notification of a higher
//!   round resets the round and the collected votes; a better vote in the same round is adopted
//!   and re-broadcast.
//! * When a quorum of voters' votes in this round equals ours, wait `FINALIZE_WAIT_MS` for a
//!   better vote; without one, decide.
//! * Notifications from servers that are already FOLLOWING/LEADING let a late server join: a
//!   quorum of them naming the same leader, and that leader itself LEADING (or being us).
//! * Undecided, the notification is re-broadcast with exponential back-off.
//!
//! Invariant: the decision always names the vote a quorum agreed on (or, joining late, the
//! leader a quorum follows); an observer is never decided as leader.

use std::collections::BTreeMap;

use super::config::Membership;
use super::msg::{Notification, PeerState, Sid, Vote};
use crate::txn::Zxid;

/// How long to wait for a better vote once a quorum agrees, ms (`finalizeWait`).
pub const FINALIZE_WAIT_MS: i64 = 200;
/// First re-broadcast interval, ms.
pub const REBROADCAST_MIN_MS: i64 = 200;
/// Longest re-broadcast interval, ms (ZooKeeper goes to 60 s; loopback ensembles need less).
pub const REBROADCAST_MAX_MS: i64 = 2000;

/// What the election asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionOutput {
    /// Send this notification to that server.
    Send(Sid, Notification),
    /// The election is over: follow (or lead, if it is us) this vote.
    Decided(Vote),
}

/// One election.
#[derive(Debug, Clone)]
pub struct Election {
    me: Sid,
    own: Vote,
    vote: Vote,
    round: u64,
    received: BTreeMap<Sid, Vote>,
    out_of_election: BTreeMap<Sid, Notification>,
    finalize_at: Option<i64>,
    next_broadcast_at: i64,
    backoff_ms: i64,
    observer: bool,
}

impl Election {
    /// Starts an election in `round` (one above the last) for a server whose history ends at
    /// `last_zxid` in `current_epoch`. Returns the election and its first notifications.
    pub fn start(
        m: &Membership,
        round: u64,
        last_zxid: Zxid,
        current_epoch: u64,
        now: i64,
    ) -> (Election, Vec<ElectionOutput>) {
        let own = Vote {
            leader: m.me,
            zxid: last_zxid,
            epoch: current_epoch,
        };
        let mut e = Election {
            me: m.me,
            own,
            vote: own,
            round,
            received: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_at: None,
            next_broadcast_at: now + REBROADCAST_MIN_MS,
            backoff_ms: REBROADCAST_MIN_MS,
            observer: m.i_observe(),
        };
        if !e.observer {
            e.received.insert(m.me, own);
        }
        let out = e.broadcast(m);
        (e, out)
    }

    /// The current round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The vote this server currently proposes.
    pub fn vote(&self) -> Vote {
        self.vote
    }

    /// My notification, for a LOOKING peer that asks.
    pub fn notification(&self) -> Notification {
        Notification {
            vote: self.vote,
            round: self.round,
            state: PeerState::Looking,
        }
    }

    fn broadcast(&self, m: &Membership) -> Vec<ElectionOutput> {
        // Observers send their (non-counting) notification too, so voters answer them.
        m.peers()
            .map(|p| ElectionOutput::Send(p, self.notification()))
            .collect()
    }

    fn adopt(&mut self, v: Vote) {
        if v != self.vote {
            self.vote = v;
            self.finalize_at = None;
        }
        if !self.observer {
            self.received.insert(self.me, v);
        }
    }

    /// A notification from `from`.
    pub fn on_notification(
        &mut self,
        m: &Membership,
        from: Sid,
        n: &Notification,
        now: i64,
    ) -> Vec<ElectionOutput> {
        let mut out = Vec::new();
        if !m.is_voter(from) {
            // Observers never count; one that is looking learns what we think.
            if n.state == PeerState::Looking {
                out.push(ElectionOutput::Send(from, self.notification()));
            }
            return out;
        }
        match n.state {
            PeerState::Looking => {
                if n.round > self.round {
                    self.round = n.round;
                    self.received.clear();
                    let best = if n.vote.beats(&self.own) {
                        n.vote
                    } else {
                        self.own
                    };
                    self.finalize_at = None;
                    self.adopt(best);
                    out.extend(self.broadcast(m));
                } else if n.round < self.round {
                    // Help a peer that is behind catch up.
                    out.push(ElectionOutput::Send(from, self.notification()));
                    return out;
                } else if !self.observer && n.vote.beats(&self.vote) {
                    self.adopt(n.vote);
                    out.extend(self.broadcast(m));
                } else if !self.observer && self.vote.beats(&n.vote) {
                    // The peer proposes a worse leader: it may have missed our notification
                    // (sent while it was still following): answer it now rather than at the
                    // next re-broadcast.
                    out.push(ElectionOutput::Send(from, self.notification()));
                } else if self.observer && n.vote.beats(&self.vote) {
                    self.vote = n.vote;
                }
                self.received.insert(from, n.vote);
                if self.observer {
                    return out;
                }
                let agreeing = self
                    .received
                    .iter()
                    .filter(|(_, v)| **v == self.vote)
                    .map(|(id, _)| id);
                if m.is_quorum(agreeing) && self.finalize_at.is_none() {
                    self.finalize_at = Some(now + FINALIZE_WAIT_MS);
                }
            }
            PeerState::Following | PeerState::Leading | PeerState::Observing => {
                // An established leader, reported by a voter.
                self.out_of_election.insert(from, n.clone());
                let leader = n.vote.leader;
                let followers = self
                    .out_of_election
                    .iter()
                    .filter(|(_, x)| x.vote.leader == leader && x.vote.epoch == n.vote.epoch)
                    .map(|(id, _)| id)
                    .chain(std::iter::once(&self.me).filter(|_| !self.observer))
                    .collect::<Vec<_>>();
                let leader_confirms = leader == self.me
                    || self
                        .out_of_election
                        .get(&leader)
                        .is_some_and(|x| x.state == PeerState::Leading);
                // (An observer does not count itself: a quorum of voters must name the leader.)
                if m.is_quorum(followers.iter().copied()) && leader_confirms && m.is_voter(leader) {
                    self.vote = n.vote;
                    out.push(ElectionOutput::Decided(n.vote));
                }
            }
        }
        out
    }

    /// Time passes: decide after the finalize wait, or re-broadcast.
    pub fn on_tick(&mut self, m: &Membership, now: i64) -> Vec<ElectionOutput> {
        if let Some(at) = self.finalize_at {
            if now >= at {
                self.finalize_at = None;
                return vec![ElectionOutput::Decided(self.vote)];
            }
        }
        if now >= self.next_broadcast_at {
            self.backoff_ms = (self.backoff_ms * 2).min(REBROADCAST_MAX_MS);
            self.next_broadcast_at = now + self.backoff_ms;
            return self.broadcast(m);
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(servers: &[(Sid, Zxid, u64)]) -> Vec<(Sid, Vote)> {
        let voters: Vec<Sid> = servers.iter().map(|s| s.0).collect();
        let mut es: BTreeMap<Sid, (Membership, Election)> = BTreeMap::new();
        let mut queue: Vec<(Sid, Sid, Notification)> = Vec::new();
        for (id, zxid, epoch) in servers {
            let m = Membership::new(*id, &voters, &[]);
            let (e, out) = Election::start(&m, 1, *zxid, *epoch, 0);
            for o in out {
                if let ElectionOutput::Send(to, n) = o {
                    queue.push((*id, to, n));
                }
            }
            es.insert(*id, (m, e));
        }
        let mut decided = BTreeMap::new();
        let mut now = 0;
        for _ in 0..10_000 {
            if decided.len() == servers.len() {
                break;
            }
            let outs: Vec<(Sid, ElectionOutput)> = if let Some((from, to, n)) = queue.pop() {
                let (m, e) = es.get_mut(&to).unwrap();
                e.on_notification(m, from, &n, now)
                    .into_iter()
                    .map(|o| (to, o))
                    .collect()
            } else {
                now += 50;
                es.iter_mut()
                    .flat_map(|(id, (m, e))| e.on_tick(m, now).into_iter().map(move |o| (*id, o)))
                    .collect()
            };
            for (id, o) in outs {
                match o {
                    ElectionOutput::Send(to, n) => queue.insert(0, (id, to, n)),
                    ElectionOutput::Decided(v) => {
                        decided.insert(id, v);
                    }
                }
            }
        }
        decided.into_iter().collect()
    }

    #[test]
    fn the_most_recent_history_wins_then_the_highest_id() {
        let d = run(&[(1, 10, 1), (2, 12, 1), (3, 11, 1)]);
        assert!(d.iter().all(|(_, v)| v.leader == 2), "{d:?}");
        let d = run(&[(1, 10, 1), (2, 10, 1), (3, 10, 1)]);
        assert!(d.iter().all(|(_, v)| v.leader == 3), "{d:?}");
        let d = run(&[(1, 50, 1), (2, 10, 2), (3, 10, 2)]);
        assert!(d.iter().all(|(_, v)| v.leader == 3), "epoch first: {d:?}");
    }

    #[test]
    fn votes_order() {
        let a = Vote {
            leader: 1,
            zxid: 5,
            epoch: 2,
        };
        let b = Vote {
            leader: 9,
            zxid: 9,
            epoch: 1,
        };
        assert!(a.beats(&b));
        assert!(Vote { leader: 2, ..a }.beats(&a));
    }
}
