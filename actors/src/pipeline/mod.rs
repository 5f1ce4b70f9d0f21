//! The proposal pipeline: write requests become txns (prep), go to the log, and once durable
//! (on a quorum, in an ensemble; on this server's disk, standalone) are committed in zxid order
//! and handed to the store.

pub mod actor;
pub mod prep;

#[cfg(test)]
mod prep_tests;
