//! Peer links: zkr's peer protocol over TCP (or TLS).
//!
//! Each server listens on its peer port and keeps one outgoing connection to every other
//! member (so each pair has two connections, each used in one direction). A frame is a 4-byte
//! length then an rmp-serde value. A connection opens with the authentication handshake of
//! [`super::auth`] (inside TLS when `[ensemble.tls]` is set): the connecting server's
//! [`Hello`] (the protocol version, refused cleanly on a mismatch, and a generation that changes
//! on every reconnect), then the challenge-response; nothing reaches the quorum actor, and nothing
//! is sent to the peer, before it succeeds. A broken or replaced connection is reported to the
//! quorum actor (`LinkDown`, or a new generation on `PeerInbound`): messages may have been lost,
//! and Zab resynchronises; so is a failed connect or handshake (what was to be sent is dropped).
//! A link failure is a message, never a panic. Outgoing links reconnect with exponential
//! back-off (one retry pending at a time). A send on a down link connects at once, except after
//! the peer refused this server's authentication: then only the back-off retries (at most one
//! attempt, and one log line naming the reason, every [`BACKOFF_MAX`]), since retrying sooner
//! cannot help; a new connection from that peer (it restarted, maybe with the right secret)
//! resets the back-off and connects at once.
//!
//! **Bounded queues, and what happens when one is full.**
//! * Outgoing: what the quorum actor sends to a peer waits in that link's queue until written,
//!   at most `[ensemble] peer_queue_bytes` (64 MiB; one larger frame, a snapshot, still goes when
//!   the queue is empty). A learner's sync (DIFF, TRUNC or SNAP, the txns, NEWLEADER) is not
//!   held against the bound: it is bounded by the leader's history (`commit_log_bytes`) or a
//!   snapshot, and a learner that fell further behind than the bound could otherwise never catch
//!   up. Sending never blocks the quorum actor. A peer that does not read fast
//!   enough to stay under the bound is dropped: the connection is closed at once, the quorum actor
//!   gets `LinkDown` (a leader forgets the learner, as when its connection breaks), the peer sees
//!   its connection close and syncs again (DIFF, TRUNC or SNAP), and the link reconnects. Logged,
//!   and counted in `zkr_peer_queue_overflows_total{peer}`; `zkr_peer_queue_bytes{peer}` is the
//!   queue's size.
//! * Incoming: each connection may have at most `peer_queue_bytes` of decoded messages waiting
//!   in the quorum actor's mailbox; past that, and whenever the mailbox is full, the connection
//!   stops being read (`try_send`, and a bounded wait on a full mailbox, never `do_send`), so the
//!   sender's queue fills and the rule above applies at the sender.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use futures::SinkExt;
use parking_lot::Mutex;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};
use tokio_util::codec::FramedWrite;

use super::actor::QuorumPeer;
use super::auth::{AuthError, PeerSecurity};
use super::codec::PeerCodec;
use super::handshake::{dial, BoxWrite};
use crate::quorum::msg::{Hello, PeerMsg, Sid, PEER_PROTOCOL_VERSION};

/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Capacity of the quorum actor's mailbox (messages; `try_send` sees it full past this).
pub const QUORUM_MAILBOX: usize = 4096;

/// Link → quorum: messages from a peer, on connection `generation`, in the order they were
/// sent: those already read when the first was decoded (one actor message, and one step of
/// the pipeline's outputs, for a whole read instead of one per frame).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PeerInbound {
    /// The sender.
    pub from: Sid,
    /// Its connection's generation.
    pub generation: u64,
    /// The messages (at least one).
    pub msgs: Vec<PeerMsg>,
    /// Their share of the connection's incoming budget, given back when they are dropped.
    pub budget: Option<OwnedSemaphorePermit>,
}

/// Link → quorum: a server connected and said where it listens (the quorum actor dials back
/// a server it has no link to: one joining by reconfig).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PeerAnnounced {
    /// The connecting server.
    pub from: Sid,
    /// Its peer listening address (`host:port`).
    pub listen_addr: String,
}

/// Link → quorum: the connection with `peer` broke; messages may have been lost.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct LinkDown {
    /// The peer.
    pub peer: Sid,
}

