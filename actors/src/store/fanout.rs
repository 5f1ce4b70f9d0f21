//! Handing a change's watch notifications to the connections without stalling the loop.
//!
//! One committed change can fire thousands of watches. Sent all at once, their notifications
//! wake every watcher's writer task at once, and on a single event loop (decision 18) a request
//! of any other client that becomes readable meanwhile waits behind all those writes. So one
//! `Apply` sends its first [`SENT_AT_ONCE`] notifications now and defers the rest
//! ([`Outbox::defer_notification`]); a task on the store's loop then flushes the deferred
//! outboxes [`FLUSH_SLICE`] at a time, yielding to the loop before each slice, so that what
//! became ready meanwhile runs between the slices.
//!
//! Ordering: ZooKeeper's guarantee (a client sees a watch event before any reply that reflects
//! the change) and each connection's frame order are the outbox's invariants and do not depend
//! on when the flush runs. A deferred notification is queued in its outbox while the store holds
//! the tree's write lock, as one sent now is, and whatever is sent on that outbox afterwards (a
//! read's reply, a later change's notification, sent now or deferred, the close) leaves behind
//! it. The flush decides only when the writer is woken.

use std::sync::Arc;

use bytes::Bytes;

use crate::outbox::Outbox;

/// Notifications of one `Apply` sent at once; a storm's rest is deferred. In CI's watch storm
/// (`tests/overload.rs`, load d) 64 with slices of 64 gave the other client a lower p99 than 256
/// with slices of 128 or 32 with slices of 32 (decision 18 has the figures).
pub const SENT_AT_ONCE: usize = 64;
/// Outboxes flushed between two yields to the loop.
pub const FLUSH_SLICE: usize = 64;

/// The notifications of one `Apply`: counts them, sends or defers each, and collects the
/// outboxes it owes a flush.
#[derive(Debug, Default)]
pub struct Fanout {
    handed: usize,
    owed_flush: Vec<Arc<Outbox>>,
}

impl Fanout {
    /// Hands `frame` to `target`: now while under [`SENT_AT_ONCE`], deferred after.
    pub fn notify(&mut self, target: &Arc<Outbox>, frame: Bytes) {
        if self.handed < SENT_AT_ONCE {
            target.send_now(frame);
        } else if target.defer_notification(frame) {
            self.owed_flush.push(target.clone());
        }
        self.handed += 1;
    }

    /// The outboxes whose deferred notifications this `Apply` must flush (each once).
    pub fn owed_flush(self) -> Vec<Arc<Outbox>> {
        self.owed_flush
    }
}

/// Flushes `outboxes` in slices of [`FLUSH_SLICE`], yielding to the loop before each.
pub async fn flush_in_slices(outboxes: Vec<Arc<Outbox>>) {
    for slice in outboxes.chunks(FLUSH_SLICE) {
        tokio::task::yield_now().await;
        for outbox in slice {
            outbox.flush_deferred();
        }
    }
}

/// Starts [`flush_in_slices`] on the current loop (the store actor's), if anything is owed.
pub fn spawn_flush(outboxes: Vec<Arc<Outbox>>) {
    if !outboxes.is_empty() {
        actix_rt::spawn(flush_in_slices(outboxes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Out;
    use tokio::sync::mpsc::UnboundedReceiver;

    fn outboxes(n: usize) -> Vec<(Arc<Outbox>, UnboundedReceiver<Out>)> {
        (0..n as u64)
            .map(|id| {
                let (o, rx) = Outbox::detached_with_writer(id, usize::MAX);
                (Arc::new(o), rx)
            })
            .collect()
    }

    fn frames(rx: &mut UnboundedReceiver<Out>) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Ok(Out::Frame(b)) = rx.try_recv() {
            out.push(b);
        }
        out
    }

    fn local_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn the_first_notifications_go_now_the_rest_when_flushed() {
        let total = SENT_AT_ONCE + 2 * FLUSH_SLICE + 1;
        let mut conns = outboxes(total);
        let mut fanout = Fanout::default();
        for (o, _) in &conns {
            fanout.notify(o, Bytes::from_static(b"event"));
        }
        let owed = fanout.owed_flush();
        assert_eq!(owed.len(), total - SENT_AT_ONCE);
        for (i, (o, rx)) in conns.iter_mut().enumerate() {
            let sent_now = i < SENT_AT_ONCE;
            assert_eq!(frames(rx).len(), usize::from(sent_now), "outbox {i}");
            assert_eq!(o.has_deferred(), !sent_now, "outbox {i}");
        }
        local_runtime().block_on(flush_in_slices(owed));
        for (i, (o, rx)) in conns.iter_mut().enumerate() {
            let sent_now = i < SENT_AT_ONCE;
            assert_eq!(frames(rx).len(), usize::from(!sent_now), "outbox {i}");
            assert!(!o.has_deferred());
        }
    }

    #[test]
    fn the_flush_yields_to_the_loop_between_slices() {
        let total = SENT_AT_ONCE + 2 * FLUSH_SLICE + 1;
        let conns = outboxes(total);
        let mut fanout = Fanout::default();
        for (o, _) in &conns {
            fanout.notify(o, Bytes::from_static(b"event"));
        }
        let owed = fanout.owed_flush();
        let watched: Vec<Arc<Outbox>> = owed.clone();
        let local = tokio::task::LocalSet::new();
        // A task that runs alongside the flush records how many outboxes it saw flushed.
        let seen = local_runtime().block_on(local.run_until(async move {
            let flush = tokio::task::spawn_local(flush_in_slices(owed));
            let mut seen = Vec::new();
            loop {
                let flushed = watched.iter().filter(|o| !o.has_deferred()).count();
                seen.push(flushed);
                if flushed == watched.len() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            flush.await.expect("the flush ran");
            seen
        }));
        let deferred = total - SENT_AT_ONCE;
        assert!(
            seen.iter().all(|&n| n % FLUSH_SLICE == 0 || n == deferred),
            "another task ran in the middle of a slice: {seen:?}"
        );
        assert!(
            seen.iter().any(|&n| n > 0 && n < deferred),
            "no other task ran between the slices: {seen:?}"
        );
    }

    #[test]
    fn a_later_applys_notification_goes_behind_a_deferred_one() {
        let mut conns = outboxes(SENT_AT_ONCE + 1);
        let mut first = Fanout::default();
        for (o, _) in &conns {
            first.notify(o, Bytes::from_static(b"first"));
        }
        let owed = first.owed_flush();
        let (last, rx) = conns.last_mut().expect("outboxes");
        assert!(last.has_deferred());
        // The next Apply reaches it before the flush: sent now, yet behind the deferred one.
        let mut second = Fanout::default();
        second.notify(last, Bytes::from_static(b"second"));
        assert_eq!(frames(rx), vec!["first", "second"]);
        local_runtime().block_on(flush_in_slices(owed));
        assert!(frames(rx).is_empty(), "flushed twice");
    }
}
