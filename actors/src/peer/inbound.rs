//! The listening side of the peer links: accepting peer connections, authenticating them
//! ([`super::handshake::authenticate`]) and handing what each carries to the quorum actor.
//!
//! Invariants: nothing reaches the quorum actor before the handshake succeeds; a connection's
//! messages arrive in the order they were sent, those already read together in one
//! [`PeerInbound`] (at most [`FRAMES_PER_DELIVERY`]); each holds its share of the connection's
//! incoming budget (`peer_queue_bytes`) until the quorum actor drops it, and a connection whose
//! budget is spent is not read (so the sender's queue fills, see [`super::link`]); the end of a
//! connection, or an undecodable frame, is reported by [`LinkDown`] after what came before it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::actor::QuorumPeer;
use super::auth::{self, AuthError, PeerSecurity};
use super::handshake::authenticate;
use super::link::{deliver, LinkDown, PeerAnnounced, PeerInbound};
use crate::quorum::msg::{PeerMsg, Sid};

/// Unauthenticated peer connections handled at once; more are closed on accept.
const MAX_PENDING_HANDSHAKES: usize = 32;

/// Unit of the incoming byte budget (semaphore permits are counts).
const BUDGET_UNIT: usize = 1024;

/// At most this many frames that arrived together go to the quorum actor in one message.
const FRAMES_PER_DELIVERY: usize = 64;

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
    let (hello, mut frames, _sink) = match authenticated {
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
    let units = budget
        .div_ceil(BUDGET_UNIT)
        .clamp(1, Semaphore::MAX_PERMITS) as u32;
    let budget = Arc::new(Semaphore::new(units as usize));
    let cost = |len: usize| (len.div_ceil(BUDGET_UNIT) as u32).clamp(1, units);
    let decode = |b: &[u8]| {
        rmp_serde::from_slice::<PeerMsg>(b).map_err(|e| {
            tracing::warn!(peer = hello.from, error = %e, "undecodable peer message; dropping the connection");
        })
    };
    // A frame read but not admitted yet (the budget was short when it was gathered).
    let mut held = None;
    let mut open = true;
    while open {
        let b = match held.take() {
            Some(b) => b,
            None => match frames.next().await {
                Some(Ok(b)) => b,
                _ => break,
            },
        };
        let Ok(mut permit) = budget.clone().acquire_many_owned(cost(b.len())).await else {
            break;
        };
        let Ok(first) = decode(&b) else { break };
        let mut msgs = vec![first];
        // The frames already read follow it in the same message, without waiting.
        while open && msgs.len() < FRAMES_PER_DELIVERY {
            let b = match frames.next().now_or_never() {
                None => break, // nothing more read yet
                Some(Some(Ok(b))) => b,
                Some(_) => {
                    open = false; // the connection ended
                    break;
                }
            };
            let Ok(more) = budget.clone().try_acquire_many_owned(cost(b.len())) else {
                held = Some(b);
                break;
            };
            let Ok(m) = decode(&b) else {
                open = false;
                break;
            };
            permit.merge(more);
            msgs.push(m);
        }
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
