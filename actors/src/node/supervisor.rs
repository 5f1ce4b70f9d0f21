//! The node supervisor: owns the node's role transitions. The quorum actor reports role and
//! serving changes ([`RoleChanged`], [`ServingChanged`]); the supervisor sets the node's mode,
//! serving and read-only flags, closes client connections when the node stops serving, runs
//! read-only mode, and keeps the role metrics. The decisions are [`super::roles`]'s; this
//! actor performs them on the node's shared state.
//!
//! Restarts (decision 14 in `docs/architecture.md`): a panic aborts the process, and the node
//! recovers from its log; disposable actors (peer links, listeners) restart in place by their
//! own loops; an internal link that breaks stops the node ([`crate::link`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::roles::{Effect, ReadOnlyPolicy, Roles};
use crate::context::{Mode, NodeContext};
use crate::peer::messages::{RoleChanged, ServingChanged};

/// The node supervisor.
pub struct NodeSupervisor {
    node: Arc<NodeContext>,
    roles: Roles,
    tick_every: Duration,
}

impl NodeSupervisor {
    /// The supervisor of `node`, looking at read-only mode every `tick_every`.
    pub fn new(node: Arc<NodeContext>, tick_every: Duration) -> NodeSupervisor {
        let policy = ReadOnlyPolicy::new(
            node.config.features.read_only_mode,
            node.config.node.tick_time_ms as i64,
        );
        NodeSupervisor {
            node,
            roles: Roles::new(policy),
            tick_every,
        }
    }

    fn perform(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Mode(mode) => {
                    *self.node.mode.write() = mode;
                    role_metrics(&self.node, mode);
                }
                Effect::Serving(on) => self.node.set_serving(on),
                Effect::CloseClients => {
                    // Their sessions live on; the clients reconnect to a server that serves.
                    for c in self.node.store.connections() {
                        c.close();
                    }
                }
                Effect::EnterReadOnly => {
                    tracing::info!(
                        "no quorum: entering read-only mode (serving read-only clients)"
                    );
                    *self.node.mode.write() = Mode::ReadOnly;
                    self.node.set_read_only(true);
                    metrics::gauge!("zkr_read_only").set(1.0);
                }
                Effect::LeaveReadOnly => self.leave_read_only(),
                Effect::ExpireLocalSessions => self.expire_local_sessions(),
            }
        }
    }

    /// Closes the read-only clients and drops their local sessions; they reconnect to a
    /// read-write server.
    fn leave_read_only(&self) {
        let node = &self.node;
        // Cleared first: a connection that creates a local session re-checks the flag after
        // inserting it, so every local session is either seen below or dropped by its connection.
        node.set_read_only(false);
        let local = node.local_sessions.all();
        tracing::info!(
            sessions = local.len(),
            "leaving read-only mode: closing read-only clients"
        );
        for s in local {
            node.local_sessions.remove(s.id);
            if let Some(c) = s.connection() {
                c.close();
            }
        }
        node.local_sessions.take_fresh();
        metrics::gauge!("zkr_read_only").set(0.0);
    }

    fn expire_local_sessions(&self) {
        let node = &self.node;
        let now = crate::clock::now_ms();
        node.local_sessions.take_fresh();
        for s in node.local_sessions.all() {
            if s.deadline_ms() <= now {
                tracing::info!(session = %format!("{:#x}", s.id), "read-only session expired");
                node.local_sessions.remove(s.id);
                if let Some(c) = s.connection() {
                    c.close();
                }
            }
        }
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick_every, |act, _| {
            // Read from the tree itself, not from a message: whatever order the role and
            // serving reports arrive in, read-only mode never serves a tree waiting for the
            // tail behind a leader's fuzzy snapshot (`Roles::tick`).
            let waiting = act.node.store.tree().tail_pending();
            let fx = act.roles.tick(crate::clock::now_ms(), waiting);
            act.perform(fx);
        });
    }
}

impl Handler<RoleChanged> for NodeSupervisor {
    type Result = ();
    fn handle(&mut self, m: RoleChanged, _: &mut Context<Self>) {
        let fx = self.roles.role_changed(crate::clock::now_ms(), m.0);
        self.perform(fx);
    }
}

impl Handler<ServingChanged> for NodeSupervisor {
    type Result = ();
    fn handle(&mut self, m: ServingChanged, _: &mut Context<Self>) {
        let fx = self.roles.serving_changed(m.0);
        self.perform(fx);
    }
}

/// The node's role is now `mode`: role gauges, and the election metrics (ZooKeeper's
/// `looking_count` when the node starts electing, `election_time` in ms when an election ends,
/// `zkr_elections_total`).
fn role_metrics(node: &NodeContext, mode: Mode) {
    let Some((prev, lasted)) = node.role_clock.lock().change(mode, Instant::now()) else {
        return;
    };
    metrics::counter!("zkr_role_changes_total").increment(1);
    metrics::gauge!("zkr_role").set(mode.code());
    if mode == Mode::Looking {
        metrics::counter!("looking_count").increment(1);
    } else if prev == Mode::Looking {
        metrics::histogram!("election_time").record(lasted.as_secs_f64() * 1000.0);
        metrics::counter!("zkr_elections_total").increment(1);
    }
}
