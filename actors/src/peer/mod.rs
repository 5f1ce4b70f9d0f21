//! The quorum actor ([`actor::QuorumPeer`]) and its peer links: their frame codec, the
//! authentication handshake and peer authentication (`[ensemble.auth]`, `[ensemble.tls]`).

pub mod actor;
pub mod auth;
pub mod codec;
pub mod encode;
pub mod gather;
pub mod handshake;
mod inbound;
pub mod link;
pub mod messages;
pub mod resolve;
pub mod snapsend;
