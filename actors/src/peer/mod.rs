//! The quorum actor ([`actor::QuorumPeer`]) and its peer links.

pub mod actor;
pub mod link;
pub mod messages;
pub mod resolve;
pub mod snapsend;
