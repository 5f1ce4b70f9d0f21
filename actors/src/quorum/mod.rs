//! The ensemble: membership, election, Zab (discovery, synchronisation, broadcast) as pure cores,
//! the peer protocol, and the actor that runs a server's core.

pub mod config;
pub mod core;
pub mod dynconfig;
pub mod election;
pub mod follower;
pub mod leader;
pub mod msg;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod sim;

/// The node holding the ensemble's configuration.
pub const CONFIG_NODE: &str = "/zookeeper/config";
