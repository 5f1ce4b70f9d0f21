//! zkr's actors and their pure cores.
//!
//! Pure cores (no IO, no clock, no actix): [`proto`] (the jute codec), [`tree`] (data tree and
//! watch manager), [`acl`], [`pipeline::prep`] (write validation), [`session::expiry`].
//! Actor shells: [`connection`], [`store`], [`pipeline`], [`txnlog`], [`session::tracker`], and
//! [`node`], which wires them together.

#![warn(missing_docs)]

pub mod acl;
pub mod clock;
pub mod config;
pub mod connection;
pub mod context;
pub mod link;
pub mod metrics;
pub mod node;
pub mod outbox;
pub mod peer;
pub mod pipeline;
pub mod proto;
pub mod quorum;
pub mod session;
#[cfg(test)]
mod sim;
pub mod store;
pub mod tree;
pub mod txn;
pub mod txnlog;
