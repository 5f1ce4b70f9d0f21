//! The per-connection output sequencer.
//!
//! Every frame a connection sends goes through its [`Outbox`]: replies in request order, watch
//! notifications as soon as the change that fires them is applied. The outbox is shared by the
//! connection actor (which answers reads itself when nothing is pending) and the store (which
//! answers writes when they are applied, then the reads that were waiting behind them).
//!
//! Invariants (these give ZooKeeper's ordering guarantees, protocol doc §15):
//! * replies leave in the order the requests arrived: a request whose answer is not ready yet
//!   holds a [`Pending`] slot, and nothing behind it is sent before it;
//! * a read executes only when no earlier request of the connection is pending, and its reply is
//!   queued while the executor still holds the tree lock, so a notification for a later change is
//!   always queued after the reply that registered its watch;
//! * notifications are queued while the store holds the tree's write lock, before the change is
//!   visible to any read, so a client never reads data before the event it caused;
//! * frames leave in the order they were queued, deferred notifications included: a
//!   notification may be *deferred* ([`Outbox::defer_notification`], the tail of a watch storm,
//!   see `store::fanout`): counted like any frame, but kept in the outbox instead of waking the
//!   writer. Every other frame and the close move the deferred ones to the writer first, under
//!   the same lock, so a reply queued after a deferred notification (a read that sees the
//!   change) still leaves after it; [`Outbox::flush_deferred`] moves them when the store gets
//!   round to it. Deferring decides when the writer is woken, never the order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

use crate::admission::{reply_xid, ConnFlow};
use crate::metrics::stats::ServerStats;
use crate::proto::{Id, Request};
use crate::txn::SessionId;

/// A connection's id, unique within the process.
pub type ConnId = u64;

/// What the writer task of a connection receives.
#[derive(Debug)]
pub enum Out {
    /// Bytes to write (a whole frame or text).
    Frame(Bytes),
    /// Flush, then close the socket.
    Close,
}

/// A request whose reply is not sent yet.
#[derive(Debug)]
pub enum Pending {
    /// A write (or sync, or closeSession) in the pipeline; the store answers it when applied.
    Write {
        /// The request's xid.
        xid: i32,
        /// The request's opcode (decides the reply body).
        opcode: i32,
        /// When the request arrived (latency statistics).
        arrived: std::time::Instant,
        /// What the audit log needs (only when it is on, and for audited operations).
        audit: Option<Box<crate::audit::AuditRequest>>,
    },
    /// A session being created; the store answers with the ConnectResponse.
    Connect {
        /// Whether the client sent the readOnly byte (and its value).
        read_only: Option<bool>,
        /// Told once the session exists, so the connection starts serving its requests.
        established: Option<tokio::sync::oneshot::Sender<()>>,
    },
    /// A read that arrived behind a pending write.
    Read {
        /// The request's xid.
        xid: i32,
        /// The request.
        request: Request,
    },
    /// A reply computed already, waiting for its turn; `close` after it if set.
    Ready {
        /// The frame.
        frame: Bytes,
        /// Close the connection after this frame.
        close: bool,
    },
}

/// Per-connection statistics for `cons`/`stat`.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Frames received.
    pub received: AtomicU64,
    /// Frames sent.
    pub sent: AtomicU64,
    /// Last opcode received.
    pub last_op: AtomicI64,
    /// Last xid received.
    pub last_cxid: AtomicI64,
    /// Last zxid sent in a reply.
    pub last_zxid: AtomicI64,
    /// When the last reply went out (ms since the epoch).
    pub last_response_ms: AtomicI64,
    /// Established, ms since the epoch.
    pub established_ms: AtomicI64,
}

/// The output side of one client connection.
#[derive(Debug)]
pub struct Outbox {
    id: ConnId,
    remote: SocketAddr,
    tx: mpsc::UnboundedSender<Out>,
    pending: Mutex<VecDeque<Pending>>,
    identities: RwLock<Vec<Id>>,
    session: AtomicI64,
    timeout_ms: AtomicI64,
    /// When the client last sent something (the node's monotonic ms, see [`Self::touch`]).
    last_active_ms: AtomicI64,
    closed: AtomicBool,
    /// Notifications queued but not handed to the writer yet, oldest first.
    deferred: Mutex<Vec<Bytes>>,
    /// `deferred` is not empty. Set and cleared only under its lock; read without it, so that
    /// a frame is sent without taking the lock when nothing is deferred.
    has_deferred: AtomicBool,
    server_stats: Arc<ServerStats>,
    /// Requests in flight, paused reads and queued bytes (see [`crate::admission`]).
    pub flow: Arc<ConnFlow>,
    /// Statistics.
    pub stats: ConnStats,
}

