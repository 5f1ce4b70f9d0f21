//! Hooks of scripted scenarios: they fire at precise points, when a server sends a given
//! message ([`MsgHook`]: drop it, hold the link, crash the sender or the receiver before or
//! right after it, start client requests) and when a durable action completes
//! ([`DurableHook`]: crash before it is on disk, or once it is on disk but before its
//! continuation runs, or hold it).

use super::{pair, short, short_msg, ClientOp, Event, Sim};
use crate::pipeline::Output;
use crate::quorum::core::DurableAction;
use crate::quorum::msg::{PeerMsg, Sid};

/// What a [`MsgHook`] does to the message it matches.
pub(crate) enum MsgAction {
    /// The message is lost (the link stays up).
    Drop,
    /// This message and every later one on the same directed link wait until
    /// [`Sim::release`]; a link break meanwhile loses them.
    Hold,
    /// The sender is killed instead of sending it (nothing it does afterwards happens).
    CrashSenderBefore,
    /// The message is sent and delivered; the sender is killed at once after sending (it does
    /// nothing more) and is dead when the message arrives.
    CrashSenderAfter,
    /// The receiver is killed before it reads the message.
    CrashReceiverBefore,
    /// The receiver handles the message and is killed right after (before any durable action
    /// it started completes).
    CrashReceiverAfter,
    /// `n` client writes are submitted right after this step.
    Writes(usize),
    /// These client requests are submitted right after this step.
    Ops(Vec<ClientOp>),
}

/// A hook on messages sent: from/to filters, a predicate, an action, how many times.
pub(crate) struct MsgHook {
    /// Only messages from this server.
    pub from: Option<Sid>,
    /// Only messages to this server.
    pub to: Option<Sid>,
    /// Which messages.
    pub pred: Box<dyn FnMut(&PeerMsg) -> bool>,
    /// What happens.
    pub action: MsgAction,
    /// Fires at most this many more times.
    pub times: usize,
    /// Times it fired.
    pub fired: usize,
}

/// When a [`DurableHook`] looks at a durable action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurableStage {
    /// About to be written: nothing of it is on disk yet.
    Completing,
    /// On disk; its continuation (the ACK, the next step) has not run.
    Persisted,
}

/// What a [`DurableHook`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurableHookAction {
    /// Kill the server.
    Crash,
    /// Keep the action (and every one after it) from completing until
    /// [`Sim::release_durable`] (only at [`DurableStage::Completing`]).
    Hold,
    /// The disk fails it (an fsync error, a full disk; only at [`DurableStage::Completing`]):
    /// nothing of it is kept, every action queued after it is dropped, and the server is told
    /// (`Input::DurableFailed`), as the log actor does.
    Fail,
    /// Only for a truncation, at [`DurableStage::Completing`]: the disk lost the last record at
    /// or before the cut (a lying disk, a bit flip), so the cut rebuilds one txn short. As the
    /// log actor does, the rebuilt state is reported (`Input::Reloaded`), then every action
    /// queued after the cut fails (`Input::DurableFailed`).
    LoseRecordBeforeCut,
}

/// A hook on one server's durable actions.
pub(crate) struct DurableHook {
    /// The server.
    pub server: Sid,
    /// Which actions.
    pub pred: Box<dyn FnMut(&DurableAction) -> bool>,
    /// When.
    pub stage: DurableStage,
    /// What happens.
    pub action: DurableHookAction,
    /// Fires at most this many more times.
    pub times: usize,
    /// Times it fired.
    pub fired: usize,
}

impl Sim {
    /// Adds a message hook; returns its index (for [`Sim::msg_fired`]).
    pub(crate) fn on_msg(
        &mut self,
        from: Option<Sid>,
        to: Option<Sid>,
        pred: impl FnMut(&PeerMsg) -> bool + 'static,
        action: MsgAction,
        times: usize,
    ) -> usize {
        self.msg_hooks.push(MsgHook {
            from,
            to,
            pred: Box::new(pred),
            action,
            times,
            fired: 0,
        });
        self.msg_hooks.len() - 1
    }

    /// Times message hook `i` fired.
    pub(crate) fn msg_fired(&self, i: usize) -> usize {
        self.msg_hooks[i].fired
    }

    /// Adds a durable-action hook on `server`; returns its index (for [`Sim::durable_fired`]).
    pub(crate) fn on_durable(
        &mut self,
        server: Sid,
        stage: DurableStage,
        pred: impl FnMut(&DurableAction) -> bool + 'static,
        action: DurableHookAction,
        times: usize,
    ) -> usize {
        self.durable_hooks.push(DurableHook {
            server,
            pred: Box::new(pred),
            stage,
            action,
            times,
            fired: 0,
        });
        self.durable_hooks.len() - 1
    }

