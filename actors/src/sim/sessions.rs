//! Each simulated server's live sessions, kept as a node keeps them: a
//! [`SessionRegistry`](crate::session::SessionRegistry) filled from the tree at start and by
//! the createSession / closeSession txns it applies, touched by its clients' requests and pings
//! and by the touches the leader reports, and the tracker's expiry check
//! ([`crate::session::tracker::expire_due`]) run on the server's own clock, which proposes the
//! expiries through the pipeline. Pings carry the touches as the quorum actor fills them in.

use super::Sim;
use crate::pipeline::{Input, Output};
use crate::quorum::msg::{PeerMsg, Sid};
use crate::session::tracker::expire_due;
use crate::txn::{SessionId, Txn, TxnOp};

impl Sim {
    /// The registry follows the tree (start, truncation, snapshot install): sessions the tree
    /// no longer has go, the ones it has come in with a full timeout from now.
    pub(crate) fn sessions_follow_tree(&mut self, id: Sid) {
        let now = self.clock(id).mono_ms;
        let s = self.servers.get_mut(&id).expect("server");
        for live in s.sessions.all() {
            if !s.tree.sessions().contains_key(&live.id) {
                s.sessions.remove(live.id);
            }
        }
        for (sid, rec) in s.tree.sessions() {
            if s.sessions.get(*sid).is_none() {
                s.sessions
                    .insert(*sid, rec.timeout_ms as i64, rec.password.clone(), now);
            }
        }
    }

    /// A txn applied on `id`: its session table changes as the store's does.
    pub(crate) fn sessions_applied(&mut self, id: Sid, txn: &Txn) {
        let now = self.clock(id).mono_ms;
        let s = self.servers.get_mut(&id).expect("server");
        match &txn.op {
            TxnOp::CreateSession {
                timeout_ms,
                password,
            } => {
                s.sessions
                    .insert(txn.session_id, *timeout_ms as i64, password.clone(), now);
            }
            TxnOp::CloseSession { .. } => {
                s.sessions.remove(txn.session_id);
                if self.clients_on {
                    self.check_expiry(txn);
                }
            }
            _ => {}
        }
    }

    /// The session outputs of `id`'s pipeline, performed as the quorum actor does.
    pub(crate) fn session_output(&mut self, id: Sid, o: Output) {
        if !self.clients_on {
            return;
        }
        let now = self.clock(id).mono_ms;
        let tick = self.timing.tick_ms;
        let s = &self.servers[&id];
        match o {
            Output::TouchSessions(ids) => {
                for i in ids {
                    if let Some(live) = s.sessions.get(i) {
                        live.touch(now, tick);
                    }
                }
            }
            Output::SessionsAlive(ids) => {
                for i in ids {
                    if let Some(live) = s.sessions.get(i) {
                        live.refresh(now, tick);
                    }
                }
            }
            Output::Expiring(true) => s.sessions.start_expiring(now),
            Output::Expiring(false) => s.sessions.stop_expiring(),
            Output::NotExpired(i) => {
                if let Some(live) = s.sessions.get(i) {
                    live.unmark_closing();
                    s.sessions.requeue(i);
                }
            }
            _ => {}
        }
    }

    /// Pings and ping replies carry the sessions touched here since the last round (one list
    /// for every ping of a round), as the quorum actor fills them in.
    pub(crate) fn with_touches(
        &mut self,
        id: Sid,
        msg: PeerMsg,
        touched_this_round: &mut Option<Vec<SessionId>>,
    ) -> PeerMsg {
        if !self.clients_on {
            return msg;
        }
        let s = &self.servers[&id];
        match msg {
            PeerMsg::Ping { round, .. } => PeerMsg::Ping {
                touched: touched_this_round
                    .get_or_insert_with(|| s.sessions.take_touched())
                    .clone(),
                round,
            },
            PeerMsg::PingReply { round, .. } => PeerMsg::PingReply {
                touched: s.sessions.take_touched(),
                round,
            },
            m => m,
        }
    }

    /// The session tracker of `id` looks at its queue (on the server's clock); expired sessions
    /// go to the pipeline.
    pub(crate) fn track_sessions(&mut self, id: Sid) {
        if !self.clients_on || self.servers[&id].pipeline.is_none() {
            return;
        }
        let now = self.clock(id).mono_ms;
        let s = self.servers.get_mut(&id).expect("server");
        let expired = expire_due(&s.sessions, &mut s.expiry, now);
        if s.resumed_at
            .is_some_and(|at| self.now - at <= self.timing.tick_ms)
        {
            *self.wake_expiries.entry(id).or_default() += expired.len() as u64;
        }
        for session in expired {
            self.step_pipeline(id, Input::Expire(session));
        }
    }
}
