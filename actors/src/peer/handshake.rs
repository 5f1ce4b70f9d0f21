//! The peer link handshake over a fresh connection: TLS when `[ensemble.tls]` is set, then the
//! connecting server's [`Hello`] and the challenge-response of [`super::auth`], both sides, each
//! within [`auth::HANDSHAKE_DEADLINE`]. Handshake frames are bounded by
//! [`auth::HANDSHAKE_FRAME_LIMIT`]; only an authenticated connection gets the full frame bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::auth::{self, AuthError, AuthFrame, PeerSecurity, HANDSHAKE_FRAME_LIMIT};
use super::codec::{codec, PeerCodec, MAX_PEER_FRAME_BYTES};
use crate::quorum::msg::{Hello, Sid, PEER_PROTOCOL_VERSION};

/// The read half of a peer connection (TCP or TLS).
pub type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of a peer connection (TCP or TLS).
pub type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// Connects to `addr` and runs the client side of the handshake (TLS, then hello and proofs).
pub async fn dial(
    addr: SocketAddr,
    host: String,
    hello: Hello,
    to: Sid,
    security: Arc<PeerSecurity>,
) -> Result<(BoxRead, FramedWrite<BoxWrite, PeerCodec>), AuthError> {
    let unreachable = |e: std::io::Error| AuthError::Unreachable(e.to_string());
    let stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| AuthError::Unreachable("connect timeout".into()))?
        .map_err(unreachable)?;
    stream.set_nodelay(true).map_err(unreachable)?;
    if security.keepalive {
        crate::net::set_keepalive(&stream);
    }
    let (read, write): (BoxRead, BoxWrite) = match &security.tls {
        None => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Some(tls) => {
            let name = server_name(&host, addr);
            let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
            let s = tokio::time::timeout(auth::HANDSHAKE_DEADLINE, connector.connect(name, stream))
                .await
                .map_err(|_| AuthError::Timeout(auth::HANDSHAKE_DEADLINE))?
                .map_err(|e| AuthError::Tls(e.to_string()))?;
            let (r, w) = tokio::io::split(s);
            (Box::new(r), Box::new(w))
        }
    };
    let mut sink = FramedWrite::new(write, codec(MAX_PEER_FRAME_BYTES));
    let mut frames = FramedRead::new(read, codec(HANDSHAKE_FRAME_LIMIT));
    let handshake = async {
        let secret = security.secret.as_ref();
        let mine = auth::nonce();
        send_frame(&mut sink, &hello).await?;
        send_frame(&mut sink, &AuthFrame::Start { nonce: mine }).await?;
        let (theirs, proof) = match recv_frame::<AuthFrame>(&mut frames).await? {
            AuthFrame::Challenge { nonce, proof } => (nonce, proof),
            AuthFrame::Refused { reason } => return Err(AuthError::Refused(reason)),
            other => return Err(AuthError::Protocol(format!("{other:?}"))),
        };
        auth::check(
            secret,
            proof.as_ref(),
            &auth::listener_message(hello.from, to, &mine, &theirs),
        )?;
        let proof = auth::prove(
            secret,
            &auth::connector_message(hello.from, to, hello.generation, &mine, &theirs),
        );
        send_frame(&mut sink, &AuthFrame::Proof { proof }).await?;
        match recv_frame::<AuthFrame>(&mut frames).await? {
            AuthFrame::Accepted => Ok(()),
            AuthFrame::Refused { reason } => Err(AuthError::Refused(reason)),
            other => Err(AuthError::Protocol(format!("{other:?}"))),
        }
    };
    tokio::time::timeout(auth::HANDSHAKE_DEADLINE, handshake)
        .await
        .map_err(|_| AuthError::Timeout(auth::HANDSHAKE_DEADLINE))??;
    Ok((frames.into_inner(), sink))
}

/// The TLS name of a member: its configured host if that is a DNS name, else its IP address.
fn server_name(host: &str, addr: SocketAddr) -> rustls_pki_name::ServerName<'static> {
    match rustls_pki_name::ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(_) => rustls_pki_name::ServerName::IpAddress(addr.ip().into()),
    }
}

mod rustls_pki_name {
    pub use tokio_rustls::rustls::pki_types::ServerName;
}

