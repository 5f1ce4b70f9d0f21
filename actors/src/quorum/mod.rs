//! The ensemble: membership, election, Zab (discovery, synchronisation, broadcast) as pure cores,
//! and the peer protocol's messages. The actor that runs a server's core is [`crate::peer`].

pub mod config;
pub mod cont;
pub mod core;
pub mod durable;
pub mod dynconfig;
pub mod election;
pub mod follower;
pub mod io;
pub mod leader;
pub mod msg;
pub mod routes;

/// The node holding the ensemble's configuration.
pub const CONFIG_NODE: &str = "/zookeeper/config";
