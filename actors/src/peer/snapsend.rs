//! The leader's shell side of a streamed SNAP: encodes the tree for a learner into a file (off
//! the actor threads, on a thread at the background priority, `txnlog::background`, the file's
//! pages handed to the disk as it grows, `txnlog::writeback`; fuzzily, the store's read lock
//! held for one chunk of nodes at a time, so commits go on being applied: the learner replays
//! every txn after the snapshot's zxid over it, which the core keeps and sends behind it), then
//! reads the chunks the core asks for, one at a time, in order, on a blocking thread, and hands
//! each back to the quorum actor to send.
//!
//! Invariants: at most one stream per learner is current (a newer one replaces it; chunks
//! read for a replaced or dropped stream are not sent); every stream has its own file, removed
//! once its last chunk was read or the stream was replaced or dropped; the quorum actor never
//! waits on the disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::actor::QuorumPeer;
use crate::quorum::msg::{Sid, SnapshotMeta};
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::Zxid;
use crate::txnlog::background;
use crate::txnlog::snapshot::CHUNK_NODES;
use crate::txnlog::stream::{self, CHUNK_BYTES};

/// Blocking thread → quorum actor: the snapshot for `learner` is encoded.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SnapshotReady {
    /// The learner.
    pub learner: Sid,
    /// The stream it is for.
    pub stream: u64,
    /// Its file.
    pub path: PathBuf,
    /// What the learner is told of it.
    pub meta: SnapshotMeta,
}

/// Reader → quorum actor: chunk `seq` of stream `stream` for `learner`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChunkRead {
    /// The learner.
    pub learner: Sid,
    /// The stream.
    pub stream: u64,
    /// The chunk.
    pub seq: u64,
    /// Its bytes.
    pub data: Bytes,
}

/// A stream being sent: its reader takes chunk numbers.
struct Outgoing {
    id: u64,
    zxid: Zxid,
    reader: mpsc::UnboundedSender<u64>,
}

/// The snapshots being streamed to learners.
pub struct SnapSources {
    dir: PathBuf,
    next_id: u64,
    current: HashMap<Sid, Outgoing>,
}

impl SnapSources {
    /// Stream files go into `dir`.
    pub fn new(dir: PathBuf) -> SnapSources {
        SnapSources {
            dir,
            next_id: 0,
            current: HashMap::new(),
        }
    }

    /// Encodes the tree of `store` for `learner` in the background; `quorum` gets
    /// [`SnapshotReady`].
    pub fn take(&mut self, store: Arc<Store>, learner: Sid, quorum: Option<Addr<QuorumPeer>>) {
        self.next_id += 1;
        let id = self.next_id;
        let path = stream::outgoing_path(&self.dir, learner, id);
        // At the background priority (txnlog::background): the clients' writes go first.
        let work = background::spawn("zkr-snap-encode", move || {
            // Fuzzy: the read lock is held for one chunk of nodes at a time. A tree replaced
            // meanwhile (this server stepped down and synced with another leader) would mix
            // two trees: the stream is given up.
            let mut era = None;
            let nice = background::this_thread_nice().ok();
            let began = std::time::Instant::now();
            let (mut loans, mut longest) = (0u64, std::time::Duration::ZERO);
            let lend = |f: &mut dyn FnMut(&DataTree)| {
                let tree = store.tree();
                let held = std::time::Instant::now();
                let now = store.trees_replaced();
                if *era.get_or_insert(now) != now {
                    return false;
                }
                f(&tree);
                drop(tree);
                loans += 1;
                longest = longest.max(held.elapsed());
                true
            };
            let meta = stream::write_outgoing(&path, CHUNK_BYTES, CHUNK_NODES, lend)?;
            tracing::info!(
                learner,
                zxid = %format!("{:#x}", meta.zxid),
                bytes = meta.bytes,
                ms = began.elapsed().as_millis() as u64,
                read_locks = loans,
                longest_read_lock_us = longest.as_micros() as u64,
                nice,
                "snapshot for a learner encoded"
            );
            Ok::<_, std::io::Error>((path, meta))
        });
        actix_rt::spawn(async move {
            match work.await {
                Ok(Ok((path, meta))) => match quorum {
                    Some(a) => a.do_send(SnapshotReady {
                        learner,
                        stream: id,
                        path,
                        meta,
                    }),
                    None => stream::discard(&path),
                },
                Ok(Err(e)) => {
                    tracing::error!(learner, error = %e, "cannot write a snapshot for a learner")
                }
                Err(e) => tracing::error!(learner, error = %e, "snapshot for a learner failed"),
            }
        });
    }

    /// The snapshot of [`SnapshotReady`] becomes `learner`'s stream (replacing any other).
    pub fn ready(&mut self, m: &SnapshotReady, quorum: Addr<QuorumPeer>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let (learner, id, path, chunks) = (m.learner, m.stream, m.path.clone(), m.meta.chunks);
        actix_rt::spawn(async move {
            while let Some(seq) = rx.recv().await {
                let p = path.clone();
                let read =
                    tokio::task::spawn_blocking(move || stream::read_chunk(&p, seq, CHUNK_BYTES))
                        .await;
                match read {
                    Ok(Ok(data)) => quorum.do_send(ChunkRead {
                        learner,
                        stream: id,
                        seq,
                        data,
                    }),
                    Ok(Err(e)) => {
                        tracing::error!(learner, error = %e, "cannot read the snapshot for a learner");
                        break;
                    }
                    Err(_) => break,
                }
                if seq + 1 >= chunks {
                    break;
                }
            }
            stream::discard(&path);
        });
        self.current.insert(
            learner,
            Outgoing {
                id,
                zxid: m.meta.zxid,
                reader: tx,
            },
        );
    }

    /// The core asks for chunk `seq` of `learner`'s snapshot at `zxid`.
    pub fn request(&mut self, learner: Sid, zxid: Zxid, seq: u64) {
        if let Some(o) = self.current.get(&learner).filter(|o| o.zxid == zxid) {
            if o.reader.send(seq).is_err() {
                self.current.remove(&learner);
            }
        }
    }

    /// Is `stream` the current one of `learner`?
    pub fn is_current(&self, learner: Sid, stream: u64) -> bool {
        self.current.get(&learner).is_some_and(|o| o.id == stream)
    }

    /// The link with `learner` broke: its stream ends (it registers again).
    pub fn drop_learner(&mut self, learner: Sid) {
        self.current.remove(&learner);
    }
}
