//! A log that keeps txns in memory only: for tests of the actor wiring and for nodes run with
//! an in-memory data store. Nothing survives the process; within it, [`MemoryLog::reopen`]
//! plays a restart (what was synced is kept, the unsynced tail is lost), so the same
//! [`LogBackend`] suite runs against it as against the file log: like it, a cut below its
//! oldest snapshot is refused ([`LogError::BelowFloor`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{LogBackend, LogError};
use crate::txn::{Txn, Zxid};

/// What a memory log holds "durably".
#[derive(Debug, Default, Clone)]
pub struct MemoryDisk {
    /// The snapshots, oldest first (a node keeping its data in memory has at most the one a
    /// SNAP installed; tests put more).
    pub snapshots: Vec<(Zxid, Bytes)>,
    /// Synced txns, oldest first.
    pub txns: Vec<Arc<Txn>>,
}

impl MemoryDisk {
    /// The last txn it holds: the log's, else the newest snapshot's.
    fn last(&self) -> Zxid {
        self.txns
            .last()
            .map_or(self.snapshots.last().map_or(0, |s| s.0), |t| t.zxid)
    }
}

/// In-memory log.
#[derive(Debug, Default)]
pub struct MemoryLog {
    disk: Arc<Mutex<MemoryDisk>>,
    unsynced: Vec<Arc<Txn>>,
    last: Zxid,
    /// Number of syncs.
    pub syncs: u64,
    /// Test switch: the next this-many syncs fail with EIO.
    pub failing_syncs: u32,
}

impl MemoryLog {
    /// The same durable contents after a restart (unsynced txns lost).
    pub fn reopen(disk: Arc<Mutex<MemoryDisk>>) -> MemoryLog {
        let last = {
            let d = disk.lock().unwrap_or_else(|p| p.into_inner());
            d.last()
        };
        MemoryLog {
            disk,
            unsynced: Vec::new(),
            last,
            syncs: 0,
            failing_syncs: 0,
        }
    }

    /// The durable contents (shared: they outlive this log).
    pub fn disk(&self) -> Arc<Mutex<MemoryDisk>> {
        self.disk.clone()
    }

    fn durable(&self) -> std::sync::MutexGuard<'_, MemoryDisk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LogBackend for MemoryLog {
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<u64, LogError> {
        self.last = super::check_follows(self.last, txns)?;
        self.unsynced.extend(txns.iter().cloned());
        Ok(0)
    }

    fn sync(&mut self) -> Result<(), LogError> {
        super::injected_sync_failure(&mut self.failing_syncs, "<memory>")?;
        self.syncs += 1;
        let mut pending = std::mem::take(&mut self.unsynced);
        self.durable().txns.append(&mut pending);
        Ok(())
    }

    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        self.unsynced.clear();
        let last = self.durable().last();
        self.last = last;
        Ok(())
    }

    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError> {
        let mut d = self.durable();
        // As the file log: never below the oldest snapshot, refused before anything changes.
        let floor = d.snapshots.first().map_or(0, |s| s.0);
        if floor > to {
            return Err(LogError::BelowFloor { to, floor });
        }
        d.snapshots.retain(|(z, _)| *z <= to);
        d.txns.retain(|t| t.zxid <= to);
        drop(d);
        self.unsynced.clear();
        self.last = to;
        Ok(())
    }

    fn install_snapshot(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<(), LogError> {
        self.unsynced.clear();
        let mut d = self.durable();
        d.snapshots = vec![(zxid, Bytes::copy_from_slice(bytes))];
        d.txns.clear();
        drop(d);
        self.last = zxid;
        Ok(())
    }

    fn last_zxid(&self) -> Zxid {
        self.last
    }
}
