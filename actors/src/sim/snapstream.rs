//! Streamed snapshots in the simulator: the leader's shell encodes the tree for a learner and
//! serves the chunks its core asks for (from memory: the simulated servers have no files),
//! each with its crc32c; the learner's disk collects them as the node's incoming file does and
//! installs them only whole and matching. Chunks are small, so every SNAP of a scenario or a
//! random run is streamed in many chunks, with the window, ACKs, broken links and restarts
//! between them.
//!
//! The encode is fuzzy, as the node's ([`snapshot::TreeScan`]): a few nodes at a time, one
//! chunk per simulated event a few milliseconds apart, while the leader goes on applying
//! commits; so every SNAP's tree mixes states after its zxid, and only the replay of the tail
//! behind it makes the learner's tree exact (checked node by node when a run ends). A crash of
//! the leader or a replaced tree ends the encode, as a tree replaced under the node's encode
//! does.

use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;

use super::{Event, Sim};
use crate::pipeline::Output;
use crate::quorum::core;
use crate::quorum::msg::{PeerMsg, Sid, SnapshotMeta};
use crate::txn::Zxid;
use crate::txnlog::{snapshot, stream};

/// Chunk size of the simulated streams (small: many chunks per snapshot).
pub(crate) const SIM_CHUNK_BYTES: u64 = 256;
/// Nodes copied out of the tree per encode step (small: commits apply between the steps).
const SIM_CHUNK_NODES: usize = 2;

/// A snapshot being encoded for a learner.
pub(crate) struct Encoding {
    /// The leader's life and tree count when it began (either changing ends it).
    life: u64,
    trees: u64,
    scan: snapshot::TreeScan,
    data: Vec<u8>,
}

impl Sim {
    /// The leader `id`'s shell starts encoding its tree for `learner` (`Output::TakeSnapshot`):
    /// the zxid, sessions and id bound now, the nodes over the next steps.
    pub(super) fn take_snapshot_for(&mut self, id: Sid, learner: Sid) {
        let s = &self.servers[&id];
        let scan = snapshot::TreeScan::begin(&s.tree, SIM_CHUNK_NODES);
        assert_eq!(s.applied.last().map_or(0, |t| t.zxid), scan.zxid());
        let history = s.applied.clone();
        if let Some(h) = self.snapshot_histories.insert(scan.zxid(), history.clone()) {
            assert_eq!(
                h,
                history,
                "two snapshots at {:#x} with different histories",
                scan.zxid()
            );
        }
        let encoding = Encoding {
            life: s.life,
            trees: s.trees,
            scan,
            data: Vec::new(),
        };
        self.snap_encodes.insert((id, learner), encoding);
        let delay = self.rng.random_range(2..12);
        self.schedule(delay, Event::SnapEncode { id, learner });
    }

    /// Is a snapshot for a learner being encoded?
    pub(crate) fn snap_encoding(&self) -> bool {
        !self.snap_encodes.is_empty()
    }

    /// The next chunk of the snapshot `id` encodes for `learner`; the last one hands it to the
    /// core (`Input::SnapshotTaken`).
    pub(super) fn encode_snapshot_chunk(&mut self, id: Sid, learner: Sid) {
        let Some(mut e) = self.snap_encodes.remove(&(id, learner)) else {
            return;
        };
        let s = &self.servers[&id];
        if s.life != e.life || s.trees != e.trees || s.pipeline.is_none() {
            return; // given up, as a node's encode is when its tree is replaced
        }
        let chunk = e.scan.take(&s.tree);
        e.scan.write(chunk, &mut e.data).expect("in memory");
        if !e.scan.scanned() {
            self.snap_encodes.insert((id, learner), e);
            let delay = self.rng.random_range(2..12);
            self.schedule(delay, Event::SnapEncode { id, learner });
            return;
        }
        let zxid = e.scan.zxid();
        self.snaps_encoded.0 += 1;
        if s.applied.last().map_or(0, |t| t.zxid) > zxid {
            self.snaps_encoded.1 += 1;
        }
        let mut data = e.data;
        e.scan.finish(&mut data).expect("in memory");
        let data = Bytes::from(data);
        let end = s.applied.last().map_or(0, |t| t.zxid);
        let meta = stream::meta(
            zxid,
            end,
            data.len() as u64,
            crc32c::crc32c(&data),
            SIM_CHUNK_BYTES,
        );
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

/// A `SnapBegin` in the trace: where the encode began and ended, and its chunks.
pub(super) fn describe(m: &SnapshotMeta) -> String {
    format!(
        "SnapBegin({:#x}..{:#x}, {} chunks)",
        m.zxid, m.end, m.chunks
    )
}

impl Sim {
    /// Server `id` starts or stops serving. As the store does, a tree restored from a (fuzzy)
    /// snapshot ends its replay before it serves: every txn up to where the snapshot's scan
    /// ended is applied by now, so nothing can be left without a parent.
    pub(super) fn set_serving(&mut self, id: Sid, on: bool) {
        let s = self.servers.get_mut(&id).expect("server");
        s.serving = on;
        if on {
            let orphans = s.tree.finish_replay();
            assert!(
                orphans.is_empty(),
                "s{id}: nodes without a parent after the snapshot's replay: {orphans:?}"
            );
        }
    }
}

impl Sim {
    /// Snapshots held by [`Sim::hold_snapshots`] (and not lost with a crash of their leader).
    pub(crate) fn held_snapshot_count(&self) -> usize {
        self.held_snapshots
            .iter()
            .filter(|(id, _, life, _)| self.servers[id].life == *life && self.alive(*id))
            .count()
    }

    /// Hands the held snapshots to their leaders' cores (those whose leader has not crashed
    /// since), and stops holding.
    pub(crate) fn release_snapshots(&mut self) {
        self.hold_snapshots = false;
        for (id, learner, life, snap) in std::mem::take(&mut self.held_snapshots) {
            if self.servers[&id].life == life {
                self.step(id, core::Input::SnapshotTaken { learner, snap });
            }
        }
    }
}
