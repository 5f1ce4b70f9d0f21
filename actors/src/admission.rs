//! Admission control and bounded memory on the client ports.
//!
//! What a client can make the server hold is bounded by four limits, each a setting with
//! ZooKeeper's name and default where it has one, a metric and a (rate-limited) log line when it
//! bites:
//!
//! * **Connections**: `maxClientCnxns` per client IP (default 60) and `maxCnxns` in total (default
//!   0 = derived from the process's open-file limit, leaving room for the log, snapshots and peer
//!   links: a node out of file descriptors cannot open its next log segment). A connection over
//!   either is closed at once (`connection_rejected`, `zkr_connections_refused_total{reason}`).
//! * **Requests in flight** (`globalOutstandingLimit`, default 1000), ZooKeeper 3.8's rule
//!   (`ServerCnxn.incrOutstandingAndCheckThrottle`): every request with an xid above 0 counts from
//!   when it is read until its reply is queued (pings, auth and setWatches, whose xids are
//!   negative, never count); while more than the limit are in flight, a connection that has
//!   requests of its own in flight is not read. It is read again when one of its replies is
//!   queued and the node is under the limit, or when its last request is answered. A connection
//!   with nothing in flight is always read, so other sessions' pings are still answered and no
//!   connection waits for another's replies. zkr adds a byte bound on the same rule
//!   (`node.global_outstanding_bytes`, default 64 MiB): a thousand requests of 1 MB each are not
//!   held at once. `zkr_connections_throttled` / `zkr_connection_throttles_total`.
//! * **Queued replies** (`node.max_queued_reply_bytes`, default 16 MiB): bytes a connection has
//!   queued for its socket and not written yet. A client that does not read its replies (or its
//!   watch events) is disconnected when its queue grows past the bound, rather than buffered
//!   without end (`zkr_slow_clients_disconnected_total`). A single frame larger than the bound is
//!   still sent when the queue is empty.
//!
//! Invariants: a connection is only paused while it has requests in flight, and each of their
//! replies re-checks the pause under the same lock that set it, so a pause always ends; the node's
//! counters only ever hold the requests of connections that are open (a closing connection gives
//! back what it held).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use dashmap::DashMap;
use futures::task::AtomicWaker;
use futures::Stream;
use parking_lot::Mutex;

use crate::config::NodeSection;

/// File descriptors kept for everything but client connections when `maxCnxns` is derived from
/// the open-file limit (log segments, snapshots, peer links, listeners, the metrics exporter).
pub const RESERVED_FDS: u64 = 256;

/// The node's connection and request limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited.
    pub per_ip: u32,
    /// `maxCnxns`: connections in total (after deriving a 0 from the open-file limit).
    pub total: usize,
    /// `globalOutstandingLimit`.
    pub outstanding: usize,
    /// `node.global_outstanding_bytes`.
    pub outstanding_bytes: usize,
    /// `node.max_queued_reply_bytes`.
    pub queued_reply_bytes: usize,
}

impl Limits {
    /// The limits of `node`; a `max_connections` of 0 becomes the open-file limit minus
    /// [`RESERVED_FDS`] (at least 16).
    pub fn from_config(node: &NodeSection) -> Limits {
        let total = match node.max_connections {
            0 => derived_max_connections(open_file_limit()),
            n => n as usize,
        };
        Limits {
            per_ip: node.max_client_connections,
            total,
            outstanding: node.global_outstanding_limit,
            outstanding_bytes: node.global_outstanding_bytes,
            queued_reply_bytes: node.max_queued_reply_bytes,
        }
    }
}

/// `maxCnxns` derived from an open-file limit.
pub fn derived_max_connections(nofile: u64) -> usize {
    nofile.saturating_sub(RESERVED_FDS).max(16) as usize
}

/// The soft `RLIMIT_NOFILE` of this process.
pub fn open_file_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        rl.rlim_cur
    } else {
        1024
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `maxClientCnxns` connections from this address are open.
    PerIp,
    /// `maxCnxns` connections are open.
    Total,
}

impl Refusal {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::PerIp => "max_client_cnxns",
            Refusal::Total => "max_cnxns",
        }
    }
}

