//! The integration tests' view of [`zkr::chaos::ensemble`]: the same ensemble of real
//! `zkr node` processes, started from the binary cargo built for these tests.

use std::ops::{Deref, DerefMut};
use std::path::Path;

#[allow(unused_imports)]
pub use zkr::chaos::ensemble::{zxid_of, EnsembleSpec};

/// A running ensemble of this build's `zkr` binary (dereferences to the shared one).
pub struct Ensemble(zkr::chaos::ensemble::Ensemble);

impl Ensemble {
    /// Builds the configurations and starts every member; waits until one leader serves and
    /// every other member follows or observes it.
    pub fn start(tag: &str, spec: EnsembleSpec) -> Ensemble {
        Ensemble(zkr::chaos::ensemble::Ensemble::start(tag, spec, bin()))
    }

    /// Starts the ensembles `make` builds (called with the attempt, from 1) until one comes up:
    /// another attempt only when members could not bind a port (see
    /// [`zkr::chaos::ensemble::Ensemble::start_from`]).
    #[allow(dead_code)]
    pub fn start_from(tag: &str, mut make: impl FnMut(u32) -> Ensemble) -> Ensemble {
        Ensemble(zkr::chaos::ensemble::Ensemble::start_from(
            tag,
            false,
            |attempt| make(attempt).0,
        ))
    }

    /// Builds the configurations without starting anything.
    pub fn create(tag: &str, spec: EnsembleSpec) -> Ensemble {
        Ensemble(zkr::chaos::ensemble::Ensemble::create(tag, spec, bin()))
    }

    /// The sync mode in a "synchronising learner" line (`DIFF`, `TRUNC`, `SNAP`).
    pub fn sync_mode(line: &str) -> Option<String> {
        zkr::chaos::ensemble::Ensemble::sync_mode(line)
    }
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_zkr"))
}

impl Deref for Ensemble {
    type Target = zkr::chaos::ensemble::Ensemble;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Ensemble {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