impl Outbox {
    /// An outbox with no connection behind it (frames sent to it are dropped): the simulator's
    /// clients read through the store's read code with it.
    #[cfg(test)]
    pub(crate) fn detached(id: ConnId) -> Outbox {
        Outbox::detached_with_writer(id, usize::MAX).0
    }

    /// An outbox with no connection behind it that lets `max_queued_reply_bytes` pile up, and
    /// the receiving end of what it sends.
    #[cfg(test)]
    pub(crate) fn detached_with_writer(
        id: ConnId,
        max_queued_reply_bytes: usize,
    ) -> (Outbox, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let remote = SocketAddr::from(([127, 0, 0, 1], 1));
        let limits = crate::admission::Limits {
            per_ip: 0,
            total: usize::MAX,
            outstanding: usize::MAX,
            outstanding_bytes: usize::MAX,
            queued_reply_bytes: max_queued_reply_bytes,
        };
        let node = Arc::new(crate::admission::Admission::new(limits));
        let outbox = Outbox::new(
            id,
            remote,
            tx,
            Arc::default(),
            Arc::new(ConnFlow::new(node)),
        );
        (outbox, rx)
    }

    /// An outbox whose frames go to `tx` (the connection's writer task).
    pub fn new(
        id: ConnId,
        remote: SocketAddr,
        tx: mpsc::UnboundedSender<Out>,
        server_stats: Arc<ServerStats>,
        flow: Arc<ConnFlow>,
    ) -> Outbox {
        Outbox {
            id,
            remote,
            tx,
            pending: Mutex::new(VecDeque::new()),
            identities: RwLock::new(Vec::new()),
            session: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(0),
            last_active_ms: AtomicI64::new(0),
            closed: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            server_stats,
            flow,
            stats: ConnStats::default(),
        }
    }

    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The client's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The session bound to this connection (0 before the handshake).
    pub fn session(&self) -> SessionId {
        self.session.load(Ordering::Acquire)
    }

    /// Binds the session and its negotiated timeout.
    pub fn set_session(&self, session: SessionId, timeout_ms: i32) {
        self.session.store(session, Ordering::Release);
        self.timeout_ms.store(timeout_ms as i64, Ordering::Release);
    }

    /// The negotiated timeout.
    pub fn timeout_ms(&self) -> i32 {
        self.timeout_ms.load(Ordering::Acquire) as i32
    }

    /// Records when the connection was opened: `wall_ms` since the epoch (`cons`'s `est`) and
    /// `now_ms` on the node's monotonic clock (its first activity, see [`Self::touch`]).
    pub fn opened(&self, wall_ms: i64, now_ms: i64) {
        self.stats.established_ms.store(wall_ms, Ordering::Relaxed);
        self.touch(now_ms);
    }

