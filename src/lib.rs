//! The `zkr` crate's library: what the node binary's tools share with the integration tests.
//!
//! [`chaos`] holds `zkr chaos` (a nemesis against an ensemble of real `zkr node` processes)
//! and the pieces the integration tests reuse from it: the local ensemble of processes, the
//! fault-injecting TCP proxy and the linearizability checker.

#![warn(missing_docs)]

pub mod chaos;
