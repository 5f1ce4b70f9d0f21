//! The leader's read index (part of [`super::Leader`]): a sync is answered from the leader's
//! tree only once a quorum of voters confirmed, after the sync reached the leader, that they
//! still follow it (docs/architecture.md, decision 23; Raft's read index).
//!
//! A sync waits for a read round: the first one the leader starts after the sync arrived.
//! Starting round r sends every learner a ping carrying r (every later ping carries the last
//! round started too); a follower echoes the round of each ping in its reply. Round r is
//! confirmed once the voters that echoed r or later, synced (NEWLEADER acknowledged) and the
//! leader itself, are a quorum by the rule the leader uses for ACKs (of both configurations
//! while a reconfig is pending); the shell is told ([`Output::ReadConfirmed`]) and releases
//! the syncs waiting for it.
//!
//! Invariants:
//! * rounds are numbered by `Shared::read_round`, which only grows in a server's life: a round
//!   confirmed in an earlier term is below every round a later term starts, so it releases
//!   none of that term's syncs;
//! * at most one round is in flight: syncs that arrive meanwhile wait for the next one,
//!   started when it is confirmed (one round trip per batch of syncs, one more at most);
//! * an echo of round r or later proves its sender followed this leader when a ping sent after
//!   round r started reached it: it had accepted no newer epoch then (a follower that had
//!   registers again, and a leader that sees a newer accepted epoch steps down), so no newer
//!   leader had committed anything with it before the syncs of round r arrived;
//! * a round is never waited on forever: every ping carries the last round started, so a
//!   quorum that keeps following confirms it within a ping interval and a round trip; a
//!   follower whose pings stop arriving gives up on the leader within syncLimit and then sends
//!   it only election notifications, which count as no hearing, so a leader whose pings no
//!   longer reach a quorum steps down at most syncLimit after it last heard them (the syncs
//!   waiting are then dropped as on any step-down);
//! * observers never count.

use super::Leader;
use crate::quorum::core::{Output, Shared};
use crate::quorum::msg::{PeerMsg, Sid};

impl Leader {
    /// A sync reached this leader: the read round it waits for, started now if none is in
    /// flight (else it starts when the one in flight is confirmed).
    pub(in crate::quorum) fn read_round_for_sync(
        &mut self,
        s: &mut Shared,
        out: &mut Vec<Output>,
    ) -> u64 {
        if s.read_round == self.read_confirmed {
            self.start_read_round(s, out);
            s.read_round
        } else {
            self.read_wanted = true;
            s.read_round + 1
        }
    }

    fn start_read_round(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        s.read_round += 1;
        for id in self.learners.keys() {
            out.push(Output::Send(
                *id,
                PeerMsg::Ping {
                    touched: Vec::new(),
                    round: s.read_round,
                },
            ));
        }
        // A leader that is a quorum alone confirms at once.
        self.try_confirm_read(s, out);
    }

    /// `from` echoed read round `round` in its ping reply.
    pub(super) fn on_read_echo(
        &mut self,
        s: &mut Shared,
        from: Sid,
        round: u64,
        out: &mut Vec<Output>,
    ) {
        if let Some(x) = self.learners.get_mut(&from) {
            x.echoed = x.echoed.max(round);
        }
        self.try_confirm_read(s, out);
    }

    fn try_confirm_read(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        let r = s.read_round;
        if r == self.read_confirmed {
            return;
        }
        let echoed = self.synced_voters_and_me(s, |x| x.echoed >= r);
        let next_agrees = self
            .pending_reconfig
            .as_ref()
            .is_none_or(|(_, next)| next.is_quorum(&echoed));
        if !s.cfg.membership.is_quorum(&echoed) || !next_agrees {
            return;
        }
        self.read_confirmed = r;
        out.push(Output::ReadConfirmed(r));
        if std::mem::take(&mut self.read_wanted) {
            self.start_read_round(s, out);
        }
    }
}
