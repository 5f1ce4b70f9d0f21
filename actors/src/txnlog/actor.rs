//! The log actor: group commit. Appends that arrive while a batch is being written and synced
//! wait and form the next batch, so one fsync covers every txn that arrived meanwhile.

use std::sync::Arc;

use actix::prelude::*;

use super::{LogBackend, LogError};
use crate::txn::{Txn, Zxid};

/// Pipeline → log: append these txns (in zxid order, after everything appended before).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append(pub Vec<Arc<Txn>>);

/// Log → pipeline: every txn up to `zxid` is durable, or the batch `from..=to` failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum LogOutcome {
    /// Durable up to and including this zxid.
    Durable(Zxid),
    /// These txns could not be made durable.
    Failed {
        /// First zxid of the failed batch.
        from: Zxid,
        /// Last zxid of the failed batch.
        to: Zxid,
        /// Why.
        error: String,
    },
}

/// The log actor.
pub struct LogActor {
    backend: Option<Box<dyn LogBackend>>,
    queued: Vec<Arc<Txn>>,
    notify: Recipient<LogOutcome>,
}

impl LogActor {
    /// A log actor writing to `backend` and reporting to `notify`.
    pub fn new(backend: Box<dyn LogBackend>, notify: Recipient<LogOutcome>) -> LogActor {
        LogActor {
            backend: Some(backend),
            queued: Vec::new(),
            notify,
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.queued.is_empty() {
            return;
        }
        let Some(mut backend) = self.backend.take() else {
            return; // a batch is in flight; this one follows it
        };
        let batch = std::mem::take(&mut self.queued);
        let from = batch.first().map_or(0, |t| t.zxid);
        let to = batch.last().map_or(0, |t| t.zxid);
        metrics::histogram!("zkr_fsync_batch_size").record(batch.len() as f64);
        let started = std::time::Instant::now();
        let work = tokio::task::spawn_blocking(move || {
            let r: Result<(), LogError> = backend.append(&batch).and_then(|_| backend.sync());
            (backend, r)
        });
        ctx.spawn(
            work
                .into_actor(self)
                .map(move |joined, act, ctx| {
                    metrics::histogram!("fsynctime").record(started.elapsed().as_secs_f64() * 1000.0);
                    match joined {
                        Ok((backend, r)) => {
                            act.backend = Some(backend);
                            let outcome = match r {
                                Ok(()) => LogOutcome::Durable(to),
                                Err(e) => {
                                    tracing::error!(from = %format!("{from:#x}"), to = %format!("{to:#x}"), error = %e, "log batch failed");
                                    metrics::counter!("zkr_log_write_errors_total").increment(1);
                                    LogOutcome::Failed {
                                        from,
                                        to,
                                        error: e.to_string(),
                                    }
                                }
                            };
                            crate::link::send_to(&act.notify, "log -> pipeline", outcome);
                            act.start_batch(ctx);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "log writer thread died");
                            System::current().stop_with_code(70);
                        }
                    }
                }),
        );
    }
}

impl Actor for LogActor {
    type Context = Context<Self>;
}

impl Handler<Append> for LogActor {
    type Result = ();
    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) {
        self.queued.extend(msg.0);
        self.start_batch(ctx);
    }
}
