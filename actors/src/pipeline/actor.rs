//! The pipeline actor of a standalone node (an ensemble of one: its own durable log is the
//! quorum). It assigns zxids, runs prep, sends txns to the log, and commits them to the store in
//! zxid order when the log reports them durable. Syncs are answered in order with the txns.
//!
//! Invariants: zxids are handed out without gaps; items go to the store in the order they were
//! submitted; nothing goes to the store before the log said it is durable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;

use super::prep::{Prep, PrepConfig, WriteRequest};
use crate::connection::Outbox;
use crate::proto::records::PathRequest;
use crate::proto::{Id, Request};
use crate::store::actor::{Apply, CommitItem, StoreActor};
use crate::store::Store;
use crate::tree::NodeKind;
use crate::txn::{SessionId, Txn, Zxid};
use crate::txnlog::actor::{Append, LogActor, LogOutcome, SnapshotPolicy};
use crate::txnlog::LogBackend;

/// Connection → pipeline: a write, sync or closeSession from a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitWrite {
    /// The session.
    pub session_id: SessionId,
    /// The request's xid.
    pub xid: i32,
    /// The connection's identities at submission.
    pub ids: Vec<Id>,
    /// The request.
    pub request: Request,
    /// Where the reply goes (`None` for server-internal requests).
    pub origin: Option<Arc<Outbox>>,
}

/// Connection → pipeline: create this session (its Connect slot is pending in `origin`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CreateSession {
    /// The new id.
    pub session_id: SessionId,
    /// Negotiated timeout.
    pub timeout_ms: i32,
    /// Its password.
    pub password: Bytes,
    /// The connection.
    pub origin: Arc<Outbox>,
}

/// Session tracker → pipeline: this session expired; close it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSession(pub SessionId);

struct InFlight {
    /// Releasable once the log is durable up to here.
    zxid: Zxid,
    item: CommitItem,
}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Prep settings.
    pub prep: PrepConfig,
    /// Container / TTL sweep period.
    pub container_check_interval: Duration,
    /// Most container / TTL deletions per minute.
    pub container_max_per_minute: u32,
    /// Snapshots and purge.
    pub snapshots: SnapshotPolicy,
}

/// The standalone pipeline.
pub struct Pipeline {
    config: PipelineConfig,
    prep: Prep,
    store: Arc<Store>,
    store_actor: Addr<StoreActor>,
    log: Option<Addr<LogActor>>,
    backend: Option<Box<dyn LogBackend>>,
    last_zxid: Zxid,
    durable: Zxid,
    generation: u64,
    inflight: VecDeque<InFlight>,
}

impl Pipeline {
    /// A pipeline continuing after `last_zxid`, logging to `backend`.
    pub fn new(
        config: PipelineConfig,
        store: Arc<Store>,
        store_actor: Addr<StoreActor>,
        backend: Box<dyn LogBackend>,
        last_zxid: Zxid,
    ) -> Pipeline {
        Pipeline {
            prep: Prep::new(config.prep.clone()),
            config,
            store,
            store_actor,
            log: None,
            backend: Some(backend),
            last_zxid,
            durable: last_zxid,
            generation: 0,
            inflight: VecDeque::new(),
        }
    }

    fn next_zxid(&mut self) -> Zxid {
        self.last_zxid += 1;
        self.last_zxid
    }

    fn propose(&mut self, txn: Txn, origin: Option<Arc<Outbox>>) {
        let txn = Arc::new(txn);
        self.inflight.push_back(InFlight {
            zxid: txn.zxid,
            item: CommitItem::Txn {
                txn: txn.clone(),
                origin,
            },
        });
        metrics::gauge!("outstanding_requests").set(self.inflight.len() as f64);
        if let Some(log) = &self.log {
            crate::link::send(
                log,
                "pipeline -> log",
                Append {
                    generation: self.generation,
                    txns: vec![txn],
                },
            );
        }
    }

    fn release(&mut self) {
        let mut batch = Vec::new();
        while let Some(front) = self.inflight.front() {
            if front.zxid > self.durable {
                break;
            }
            batch.push(self.inflight.pop_front().expect("front exists").item);
        }
        if !batch.is_empty() {
            crate::link::send(&self.store_actor, "pipeline -> store", Apply(batch));
        }
    }

