//! Reading the log ahead of recovery's replay: while the snapshot loads, a thread reads the
//! segments after it, checks every record's CRC and decodes the txns, so that the replay only
//! applies them (a node has more than one core; the snapshot load keeps one busy).
//!
//! Invariants:
//! * the segments are read in the order given, each whole, exactly as [`segment::scan_after`]
//!   reads it for the replay (same checks, same end: clean or damaged, or the same error), and
//!   the replay gets its txns in file order followed by that end; the prefetch checks nothing less and decides
//!   nothing (the zxid-order checks stay the replay's);
//! * at most about [`AHEAD_BYTES`] of decoded txns (by [`Txn::weight`]) wait for the replay:
//!   the log is never held whole in memory;
//! * dropping the [`Prefetch`] stops the thread at its next batch (a replay that gives up, or
//!   a snapshot whose zxid is not the one the prefetch was started for).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::segment::{self, ScanError, Scanned};
use crate::txn::{Txn, Zxid};

/// Decoded txns waiting for the replay, at most (about).
pub const AHEAD_BYTES: usize = 8 << 20;
/// Txn weight per batch sent to the replay.
const BATCH_BYTES: usize = 256 << 10;

/// What the thread sends: txns of the current segment, then that segment's end.
enum Msg {
    Txns(Vec<Txn>),
    End(Result<Scanned, ScanError>),
}

/// The segments after a snapshot being read ahead on a thread of their own.
pub struct Prefetch {
    rx: Receiver<Msg>,
    start: Zxid,
    /// The segments still to hand out, in order.
    segments: std::vec::IntoIter<PathBuf>,
}

impl Prefetch {
    /// Starts reading `segments` (in this order) for a replay from `start` (the zxid of the
    /// snapshot the replay is expected to start from).
    pub fn start(segments: Vec<PathBuf>, start: Zxid) -> Prefetch {
        let (tx, rx) = sync_channel(AHEAD_BYTES / BATCH_BYTES);
        let paths = segments.clone();
        let spawned = std::thread::Builder::new()
            .name("log-prefetch".into())
            .spawn(move || read_ahead(&paths, start, &tx));
        if let Err(e) = spawned {
            // No thread: each segment is then read when it is asked for (`next_segment`).
            tracing::warn!(error = %e, "cannot start the log prefetch thread");
        }
        Prefetch {
            rx,
            start,
            segments: segments.into_iter(),
        }
    }

    /// The snapshot zxid this prefetch was started for.
    pub fn start_zxid(&self) -> Zxid {
        self.start
    }

    /// The next segment, which must be `path`: each of its txns after the snapshot handed to
    /// `visit`, then how it ends, as [`segment::scan_after`] gives them.
    pub fn next_segment(
        &mut self,
        path: &Path,
        mut visit: impl FnMut(Txn),
    ) -> Result<Scanned, ScanError> {
        let expected = self.segments.next();
        debug_assert_eq!(
            expected.as_deref(),
            Some(path),
            "segments asked out of order"
        );
        loop {
            match self.rx.recv() {
                Ok(Msg::Txns(txns)) => txns.into_iter().for_each(&mut visit),
                Ok(Msg::End(end)) => return end,
                // The thread is gone (it could not start): read this segment here. Nothing of
                // it was handed out, since a segment's txns come before its end.
                Err(_) => return segment::scan_after(path, self.start, visit),
            }
        }
    }
}

/// The thread: every segment in turn, in batches, until done or the replay hangs up.
fn read_ahead(paths: &[PathBuf], start: Zxid, tx: &SyncSender<Msg>) {
    for path in paths {
        let mut batch = Vec::new();
        let mut weight = 0;
        let mut gone = false;
        let end = segment::scan_after(path, start, |t| {
            if gone {
                return;
            }
            weight += t.weight();
            batch.push(t);
            if weight >= BATCH_BYTES {
                weight = 0;
                gone = tx.send(Msg::Txns(std::mem::take(&mut batch))).is_err();
            }
        });
        if gone
            || (!batch.is_empty() && tx.send(Msg::Txns(batch)).is_err())
            || tx.send(Msg::End(end)).is_err()
        {
            return;
        }
    }
}
