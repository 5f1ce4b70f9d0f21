//! Sockets and TLS shared by the client ports and the peer ports: TCP keepalive, and the rustls
//! configurations built from `[tls]` and `[ensemble.tls]` ([`tls`]).

pub mod tls;

/// Turns TCP keepalive on (`clientTcpKeepAlive`, `tcpKeepAlive`); a failure is logged.
pub fn set_keepalive(stream: &tokio::net::TcpStream) {
    if let Err(error) = socket2::SockRef::from(stream).set_keepalive(true) {
        tracing::warn!(%error, "cannot turn TCP keepalive on");
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn set_keepalive_turns_so_keepalive_on_for_an_accepted_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (stream, _) = accepted.unwrap();
        assert!(!socket2::SockRef::from(&stream).keepalive().unwrap());
        super::set_keepalive(&stream);
        assert!(socket2::SockRef::from(&stream).keepalive().unwrap());
    }
}
