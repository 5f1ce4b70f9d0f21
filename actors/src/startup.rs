//! Why a node could not start: the error of the node's wiring and of the listeners that bind
//! its ports before any actor runs.

use std::net::SocketAddr;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("cannot listen on {port} address {addr}: {source}")]
    Bind {
        /// Which port: `client`, `secure client` or `peer`.
        port: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be recovered.
    #[error("recovery of {dir} failed: {source}")]
    Recovery {
        /// The data directory.
        dir: String,
        /// Why.
        source: crate::txnlog::recovery::RecoveryError,
    },
    /// The configuration cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// The log could not be opened.
    #[error("cannot open the log: {0}")]
    Log(#[from] crate::txnlog::LogError),
    /// The metrics exporter could not start.
    #[error("cannot start the metrics exporter on {addr}: {message}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}
