//! The listening side of the peer links: accepting peer connections, authenticating them
//! ([`super::handshake::authenticate`]) and handing what each carries to the quorum actor.
//!
//! Invariants: nothing reaches the quorum actor before the handshake succeeds; a connection's
//! messages arrive in the order they were sent, those already read together in one
//! [`PeerInbound`] ([`super::gather`]: at most 64, each holding its share of the connection's
//! incoming budget (`peer_queue_bytes`) until the quorum actor drops it; a connection whose
//! budget is spent is not read, so the sender's queue fills, see [`super::link`]); the end of a
//! connection, or an undecodable frame, is reported by [`LinkDown`] after what came before it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::actor::QuorumPeer;
use super::auth::{self, AuthError, PeerSecurity};
use super::gather::{Delivery, Gather};
use super::handshake::authenticate;
use super::link::{deliver, LinkDown, PeerAnnounced, PeerInbound};
use crate::quorum::msg::Sid;

/// Unauthenticated peer connections handled at once; more are closed on accept.
const MAX_PENDING_HANDSHAKES: usize = 32;

pub(super) async fn accept(
    listener: std::net::TcpListener,
    quorum: Addr<QuorumPeer>,
    me: Sid,
    security: Arc<PeerSecurity>,
    budget: usize,
) {
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
    if !security.authenticated() {
        tracing::warn!(
            "peer links are not authenticated: anyone who can reach the peer port can take part \
             in elections and replication (set [ensemble] secret_file or [ensemble.tls], or \
             zoo.cfg sslQuorum=true)"
        );
    }
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let Ok(slot) = handshakes.clone().try_acquire_owned() else {
                    metrics::counter!("zkr_peer_auth_failures_total", "direction" => "incoming")
                        .increment(1);
                    tracing::warn!(%remote, "too many unauthenticated peer connections; closed");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                if security.keepalive {
                    crate::net::set_keepalive(&stream);
                }
                actix_rt::spawn(inbound(
                    stream,
                    remote,
                    quorum.clone(),
                    me,
                    security.clone(),
                    slot,
                    budget,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn inbound(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    quorum: Addr<QuorumPeer>,
    me: Sid,
    security: Arc<PeerSecurity>,
    slot: OwnedSemaphorePermit,
    budget: usize,
) {
    let authenticated = tokio::time::timeout(
        auth::HANDSHAKE_DEADLINE,
        authenticate(stream, me, &security),
    )
    .await
    .unwrap_or(Err((None, AuthError::Timeout(auth::HANDSHAKE_DEADLINE))));
    drop(slot);
    // The write half is kept (unused: the listening side never writes after the handshake) for
    // as long as the connection is read.
    let (hello, frames, _sink) = match authenticated {
        Ok(x) => x,
        Err((claimed, e)) => {
            metrics::counter!("zkr_peer_auth_failures_total", "direction" => "incoming")
                .increment(1);
            tracing::warn!(
                %remote,
                claimed_server = ?claimed,
                error = %e,
                "peer connection refused: not authenticated"
            );
            return;
        }
    };
    tracing::debug!(%remote, peer = hello.from, "peer connection authenticated");
    // Servers that are not members yet are accepted: a server joining by reconfig syncs with
    // the leader as a non-voting learner before the new configuration names it. Where it
    // listens lets the others answer it.
    if let Some(listen_addr) = hello.listen_addr.clone() {
        let announced = PeerAnnounced {
            from: hello.from,
            listen_addr,
        };
        if !deliver(&quorum, announced).await {
            return;
        }
    }
    let mut gather = Gather::new(frames, hello.from, budget);
    while let Some(Delivery { msgs, permit }) = gather.next().await {
        let delivered = deliver(
            &quorum,
            PeerInbound {
                from: hello.from,
                generation: hello.generation,
                msgs,
                budget: Some(permit),
            },
        )
        .await;
        if !delivered {
            return;
        }
    }
    deliver(&quorum, LinkDown { peer: hello.from }).await;
}
