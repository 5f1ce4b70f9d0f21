//! A log that keeps txns in memory only: for tests of the actor wiring and for nodes run with
//! an in-memory data store. Nothing survives a restart.

use std::sync::Arc;

use super::{LogBackend, LogError};
use crate::txn::Txn;

/// In-memory log.
#[derive(Debug, Default)]
pub struct MemoryLog {
    /// Everything appended.
    pub txns: Vec<Arc<Txn>>,
    /// Number of syncs.
    pub syncs: u64,
}

impl LogBackend for MemoryLog {
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<(), LogError> {
        self.txns.extend(txns.iter().cloned());
        Ok(())
    }

    fn sync(&mut self) -> Result<(), LogError> {
        self.syncs += 1;
        Ok(())
    }

    fn truncate_after(&mut self, to: crate::txn::Zxid) -> Result<(), LogError> {
        self.txns.retain(|t| t.zxid <= to);
        Ok(())
    }

    fn clear(&mut self, _base: crate::txn::Zxid) -> Result<(), LogError> {
        self.txns.clear();
        Ok(())
    }
}
