//! The proposal pipeline of one server, as a pure core: client requests in; txns proposed,
//! replies released, requests forwarded out. It wraps the server's Zab core
//! ([`crate::quorum::core::PeerCore`]) and is driven the same way by the quorum actor
//! ([`crate::peer`]) and by the deterministic simulator: `step(now, tree, input) -> outputs`.
//!
//! * A leader (or a standalone server) turns a request into a txn: a zxid from the core, then
//!   [`prep`] validates it against the applied tree plus the writes in flight, then the core
//!   proposes it. A session's writes coming through another server than the one its client is
//!   connected to become `SessionMoved` ([`owners`]).
//! * A follower or observer forwards its clients' writes, new sessions and syncs to the leader
//!   and answers each when the txn it caused commits here ([`waiting`]).
//! * The leader takes the requests learners forward to it like its own, with no reply waiting
//!   here; a sync is answered once everything logged before it is applied ([`syncs`]).
//! * Committed txns come out in commit order, each with the request it answers, followed by the
//!   syncs they release; a standalone server whose log fails answers its requests in flight
//!   with an error.
//! * Container and TTL reaping ([`reaper`]) proposes deletions through the same path.
//!
//! No clock, no IO, no actix: time is an input ([`Now`]), the applied tree is read through
//! [`TreeView`], and requests are named by the shell's [`Token`]s (the shell maps them to
//! connections). Every token handed in comes out exactly once (see [`io`]).

pub mod io;
pub mod owners;
pub mod prep;
pub mod reaper;
mod requests;
pub mod syncs;
pub mod waiting;

#[cfg(test)]
mod prep_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;

pub use io::{Applied, Input, Now, Output, PipelineConfig, Token, TreeView};

use crate::quorum::core::{self, PeerCore, PersistedState, RoleView};
use crate::quorum::dynconfig::{self, DynamicConfig};
use crate::quorum::msg::{make_zxid, PeerMsg, Sid};
use crate::txn::{Txn, TxnOp};
use owners::Owners;
use prep::Prep;
use syncs::{SyncTarget, Syncs};
use waiting::Waiting;

/// The pipeline of one server.
pub struct Pipeline {
    core: PeerCore,
    prep: Prep,
    me: Sid,
    standalone: bool,
    dynamic: DynamicConfig,
    reap_budget: usize,
    waiting: Waiting,
    syncs: Syncs,
    owners: Owners,
    serving: bool,
}

impl Pipeline {
    /// A pipeline restarting from `persisted`; its core starts LOOKING (or leading, standalone).
    pub fn new(
        config: PipelineConfig,
        persisted: PersistedState,
        now: Now,
        tree: &impl TreeView,
    ) -> (Pipeline, Vec<Output>) {
        let last_applied = persisted.last_zxid;
        let me = config.core.membership.me;
        let standalone = config.core.standalone;
        let (core, first) = PeerCore::new(config.core, persisted, now.mono_ms);
        let mut p = Pipeline {
            core,
            prep: Prep::new(config.prep),
            me,
            standalone,
            dynamic: config.dynamic,
            reap_budget: config.reap_budget,
            waiting: Waiting::default(),
            syncs: Syncs::new(last_applied),
            owners: Owners::default(),
            serving: false,
        };
        let mut out = Vec::new();
        p.absorb(now, tree, first, &mut out);
        (p, out)
    }

    /// The Zab core (role, zxids, epochs, the leader's view of its learners).
    pub fn core(&self) -> &PeerCore {
        &self.core
    }

    /// The role.
    pub fn role(&self) -> RoleView {
        self.core.role()
    }

    /// Does this server serve clients?
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// The last zxid applied here.
    pub fn last_applied(&self) -> crate::txn::Zxid {
        self.syncs.last_applied()
    }

    /// The configuration this server last committed (or started with).
    pub fn dynamic_config(&self) -> &DynamicConfig {
        &self.dynamic
    }

