//! The client-port listener: accepts sockets and hands each to a connection actor on one of the
//! node's connection arbiters (round robin), after the per-IP connection limit.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;

use super::actor::Connection;
use crate::node::context::NodeContext;

/// Binds the client port and accepts connections until the system stops.
pub async fn serve(
    node: Arc<NodeContext>,
    listener: tokio::net::TcpListener,
    arbiters: Vec<ArbiterHandle>,
) {
    let mut next = 0usize;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if !node.admit_ip(remote.ip()) {
            tracing::warn!(%remote, "too many connections from this address (maxClientCnxns); refusing");
            continue;
        }
        hand_off(&node, stream, remote, &arbiters, &mut next);
    }
}

fn hand_off(
    node: &Arc<NodeContext>,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    arbiters: &[ArbiterHandle],
    next: &mut usize,
) {
    if arbiters.is_empty() {
        Connection::start(node.clone(), stream, remote);
        return;
    }
    let std_stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%remote, error = %e, "cannot move socket to a connection arbiter");
            node.release_ip(remote.ip());
            return;
        }
    };
    let arbiter = &arbiters[*next % arbiters.len()];
    *next = next.wrapping_add(1);
    let node = node.clone();
    let sent = arbiter.spawn(async move {
        match tokio::net::TcpStream::from_std(std_stream) {
            Ok(s) => Connection::start(node, s, remote),
            Err(e) => {
                tracing::warn!(%remote, error = %e, "cannot register socket");
                node.release_ip(remote.ip());
            }
        }
    });
    if !sent {
        tracing::error!("connection arbiter is gone");
    }
}
