//! The store actor: applies committed txns in zxid order, fires watches, answers the writes of
//! local connections (and the reads queued behind them), and keeps the live session registry in
//! step with the replicated session table.

use std::sync::Arc;

use actix::prelude::*;

use super::fanout::{self, Fanout};
use super::read::{self, Watches};
use super::replies;
use super::Store;
use crate::acl;
use crate::metrics::stats::ServerStats;
use crate::outbox::Outbox;
use crate::proto::codes::perms;
use crate::proto::reply;
use crate::session::SessionRegistry;
use crate::txn::{Txn, TxnOp};

/// One committed item, in commit order.
#[derive(Debug)]
pub enum CommitItem {
    /// A txn; `origin` is the local connection that asked for it, if any.
    Txn {
        /// The txn.
        txn: Arc<Txn>,
        /// Who gets the reply.
        origin: Option<Arc<Outbox>>,
    },
    /// A write that could not be made durable: answer it with an error (in order).
    Failed {
        /// The session that asked.
        session_id: crate::txn::SessionId,
        /// It was a closeSession (or expiry).
        closes_session: bool,
        /// Who gets the error.
        origin: Option<Arc<Outbox>>,
    },
    /// A sync whose predecessors are all committed: answer it.
    Sync {
        /// The path to echo.
        path: String,
        /// Who gets the reply.
        origin: Arc<Outbox>,
    },
}

/// Pipeline → store: apply these, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Apply(pub Vec<CommitItem>);

/// Quorum actor → store: the tree was rebuilt from disk (TRUNC) or replaced by the leader's
/// snapshot (SNAP); take it, and bring the live session registry in line with its sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceTree(pub Box<crate::tree::DataTree>);

/// Store → node supervisor (after [`Serving`]): the server starts (true) or stops (false)
/// serving clients (the supervisor flips the node's serving flag; on stopping it closes the
/// client connections, whose clients reconnect elsewhere).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ServingChanged(pub bool);

/// Quorum actor → store → node supervisor: the server starts (true) or stops (false) serving.
/// It passes through the store so that it comes after every commit released before it: a tree
/// restored from a leader's (fuzzy) snapshot ends its replay here
/// ([`crate::tree::DataTree::finish_replay`]), when the txns sent behind the snapshot are all
/// applied and before any client reads the tree; and on/off stay in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Serving {
    /// Serving or not.
    pub on: bool,
    /// Who is told next (the node supervisor).
    pub then: Recipient<ServingChanged>,
}

/// The store actor.
pub struct StoreActor {
    store: Arc<Store>,
    sessions: Arc<SessionRegistry>,
    stats: Arc<ServerStats>,
}