/// Sends `msg` to `addr` from a task: waits (a bounded back-off, never `do_send`) while the
/// mailbox is full. Returns false if the actor is gone.
pub(super) async fn deliver<A, M>(addr: &Addr<A>, mut msg: M) -> bool
where
    A: Actor + Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    let mut wait = Duration::from_millis(1);
    loop {
        match addr.try_send(msg) {
            Ok(()) => return true,
            Err(SendError::Full(m)) => {
                msg = m;
                metrics::counter!("zkr_peer_backpressure_waits_total").increment(1);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(20));
            }
            Err(SendError::Closed(_)) => return false,
        }
    }
}

/// A connection of an outgoing link, as the sending side sees it.
struct Conn {
    tx: mpsc::UnboundedSender<Frame>,
    abort: Arc<Notify>,
}

/// The sending side of an outgoing link, shared by the quorum actor (which pushes frames) and
/// the link's writer task (which writes them).
struct Outgoing {
    limit: usize,
    conn: Mutex<Option<Conn>>,
    /// Bytes queued and not yet written, sync frames included.
    queued: AtomicUsize,
    /// Of `queued`, the bytes of the learner's sync (DIFF/TRUNC/SNAP through NEWLEADER): they
    /// are not held against the bound.
    sync_queued: AtomicUsize,
    /// Between a DIFF, TRUNC or SNAP and the NEWLEADER that ends the sync.
    in_sync: AtomicBool,
    /// `zkr_peer_queue_bytes{peer}`, looked up once (it is set after every write).
    queue_gauge: metrics::Gauge,
}

/// One encoded message on its way to the writer task; `sync` if it belongs to a sync burst.
struct Frame {
    bytes: Bytes,
    sync: bool,
}

enum Pushed {
    Queued,
    Down,
    Overflow,
}

impl Outgoing {
    /// Queues `frame`. The frames of a sync burst (`sync`) are never refused: their size is
    /// bounded by the leader's history (`commit_log_bytes`) or a snapshot, and a learner further
    /// behind than `peer_queue_bytes` must still be able to catch up (it was dropped, then
    /// re-synced and dropped again, for ever). The bound applies to the other frames.
    fn push(&self, frame: Bytes, sync: bool) -> Pushed {
        let mut conn = self.conn.lock();
        let Some(c) = conn.as_ref() else {
            return Pushed::Down;
        };
        let len = frame.len();
        let live = self
            .queued
            .load(Ordering::Acquire)
            .saturating_sub(self.sync_queued.load(Ordering::Acquire));
        if !sync && live > 0 && live + len > self.limit {
            if let Some(c) = conn.take() {
                c.abort.notify_one();
            }
            return Pushed::Overflow;
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        if sync {
            self.sync_queued.fetch_add(len, Ordering::AcqRel);
        }
        if c.tx.send(Frame { bytes: frame, sync }).is_err() {
            self.written(len, if sync { len } else { 0 });
            *conn = None;
            return Pushed::Down;
        }
        Pushed::Queued
    }

    /// `len` bytes left the queue, `sync_len` of them sync frames.
    fn written(&self, len: usize, sync_len: usize) {
        let sub = |n: usize| move |q: usize| Some(q.saturating_sub(n));
        let _ = self
            .sync_queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, sub(sync_len));
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, sub(len));
        self.queue_gauge
            .set(self.queued.load(Ordering::Acquire) as f64);
    }

    /// A new connection replaces whatever was there; the queue starts empty.
    fn up(&self, c: Conn) {
        *self.conn.lock() = Some(c);
    }

    fn down(&self) {
        if let Some(c) = self.conn.lock().take() {
            c.abort.notify_one();
        }
    }
}

/// Quorum → link: connect if not connected (a send found the link down).
#[derive(Message)]
#[rtype(result = "()")]
struct Nudge;

/// Quorum → link: the peer opened a new connection to this server: connect now.
#[derive(Message)]
#[rtype(result = "()")]
struct PeerHeard;

#[derive(Message)]
#[rtype(result = "()")]
struct Disconnected(u64);

/// Quorum → link: the peer left the ensemble.
#[derive(Message)]
#[rtype(result = "()")]
struct StopLink;