    /// Records activity of the client at `now_ms` (the node's monotonic clock): `dump` shows a
    /// connection's expiry from it, as ZooKeeper's NIO server does.
    pub fn touch(&self, now_ms: i64) {
        self.last_active_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// When the client was last active (0: never touched).
    pub fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// The connection's identities (ip, digest, sasl, super).
    pub fn identities(&self) -> Vec<Id> {
        self.identities.read().clone()
    }

    /// Runs `f` on the identities without cloning them.
    pub fn with_identities<R>(&self, f: impl FnOnce(&[Id]) -> R) -> R {
        f(&self.identities.read())
    }

    /// Adds an identity (auth packet, SASL); duplicates are ignored.
    pub fn add_identity(&self, id: Id) {
        let mut ids = self.identities.write();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// Has the connection been closed?
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues a frame for the socket now, bypassing the pending queue (notifications, and
    /// replies of requests executed at the head of the queue). A client that lets more than
    /// `max_queued_reply_bytes` pile up is disconnected.
    pub fn send_now(&self, frame: Bytes) {
        if self.count_frame(frame.len()) {
            self.to_writer(Out::Frame(frame));
        }
    }

    /// Queues a notification without waking the writer: it leaves before anything sent on this
    /// outbox after it, at the latest when [`Self::flush_deferred`] runs. Counted (and the slow
    /// reader disconnected) exactly as [`Self::send_now`] does. Returns true when this is the
    /// first deferred frame since the last flush: the caller must see that
    /// [`Self::flush_deferred`] is called (false: whoever got true before has not flushed yet).
    pub fn defer_notification(&self, frame: Bytes) -> bool {
        if !self.count_frame(frame.len()) {
            return false;
        }
        let mut deferred = self.deferred.lock();
        deferred.push(frame);
        !self.has_deferred.swap(true, Ordering::AcqRel)
    }

    /// Hands the deferred notifications to the writer. Idempotent; cheap when none are left.
    pub fn flush_deferred(&self) {
        if self.has_deferred.load(Ordering::Acquire) {
            let mut deferred = self.deferred.lock();
            self.move_deferred(&mut deferred);
        }
    }

    /// Are notifications deferred (not handed to the writer yet)?
    pub fn has_deferred(&self) -> bool {
        self.has_deferred.load(Ordering::Acquire)
    }

    /// Counts a frame about to be queued: false if it must not be (the connection is closed, or
    /// the client let more than `max_queued_reply_bytes` pile up and is disconnected now).
    fn count_frame(&self, len: usize) -> bool {
        if self.is_closed() {
            return false;
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.server_stats.packet_sent();
        if !self.flow.queued(len) {
            self.flow.kill_slow_reader(self.remote, self.session());
            self.close();
            return false;
        }
        true
    }

    /// The one way to the writer: deferred notifications first, so frames keep their order. A
    /// sender that sees no deferred frame without the lock is not ordered after any deferral
    /// it could not see (one that happened before it, e.g. under the tree lock, is visible).
    fn to_writer(&self, out: Out) {
        if self.has_deferred.load(Ordering::Acquire) {
            let mut deferred = self.deferred.lock();
            self.move_deferred(&mut deferred);
            let _ = self.tx.send(out);
        } else {
            let _ = self.tx.send(out);
        }
    }

    /// Moves the deferred frames to the writer (the caller holds their lock).
    fn move_deferred(&self, deferred: &mut Vec<Bytes>) {
        for frame in deferred.drain(..) {
            let _ = self.tx.send(Out::Frame(frame));
        }
        self.has_deferred.store(false, Ordering::Release);
    }

    /// Queues the reply to the request `xid` now (see [`Self::send_now`]); the request stops
    /// counting as in flight.
    pub fn send_reply(&self, xid: i32, frame: Bytes) {
        self.send_now(frame);
        self.flow.reply_out(xid);
    }

    /// Flushes what is queued, then closes the socket. Idempotent. The connection's requests
    /// stop counting as in flight.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.to_writer(Out::Close);
            self.flow.close();
        }
    }

    /// Is anything pending (so a new read must wait)?
    pub fn has_pending(&self) -> bool {
        !self.pending.lock().is_empty()
    }

    /// Reserves a slot for a write or a session create.
    pub fn push_pending(&self, p: Pending) {
        self.pending.lock().push_back(p);
    }

    /// A read arrived: `Some` if it may execute now (nothing pending), else it is queued.
    pub fn admit_read(&self, xid: i32, request: Request) -> Option<(i32, Request)> {
        let mut q = self.pending.lock();
        if q.is_empty() {
            Some((xid, request))
        } else {
            q.push_back(Pending::Read { xid, request });
            None
        }
    }

    /// A reply that needs no tree: sent now if nothing is pending, else queued in order.
    pub fn push_ready(&self, frame: Bytes, close: bool) {
        let mut q = self.pending.lock();
        if q.is_empty() {
            drop(q);
            self.send_reply(reply_xid(&frame), frame);
            if close {
                self.close();
            }
        } else {
            q.push_back(Pending::Ready { frame, close });
        }
    }

    /// The head of the queue (a write or connect) is answered: `answer` builds its frame from the
    /// slot; then the reads and ready replies queued behind it run through `run_read`, up to the
    /// next pending write. Returns false if the head was not a write/connect slot (a bug).
    pub fn complete_head(
        &self,
        answer: impl FnOnce(Pending) -> (Bytes, bool),
        mut run_read: impl FnMut(i32, Request) -> (Bytes, bool),
    ) -> bool {
        let mut q = self.pending.lock();
        let Some(head) = q.pop_front() else {
            return false;
        };
        if !matches!(head, Pending::Write { .. } | Pending::Connect { .. }) {
            q.push_front(head);
            return false;
        }
        let head_xid = match &head {
            Pending::Write { xid, .. } => *xid,
            _ => 0,
        };
        let (frame, close) = answer(head);
        self.send_reply(head_xid, frame);
        if close {
            q.clear();
            drop(q);
            self.close();
            return true;
        }
        while let Some(next) = q.front() {
            if matches!(next, Pending::Write { .. } | Pending::Connect { .. }) {
                break;
            }
            let next = q.pop_front().expect("front exists");
            let (xid, (frame, close)) = match next {
                Pending::Read { xid, request } => (xid, run_read(xid, request)),
                Pending::Ready { frame, close } => (reply_xid(&frame), (frame, close)),
                Pending::Write { .. } | Pending::Connect { .. } => unreachable!("checked above"),
            };
            self.send_reply(xid, frame);
            if close {
                q.clear();
                drop(q);
                self.close();
                return true;
            }
        }
        true
    }

    /// The opcode of the pending head, if it is a write (diagnostics).
    pub fn head_opcode(&self) -> Option<i32> {
        match self.pending.lock().front() {
            Some(Pending::Write { opcode, .. }) => Some(*opcode),
            _ => None,
        }
    }

    /// Number of requests waiting for their reply (`queued=` in `cons`).
    pub fn queued(&self) -> usize {
        self.pending.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// What the writer would receive so far: frames as text, `close` for the close.
    fn received(rx: &mut mpsc::UnboundedReceiver<Out>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            out.push(match item {
                Out::Frame(b) => String::from_utf8_lossy(&b).into_owned(),
                Out::Close => "close".to_owned(),
            });
        }
        out
    }

    fn frame(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn a_deferred_notification_leaves_before_a_reply_sent_after_it() {
        let (o, mut rx) = Outbox::detached_with_writer(1, usize::MAX);
        assert!(o.defer_notification(frame("event")));
        assert!(
            received(&mut rx).is_empty(),
            "a deferred frame woke the writer"
        );
        o.send_reply(7, frame("reply"));
        assert_eq!(received(&mut rx), ["event", "reply"]);
        assert!(!o.has_deferred());
    }

    #[test]
    fn a_deferred_notification_is_flushed_before_the_close() {
        let (o, mut rx) = Outbox::detached_with_writer(1, usize::MAX);
        o.defer_notification(frame("event"));
        o.close();
        assert_eq!(received(&mut rx), ["event", "close"]);
        // Nothing is queued on a closed outbox, deferred or not.
        assert!(!o.defer_notification(frame("late")));
        o.flush_deferred();
        assert!(received(&mut rx).is_empty());
    }

    #[test]
    fn flush_deferred_is_idempotent_and_owed_once_per_batch() {
        let (o, mut rx) = Outbox::detached_with_writer(1, usize::MAX);
        assert!(
            o.defer_notification(frame("a")),
            "the first deferral owes a flush"
        );
        assert!(!o.defer_notification(frame("b")), "a flush is owed already");
        o.flush_deferred();
        o.flush_deferred();
        assert_eq!(received(&mut rx), ["a", "b"]);
        assert!(
            o.defer_notification(frame("c")),
            "flushed: the next one owes again"
        );
        o.flush_deferred();
        assert_eq!(received(&mut rx), ["c"]);
    }

    #[test]
    fn deferred_notifications_are_counted_and_limited_like_sent_frames() {
        let (o, mut rx) = Outbox::detached_with_writer(1, 10);
        o.defer_notification(frame("12345678"));
        assert_eq!(o.flow.queued_bytes(), 8);
        assert_eq!(o.stats.sent.load(Ordering::Relaxed), 1);
        // 16 bytes queued > 10: the client is a slow reader, disconnected as with send_now.
        assert!(!o.defer_notification(frame("12345678")));
        assert!(o.is_closed());
        assert_eq!(received(&mut rx), ["12345678", "close"]);
    }

    /// Three threads: one defers notifications n0, n1... and publishes how many it deferred,
    /// one sends replies tagged with the count it saw published, one flushes. Each one's
    /// frames leave in its order, and a reply leaves after every notification deferred before
    /// it was sent (what a read that sees the change needs).
    #[test]
    fn concurrent_deferrals_replies_and_flushes_keep_the_order() {
        const N: usize = 20_000;
        let (o, mut rx) = Outbox::detached_with_writer(1, usize::MAX);
        let o = Arc::new(o);
        let deferred = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (o, deferred) = (o.clone(), deferred.clone());
            std::thread::spawn(move || {
                for i in 0..N {
                    o.defer_notification(frame(&format!("n{i}")));
                    deferred.store(i + 1, Ordering::Release);
                }
            })
        };
        let replier = {
            let (o, deferred) = (o.clone(), deferred.clone());
            std::thread::spawn(move || {
                for _ in 0..N {
                    let seen = deferred.load(Ordering::Acquire);
                    o.send_now(frame(&format!("r{seen}")));
                }
            })
        };
        let flusher = {
            let (o, done) = (o.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    o.flush_deferred();
                    std::thread::yield_now();
                }
            })
        };
        notifier.join().expect("notifier");
        replier.join().expect("replier");
        done.store(true, Ordering::Release);
        flusher.join().expect("flusher");
        o.flush_deferred();
        let out = received(&mut rx);
        assert_eq!(out.len(), 2 * N);
        let mut notified = 0;
        let mut last_seen = 0;
        for f in &out {
            let n: usize = f[1..].parse().expect("a number");
            if f.starts_with('n') {
                assert_eq!(n, notified, "notifications out of order");
                notified += 1;
            } else {
                assert!(n >= last_seen, "replies out of order");
                assert!(n <= notified, "r{n} left before n{}", n - 1);
                last_seen = n;
            }
        }
    }
}