/// A log line at most once a second per kind, with the number of occurrences it stands for.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    /// Calls `log(occurrences)` if no line was logged in the last second; otherwise counts.
    pub fn log(&self, log: impl FnOnce(u64)) {
        let now = crate::clock::now_ms().max(1) as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now < last + 1000 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            log(self.suppressed.swap(0, Ordering::Relaxed) + 1);
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The node-wide side: open connections and requests in flight.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    per_ip: DashMap<IpAddr, u32>,
    open: AtomicUsize,
    in_flight: AtomicUsize,
    in_flight_bytes: AtomicUsize,
    paused: AtomicUsize,
    per_ip_log: RateLimitedLog,
    total_log: RateLimitedLog,
    throttle_log: RateLimitedLog,
    slow_log: RateLimitedLog,
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: Limits) -> Admission {
        Admission {
            limits,
            per_ip: DashMap::new(),
            open: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            in_flight_bytes: AtomicUsize::new(0),
            paused: AtomicUsize::new(0),
            per_ip_log: RateLimitedLog::default(),
            total_log: RateLimitedLog::default(),
            throttle_log: RateLimitedLog::default(),
            slow_log: RateLimitedLog::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Counts a new connection from `ip`, or says why it is refused (and logs and counts the
    /// refusal). Every admitted connection is given back with [`Self::release`].
    pub fn admit(&self, ip: IpAddr) -> Result<(), Refusal> {
        let refused = {
            let mut n = self.per_ip.entry(ip).or_insert(0);
            if self.limits.per_ip != 0 && *n >= self.limits.per_ip {
                Some(Refusal::PerIp)
            } else if self.open.fetch_add(1, Ordering::AcqRel) >= self.limits.total {
                self.open.fetch_sub(1, Ordering::AcqRel);
                Some(Refusal::Total)
            } else {
                *n += 1;
                None
            }
        };
        let Some(why) = refused else {
            return Ok(());
        };
        self.per_ip.remove_if(&ip, |_, n| *n == 0);
        metrics::counter!("connection_rejected").increment(1);
        metrics::counter!("zkr_connections_refused_total", "reason" => why.reason()).increment(1);
        let limits = self.limits;
        match why {
            Refusal::PerIp => self.per_ip_log.log(|n| {
                tracing::warn!(
                    %ip,
                    max_client_cnxns = limits.per_ip,
                    refused = n,
                    "too many connections from this address (maxClientCnxns); refusing"
                )
            }),
            Refusal::Total => self.total_log.log(|n| {
                tracing::warn!(
                    max_cnxns = limits.total,
                    refused = n,
                    "too many client connections (maxCnxns); refusing"
                )
            }),
        }
        Err(why)
    }

    /// A connection admitted from `ip` closed.
    pub fn release(&self, ip: IpAddr) {
        if let Some(mut n) = self.per_ip.get_mut(&ip) {
            if *n > 0 {
                *n -= 1;
                self.open.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.per_ip.remove_if(&ip, |_, n| *n == 0);
    }

    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Requests in flight now, over every connection.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Bytes of the requests in flight now.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes.load(Ordering::Acquire)
    }

    /// Connections whose reads are paused now.
    pub fn paused_connections(&self) -> usize {
        self.paused.load(Ordering::Acquire)
    }

    /// Over `globalOutstandingLimit` or the byte bound?
    fn over(&self) -> bool {
        self.in_flight() > self.limits.outstanding
            || self.in_flight_bytes() > self.limits.outstanding_bytes
    }
}

/// One connection's side: its requests in flight, whether its reads are paused, and the bytes
/// it has queued for its socket.
#[derive(Debug)]
pub struct ConnFlow {
    node: Arc<Admission>,
    state: Mutex<FlowState>,
    paused: AtomicBool,
    waker: AtomicWaker,
    queued_bytes: AtomicUsize,
    killed: AtomicBool,
    kill: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct FlowState {
    /// Sizes of the requests in flight, oldest first (replies leave in request order).
    sizes: VecDeque<usize>,
    closed: bool,
}

impl ConnFlow {
    /// The flow of a new connection under `node`'s admission.
    pub fn new(node: Arc<Admission>) -> ConnFlow {
        ConnFlow {
            node,
            state: Mutex::new(FlowState::default()),
            paused: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            queued_bytes: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
        }
    }

    /// A request of `size` bytes with `xid` was read (only xids above 0 count, as in ZooKeeper).
    pub fn request_in(&self, xid: i32, size: usize) {
        if xid <= 0 {
            return;
        }
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        st.sizes.push_back(size);
        self.node.in_flight.fetch_add(1, Ordering::AcqRel);
        self.node.in_flight_bytes.fetch_add(size, Ordering::AcqRel);
    }

    /// The reply to the request with `xid` was queued.
    pub fn reply_out(&self, xid: i32) {
        if xid <= 0 {
            return;
        }
        let mut st = self.state.lock();
        let Some(size) = st.sizes.pop_front() else {
            return;
        };
        self.node.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.node.in_flight_bytes.fetch_sub(size, Ordering::AcqRel);
        if self.paused.load(Ordering::Acquire) && (st.sizes.is_empty() || !self.node.over()) {
            self.resume();
        }
    }

    /// After a request was handled: pauses reading if the node is over its limits and this
    /// connection has requests in flight. Returns whether reads are paused.
    pub fn check_pause(&self) -> bool {
        if self.paused.load(Ordering::Acquire) {
            return true;
        }
        if !self.node.over() {
            return false;
        }
        let st = self.state.lock();
        if st.closed || st.sizes.is_empty() || !self.node.over() {
            return false;
        }
        self.paused.store(true, Ordering::Release);
        self.node.paused.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("zkr_connection_throttles_total").increment(1);
        metrics::gauge!("zkr_connections_throttled").increment(1.0);
        let node = &self.node;
        node.throttle_log.log(|n| {
            tracing::info!(
                in_flight = node.in_flight(),
                in_flight_bytes = node.in_flight_bytes(),
                global_outstanding_limit = node.limits.outstanding,
                global_outstanding_bytes = node.limits.outstanding_bytes,
                throttled = n,
                "too many requests in flight (globalOutstandingLimit): not reading busy connections until their replies are queued"
            )
        });
        true
    }

    fn resume(&self) {
        if self.paused.swap(false, Ordering::AcqRel) {
            self.node.paused.fetch_sub(1, Ordering::AcqRel);
            metrics::gauge!("zkr_connections_throttled").decrement(1.0);
            self.waker.wake();
        }
    }

    /// Are reads paused?
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Requests of this connection in flight.
    pub fn in_flight(&self) -> usize {
        self.state.lock().sizes.len()
    }

    /// The connection closed: what it held goes back to the node.
    pub fn close(&self) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        let n = st.sizes.len();
        let bytes: usize = st.sizes.drain(..).sum();
        self.node.in_flight.fetch_sub(n, Ordering::AcqRel);
        self.node.in_flight_bytes.fetch_sub(bytes, Ordering::AcqRel);
        drop(st);
        self.resume();
    }

    /// `len` bytes were queued for the socket. Returns false if that puts the queue over
    /// `max_queued_reply_bytes` (the caller disconnects the client).
    pub fn queued(&self, len: usize) -> bool {
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        before == 0 || before + len <= self.node.limits.queued_reply_bytes
    }

    /// `len` queued bytes were written to the socket.
    pub fn written(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }

    /// Bytes queued and not written yet.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire)
    }

    /// The client does not read what it is sent: log, count, and tell the writer to give up
    /// (see [`Self::killed`]). Idempotent.
    pub fn kill_slow_reader(&self, remote: std::net::SocketAddr, session: i64) {
        if self.killed.swap(true, Ordering::AcqRel) {
            return;
        }
        metrics::counter!("zkr_slow_clients_disconnected_total").increment(1);
        let limit = self.node.limits.queued_reply_bytes;
        let queued = self.queued_bytes();
        self.node.slow_log.log(|n| {
            tracing::warn!(
                %remote,
                session = %format!("{session:#x}"),
                queued_bytes = queued,
                max_queued_reply_bytes = limit,
                disconnected = n,
                "client does not read its replies (node.max_queued_reply_bytes): disconnecting"
            )
        });
        self.kill.notify_one();
    }

    /// Resolves when the connection's writer must give up (its client does not read).
    pub async fn killed(&self) {
        if self.killed.load(Ordering::Acquire) {
            return;
        }
        self.kill.notified().await;
    }
}

/// The xid of a reply frame (length, then the reply header's xid).
pub fn reply_xid(frame: &Bytes) -> i32 {
    match frame.get(4..8) {
        Some(b) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// A connection's input stream that yields nothing while its [`ConnFlow`] is paused.
pub struct Throttled<S> {
    inner: S,
    flow: Arc<ConnFlow>,
}

impl<S> Throttled<S> {
    /// `inner`, paused whenever `flow` is.
    pub fn new(inner: S, flow: Arc<ConnFlow>) -> Throttled<S> {
        Throttled { inner, flow }
    }
}

impl<S: Stream + Unpin> Stream for Throttled<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.flow.is_paused() {
            self.flow.waker.register(cx.waker());
            // Re-check after registering: a resume in between would otherwise be missed.
            if self.flow.is_paused() {
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(outstanding: usize, bytes: usize) -> Limits {
        Limits {
            per_ip: 2,
            total: 3,
            outstanding,
            outstanding_bytes: bytes,
            queued_reply_bytes: 100,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn connections_are_limited_per_ip_and_in_total() {
        let a = Admission::new(limits(10, 1000));
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(1)), Err(Refusal::PerIp));
        assert_eq!(a.admit(ip(2)), Ok(()));
        assert_eq!(a.admit(ip(3)), Err(Refusal::Total));
        assert_eq!(a.open_connections(), 3);
        a.release(ip(1));
        assert_eq!(a.admit(ip(3)), Ok(()));
        a.release(ip(9)); // never admitted: no effect
        assert_eq!(a.open_connections(), 3);
    }

    #[test]
    fn derived_total_leaves_room_for_the_node_itself() {
        assert_eq!(derived_max_connections(65536), 65536 - 256);
        assert_eq!(derived_max_connections(100), 16);
    }

    #[test]
    fn only_busy_connections_pause_and_their_replies_resume_them() {
        let node = Arc::new(Admission::new(limits(2, 1 << 20)));
        let busy = ConnFlow::new(node.clone());
        let idle = ConnFlow::new(node.clone());
        for xid in 1..=3 {
            busy.request_in(xid, 10);
        }
        busy.request_in(-2, 10); // a ping does not count
        assert_eq!(node.in_flight(), 3);
        assert!(busy.check_pause());
        assert!(
            !idle.check_pause(),
            "a connection with nothing in flight is read"
        );
        assert_eq!(node.paused_connections(), 1);
        busy.reply_out(1); // 2 in flight: not over the limit any more
        assert!(!busy.is_paused());
        assert_eq!(node.paused_connections(), 0);
    }

    #[test]
    fn the_last_reply_always_resumes() {
        let node = Arc::new(Admission::new(limits(0, 1 << 20)));
        let other = ConnFlow::new(node.clone());
        other.request_in(1, 1);
        other.request_in(2, 1);
        let c = ConnFlow::new(node.clone());
        c.request_in(7, 1);
        assert!(c.check_pause());
        c.reply_out(7);
        assert!(
            !c.is_paused(),
            "nothing in flight: read again although the node is over"
        );
    }

    #[test]
    fn bytes_in_flight_count_too() {
        let node = Arc::new(Admission::new(limits(1000, 100)));
        let c = ConnFlow::new(node.clone());
        c.request_in(1, 60);
        assert!(!c.check_pause());
        c.request_in(2, 60);
        assert!(c.check_pause());
        c.reply_out(1);
        assert!(!c.is_paused());
        assert_eq!(node.in_flight_bytes(), 60);
    }

    #[test]
    fn a_closed_connection_gives_back_what_it_held() {
        let node = Arc::new(Admission::new(limits(0, 1 << 20)));
        let c = ConnFlow::new(node.clone());
        c.request_in(1, 5);
        c.request_in(2, 5);
        assert!(c.check_pause());
        c.close();
        assert_eq!((node.in_flight(), node.in_flight_bytes()), (0, 0));
        assert!(!c.is_paused());
        c.reply_out(1); // a late reply of a closed connection
        c.request_in(3, 5);
        assert_eq!(node.in_flight(), 0);
    }

    #[test]
    fn the_reply_queue_is_bounded_but_one_frame_always_fits() {
        let node = Arc::new(Admission::new(limits(10, 1000)));
        let c = ConnFlow::new(node);
        assert!(
            c.queued(500),
            "one frame larger than the bound goes when the queue is empty"
        );
        c.written(500);
        assert!(c.queued(60));
        assert!(c.queued(40));
        assert!(!c.queued(1));
        c.written(101);
        assert_eq!(c.queued_bytes(), 0);
    }

    #[test]
    fn a_paused_stream_yields_nothing_until_resumed() {
        use futures::StreamExt;
        let node = Arc::new(Admission::new(limits(0, 1 << 20)));
        let flow = Arc::new(ConnFlow::new(node));
        let mut s = Throttled::new(futures::stream::iter([1, 2]), flow.clone());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(1)));
        flow.request_in(1, 1);
        assert!(flow.check_pause());
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Pending);
        flow.reply_out(1);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(2)));
    }

    #[test]
    fn the_rate_limited_log_counts_what_it_did_not_log() {
        let l = RateLimitedLog::default();
        let mut logged = Vec::new();
        for _ in 0..5 {
            l.log(|n| logged.push(n));
        }
        assert_eq!(logged, vec![1]);
    }
}