    /// Times durable hook `i` fired.
    pub(crate) fn durable_fired(&self, i: usize) -> usize {
        self.durable_hooks[i].fired
    }

    /// Runs the message hooks on a send; returns whether the message still goes out, and what
    /// to do with it.
    pub(crate) fn msg_hook(&mut self, from: Sid, to: Sid, msg: &PeerMsg) -> Option<usize> {
        for (i, h) in self.msg_hooks.iter_mut().enumerate() {
            if h.times == 0
                || h.from.is_some_and(|f| f != from)
                || h.to.is_some_and(|t| t != to)
                || !(h.pred)(msg)
            {
                continue;
            }
            h.times -= 1;
            h.fired += 1;
            return Some(i);
        }
        None
    }

    /// Sends with the hooks applied (the message as the core output it).
    pub(crate) fn hooked_send(&mut self, from: Sid, to: Sid, msg: PeerMsg) {
        let Some(i) = self.msg_hook(from, to, &msg) else {
            self.send(from, to, msg);
            return;
        };
        let action = std::mem::replace(&mut self.msg_hooks[i].action, MsgAction::Drop);
        if self.trace {
            eprintln!(
                "{:>6} hook #{i} on s{from} -> s{to} {}: {}",
                self.now,
                short_msg(&msg),
                match &action {
                    MsgAction::Drop => "drop".to_string(),
                    MsgAction::Hold => "hold the link".to_string(),
                    MsgAction::CrashSenderBefore => format!("crash s{from} before it is sent"),
                    MsgAction::CrashSenderAfter => format!("crash s{from} once it is sent"),
                    MsgAction::CrashReceiverBefore => format!("crash s{to} before it reads it"),
                    MsgAction::CrashReceiverAfter => format!("crash s{to} once it handled it"),
                    MsgAction::Writes(n) => format!("{n} client writes"),
                    MsgAction::Ops(ops) => format!("client ops {ops:?}"),
                }
            );
        }
        match &action {
            MsgAction::Drop => {}
            MsgAction::Hold => {
                self.hold(from, to);
                self.send(from, to, msg);
            }
            MsgAction::CrashSenderBefore => {
                self.servers.get_mut(&from).expect("server").frozen = true;
                self.schedule(0, Event::Crash(from));
            }
            MsgAction::CrashSenderAfter | MsgAction::CrashReceiverAfter => {
                let victim = if matches!(action, MsgAction::CrashSenderAfter) {
                    from
                } else {
                    to
                };
                let gen = *self.gens.entry(pair(from, to)).or_insert(0);
                let deliverable = self.linked(from, to)
                    && self.servers[&to].pipeline.is_some()
                    && !self.held_links.contains(&(from, to));
                if deliverable {
                    self.schedule_delivery(from, to, gen, msg, false, Some(victim));
                } else {
                    self.schedule(0, Event::Crash(victim));
                }
                if victim == from {
                    self.servers.get_mut(&from).expect("server").frozen = true;
                }
            }
            MsgAction::CrashReceiverBefore => {
                self.servers.get_mut(&to).expect("server").frozen = true;
                self.schedule(0, Event::Crash(to));
            }
            MsgAction::Writes(n) => {
                self.send(from, to, msg);
                for _ in 0..*n {
                    self.schedule(0, Event::ClientWrite);
                }
            }
            MsgAction::Ops(ops) => {
                self.send(from, to, msg);
                for op in ops.clone() {
                    self.schedule(0, Event::ClientOp(op));
                }
            }
        }
        self.msg_hooks[i].action = action;
    }

    /// The first durable hook of `id` at `stage` matching `action`, counted as fired.
    pub(crate) fn durable_hook(
        &mut self,
        id: Sid,
        stage: DurableStage,
        action: &DurableAction,
    ) -> Option<DurableHookAction> {
        for (i, h) in self.durable_hooks.iter_mut().enumerate() {
            if h.times == 0 || h.server != id || h.stage != stage || !(h.pred)(action) {
                continue;
            }
            h.times -= 1;
            h.fired += 1;
            if self.trace {
                eprintln!(
                    "{:>6} durable hook #{i} on s{id} {stage:?} {}: {:?}",
                    self.now,
                    short(&Output::Durably {
                        token: 0,
                        action: action.clone()
                    }),
                    h.action
                );
            }
            return Some(h.action);
        }
        None
    }

    /// Lets the durable actions a hook held on `id` complete.
    pub(crate) fn release_durable(&mut self, id: Sid) {
        for (token, life) in self.held_durable.remove(&id).unwrap_or_default() {
            self.schedule(1, Event::DurableDone { id, token, life });
        }
    }
}
