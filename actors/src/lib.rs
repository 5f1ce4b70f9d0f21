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
pub mod admission;
pub mod audit;
pub mod clock;
pub mod config;
pub mod connection;
pub mod context;
pub mod fuzz;
pub mod javadate;
pub mod link;
pub mod metrics;
pub mod monitor;
pub mod net;
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

/// Test binaries count allocations (the fuzz targets' allocation bound, see [`fuzz`]).
#[cfg(test)]
#[global_allocator]
static ALLOC: fuzz::alloc::Counting = fuzz::alloc::Counting;
