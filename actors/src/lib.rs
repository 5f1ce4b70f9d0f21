//! zkr's actors and their pure cores, one module per job, layered: a module imports only the
//! modules below it in the table of `docs/architecture.md` (checked by `tests/tidy.rs`).
//!
//! Pure cores (no IO, no clock, no actix): [`proto`] (the jute codec), [`txn`], [`config`],
//! [`acl`], [`tree`] (data tree and watch manager), [`quorum`] (election and Zab),
//! [`pipeline`] (requests to txns, replies, forwards), [`session::expiry`], [`node::roles`],
//! [`zkfiles`] (ZooKeeper's snapshot and log formats).
//! Leaves every shell may use: [`clock`], [`version`], [`metrics`], [`link`], [`outbox`].
//! Actor shells, bottom up: [`session`], [`store`], [`txnlog`], [`peer`] (the quorum actor and
//! its links), [`connection`] (with [`context`] and [`monitor`] below it), and [`node`], which
//! builds them all and supervises the node's role.

#![warn(missing_docs)]

pub mod acl;
pub mod audit;
pub mod clock;
pub mod config;
pub mod connection;
pub mod context;
pub mod link;
pub mod metrics;
pub mod monitor;
pub mod node;
pub mod outbox;
pub mod peer;
pub mod pipeline;
pub mod proto;
pub mod quorum;
pub mod session;
#[cfg(test)]
mod sim;
pub mod startup;
pub mod store;
pub mod tree;
pub mod txn;
pub mod txnlog;
pub mod version;
pub mod zkfiles;