/// The outgoing link to one peer.
struct PeerLink {
    me: Sid,
    listen_addr: Option<String>,
    peer: Sid,
    addr: SocketAddr,
    host: String,
    quorum: Addr<QuorumPeer>,
    out: Arc<Outgoing>,
    security: Arc<PeerSecurity>,
    up: bool,
    generation: u64,
    backoff: Duration,
    connecting: bool,
    /// The scheduled reconnect, if one is pending.
    retry_at: Option<SpawnHandle>,
    /// The last attempt failed because the peer refused this server's authentication.
    refused: bool,
}

impl PeerLink {
    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.connecting || self.up {
            return;
        }
        self.connecting = true;
        self.generation += 1;
        let generation = self.generation;
        let hello = Hello {
            protocol_version: PEER_PROTOCOL_VERSION,
            from: self.me,
            generation: rand::random::<u64>() ^ generation,
            listen_addr: self.listen_addr.clone(),
        };
        let dialed = dial(
            self.addr,
            self.host.clone(),
            hello,
            self.peer,
            self.security.clone(),
        );
        let me = ctx.address();
        ctx.spawn(dialed.into_actor(self).map(move |r, act, ctx| {
            act.connecting = false;
            match r {
                Ok((mut read, mut sink)) => {
                    act.backoff = BACKOFF_MIN;
                    act.refused = false;
                    act.up = true;
                    let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
                    let abort = Arc::new(Notify::new());
                    act.out.queued.store(0, Ordering::Release);
                    act.out.sync_queued.store(0, Ordering::Release);
                    act.out.in_sync.store(false, Ordering::Release);
                    act.out.up(Conn {
                        tx,
                        abort: abort.clone(),
                    });
                    tracing::debug!(peer = act.peer, "peer link up");
                    metrics::gauge!("zkr_peer_link_up", "peer" => act.peer.to_string()).set(1.0);
                    // The peer never writes on this connection: end of file or an error on the
                    // read side means it went away (a dead peer is noticed before the next send).
                    let watcher = me.clone();
                    actix_rt::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut b = [0u8; 64];
                        while matches!(read.read(&mut b).await, Ok(n) if n > 0) {}
                        deliver(&watcher, Disconnected(generation)).await;
                    });
                    let out = act.out.clone();
                    actix_rt::spawn(async move {
                        write_loop(&mut sink, &mut rx, &out, &abort).await;
                        deliver(&me, Disconnected(generation)).await;
                    });
                }
                Err(e) => {
                    act.refused = !matches!(e, AuthError::Unreachable(_) | AuthError::Io(_));
                    match &e {
                        AuthError::Unreachable(_) => {
                            tracing::debug!(peer = act.peer, error = %e, "peer link connect failed")
                        }
                        AuthError::Io(_) => {
                            tracing::warn!(peer = act.peer, error = %e, "peer link handshake failed")
                        }
                        _ => {
                            metrics::counter!("zkr_peer_auth_failures_total", "direction" => "outgoing")
                                .increment(1);
                            tracing::error!(
                                peer = act.peer,
                                addr = %act.addr,
                                error = %e,
                                "peer link not authenticated; not sending anything to this peer"
                            )
                        }
                    }
                    // What was to be sent is dropped, and a follower of this peer must not wait
                    // initLimit for a leader that is gone (ZooKeeper gives up after a few tries
                    // 100 ms apart): the quorum actor hears of it as of a broken link.
                    let (quorum, peer) = (act.quorum.clone(), act.peer);
                    actix_rt::spawn(async move {
                        deliver(&quorum, LinkDown { peer }).await;
                    });
                    act.retry(ctx);
                }
            }
        }));
    }

    fn retry(&mut self, ctx: &mut Context<Self>) {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.cancel_retry(ctx);
        self.retry_at = Some(ctx.run_later(delay, |act, ctx| {
            act.retry_at = None;
            act.connect(ctx);
        }));
    }

    fn cancel_retry(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.retry_at.take() {
            ctx.cancel_future(h);
        }
    }
}

/// Writes what the queue holds, batching what is ready into one flush, until the connection
/// fails, the queue closes, or the sending side aborts it (queue over its bound).
async fn write_loop(
    sink: &mut FramedWrite<BoxWrite, PeerCodec>,
    rx: &mut mpsc::UnboundedReceiver<Frame>,
    out: &Outgoing,
    abort: &Notify,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = abort.notified() => return,
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let (mut bytes, mut sync_bytes) = (0, 0);
        let mut count = |f: &Frame| {
            bytes += f.bytes.len();
            if f.sync {
                sync_bytes += f.bytes.len();
            }
        };
        count(&first);
        let batch = async {
            sink.feed(first.bytes).await?;
            while let Ok(more) = rx.try_recv() {
                count(&more);
                sink.feed(more.bytes).await?;
            }
            SinkExt::<Bytes>::flush(sink).await
        };
        let done = tokio::select! {
            biased;
            _ = abort.notified() => return,
            r = batch => r,
        };
        out.written(bytes, sync_bytes);
        if done.is_err() {
            return;
        }
    }
}

