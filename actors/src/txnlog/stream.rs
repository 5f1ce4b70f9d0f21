//! Streamed snapshots (SNAP) on disk, on both sides of the stream.
//!
//! Leader: the tree is encoded once into an outgoing file (`snapstream.out.<learner>.<n>` in the
//! snapshot directory), counting its length and crc32c as it goes; chunks of at most
//! [`CHUNK_BYTES`] are then read from it one at a time as the learner's window allows. It
//! and the learner's incoming file are paced ([`super::writeback`]): their pages go to the disk
//! a few MiB at a time as they are written, never piling up for one flush in front of the log's
//! fsyncs. The encode is fuzzy, as the node's own snapshots ([`snapshot::TreeScan`]): its zxid
//! `S` is the last txn applied when it began, nodes may show txns after `S`, and the learner's
//! replay of every txn after `S` (the tail the leader sends behind it) makes the tree exact;
//! the learner keeps the snapshot's orphans until that replay ends (`DataTree::finish_replay`,
//! when the node starts serving). See docs/architecture.md, decisions 17 and 20.
//! Learner: each chunk (its crc32c checked by the core) is appended to the incoming file
//! (`snapstream.in`); when the last one is written, the whole file's length and crc32c are
//! checked again, it is fsynced, loaded record by record and moved into place as the node's
//! snapshot ([`super::LogBackend::install_snapshot_file`]), with `E` (where the leader's
//! encode ended, [`SnapshotMeta::end`]) recorded beside it first ([`save_tail_end`]): recovery
//! treats the tree as no valid state while the log stops short of `E` ([`tail_end`]).
//!
//! Invariants: memory on either side is a few chunks, whatever the tree's size; a partial or
//! corrupt incoming file is never installed (a mismatch fails the install and removes it); a
//! node removes stream files left by an earlier run when its log actor starts.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::snapshot::{self, SnapshotError};
use super::writeback::{self, Paced};
use super::{LogBackend, LogError};
use crate::quorum::msg::SnapshotMeta;
use crate::tree::DataTree;
use crate::txn::Zxid;

/// Largest chunk of a streamed snapshot (one peer frame each).
pub const CHUNK_BYTES: u64 = 1 << 20;

/// Where a node keeps its stream files: its snapshot directory (stream files left by an
/// earlier run are removed), or for a node without a disk layout a directory of its own under
/// the system's temporary directory.
pub fn dir_for(layout: Option<&super::recovery::Layout>) -> PathBuf {
    match layout {
        Some(l) => {
            remove_leftovers(&l.snap_dir);
            l.snap_dir.clone()
        }
        None => std::env::temp_dir().join(format!(
            "zkr-snapstream-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        )),
    }
}

/// The incoming file of a learner's log in `dir`.
pub fn incoming_path(dir: &Path) -> PathBuf {
    dir.join("snapstream.in")
}

/// The outgoing file of stream `id` for `learner` in `dir`.
pub fn outgoing_path(dir: &Path, learner: u64, id: u64) -> PathBuf {
    dir.join(format!("snapstream.out.{learner}.{id}"))
}

/// Removes stream files an earlier run left in `dir` (never a snapshot).
pub fn remove_leftovers(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with("snapstream.") {
            discard(&e.path());
        }
    }
}

/// Removes a stream file (a missing one is fine).
pub fn discard(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a snapshot stream file");
        }
    }
}

/// The file beside the installed snapshot at `zxid` in `dir` that holds where its fuzzy encode
/// ended (`E`, [`SnapshotMeta::end`]).
pub fn tail_end_path(dir: &Path, zxid: Zxid) -> PathBuf {
    dir.join(format!("{}.end", snapshot::snapshot_name(zxid)))
}

/// Records durably, before the snapshot at `zxid` is moved into place in `dir`, that it is a
/// state some server had only once the log reaches `end` (written to a `.tmp` file, fsynced,
/// renamed, directory fsynced: recovery removes an unfinished one). A snapshot exact as it is
/// (`end` not after `zxid`) gets none, and loses a stale one.
pub fn save_tail_end(dir: &Path, zxid: Zxid, end: Zxid) -> io::Result<()> {
    let path = tail_end_path(dir, zxid);
    if end <= zxid {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = dir.join(format!("{}.end.tmp", snapshot::snapshot_name(zxid)));
    std::fs::create_dir_all(dir)?;
    File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{:016x}\n", end as u64).as_bytes())?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, &path))
        .and_then(|_| super::segment::sync_dir(dir))
        .inspect_err(|_| discard(&tmp))
}

/// Where the snapshot at `zxid` in `dir` becomes exact: `Some(E)` if it was installed from a
/// leader's fuzzy encode that ended after `zxid`, `None` if it is exact as it is. A marker that
/// cannot be read says the snapshot is fuzzy without saying how far: `Zxid::MAX` (exact only
/// after the next sync).
pub fn tail_end(dir: &Path, zxid: Zxid) -> Option<Zxid> {
    let path = tail_end_path(dir, zxid);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read where an installed snapshot's encode ended: it is exact only after the next sync");
            return Some(Zxid::MAX);
        }
    };
    match u64::from_str_radix(text.trim(), 16) {
        Ok(end) => Some(end as Zxid),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "damaged record of where an installed snapshot's encode ended: it is exact only after the next sync");
            Some(Zxid::MAX)
        }
    }
}

