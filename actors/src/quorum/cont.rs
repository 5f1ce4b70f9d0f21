//! What a server does when a durable action completes (its continuations), and how the
//! continuations of one group commit are merged.
//!
//! The log actor completes queued actions in batches (one fsync for many appends). Three kinds of
//! continuation are cumulative, so a run of them says no more than its last one:
//! * `SelfAck(z)`: the leader holds every proposal up to `z` (appends complete in order);
//! * `Logged(z)`: a learner holds every txn up to `z`;
//! * `Send(leader, Ack { z })` of a proposal (not NEWLEADER's ACK, whose zxid has counter 0 and
//!   which the leader reads as "the sync is durable"): the leader counts ACKs cumulatively.
//!
//! [`merge_cumulative`] keeps, of each run, the highest; a run ends at any other continuation,
//! before which what it held is released, in the order `SelfAck`, `Logged`, `Ack` (a learner's
//! `Logged(z)` before its `Ack(z)`, as it queued them). Nothing is reordered across another
//! continuation, so a merged batch does what the same continuations one by one would do, only
//! with fewer commits, applies and ACK messages.

use super::msg::{counter_of, PeerMsg, Sid};
use crate::txn::Zxid;

/// What happens when a durable action completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cont {
    /// Send a message.
    Send(Sid, PeerMsg),
    /// Leader: my own ACK of a proposal.
    SelfAck(Zxid),
    /// Leader: acceptedEpoch is persisted; tell the learners.
    LeaderEpochSaved,
    /// Leader: currentEpoch is persisted; synchronise the learners.
    LeaderCurrentEpochSaved,
    /// Learner: the txns up to here are durable.
    Logged(Zxid),
    /// Learner: truncation / snapshot install done; durable and applied up to here.
    Reset(Zxid),
}

/// The cumulative continuations of the current run.
#[derive(Debug, Default)]
struct Run {
    self_ack: Option<Zxid>,
    logged: Option<Zxid>,
    ack: Option<(Sid, Zxid)>,
}

impl Run {
    /// Takes `c` into the run, or gives it back if it is not cumulative (or is an ACK to
    /// another peer than the run's).
    fn absorb(&mut self, c: Cont) -> Option<Cont> {
        match c {
            Cont::SelfAck(z) => self.self_ack = Some(self.self_ack.map_or(z, |a| a.max(z))),
            Cont::Logged(z) => self.logged = Some(self.logged.map_or(z, |a| a.max(z))),
            Cont::Send(to, PeerMsg::Ack { zxid })
                if counter_of(zxid) != 0 && self.ack.is_none_or(|(t, _)| t == to) =>
            {
                let z = self.ack.map_or(zxid, |(_, a)| a.max(zxid));
                self.ack = Some((to, z));
            }
            other => return Some(other),
        }
        None
    }

    fn release(&mut self, out: &mut Vec<Cont>) {
        out.extend(self.self_ack.take().map(Cont::SelfAck));
        out.extend(self.logged.take().map(Cont::Logged));
        out.extend(
            self.ack
                .take()
                .map(|(to, zxid)| Cont::Send(to, PeerMsg::Ack { zxid })),
        );
    }
}

/// The continuations of actions that completed together, in order, with each run of
/// cumulative ones reduced to its highest (see the module doc).
pub fn merge_cumulative(conts: impl IntoIterator<Item = Cont>) -> Vec<Cont> {
    let mut out = Vec::new();
    let mut run = Run::default();
    for c in conts {
        if let Some(other) = run.absorb(c) {
            run.release(&mut out);
            // An ACK to another peer starts a run of its own.
            if let Some(other) = run.absorb(other) {
                out.push(other);
            }
        }
    }
    run.release(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::msg::make_zxid;

    fn ack(to: Sid, zxid: Zxid) -> Cont {
        Cont::Send(to, PeerMsg::Ack { zxid })
    }

    #[test]
    fn a_group_commit_of_proposals_gives_one_logged_and_one_ack_of_the_last() {
        let conts = (1..=5).flat_map(|c| [Cont::Logged(make_zxid(2, c)), ack(1, make_zxid(2, c))]);
        assert_eq!(
            merge_cumulative(conts),
            vec![Cont::Logged(make_zxid(2, 5)), ack(1, make_zxid(2, 5))]
        );
        let self_acks = (1..=4).map(|c| Cont::SelfAck(make_zxid(3, c)));
        assert_eq!(
            merge_cumulative(self_acks),
            vec![Cont::SelfAck(make_zxid(3, 4))]
        );
    }

    #[test]
    fn newleaders_ack_and_other_continuations_end_a_run_and_keep_their_place() {
        let head = vec![Cont::Logged(make_zxid(1, 7)), ack(1, make_zxid(2, 0))];
        let run = (1..=2).flat_map(|c| [Cont::Logged(make_zxid(2, c)), ack(1, make_zxid(2, c))]);
        // None of these is merged with its neighbours.
        let tail = vec![
            Cont::Send(1, PeerMsg::SnapAck { seq: 3 }),
            Cont::Reset(make_zxid(2, 2)),
            Cont::SelfAck(make_zxid(2, 3)),
            Cont::LeaderCurrentEpochSaved,
            Cont::SelfAck(make_zxid(2, 4)),
        ];
        let merged_run = vec![Cont::Logged(make_zxid(2, 2)), ack(1, make_zxid(2, 2))];
        let conts: Vec<Cont> = head
            .iter()
            .cloned()
            .chain(run)
            .chain(tail.iter().cloned())
            .collect();
        let expected: Vec<Cont> = [head, merged_run, tail].concat();
        assert_eq!(merge_cumulative(conts), expected);
    }

    #[test]
    fn acks_to_different_peers_are_not_merged_into_one() {
        let conts = vec![
            ack(1, make_zxid(2, 1)),
            ack(2, make_zxid(2, 2)),
            ack(2, make_zxid(2, 3)),
        ];
        assert_eq!(
            merge_cumulative(conts),
            vec![ack(1, make_zxid(2, 1)), ack(2, make_zxid(2, 3))]
        );
    }
}
