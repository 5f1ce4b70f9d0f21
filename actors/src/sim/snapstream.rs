//! Streamed snapshots in the simulator: the leader's shell encodes the tree for a learner and
//! serves the chunks its core asks for (from memory: the simulated servers have no files),
//! each with its crc32c; the learner's disk collects them as the node's incoming file does and
//! installs them only whole and matching. Chunks are small, so every SNAP of a scenario or a
//! random run is streamed in many chunks, with the window, ACKs, broken links and restarts
//! between them.

use std::sync::Arc;

use bytes::Bytes;

use super::Sim;
use crate::pipeline::Output;
use crate::quorum::core;
use crate::quorum::msg::{PeerMsg, Sid, SnapshotMeta};
use crate::txn::Zxid;
use crate::txnlog::{snapshot, stream};

/// Chunk size of the simulated streams (small: many chunks per snapshot).
pub(crate) const SIM_CHUNK_BYTES: u64 = 256;

impl Sim {
    /// The leader `id`'s shell encodes its tree for `learner` (`Output::TakeSnapshot`).
    pub(super) fn take_snapshot_for(&mut self, id: Sid, learner: Sid) {
        let s = &self.servers[&id];
        let data = snapshot::encode_tree(&s.tree);
        let meta = stream::meta(
            s.tree.last_zxid(),
            data.len() as u64,
            crc32c::crc32c(&data),
            SIM_CHUNK_BYTES,
        );
        assert_eq!(s.applied.last().map_or(0, |t| t.zxid), meta.zxid);
        let history = s.applied.clone();
        if let Some(h) = self.snapshot_histories.insert(meta.zxid, history.clone()) {
            assert_eq!(
                h, history,
                "two snapshots at {:#x} with different histories",
                meta.zxid
            );
        }
        self.snap_sources.insert((id, learner), (meta.zxid, data));
        if self.hold_snapshots {
            let life = self.servers[&id].life;
            self.held_snapshots.push((id, learner, life, meta));
        } else {
            self.step(
                id,
                core::Input::SnapshotTaken {
                    learner,
                    snap: meta,
                },
            );
        }
    }

    /// `Output::SendSnapChunk` of server `id` as the message it sends (none if that snapshot
    /// is not its learner's current one).
    pub(super) fn snap_chunk(&self, id: Sid, o: Output) -> Option<Output> {
        let Output::SendSnapChunk { learner, zxid, seq } = o else {
            return Some(o);
        };
        let (z, data) = self.snap_sources.get(&(id, learner))?;
        if *z != zxid {
            return None;
        }
        let start = (seq * SIM_CHUNK_BYTES).min(data.len() as u64) as usize;
        let end = (start + SIM_CHUNK_BYTES as usize).min(data.len());
        let data = data.slice(start..end);
        let crc = crc32c::crc32c(&data);
        Some(Output::Send(learner, PeerMsg::SnapChunk { seq, data, crc }))
    }

    /// Server `id`'s disk writes chunk `seq` of the incoming snapshot.
    pub(super) fn write_snap_chunk(&mut self, id: Sid, seq: u64, data: &Bytes) {
        let disk = &mut self.servers.get_mut(&id).expect("server").disk;
        if seq == 0 {
            disk.incoming = Some(Vec::new());
        }
        disk.incoming
            .as_mut()
            .expect("chunk 0 started the incoming snapshot")
            .extend_from_slice(data);
    }

    /// Server `id` installs the snapshot it received whole; returns its bytes.
    pub(super) fn take_incoming(&mut self, id: Sid, m: &SnapshotMeta) -> Bytes {
        let disk = &mut self.servers.get_mut(&id).expect("server").disk;
        let data = disk.incoming.take().expect("an incoming snapshot");
        assert_eq!(
            (data.len() as u64, crc32c::crc32c(&data)),
            (m.bytes, m.crc),
            "s{id}: the installed snapshot is not the one announced"
        );
        Bytes::from(data)
    }

    /// The history the snapshot at `zxid` holds.
    pub(super) fn snapshot_history(&self, zxid: Zxid) -> Vec<Arc<crate::txn::Txn>> {
        self.snapshot_histories[&zxid].clone()
    }
}
