//! Peer links: zkr's peer protocol over TCP.
//!
//! Each server listens on its peer port and keeps one outgoing connection to every other
//! member (so each pair has two connections, each used in one direction). A frame is a 4-byte
//! length then an rmp-serde value; the first frame of a connection is a [`Hello`] with the
//! protocol version (a mismatch is refused with a log line, never misread) and a generation
//! that changes on every reconnect. A broken or replaced connection is reported to the quorum
//! actor (`LinkDown`, or a new generation on `PeerInbound`): messages may have been lost, and
//! Zab resynchronises; so is a failed connect (what was to be sent is dropped). A link failure
//! is a message, never a panic. Outgoing links reconnect with exponential back-off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use super::actor::QuorumPeer;
use crate::quorum::msg::{Hello, PeerMsg, Sid, PEER_PROTOCOL_VERSION};

/// Largest peer frame (a proposal or forwarded request of the largest `jute.maxbuffer`; a
/// SNAP is streamed in chunks of `txnlog::stream::CHUNK_BYTES`).
pub const MAX_PEER_FRAME_BYTES: usize = 1 << 30;
/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_PEER_FRAME_BYTES)
        .new_codec()
}

/// Link → quorum: a message from a peer, on connection `generation`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PeerInbound {
    /// The sender.
    pub from: Sid,
    /// Its connection's generation.
    pub generation: u64,
    /// The message.
    pub msg: PeerMsg,
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

/// Quorum → link: send this.
#[derive(Message)]
#[rtype(result = "()")]
struct SendPeer(Bytes);

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
    quorum: Addr<QuorumPeer>,
    tx: Option<mpsc::UnboundedSender<Bytes>>,
    generation: u64,
    backoff: Duration,
    connecting: bool,
}

impl PeerLink {
    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.connecting || self.tx.is_some() {
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
        let addr = self.addr;
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let me = ctx.address();
        let connected = async move {
            let stream =
                tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout")
                    })??;
            stream.set_nodelay(true)?;
            let (read, write) = stream.into_split();
            let mut sink = FramedWrite::new(write, codec());
            let hello = rmp_serde::to_vec(&hello).map_err(std::io::Error::other)?;
            sink.send(Bytes::from(hello)).await?;
            Ok::<_, std::io::Error>((sink, read))
        };
        ctx.spawn(connected.into_actor(self).map(move |r, act, ctx| {
            act.connecting = false;
            match r {
                Ok((mut sink, mut read)) => {
                    act.backoff = BACKOFF_MIN;
                    act.tx = Some(tx);
                    tracing::debug!(peer = act.peer, "peer link up");
                    metrics::gauge!("zkr_peer_link_up", "peer" => act.peer.to_string()).set(1.0);
                    // The peer never writes on this connection: end of file or an error on the
                    // read side means it went away (a dead peer is noticed before the next send).
                    let watcher = me.clone();
                    actix_rt::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut b = [0u8; 64];
                        while matches!(read.read(&mut b).await, Ok(n) if n > 0) {}
                        watcher.do_send(Disconnected(generation));
                    });
                    actix_rt::spawn(async move {
                        while let Some(first) = rx.recv().await {
                            if sink.feed(first).await.is_err() {
                                break;
                            }
                            while let Ok(more) = rx.try_recv() {
                                if sink.feed(more).await.is_err() {
                                    break;
                                }
                            }
                            if SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                                break;
                            }
                        }
                        me.do_send(Disconnected(generation));
                    });
                }
                Err(e) => {
                    tracing::debug!(peer = act.peer, error = %e, "peer link connect failed");
                    // What was to be sent is dropped, and a follower of this peer must not wait
                    // initLimit for a leader that is gone (ZooKeeper gives up after a few tries
                    // 100 ms apart): the quorum actor hears of it as of a broken link.
                    act.quorum.do_send(LinkDown { peer: act.peer });
                    act.retry(ctx);
                }
            }
        }));
    }

    fn retry(&mut self, ctx: &mut Context<Self>) {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }
}

impl Actor for PeerLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.connect(ctx);
    }
}

impl Handler<SendPeer> for PeerLink {
    type Result = ();
    fn handle(&mut self, m: SendPeer, ctx: &mut Context<Self>) {
        match &self.tx {
            Some(tx) => {
                if tx.send(m.0).is_err() {
                    self.tx = None;
                }
            }
            None => self.connect(ctx),
        }
    }
}

impl Handler<StopLink> for PeerLink {
    type Result = ();
    fn handle(&mut self, _: StopLink, ctx: &mut Context<Self>) {
        self.tx = None;
        self.generation += 1;
        ctx.stop();
    }
}

