//! Sync ordering: a sync is answered only once every write logged before it is applied here,
//! and, on a leader, once a quorum confirmed it still leads after the sync arrived.
//!
//! On the leader, a sync waits for the last zxid logged when it arrived, whether a local client
//! or a learner's client sent it, and for the read round the quorum core gave it (confirmed by
//! a quorum of voters after the sync arrived: `quorum/leader_reads.rs`). A learner forwards its
//! clients' syncs to the leader; the leader's `SyncDone` names the zxid to wait for, and the
//! sync is answered once this learner applied up to it. Released syncs go out in arrival
//! order, right behind the txns applied before them.
//!
//! Invariant: a sync is released only when `last_applied >= its zxid` and its read round is
//! confirmed, and in the order the syncs were queued (their zxids and rounds never decrease
//! along the queue).

use std::collections::{BTreeMap, VecDeque};

use super::io::Token;
use crate::quorum::msg::Sid;
use crate::txn::{SessionId, Zxid};

/// Who a released sync answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncTarget {
    /// A client of this server.
    Local {
        /// The path to echo.
        path: String,
        /// Its request.
        token: Token,
    },
    /// A learner's client (leader only): the learner is told `SyncDone`.
    Learner {
        /// The learner.
        peer: Sid,
        /// Its client's session.
        session_id: SessionId,
        /// Its client's xid.
        xid: i32,
    },
}

/// The syncs of one server.
#[derive(Debug, Default)]
pub struct Syncs {
    /// The last zxid applied here.
    last_applied: Zxid,
    /// The last read round confirmed (leader; round 0 needs no confirmation).
    confirmed: u64,
    /// Syncs waiting for their predecessors and their read round (leader).
    queued: VecDeque<(Zxid, u64, SyncTarget)>,
    /// Syncs of local clients forwarded to the leader (learner), by (session, xid).
    forwarded: BTreeMap<(SessionId, i32), (String, Token)>,
    /// Forwarded syncs the leader answered: released once applied up to their zxid.
    answered: VecDeque<(Zxid, String, Token)>,
}

impl Syncs {
    /// Syncs of a server that has applied up to `last_applied`.
    pub fn new(last_applied: Zxid) -> Syncs {
        Syncs {
            last_applied,
            ..Syncs::default()
        }
    }

    /// The last zxid applied here.
    pub fn last_applied(&self) -> Zxid {
        self.last_applied
    }

    /// The tree was applied (or rebuilt) up to `zxid`.
    pub fn applied_to(&mut self, zxid: Zxid) {
        self.last_applied = zxid;
    }

    /// Leader: a sync that waits for everything logged up to `zxid`, and for read round
    /// `round` to be confirmed.
    pub fn queue(&mut self, zxid: Zxid, round: u64, to: SyncTarget) {
        self.queued.push_back((zxid, round, to));
    }

    /// Leader: a quorum confirmed read round `round` and every one before it.
    pub fn confirmed(&mut self, round: u64) {
        self.confirmed = self.confirmed.max(round);
    }

    /// Learner: a local client's sync was sent to the leader.
    pub fn forwarded(&mut self, session_id: SessionId, xid: i32, path: String, token: Token) {
        self.forwarded.insert((session_id, xid), (path, token));
    }

    /// Learner: the leader answered a forwarded sync: it waits for `zxid` to be applied here.
    /// False if no such sync was forwarded from here.
    pub fn leader_answered(&mut self, session_id: SessionId, xid: i32, zxid: Zxid) -> bool {
        match self.forwarded.remove(&(session_id, xid)) {
            Some((path, token)) => {
                self.answered.push_back((zxid, path, token));
                true
            }
            None => false,
        }
    }

    /// The log was cut back to `last_applied` (a standalone server's failed writes will never
    /// be applied): the syncs that waited for them wait only for what is applied.
    pub fn cut_back(&mut self) {
        let to = self.last_applied;
        for (z, _, _) in self.queued.iter_mut() {
            *z = (*z).min(to);
        }
    }