impl Actor for PeerLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.connect(ctx);
    }
}

impl Handler<Nudge> for PeerLink {
    type Result = ();
    fn handle(&mut self, _: Nudge, ctx: &mut Context<Self>) {
        if self.refused && self.retry_at.is_some() {
            return; // the back-off retries: a refused handshake is not retried sooner
        }
        self.cancel_retry(ctx);
        self.connect(ctx);
    }
}

impl Handler<PeerHeard> for PeerLink {
    type Result = ();
    fn handle(&mut self, _: PeerHeard, ctx: &mut Context<Self>) {
        if self.up || self.retry_at.is_none() {
            return; // up, or an attempt is under way
        }
        self.backoff = BACKOFF_MIN;
        self.cancel_retry(ctx);
        self.connect(ctx);
    }
}

impl Handler<StopLink> for PeerLink {
    type Result = ();
    fn handle(&mut self, _: StopLink, ctx: &mut Context<Self>) {
        self.out.down();
        self.up = false;
        self.generation += 1;
        ctx.stop();
    }
}

impl Handler<Disconnected> for PeerLink {
    type Result = ();
    fn handle(&mut self, m: Disconnected, ctx: &mut Context<Self>) {
        if m.0 != self.generation || !self.up {
            return; // already handled (the reader and the writer both report)
        }
        self.up = false;
        self.out.down();
        tracing::info!(peer = self.peer, "peer link down");
        metrics::gauge!("zkr_peer_link_up", "peer" => self.peer.to_string()).set(0.0);
        metrics::counter!("zkr_peer_reconnects_total", "peer" => self.peer.to_string())
            .increment(1);
        metrics::counter!("zkr_actor_restarts_total", "actor" => "peer_link").increment(1);
        let quorum = self.quorum.clone();
        let peer = self.peer;
        actix_rt::spawn(async move {
            deliver(&quorum, LinkDown { peer }).await;
        });
        self.retry(ctx);
    }
}

struct LinkHandle {
    actor: Addr<PeerLink>,
    out: Arc<Outgoing>,
}

/// The quorum actor's view of its links.
pub struct PeerLinks {
    me: Sid,
    /// Where this server accepts peer connections, told to every peer in the hello.
    listen_addr: Option<String>,
    peers: HashMap<Sid, SocketAddr>,
    hosts: HashMap<Sid, String>,
    listener: Option<std::net::TcpListener>,
    links: HashMap<Sid, LinkHandle>,
    quorum: Option<Addr<QuorumPeer>>,
    security: Arc<PeerSecurity>,
    queue_bytes: usize,
    encoder: super::encode::Encoder,
}

impl PeerLinks {
    /// Links of server `me` to `peers`, accepting on `listener` (none for a standalone node),
    /// authenticated by `security`, each queue bounded at `queue_bytes`. `hosts` are the
    /// members' configured host names (their TLS names; the IP address is used for others).
    pub fn new(
        me: Sid,
        peers: HashMap<Sid, SocketAddr>,
        listener: Option<std::net::TcpListener>,
        security: PeerSecurity,
        hosts: HashMap<Sid, String>,
        queue_bytes: usize,
    ) -> PeerLinks {
        PeerLinks {
            me,
            listen_addr: None,
            peers,
            hosts,
            listener,
            links: HashMap::new(),
            quorum: None,
            security: Arc::new(security),
            queue_bytes: queue_bytes.max(1),
            encoder: Default::default(),
        }
    }

    /// Starts the listener and the outgoing links (called by the quorum actor when it starts).
    pub fn set_quorum(&mut self, quorum: Addr<QuorumPeer>) {
        self.quorum = Some(quorum.clone());
        let peers = std::mem::take(&mut self.peers);
        self.update(peers);
        if let Some(l) = self.listener.take() {
            actix_rt::spawn(super::inbound::accept(
                l,
                quorum,
                self.me,
                self.security.clone(),
                self.queue_bytes,
            ));
        }
    }