    /// Requests waiting for their commit here.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// One step.
    pub fn step(&mut self, now: Now, tree: &impl TreeView, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Write {
                token,
                session_id,
                xid,
                ids,
                request,
            } => self.on_write(now, tree, token, session_id, xid, ids, request, &mut out),
            Input::Sync {
                token,
                session_id,
                xid,
                path,
            } => {
                // A leader answers a sync from its own tree: first make sure it still leads.
                let o = self.core.confirm_leading(now.mono_ms);
                self.absorb(now, tree, o, &mut out);
                self.on_sync(now, tree, token, session_id, xid, path, &mut out)
            }
            Input::CreateSession {
                token,
                session_id,
                timeout_ms,
                password,
            } => {
                self.on_create_session(now, tree, token, session_id, timeout_ms, password, &mut out)
            }
            Input::SessionResumed(session) => self.on_session_resumed(session, &mut out),
            Input::Expire(session) => self.on_expire(now, tree, session, &mut out),
            Input::Reap => self.on_reap(now, tree, &mut out),
            Input::ProposeConfig(config) => self.propose_config(now, tree, config, None, &mut out),
            Input::Core(core::Input::Message { from, msg }) if is_forwarded_request(&msg) => {
                self.on_forwarded(now, tree, from, msg, &mut out)
            }
            Input::Core(input) => {
                match &input {
                    core::Input::DurableFailed(_) if self.role() == RoleView::Standalone => {
                        self.fail_in_flight(&mut out)
                    }
                    core::Input::Reloaded { zxid } => self.syncs.applied_to(*zxid),
                    _ => {}
                }
                let o = self.core.step(now.mono_ms, input);
                self.absorb(now, tree, o, &mut out);
            }
        }
        out
    }

    /// Turns the core's outputs into the pipeline's, in order, doing the pipeline's part of
    /// each (what applied txns answer, what a role change resets).
    fn absorb(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        core_out: Vec<core::Output>,
        out: &mut Vec<Output>,
    ) {
        for o in core_out {
            match o {
                core::Output::Send(to, msg) => out.push(Output::Send(to, msg)),
                core::Output::Durably { token, action } => {
                    out.push(Output::Durably { token, action })
                }
                core::Output::Apply(txns) => self.applied(txns, out),
                core::Output::TakeSnapshot { learner } => {
                    out.push(Output::TakeSnapshot { learner })
                }
                core::Output::SendSnapChunk { learner, zxid, seq } => {
                    out.push(Output::SendSnapChunk { learner, zxid, seq })
                }
                core::Output::ContinueSync { learner, sync } => {
                    out.push(Output::ContinueSync { learner, sync })
                }
                core::Output::Role(role) => {
                    // Whatever was in flight belongs to the previous term.
                    self.prep.reset();
                    out.push(Output::Role(role));
                    // Sessions expire only while this server leads and serves.
                    out.push(Output::Expiring(false));
                }
                core::Output::Serving(on) => self.on_serving(now, tree, on, out),
                core::Output::TouchSessions(ids) => out.push(Output::TouchSessions(ids)),
                core::Output::SessionsAlive(ids) => out.push(Output::SessionsAlive(ids)),
                core::Output::ReadConfirmed(round) => {
                    self.syncs.confirmed(round);
                    self.flush_syncs(out);
                }
            }
        }
    }

    /// Committed txns: the requests they answer, configurations they commit, syncs they
    /// release.
    fn applied(&mut self, txns: Vec<Arc<Txn>>, out: &mut Vec<Output>) {
        let mut items = Vec::with_capacity(txns.len());
        for txn in txns {
            self.syncs.applied_to(txn.zxid);
            match &txn.op {
                TxnOp::Reconfig { data, version } => self.reconfigured(data, *version, out),
                TxnOp::CloseSession { .. } => self.owners.closed(txn.session_id),
                _ => {}
            }
            let token = self.waiting.release(&txn);
            items.push(Applied::Txn { txn, token });
        }
        self.release_syncs(&mut items, out);
        if !items.is_empty() {
            out.push(Output::Apply(items));
        }
    }

    /// Syncs whose predecessors are applied go right behind them (a learner's are answered).
    fn release_syncs(&mut self, items: &mut Vec<Applied>, out: &mut Vec<Output>) {
        for s in self.syncs.release() {
            match s {
                SyncTarget::Local { path, token } => items.push(Applied::Sync { path, token }),
                SyncTarget::Learner {
                    peer,
                    session_id,
                    xid,
                } => out.push(Output::Send(
                    peer,
                    PeerMsg::SyncDone {
                        session_id,
                        xid,
                        zxid: self.syncs.last_applied(),
                    },
                )),
            }
        }
    }

    /// Answers the syncs nothing holds back any more (nothing outstanding).
    fn flush_syncs(&mut self, out: &mut Vec<Output>) {
        let mut items = Vec::new();
        self.release_syncs(&mut items, out);
        if !items.is_empty() {
            out.push(Output::Apply(items));
        }
    }

    /// A committed configuration: the links follow it.
    fn reconfigured(&mut self, data: &Bytes, version: crate::txn::Zxid, out: &mut Vec<Output>) {
        let text = String::from_utf8_lossy(data).into_owned();
        let Ok(next) = dynconfig::parse(&text) else {
            tracing::error!(%text, "committed configuration cannot be parsed");
            return;
        };
        let previous = std::mem::replace(&mut self.dynamic, next.clone());
        out.push(Output::Reconfigured {
            previous,
            next,
            text,
            version,
        });
    }

    fn on_serving(&mut self, now: Now, tree: &impl TreeView, on: bool, out: &mut Vec<Output>) {
        self.serving = on;
        out.push(Output::Serving(on));
        if on {
            if self.leading() {
                out.push(Output::Expiring(true));
            }
            if let RoleView::Leading { epoch } = self.role() {
                self.publish_first_config(now, tree, epoch, out);
            }
            return;
        }
        out.push(Output::Expiring(false));
        // Leaving a role: clients reconnect elsewhere, their sessions live on.
        let mut abandoned = self.waiting.drop_all();
        abandoned.extend(self.syncs.drop_all());
        self.owners.clear();
        if !abandoned.is_empty() {
            out.push(Output::Abandon(abandoned));
        }
    }

    /// The first leader of an ensemble writes its configuration to `/zookeeper/config`, with
    /// the version ZooKeeper gives it: the first zxid of that epoch.
    fn publish_first_config(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        epoch: u64,
        out: &mut Vec<Output>,
    ) {
        let empty = tree
            .read()
            .get(crate::quorum::CONFIG_NODE)
            .is_none_or(|n| n.data().is_none_or(<[u8]>::is_empty));
        if !empty || self.dynamic.servers.is_empty() {
            return;
        }
        let config = self.dynamic.clone();
        self.propose_config(now, tree, config, Some(make_zxid(epoch, 0)), out);
    }

    /// After a failed durable action on a standalone node: the requests in flight fail, in
    /// order, with an error, and the syncs behind them are answered after them; reads go on;
    /// the next writes try again.
    fn fail_in_flight(&mut self, out: &mut Vec<Output>) {
        let mut items = self.waiting.fail_all();
        self.syncs.cut_back();
        self.release_syncs(&mut items, out);
        if !items.is_empty() {
            out.push(Output::Apply(items));
        }
        self.prep.reset();
    }
}

/// Is `msg` a request a learner forwards to the leader (or the leader's answer to a sync)?
fn is_forwarded_request(msg: &PeerMsg) -> bool {
    matches!(
        msg,
        PeerMsg::Request { .. }
            | PeerMsg::CreateSession { .. }
            | PeerMsg::Revalidate { .. }
            | PeerMsg::SyncRequest { .. }
            | PeerMsg::SyncDone { .. }
    )
}