    /// The syncs released now that the tree is applied up to `last_applied`, in order: the
    /// leader's queue, then the learner's answered syncs.
    pub fn release(&mut self) -> Vec<SyncTarget> {
        let mut out = Vec::new();
        while self
            .queued
            .front()
            .is_some_and(|(z, r, _)| *z <= self.last_applied && *r <= self.confirmed)
        {
            let (_, _, to) = self.queued.pop_front().expect("front");
            out.push(to);
        }
        while self
            .answered
            .front()
            .is_some_and(|(z, _, _)| *z <= self.last_applied)
        {
            let (_, path, token) = self.answered.pop_front().expect("front");
            out.push(SyncTarget::Local { path, token });
        }
        out
    }

    /// Forgets every sync (the server left its role); returns the local clients' tokens.
    pub fn drop_all(&mut self) -> Vec<Token> {
        let mut tokens: Vec<Token> = std::mem::take(&mut self.queued)
            .into_iter()
            .filter_map(|(_, _, to)| match to {
                SyncTarget::Local { token, .. } => Some(token),
                SyncTarget::Learner { .. } => None,
            })
            .collect();
        tokens.extend(
            std::mem::take(&mut self.forwarded)
                .into_values()
                .map(|(_, t)| t),
        );
        tokens.extend(
            std::mem::take(&mut self.answered)
                .into_iter()
                .map(|(_, _, t)| t),
        );
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(token: Token) -> SyncTarget {
        SyncTarget::Local {
            path: "/".into(),
            token,
        }
    }

    #[test]
    fn a_sync_waits_for_the_writes_logged_before_it() {
        let mut s = Syncs::new(4);
        s.queue(6, 0, local(1));
        s.queue(6, 0, local(2));
        s.queue(7, 0, local(3));
        assert!(s.release().is_empty());
        s.applied_to(6);
        assert_eq!(s.release(), vec![local(1), local(2)]);
        s.applied_to(9);
        assert_eq!(s.release(), vec![local(3)]);
    }

    #[test]
    fn a_learner_answers_a_forwarded_sync_once_applied_to_the_leaders_zxid() {
        let mut s = Syncs::new(10);
        s.forwarded(5, 1, "/a".into(), 42);
        assert!(!s.leader_answered(5, 2, 12), "not forwarded from here");
        assert!(s.leader_answered(5, 1, 12));
        assert!(s.release().is_empty());
        s.applied_to(12);
        assert_eq!(
            s.release(),
            vec![SyncTarget::Local {
                path: "/a".into(),
                token: 42
            }]
        );
    }

    #[test]
    fn a_sync_waits_for_its_read_round_too() {
        let mut s = Syncs::new(4);
        s.queue(4, 1, local(1));
        s.queue(4, 2, local(2));
        s.queue(6, 2, local(3));
        assert!(s.release().is_empty(), "round 1 not confirmed");
        s.confirmed(1);
        assert_eq!(s.release(), vec![local(1)]);
        s.confirmed(2);
        assert_eq!(s.release(), vec![local(2)], "the third waits for its write");
        s.confirmed(1);
        s.applied_to(6);
        assert_eq!(
            s.release(),
            vec![local(3)],
            "a late echo confirms nothing less"
        );
    }

    #[test]
    fn a_cut_back_log_releases_the_syncs_behind_it() {
        let mut s = Syncs::new(3);
        s.queue(5, 0, local(1));
        s.cut_back();
        assert_eq!(s.release(), vec![local(1)]);
    }

    #[test]
    fn leaving_a_role_drops_every_local_sync() {
        let mut s = Syncs::new(0);
        s.queue(3, 1, local(1));
        s.queue(
            3,
            1,
            SyncTarget::Learner {
                peer: 2,
                session_id: 9,
                xid: 1,
            },
        );
        s.forwarded(5, 1, "/".into(), 2);
        s.forwarded(5, 2, "/".into(), 3);
        assert!(s.leader_answered(5, 2, 3));
        let mut dropped = s.drop_all();
        dropped.sort();
        assert_eq!(dropped, vec![1, 2, 3]);
        s.applied_to(100);
        assert!(s.release().is_empty());
    }
}