impl Handler<Disconnected> for PeerLink {
    type Result = ();
    fn handle(&mut self, m: Disconnected, ctx: &mut Context<Self>) {
        if m.0 != self.generation || self.tx.is_none() {
            return; // already handled (the reader and the writer both report)
        }
        self.tx = None;
        tracing::info!(peer = self.peer, "peer link down");
        metrics::gauge!("zkr_peer_link_up", "peer" => self.peer.to_string()).set(0.0);
        metrics::counter!("zkr_peer_reconnects_total", "peer" => self.peer.to_string())
            .increment(1);
        metrics::counter!("zkr_actor_restarts_total", "actor" => "peer_link").increment(1);
        self.quorum.do_send(LinkDown { peer: self.peer });
        self.retry(ctx);
    }
}

/// The quorum actor's view of its links.
pub struct PeerLinks {
    me: Sid,
    /// Where this server accepts peer connections, told to every peer in the hello.
    listen_addr: Option<String>,
    peers: HashMap<Sid, SocketAddr>,
    listener: Option<std::net::TcpListener>,
    links: HashMap<Sid, Addr<PeerLink>>,
    quorum: Option<Addr<QuorumPeer>>,
}

impl PeerLinks {
    /// Links of server `me` to `peers`, accepting on `listener` (none for a standalone node).
    pub fn new(
        me: Sid,
        peers: HashMap<Sid, SocketAddr>,
        listener: Option<std::net::TcpListener>,
    ) -> PeerLinks {
        PeerLinks {
            me,
            listen_addr: None,
            peers,
            listener,
            links: HashMap::new(),
            quorum: None,
        }
    }

    /// Starts the listener and the outgoing links (called by the quorum actor when it starts).
    pub fn set_quorum(&mut self, quorum: Addr<QuorumPeer>) {
        self.quorum = Some(quorum.clone());
        let peers = std::mem::take(&mut self.peers);
        self.update(peers);
        if let Some(l) = self.listener.take() {
            actix_rt::spawn(accept(l, quorum));
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
                link.do_send(StopLink);
            }
            keep
        });
        for (id, addr) in &peers {
            if *id == self.me || self.links.contains_key(id) {
                continue;
            }
            let link = PeerLink {
                me: self.me,
                listen_addr: self.listen_addr.clone(),
                peer: *id,
                addr: *addr,
                quorum: quorum.clone(),
                tx: None,
                generation: 0,
                backoff: BACKOFF_MIN,
                connecting: false,
            }
            .start();
            self.links.insert(*id, link);
        }
        self.peers = peers;
    }

    /// The quorum actor, once started.
    pub fn quorum(&self) -> Option<Addr<QuorumPeer>> {
        self.quorum.clone()
    }

    /// Sends `msg` to `to` (dropped if the link is down: Zab resynchronises).
    pub fn send(&self, to: Sid, msg: PeerMsg) {
        let Some(link) = self.links.get(&to) else {
            return;
        };
        match rmp_serde::to_vec(&msg) {
            Ok(b) => {
                if matches!(msg, PeerMsg::Proposal(_)) {
                    crate::metrics::PROPOSAL_SIZES.record(b.len());
                }
                link.do_send(SendPeer(Bytes::from(b)))
            }
            Err(e) => tracing::error!(peer = to, error = %e, "cannot encode a peer message"),
        }
    }
}

async fn accept(listener: std::net::TcpListener, quorum: Addr<QuorumPeer>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|_| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot use the peer listener");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                actix_rt::spawn(inbound(stream, remote, quorum.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn inbound(stream: tokio::net::TcpStream, remote: SocketAddr, quorum: Addr<QuorumPeer>) {
    let mut frames = FramedRead::new(stream, codec());
    let hello: Hello = match frames.next().await {
        Some(Ok(b)) => match rmp_serde::from_slice(&b) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "peer connection without a valid hello; closed");
                return;
            }
        },
        _ => return,
    };
    if hello.protocol_version != PEER_PROTOCOL_VERSION {
        tracing::error!(
            %remote,
            theirs = hello.protocol_version,
            ours = PEER_PROTOCOL_VERSION,
            "peer speaks another protocol version; refused"
        );
        return;
    }
    // Servers that are not members yet are accepted: a server joining by reconfig syncs with
    // the leader as a non-voting learner before the new configuration names it. Where it
    // listens lets the others answer it.
    if let Some(listen_addr) = hello.listen_addr.clone() {
        quorum.do_send(PeerAnnounced {
            from: hello.from,
            listen_addr,
        });
    }
    while let Some(frame) = frames.next().await {
        let Ok(b) = frame else { break };
        match rmp_serde::from_slice::<PeerMsg>(&b) {
            Ok(msg) => quorum.do_send(PeerInbound {
                from: hello.from,
                generation: hello.generation,
                msg,
            }),
            Err(e) => {
                tracing::warn!(peer = hello.from, error = %e, "undecodable peer message; dropping the connection");
                break;
            }
        }
    }
    quorum.do_send(LinkDown { peer: hello.from });
}
