//! The proposal pipeline's validation step: write requests become txns (prep). The proposing,
//! logging and committing around it is the quorum actor's ([`crate::quorum::actor`]).

pub mod prep;

#[cfg(test)]
mod prep_tests;
