//! Sockets and TLS shared by the client ports and the peer ports: TCP keepalive, and the rustls
//! configurations built from `[tls]` and `[ensemble.tls]` ([`tls`]).

pub mod tls;

/// Turns TCP keepalive on (`clientTcpKeepAlive`, `tcpKeepAlive`); a failure is logged.
pub fn set_keepalive(stream: &tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) on a socket we own, with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot turn TCP keepalive on");
    }
}