async fn send_frame<W, T>(sink: &mut FramedWrite<W, PeerCodec>, v: &T) -> Result<(), AuthError>
where
    W: AsyncWrite + Unpin,
    T: serde::Serialize,
{
    let b = rmp_serde::to_vec(v).map_err(|e| AuthError::Protocol(e.to_string()))?;
    sink.send(Bytes::from(b)).await.map_err(io_error)
}

async fn recv_frame<T: serde::de::DeserializeOwned>(
    frames: &mut FramedRead<BoxRead, PeerCodec>,
) -> Result<T, AuthError> {
    match frames.next().await {
        Some(Ok(b)) => rmp_serde::from_slice(&b)
            .map_err(|e| AuthError::Protocol(format!("undecodable frame: {e}"))),
        Some(Err(e)) => Err(io_error(e)),
        None => Err(AuthError::Io("closed".into())),
    }
}

/// A failed read or write: TLS's own errors (a refused certificate, an alert from the peer)
/// are authentication failures, the rest connection failures.
fn io_error(e: std::io::Error) -> AuthError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
    {
        Some(tls) => AuthError::Tls(tls.to_string()),
        None => AuthError::Io(e.to_string()),
    }
}

/// An authenticated incoming connection: the peer's hello, its frames, and the write half (kept
/// open, unused, for as long as the frames are read).
pub type Authenticated = (
    Hello,
    FramedRead<BoxRead, PeerCodec>,
    FramedWrite<BoxWrite, PeerCodec>,
);

/// The listening side of the handshake: TLS if configured, the hello, the challenge-response.
pub async fn authenticate(
    stream: tokio::net::TcpStream,
    me: Sid,
    security: &PeerSecurity,
) -> Result<Authenticated, (Option<Sid>, AuthError)> {
    let (read, write): (BoxRead, BoxWrite) = match &security.tls {
        None => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
            let s = acceptor
                .accept(stream)
                .await
                .map_err(|e| (None, AuthError::Tls(e.to_string())))?;
            let (r, w) = tokio::io::split(s);
            (Box::new(r), Box::new(w))
        }
    };
    let mut frames = FramedRead::new(read, codec(HANDSHAKE_FRAME_LIMIT));
    let mut sink = FramedWrite::new(write, codec(HANDSHAKE_FRAME_LIMIT));
    let hello: Hello = recv_frame(&mut frames).await.map_err(|e| (None, e))?;
    let from = Some(hello.from);
    if hello.protocol_version != PEER_PROTOCOL_VERSION {
        return Err((
            from,
            AuthError::Protocol(format!(
                "protocol version {} (this server speaks {PEER_PROTOCOL_VERSION})",
                hello.protocol_version
            )),
        ));
    }
    let secret = security.secret.as_ref();
    let theirs = match recv_frame::<AuthFrame>(&mut frames).await {
        Ok(AuthFrame::Start { nonce }) => nonce,
        Ok(other) => return Err((from, AuthError::Protocol(format!("{other:?}")))),
        Err(e) => return Err((from, e)),
    };
    let mine = auth::nonce();
    let proof = auth::prove(
        secret,
        &auth::listener_message(hello.from, me, &theirs, &mine),
    );
    send_frame(&mut sink, &AuthFrame::Challenge { nonce: mine, proof })
        .await
        .map_err(|e| (from, e))?;
    let proof = match recv_frame::<AuthFrame>(&mut frames).await {
        Ok(AuthFrame::Proof { proof }) => proof,
        Ok(other) => return Err((from, AuthError::Protocol(format!("{other:?}")))),
        Err(e) => return Err((from, e)),
    };
    let checked = auth::check(
        secret,
        proof.as_ref(),
        &auth::connector_message(hello.from, me, hello.generation, &theirs, &mine),
    );
    let answer = match &checked {
        Ok(()) => AuthFrame::Accepted,
        Err(e) => AuthFrame::Refused {
            reason: e.to_string(),
        },
    };
    let sent = send_frame(&mut sink, &answer).await;
    checked.map_err(|e| (from, e))?;
    sent.map_err(|e| (from, e))?;
    frames
        .decoder_mut()
        .set_max_frame_length(MAX_PEER_FRAME_BYTES);
    Ok((hello, frames, sink))
}