    fn write(
        &mut self,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        origin: Option<Arc<Outbox>>,
    ) {
        if let Request::Sync(PathRequest { path }) = request {
            let Some(origin) = origin else { return };
            self.inflight.push_back(InFlight {
                zxid: self.last_zxid,
                item: CommitItem::Sync { path, origin },
            });
            self.release();
            return;
        }
        let zxid = self.next_zxid();
        let now = crate::clock::wall_ms();
        let req = WriteRequest {
            session_id,
            ids,
            request,
        };
        let op = {
            let tree = self.store.tree();
            self.prep.prep(&tree, &req, zxid, now)
        };
        self.propose(
            Txn {
                zxid,
                time_ms: now,
                session_id,
                cxid: xid,
                op,
            },
            origin,
        );
    }

    /// Submits deleteContainer for empty used containers and expired TTL nodes.
    fn reap_containers(&mut self) {
        let now = crate::clock::wall_ms();
        let budget = (self.config.container_max_per_minute as u128
            * self.config.container_check_interval.as_millis()
            / 60_000)
            .max(1) as usize;
        let candidates: Vec<String> = {
            let tree = self.store.tree();
            tree.paths()
                .filter(|(_, n)| {
                    n.children.is_empty()
                        && match n.kind() {
                            NodeKind::Container => n.cversion > 0,
                            NodeKind::Ttl(ttl) => now - n.mtime > ttl,
                            _ => false,
                        }
                })
                .map(|(p, _)| p.clone())
                .take(budget)
                .collect()
        };
        for path in candidates {
            tracing::debug!(%path, "reaping container/TTL node");
            self.write(
                0,
                0,
                Vec::new(),
                Request::DeleteContainer(PathRequest { path }),
                None,
            );
        }
    }
}

impl Actor for Pipeline {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let backend = self.backend.take().expect("backend set at construction");
        self.log = Some(
            LogActor::new(
                backend,
                ctx.address().recipient(),
                self.store.clone(),
                self.config.snapshots.clone(),
            )
            .start(),
        );
        ctx.run_interval(self.config.container_check_interval, |act, _| {
            act.reap_containers()
        });
    }
}

impl Handler<SubmitWrite> for Pipeline {
    type Result = ();
    fn handle(&mut self, m: SubmitWrite, _: &mut Context<Self>) {
        self.write(m.session_id, m.xid, m.ids, m.request, m.origin);
    }
}

impl Handler<CreateSession> for Pipeline {
    type Result = ();
    fn handle(&mut self, m: CreateSession, _: &mut Context<Self>) {
        let zxid = self.next_zxid();
        let op = self
            .prep
            .prep_create_session(m.session_id, m.timeout_ms, m.password);
        self.propose(
            Txn {
                zxid,
                time_ms: crate::clock::wall_ms(),
                session_id: m.session_id,
                cxid: 0,
                op,
            },
            Some(m.origin),
        );
    }
}

impl Handler<ExpireSession> for Pipeline {
    type Result = ();
    fn handle(&mut self, m: ExpireSession, _: &mut Context<Self>) {
        tracing::info!(session = %format!("{:#x}", m.0), "session expired");
        metrics::counter!("zkr_session_expiries_total").increment(1);
        self.write(m.0, 0, Vec::new(), Request::CloseSession, None);
    }
}

impl Handler<LogOutcome> for Pipeline {
    type Result = ();
    fn handle(&mut self, m: LogOutcome, _: &mut Context<Self>) {
        match m {
            LogOutcome::Durable(z) => {
                self.durable = self.durable.max(z);
                self.release();
            }
            LogOutcome::Failed {
                generation,
                from,
                error,
            } => {
                if generation != self.generation {
                    return; // already handled
                }
                // Nothing from `from` on is durable, and every later txn was validated against
                // those: fail them all, in order, through the store (which keeps each
                // connection's replies in order), and start a new generation.
                tracing::error!(from = %format!("{from:#x}"), %error, failed = self.inflight.len(), "failing in-flight writes after a log error");
                let failed: Vec<CommitItem> = self
                    .inflight
                    .drain(..)
                    .map(|f| match f.item {
                        CommitItem::Txn { txn, origin } => CommitItem::Failed {
                            session_id: txn.session_id,
                            closes_session: matches!(
                                txn.op,
                                crate::txn::TxnOp::CloseSession { .. }
                            ),
                            origin,
                        },
                        other => other,
                    })
                    .collect();
                metrics::counter!("zkr_requests_failed_disk_total").increment(failed.len() as u64);
                crate::link::send(&self.store_actor, "pipeline -> store", Apply(failed));
                self.prep.reset();
                self.generation += 1;
                self.last_zxid = self.durable;
            }
        }
    }
}