/// Counts the bytes and their crc32c on their way to `inner`.
struct Summing<W> {
    inner: W,
    bytes: u64,
    crc: u32,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encodes the tree `with_tree` lends into the outgoing file `path` (blocking), fuzzily, as
/// the node's own snapshots are ([`snapshot::TreeScan`]): its zxid `S`, session table and id
/// bound at one instant, then the nodes chunk by chunk, each copied out under a short loan
/// (the store's read lock) and written with no lock held, so the store keeps applying commits
/// while a big tree is encoded. `with_tree` returns false when the tree was replaced since the
/// first loan (the stream is given up). Returns what the learner is told of it, in chunks of
/// `chunk` bytes. The learner replays every txn after `S` over it, which makes it exact.
pub fn write_outgoing(
    path: &Path,
    chunk: u64,
    chunk_nodes: usize,
    mut with_tree: impl FnMut(&mut dyn FnMut(&DataTree)) -> bool,
) -> io::Result<SnapshotMeta> {
    let scan = snapshot::begin_lent(chunk_nodes, &mut with_tree)?;
    let zxid = scan.zxid();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(path)?;
    let mut out = Summing {
        // Paced: the file is read back soon, but gigabytes of it left dirty would be flushed
        // in one burst in front of the log's fsyncs.
        inner: BufWriter::with_capacity(1 << 20, Paced::new(file)),
        bytes: 0,
        crc: 0,
    };
    // `E`: the last txn applied when the scan ended (the last loan sees the newest tree).
    let mut end = zxid;
    let written = scan
        .run(&mut out, |f| {
            with_tree(&mut |t| {
                end = end.max(t.last_zxid());
                f(t)
            })
        })
        .and_then(|_| out.flush());
    if let Err(e) = written {
        discard(path);
        return Err(e);
    }
    Ok(meta(zxid, end, out.bytes, out.crc, chunk))
}

/// What a learner is told of a snapshot of `bytes` bytes sent in chunks of `chunk`, whose
/// encode began at `zxid` and ended at `end`.
pub fn meta(zxid: Zxid, end: Zxid, bytes: u64, crc: u32, chunk: u64) -> SnapshotMeta {
    SnapshotMeta {
        zxid,
        end: end.max(zxid),
        bytes,
        chunks: bytes.div_ceil(chunk).max(1),
        crc,
    }
}

/// Chunk `seq` of the outgoing file `path` (blocking).
pub fn read_chunk(path: &Path, seq: u64, chunk: u64) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = seq.saturating_mul(chunk).min(len);
    let mut buf = vec![0u8; (len - start).min(chunk) as usize];
    file.read_exact_at(&mut buf, start)?;
    Ok(Bytes::from(buf))
}

/// Writes chunk `seq` at the end of the incoming file `path` (chunk 0 starts it afresh).
pub fn write_chunk(path: &Path, seq: u64, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = if seq == 0 {
        File::create(path)?
    } else {
        OpenOptions::new().append(true).open(path)?
    };
    let start = if seq == 0 { 0 } else { f.metadata()?.len() };
    f.write_all(data)?;
    // Paced as the leader's file is ([`writeback`]): the install's fsync finds little to do.
    let end = start + data.len() as u64;
    writeback::push(&f, start.saturating_sub(CHUNK_BYTES), start, end)
}

/// Checks that the incoming file `path` is exactly the snapshot `m` announced, and makes it
/// durable.
pub fn check(path: &Path, m: &SnapshotMeta) -> Result<(), SnapshotError> {
    let io_err = |source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = File::open(path).map_err(io_err)?;
    let (mut bytes, mut crc) = (0u64, 0u32);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
    if bytes != m.bytes || crc != m.crc {
        return Err(SnapshotError::Invalid {
            path: path.display().to_string(),
            reason: format!(
                "streamed snapshot is {bytes} bytes with crc32c {crc:#x}; the leader announced {} bytes with {:#x}",
                m.bytes, m.crc
            ),
        });
    }
    f.sync_all().map_err(io_err)
}

/// Installs the incoming file `path` as the snapshot `m` (blocking): checked, loaded, then
/// moved into place by `backend`. Whatever fails, the file is gone afterwards.
pub fn install(
    backend: &mut dyn LogBackend,
    path: &Path,
    m: &SnapshotMeta,
) -> Result<DataTree, LogError> {
    let r = check(path, m)
        // Fuzzy: orphans stay for the replay of the tail to resolve (`finish_replay`).
        .and_then(|_| snapshot::load(path))
        .map_err(LogError::from)
        .and_then(|mut tree| {
            backend.install_snapshot_file(m.zxid, m.end, path)?;
            tree.expect_tail();
            Ok(tree)
        });
    discard(path);
    r
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
