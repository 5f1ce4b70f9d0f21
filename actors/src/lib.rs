//! zkr's actors and their pure cores.
//!
//! Pure cores (no IO, no clock, no actix): [`proto`] (the jute codec), [`tree`] (data tree and
//! watch manager), [`acl`], [`pipeline::prep`] (write validation), [`session::expiry`], [`zkfiles`] (ZooKeeper's snapshot and log formats).
//! Actor shells: [`connection`], [`store`], [`pipeline`], [`txnlog`], [`session::tracker`], and
//! [`node`], which wires them together.

#![warn(missing_docs)]

pub mod acl;
pub mod audit;
pub mod clock;
pub mod config;
pub mod connection;
pub mod link;
pub mod node;
pub mod pipeline;
pub mod proto;
pub mod quorum;
pub mod session;
pub mod store;
pub mod tree;
pub mod txn;
pub mod txnlog;
pub mod zkfiles;
