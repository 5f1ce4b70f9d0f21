//! The client-port listeners: accept sockets and hand each to a connection actor on one of the
//! node's connection arbiters (round robin), after the connection limits (`maxClientCnxns` per
//! IP, `maxCnxns` in total: see [`crate::admission`]). On the secure
//! port (`[tls]`) the connection first does its TLS handshake, on its arbiter, within the
//! handshake deadline; a failed handshake just closes the socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio_rustls::TlsAcceptor;

use super::actor::Connection;
use crate::context::NodeContext;
use crate::proto::Id;
use crate::startup::StartError;

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
            continue; // logged and counted by the admission
        }
        if node.config.node.tcp_keepalive {
            crate::net::set_keepalive(&stream);
        }
        hand_off(&node, stream, remote, &arbiters, &mut next, None);
    }
}

/// Starts the secure client port if `[tls]` configures one: loads the TLS material, binds the
/// port, and accepts connections there as [`serve`] does on the plain port. Returns the bound
/// address. The node's one call into this module for TLS.
pub async fn start_secure(
    node: &Arc<NodeContext>,
    arbiters: &[ArbiterHandle],
) -> Result<Option<SocketAddr>, StartError> {
    let tls = &node.config.tls;
    let Some(port) = tls.secure_client_port else {
        return Ok(None);
    };
    let ip = tls
        .secure_client_address
        .unwrap_or(node.config.node.client_address);
    let addr = SocketAddr::new(ip, port);
    let config = crate::net::tls::server_config(tls).map_err(|e| StartError::Bind {
        port: "secure client",
        addr,
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("TLS: {e}")),
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            port: "secure client",
            addr,
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(addr);
    actix_rt::spawn(serve_secure(
        node.clone(),
        listener,
        TlsAcceptor::from(config),
        arbiters.to_vec(),
    ));
    tracing::info!(secure_client_addr = %bound, client_auth = ?tls.client_auth, "TLS client port serving");
    Ok(Some(bound))
}

async fn serve_secure(
    node: Arc<NodeContext>,
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    arbiters: Vec<ArbiterHandle>,
) {
    let mut next = 0usize;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed on the TLS port");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !node.admit_ip(remote.ip()) {
            continue; // logged and counted by the admission
        }
        if node.config.node.tcp_keepalive {
            crate::net::set_keepalive(&stream);
        }
        hand_off(&node, stream, remote, &arbiters, &mut next, Some(&acceptor));
    }
}

/// The TLS handshake of a secure-port connection, then its connection actor, with the `x509`
/// identity of its certificate (and `super` if that is `tls.super_user`), as ZooKeeper's
/// `X509AuthenticationProvider` gives.
async fn handshake(
    node: Arc<NodeContext>,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
) {
    let _ = stream.set_nodelay(true);
    let deadline =
        Duration::from_millis(node.config.node.sessionless_connection_timeout_ms.max(1) as u64);
    let tls = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            metrics::counter!("zkr_tls_handshake_failures_total").increment(1);
            tracing::info!(%remote, error = %e, "TLS handshake failed; closing");
            node.release_ip(remote.ip());
            return;
        }
        Err(_) => {
            metrics::counter!("zkr_tls_handshake_failures_total").increment(1);
            tracing::info!(%remote, "no TLS handshake in time; closing");
            node.release_ip(remote.ip());
            return;
        }
    };
    let subject = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(crate::net::tls::x509_identity);
    let mut ids = Vec::new();
    if let Some(subject) = subject {
        if node.config.tls.super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id {
                scheme: "super".into(),
                id: subject.clone(),
            });
        }
        ids.push(Id {
            scheme: "x509".into(),
            id: subject,
        });
    }
    let (read, write) = tokio::io::split(tls);
    metrics::counter!("zkr_actor_starts_total", "actor" => "connection").increment(1);
    Connection::start_on(node, read, write, remote, ids);
}

fn start_here(
    node: Arc<NodeContext>,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    match tls {
        None => {
            metrics::counter!("zkr_actor_starts_total", "actor" => "connection").increment(1);
            Connection::start(node, stream, remote)
        }
        Some(acceptor) => {
            actix_rt::spawn(handshake(node, stream, remote, acceptor));
        }
    }
}

fn hand_off(
    node: &Arc<NodeContext>,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    arbiters: &[ArbiterHandle],
    next: &mut usize,
    tls: Option<&TlsAcceptor>,
) {
    let tls = tls.cloned();
    if arbiters.is_empty() {
        start_here(node.clone(), stream, remote, tls);
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
            Ok(s) => start_here(node, s, remote, tls),
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