    /// Where this server accepts peer connections (`host:port` from its own configuration),
    /// announced to every peer it dials.
    pub fn set_listen_addr(&mut self, addr: Option<String>) {
        self.listen_addr = addr;
    }

    /// The address each peer is reached at.
    pub fn peers(&self) -> &HashMap<Sid, SocketAddr> {
        &self.peers
    }

    /// The ensemble changed: links to new members start, links to members that left stop.
    pub fn update(&mut self, peers: HashMap<Sid, SocketAddr>) {
        let Some(quorum) = self.quorum.clone() else {
            self.peers = peers;
            return;
        };
        self.links.retain(|id, link| {
            let keep = peers.get(id) == self.peers.get(id) && peers.contains_key(id);
            if !keep {
                link.out.down();
                link.actor.do_send(StopLink);
            }
            keep
        });
        for (id, addr) in &peers {
            if *id == self.me || self.links.contains_key(id) {
                continue;
            }
            let out = Arc::new(Outgoing {
                limit: self.queue_bytes,
                conn: Mutex::new(None),
                queued: AtomicUsize::new(0),
                sync_queued: AtomicUsize::new(0),
                in_sync: AtomicBool::new(false),
                queue_gauge: metrics::gauge!("zkr_peer_queue_bytes", "peer" => id.to_string()),
            });
            let actor = PeerLink {
                me: self.me,
                listen_addr: self.listen_addr.clone(),
                peer: *id,
                addr: *addr,
                host: self
                    .hosts
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| addr.ip().to_string()),
                quorum: quorum.clone(),
                out: out.clone(),
                security: self.security.clone(),
                up: false,
                generation: 0,
                backoff: BACKOFF_MIN,
                connecting: false,
                retry_at: None,
                refused: false,
            }
            .start();
            self.links.insert(*id, LinkHandle { actor, out });
        }
        self.peers = peers;
    }

    /// `peer` opened a new connection to this server: a link to it waiting out its back-off
    /// connects now.
    pub fn heard_from(&self, peer: Sid) {
        if let Some(link) = self.links.get(&peer) {
            let _ = link.actor.try_send(PeerHeard);
        }
    }

    /// The quorum actor, once started.
    pub fn quorum(&self) -> Option<Addr<QuorumPeer>> {
        self.quorum.clone()
    }

    /// Sends `msg` to `to`: queued on its link without blocking; dropped if the link is down
    /// (Zab resynchronises); a queue over its bound drops the link (see the module doc).
    pub fn send(&mut self, to: Sid, msg: PeerMsg) {
        let Some(link) = self.links.get(&to) else {
            return;
        };
        let b = match self.encoder.encode(&msg) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(peer = to, error = %e, "cannot encode a peer message");
                return;
            }
        };
        if matches!(msg, PeerMsg::Proposal(_)) {
            crate::metrics::PROPOSAL_SIZES.record(b.len());
        }
        // A sync burst: from DIFF, TRUNC or the start of a streamed SNAP to the NEWLEADER that
        // ends it (a new connection starts outside one). A SNAP's chunks are part of it; the
        // stream's window already bounds how many are queued.
        let sync = match msg {
            PeerMsg::Diff { .. } | PeerMsg::Trunc { .. } | PeerMsg::SnapBegin(_) => {
                link.out.in_sync.store(true, Ordering::Release);
                true
            }
            PeerMsg::NewLeader { .. } => link.out.in_sync.swap(false, Ordering::AcqRel),
            _ => link.out.in_sync.load(Ordering::Acquire),
        };
        match link.out.push(b, sync) {
            Pushed::Queued => {}
            Pushed::Down => {
                // A nudge is idempotent: a full mailbox already holds one.
                let _ = link.actor.try_send(Nudge);
            }
            Pushed::Overflow => {
                metrics::counter!("zkr_peer_queue_overflows_total", "peer" => to.to_string())
                    .increment(1);
                tracing::warn!(
                    peer = to,
                    queued_bytes = link.out.queued.load(Ordering::Acquire),
                    peer_queue_bytes = self.queue_bytes,
                    "peer does not keep up (ensemble.peer_queue_bytes): dropping the link; it re-syncs"
                );
            }
        }
    }
}
