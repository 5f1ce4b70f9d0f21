//! The peer messages the quorum actor sends in slices. One step can send a peer a burst: the
//! tail a learner gets after its snapshot is every txn since the snapshot's zxid, hundreds of
//! thousands after a long catch-up (~500k at 20k writes/s over 25 s), and encoding them all in
//! one turn of the node's event loop stalled the clients' requests, which wait on that loop
//! (docs/architecture.md, decision 18), for over a second. At most [`SLICE`] messages go to a
//! peer per turn; the rest wait here and go out a slice per turn, the loop serving what arrived
//! between two slices. Pure: the quorum actor sends what it is handed and schedules the turns.
//!
//! Invariants: the messages to one peer leave in the order they were given (a message to a peer
//! with messages waiting waits behind them); messages to other peers are not held by them; a
//! peer's waiting messages are dropped when its link is reset (they belonged to the exchange of
//! the old connection, which Zab starts over, as a dropped link drops its queue).

use std::collections::{HashMap, VecDeque};

use crate::quorum::msg::{PeerMsg, Sid};

/// Messages sent to one peer per turn, at most.
pub const SLICE: usize = 1024;

/// The messages waiting for a later turn, by peer.
#[derive(Debug, Default)]
pub struct Backlog {
    waiting: HashMap<Sid, VecDeque<PeerMsg>>,
    sent: HashMap<Sid, usize>,
}

impl Backlog {
    /// `msg` for `to`: returned to be sent now, or kept for a later slice.
    pub fn admit(&mut self, to: Sid, msg: PeerMsg) -> Option<PeerMsg> {
        if let Some(q) = self.waiting.get_mut(&to) {
            q.push_back(msg);
            return None;
        }
        let sent = self.sent.entry(to).or_insert(0);
        if *sent < SLICE {
            *sent += 1;
            return Some(msg);
        }
        self.waiting.entry(to).or_default().push_back(msg);
        None
    }

    /// The turn ends: each peer may be sent a whole slice again. True if messages wait (a turn
    /// must be scheduled for them).
    pub fn end_turn(&mut self) -> bool {
        self.sent.clear();
        !self.waiting.is_empty()
    }

    /// The next slice: up to [`SLICE`] waiting messages of each peer, in order; they count as
    /// this turn's.
    pub fn next_slice(&mut self) -> Vec<(Sid, PeerMsg)> {
        let mut out = Vec::new();
        for (&to, q) in self.waiting.iter_mut() {
            let n = q.len().min(SLICE);
            out.extend(q.drain(..n).map(|m| (to, m)));
            self.sent.insert(to, n);
        }
        self.waiting.retain(|_, q| !q.is_empty());
        out
    }

    /// `peer`'s link was reset: what waits for it is dropped.
    pub fn reset(&mut self, peer: Sid) {
        self.waiting.remove(&peer);
        self.sent.remove(&peer);
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(z: i64) -> PeerMsg {
        PeerMsg::Commit { zxid: z }
    }

    fn zxid(m: &PeerMsg) -> i64 {
        match m {
            PeerMsg::Commit { zxid } => *zxid,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_burst_goes_out_a_slice_per_turn_all_of_it_in_order() {
        let mut b = Backlog::default();
        let burst = 2 * SLICE as i64 + 10;
        let mut sent: Vec<i64> = (0..burst)
            .filter_map(|z| b.admit(1, commit(z)))
            .map(|m| zxid(&m))
            .collect();
        assert_eq!(
            sent.len(),
            SLICE,
            "one slice in the turn that made the burst"
        );
        // Another peer is not held; a later message to peer 1 waits behind its burst.
        assert!(b.admit(2, commit(-1)).is_some());
        assert!(b.admit(1, commit(burst)).is_none());
        assert_eq!(b.len(), SLICE + 11);
        let mut turns = 0;
        while b.end_turn() {
            turns += 1;
            let slice = b.next_slice();
            assert!(!slice.is_empty() && slice.len() <= SLICE);
            assert!(slice.iter().all(|(to, _)| *to == 1));
            sent.extend(slice.iter().map(|(_, m)| zxid(m)));
            // Admitted in a turn that sent a slice: behind the rest, or in the next slice.
            if !b.is_empty() {
                assert!(b.admit(1, commit(1_000_000 + turns)).is_none());
            }
        }
        assert_eq!(turns, 2);
        let mut want: Vec<i64> = (0..=burst).collect();
        want.push(1_000_001);
        assert_eq!(sent, want, "all of it, in order");
        // After the last slice's turn ended, a message goes out at once again.
        assert!(b.admit(1, commit(0)).is_some());
    }

    #[test]
    fn a_reset_link_drops_what_waits_for_it_only() {
        let mut b = Backlog::default();
        for z in 0..(SLICE as i64 + 5) {
            b.admit(1, commit(z));
            b.admit(2, commit(z));
        }
        b.reset(1);
        assert_eq!(b.len(), 5);
        assert!(b.end_turn());
        let slice = b.next_slice();
        assert!(slice.iter().all(|(to, _)| *to == 2));
        assert!(!b.end_turn());
        assert!(b.admit(1, commit(0)).is_some(), "peer 1 starts afresh");
    }
}
