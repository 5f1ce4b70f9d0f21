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
//!   visible to any read, so a client never reads data before the event it caused.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

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
    closed: AtomicBool,
    server_stats: Arc<ServerStats>,
    /// Statistics.
    pub stats: ConnStats,
}

impl Outbox {
    /// An outbox with no connection behind it (frames sent to it are dropped): the simulator's
    /// clients read through the store's read code with it.
    #[cfg(test)]
    pub(crate) fn detached(id: ConnId) -> Outbox {
        let (tx, _) = mpsc::unbounded_channel();
        let remote = SocketAddr::from(([127, 0, 0, 1], 1));
        Outbox::new(id, remote, tx, Arc::default())
    }

    /// An outbox whose frames go to `tx` (the connection's writer task).
    pub fn new(
        id: ConnId,
        remote: SocketAddr,
        tx: mpsc::UnboundedSender<Out>,
        server_stats: Arc<ServerStats>,
    ) -> Outbox {
        Outbox {
            id,
            remote,
            tx,
            pending: Mutex::new(VecDeque::new()),
            identities: RwLock::new(Vec::new()),
            session: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(0),
            closed: AtomicBool::new(false),
            server_stats,
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
    /// replies of requests executed at the head of the queue).
    pub fn send_now(&self, frame: Bytes) {
        if self.is_closed() {
            return;
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.server_stats.packet_sent();
        let _ = self.tx.send(Out::Frame(frame));
    }

    /// Flushes what is queued, then closes the socket. Idempotent.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Out::Close);
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
            self.send_now(frame);
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
        let (frame, close) = answer(head);
        self.send_now(frame);
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
            let (frame, close) = match next {
                Pending::Read { xid, request } => run_read(xid, request),
                Pending::Ready { frame, close } => (frame, close),
                Pending::Write { .. } | Pending::Connect { .. } => unreachable!("checked above"),
            };
            self.send_now(frame);
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