impl StoreActor {
    /// A store actor over `store`, keeping `sessions` in step and latency in `stats`.
    pub fn new(
        store: Arc<Store>,
        sessions: Arc<SessionRegistry>,
        stats: Arc<ServerStats>,
    ) -> StoreActor {
        StoreActor {
            store,
            sessions,
            stats,
        }
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;
}

impl Handler<Apply> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: Apply, _: &mut Context<Self>) {
        crate::metrics::STORE_QUEUE.handled();
        let store = &self.store;
        let policy = store.policy().clone();
        let now = crate::clock::now_ms();
        let mut tree = store.tree.write();
        let mut watches = store.watches.lock();
        let mut applied = 0;
        // A storm's notifications beyond the first `fanout::SENT_AT_ONCE` are deferred, and
        // flushed in slices once this handler is done.
        let mut notifications = Fanout::default();
        for item in msg.0 {
            match item {
                CommitItem::Txn { txn, origin } => {
                    let (result, changes) = tree.apply(&txn);
                    applied += 1;
                    for ch in &changes {
                        // Every watcher a change fires for gets the same frame (the change's
                        // event and path): encoded once.
                        let mut frame: Option<bytes::Bytes> = None;
                        for fired in watches.trigger(&ch.path, ch.event) {
                            let Some(target) =
                                store.conns.get(&fired.watcher).map(|e| e.value().clone())
                            else {
                                continue;
                            };
                            let visible = target.with_identities(|ids| {
                                acl::check(&policy, &ch.acl, perms::READ, ids)
                            });
                            if visible {
                                let bytes = frame.get_or_insert_with(|| {
                                    reply::notification(txn.zxid, fired.event, &fired.path)
                                });
                                notifications.notify(&target, bytes.clone());
                            }
                        }
                    }
                    match &txn.op {
                        TxnOp::CreateSession {
                            timeout_ms,
                            password,
                        } => {
                            let live = self.sessions.insert(
                                txn.session_id,
                                *timeout_ms as i64,
                                // A copy: the txn's bytes may be a slice of a whole receive
                                // buffer, which the session would keep alive.
                                bytes::Bytes::copy_from_slice(password),
                                now,
                            );
                            if let Some(o) = &origin {
                                o.set_session(txn.session_id, *timeout_ms);
                                live.bind(o.clone());
                            }
                        }
                        TxnOp::CloseSession { ephemerals } => {
                            if crate::audit::enabled() {
                                crate::audit::ephemerals_deleted(txn.session_id, ephemerals);
                            }
                            if let Some(live) = self.sessions.remove(txn.session_id) {
                                if let Some(conn) = live.connection() {
                                    let is_origin =
                                        origin.as_ref().is_some_and(|o| o.id() == conn.id());
                                    if !is_origin {
                                        conn.close();
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                    if let Some(o) = origin {
                        let stats = &self.stats;
                        let answered = o.complete_head(
                            |pending| {
                                if let crate::outbox::Pending::Write {
                                    arrived,
                                    opcode,
                                    audit,
                                    ..
                                } = &pending
                                {
                                    if let Some(a) = audit {
                                        for line in crate::audit::lines(a, &result) {
                                            crate::audit::emit(&line);
                                        }
                                    }
                                    let took = arrived.elapsed();
                                    stats.record_latency_us(took.as_micros() as u64);
                                    crate::metrics::request_answered(*opcode, took, true);
                                }
                                replies::write_reply(pending, &txn, &result)
                            },
                            |xid, req| {
                                read::execute(
                                    &tree,
                                    &mut Watches::Locked(&mut watches),
                                    &policy,
                                    &o,
                                    xid,
                                    req,
                                )
                            },
                        );
                        if !answered && !o.is_closed() {
                            tracing::error!(conn = o.id(), zxid = %format!("{:#x}", txn.zxid), "reply had no pending slot; closing the connection");
                            o.close();
                        }
                    }
                }
                CommitItem::Failed {
                    session_id,
                    closes_session,
                    origin,
                } => {
                    if closes_session {
                        // The session stays; let the tracker try to expire it again.
                        if let Some(live) = self.sessions.get(session_id) {
                            live.unmark_closing();
                            self.sessions.requeue(session_id);
                        }
                    }
                    if let Some(o) = origin {
                        let zxid = tree.last_zxid();
                        o.complete_head(
                            |pending| replies::failed_reply(pending, zxid),
                            |xid, req| {
                                read::execute(
                                    &tree,
                                    &mut Watches::Locked(&mut watches),
                                    &policy,
                                    &o,
                                    xid,
                                    req,
                                )
                            },
                        );
                    }
                }
                CommitItem::Sync { path, origin } => {
                    let zxid = tree.last_zxid();
                    origin.complete_head(
                        |pending| replies::sync_reply(pending, &path, zxid),
                        |xid, req| {
                            read::execute(
                                &tree,
                                &mut Watches::Locked(&mut watches),
                                &policy,
                                &origin,
                                xid,
                                req,
                            )
                        },
                    );
                }
            }
        }
        metrics::counter!("zkr_txns_applied_total").increment(applied);
        fanout::spawn_flush(notifications.owed_flush());
    }
}

impl Handler<Serving> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: Serving, _: &mut Context<Self>) {
        if msg.on && self.store.tree().replaying() {
            let mut tree = self.store.tree.write();
            let orphans = tree.finish_replay();
            if orphans.is_empty() {
                tracing::info!(zxid = %format!("{:#x}", tree.last_zxid()), "snapshot replay finished");
            } else {
                tracing::warn!(count = orphans.len(), first = %orphans[0], "nodes without a parent after the snapshot's replay were removed");
            }
        }
        crate::link::send_to(&msg.then, "store -> supervisor", ServingChanged(msg.on));
    }
}

impl Handler<ReplaceTree> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: ReplaceTree, _: &mut Context<Self>) {
        let tree = *msg.0;
        let now = crate::clock::now_ms();
        let keep: std::collections::HashMap<crate::txn::SessionId, crate::tree::SessionRecord> =
            tree.sessions()
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
        for live in self.sessions.all() {
            if !keep.contains_key(&live.id) {
                if let Some(gone) = self.sessions.remove(live.id) {
                    if let Some(c) = gone.connection() {
                        c.close();
                    }
                }
            }
        }
        for (id, rec) in keep {
            if self.sessions.get(id).is_none() {
                self.sessions
                    .insert(id, rec.timeout_ms as i64, rec.password.clone(), now);
            }
        }
        tracing::info!(zxid = %format!("{:#x}", tree.last_zxid()), nodes = tree.node_count(), "tree replaced");
        self.store.replace_tree(tree);
    }
}
