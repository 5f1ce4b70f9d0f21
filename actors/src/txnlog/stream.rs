//! Streamed snapshots (SNAP) on disk, on both sides of the stream.
//!
//! Leader: the tree is encoded once into an outgoing file (`snapstream.out.<learner>.<n>` in the
//! snapshot directory), counting its length and crc32c as it goes; chunks of at most
//! [`CHUNK_BYTES`] are then read from it one at a time as the learner's window allows.
//! Learner: each chunk (its crc32c checked by the core) is appended to the incoming file
//! (`snapstream.in`); when the last one is written, the whole file's length and crc32c are
//! checked again, it is fsynced, loaded record by record and moved into place as the node's
//! snapshot ([`super::LogBackend::install_snapshot_file`]).
//!
//! Invariants: memory on either side is a few chunks, whatever the tree's size; a partial or
//! corrupt incoming file is never installed (a mismatch fails the install and removes it); a
//! node removes stream files left by an earlier run when its log actor starts.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::snapshot::{self, SnapshotError};
use super::{LogBackend, LogError};
use crate::quorum::msg::SnapshotMeta;
use crate::tree::DataTree;

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

/// Encodes `tree` (held still by the caller) into the outgoing file `path` (blocking);
/// returns what the learner is told of it, in chunks of `chunk` bytes.
pub fn write_outgoing(tree: &DataTree, path: &Path, chunk: u64) -> io::Result<SnapshotMeta> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(path)?;
    let mut out = Summing {
        inner: BufWriter::with_capacity(1 << 20, file),
        bytes: 0,
        crc: 0,
    };
    let written = snapshot::encode_tree_into(tree, &mut out).and_then(|_| out.flush());
    if let Err(e) = written {
        discard(path);
        return Err(e);
    }
    Ok(meta(tree.last_zxid(), out.bytes, out.crc, chunk))
}

/// What a learner is told of a snapshot of `bytes` bytes sent in chunks of `chunk`.
pub fn meta(zxid: crate::txn::Zxid, bytes: u64, crc: u32, chunk: u64) -> SnapshotMeta {
    SnapshotMeta {
        zxid,
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
    f.write_all(data)
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
        .and_then(|_| snapshot::load_from_leader(path))
        .map_err(LogError::from)
        .and_then(|tree| {
            backend.install_snapshot_file(m.zxid, path)?;
            Ok(tree)
        });
    discard(path);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnOp};

    /// A temporary directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            let d = std::env::temp_dir().join(format!(
                "zkr-snapstream-{}-{}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&d).expect("dir");
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree() -> DataTree {
        let mut t = DataTree::new();
        for i in 1..=300i64 {
            t.apply(&Txn {
                zxid: i,
                time_ms: 0,
                session_id: 0,
                cxid: 0,
                op: TxnOp::Create {
                    path: format!("/n{i}"),
                    data: Some(Bytes::from(vec![i as u8; 40])),
                    acl: Vec::new(),
                    ephemeral_owner: 0,
                    parent_cversion: i as i32,
                },
            });
        }
        t
    }

    /// Streams `t` through an outgoing and an incoming file, `corrupt` flipping a bit of that
    /// chunk on its way; returns the incoming file and what was announced.
    fn stream(dir: &Dir, t: &DataTree, corrupt: Option<u64>) -> (PathBuf, SnapshotMeta) {
        let out = outgoing_path(&dir.0, 2, 1);
        let m = write_outgoing(t, &out, 512).expect("write");
        assert!(m.chunks > 3, "several chunks: {m:?}");
        let inc = incoming_path(&dir.0);
        for seq in 0..m.chunks {
            let mut c = read_chunk(&out, seq, 512).expect("read").to_vec();
            assert!(!c.is_empty() && c.len() <= 512);
            if corrupt == Some(seq) {
                c[7] ^= 0x40;
            }
            write_chunk(&inc, seq, &c).expect("write chunk");
        }
        (inc, m)
    }

    #[test]
    fn a_snapshot_streamed_in_chunks_is_rebuilt_exactly() {
        let dir = Dir::new();
        let t = tree();
        let (inc, m) = stream(&dir, &t, None);
        check(&inc, &m).expect("whole crc");
        let back = snapshot::load_from_leader(&inc).expect("load");
        assert_eq!(back.last_zxid(), 300);
        assert_eq!(back.node_count(), t.node_count());
        let n = back.get("/n7").expect("node");
        assert_eq!(n.data(), Some(&[7u8; 40][..]));
    }

    #[test]
    fn a_corrupt_streamed_snapshot_is_refused_and_removed() {
        let dir = Dir::new();
        let (inc, m) = stream(&dir, &tree(), Some(1));
        assert!(matches!(
            check(&inc, &m),
            Err(SnapshotError::Invalid { .. })
        ));
        let mut mem = super::super::memory::MemoryLog::default();
        assert!(install(&mut mem, &inc, &m).is_err(), "not installed");
        assert!(!inc.exists(), "the partial file is removed");
        assert_eq!(mem.last_zxid(), 0);
        assert!(mem.disk().lock().expect("disk").snapshot.is_none());
    }
}
