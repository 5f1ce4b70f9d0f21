//! Log segments: `log.<first zxid, 16 hex digits>` files of framed txn records, preallocated,
//! appended by [`FileLog`] and read back by [`scan`].
//!
//! Invariants:
//! * within a segment, records are in increasing zxid order and contiguous;
//! * `FileLog::sync` returns only after every appended record is on disk (fdatasync), unless
//!   `force_sync` is off;
//! * after a failed append or sync, the file is cut back to the end of the last synced batch,
//!   so a txn that was never acknowledged cannot be replayed later.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{self, RecordRead, HEADER_LEN, LOG_MAGIC};
use super::{LogBackend, LogError};
use crate::txn::{Txn, Zxid};

/// Preallocation step of a segment (ZooKeeper preallocates 64 MiB).
pub const PREALLOC_BYTES_DEFAULT: u64 = 64 << 20;

/// The file name of the segment whose first txn is `zxid`.
pub fn segment_name(zxid: Zxid) -> String {
    format!("log.{:016x}", zxid as u64)
}

/// Segments in `dir`, by first zxid.
pub fn list(dir: &Path) -> io::Result<Vec<(Zxid, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("log.") {
            if let Ok(z) = u64::from_str_radix(hex, 16) {
                out.push((z as Zxid, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Records end cleanly (zeros or end of file) at this offset.
    Clean(u64),
    /// A torn or corrupt record starts at `offset`; `bytes_after` non-zero bytes follow it.
    Damaged {
        /// Offset of the first bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
        /// Non-zero bytes from `offset` to the end of the file.
        bytes_after: u64,
        /// zxids of intact records found after the damage (lost with it).
        zxids_after: Vec<Zxid>,
    },
}

/// A scanned segment.
#[derive(Debug)]
pub struct Scan {
    /// The first zxid its header names.
    pub first_zxid: Zxid,
    /// Its valid records with their offsets.
    pub txns: Vec<(Txn, u64)>,
    /// How it ends.
    pub end: SegmentEnd,
}

/// Why a segment could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Bad header.
    #[error("{path}: {source}")]
    Header {
        /// The file.
        path: String,
        /// Why.
        source: format::FormatError,
    },
}

/// Reads every valid record of a segment and says how it ends.
pub fn scan(path: &Path) -> Result<Scan, ScanError> {
    let mut txns = Vec::new();
    let (first_zxid, end) = scan_each(path, |t, off| txns.push((t, off)))?;
    Ok(Scan {
        first_zxid,
        txns,
        end,
    })
}

/// Reads a segment one record at a time, handing each valid txn with its offset to `visit`
/// (recovery replays them as they come, never holding the segment or its txns whole); returns
/// the first zxid its header names and how it ends.
pub fn scan_each(
    path: &Path,
    mut visit: impl FnMut(Txn, u64),
) -> Result<(Zxid, SegmentEnd), ScanError> {
    let p = path.display().to_string();
    let io_err = |source| ScanError::Io {
        path: p.clone(),
        source,
    };
    let mut r = io::BufReader::with_capacity(1 << 20, File::open(path).map_err(io_err)?);
    let mut head = [0u8; HEADER_LEN];
    let whole = match r.read_exact(&mut head) {
        Ok(()) => &head[..],
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => &[],
        Err(e) => return Err(io_err(e)),
    };
    let header = format::parse_header(whole, LOG_MAGIC).map_err(|source| ScanError::Header {
        path: p.clone(),
        source,
    })?;
    let mut off = HEADER_LEN;
    let mut buf = Vec::with_capacity(1 << 16);
    let end = loop {
        let reason = match format::read_record::<Txn>(&mut r, &mut buf).map_err(io_err)? {
            RecordRead::Record(t, n) => {
                visit(t, off as u64);
                off += n;
                continue;
            }
            RecordRead::End => break SegmentEnd::Clean(off as u64),
            RecordRead::Short { .. } => "record cut short (torn write)".to_string(),
            RecordRead::Corrupt(reason) => reason,
        };
        // Damage: look at the whole rest of the file (only now) to say what is lost with it.
        let mut rest = Vec::new();
        let mut f = File::open(path).map_err(io_err)?;
        f.seek(io::SeekFrom::Start(off as u64)).map_err(io_err)?;
        f.read_to_end(&mut rest).map_err(io_err)?;
        break damaged(&rest, off, reason);
    };
    Ok((header.zxid, end))
}

/// The end of a segment whose record at `off` is damaged; `rest` is the file from `off` on.
fn damaged(rest: &[u8], off: usize, reason: String) -> SegmentEnd {
    let last_nonzero = rest.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    // Look for intact records after the damage, to say which txns are lost with it.
    let mut zxids_after = Vec::new();
    let mut i = 1;
    while i + format::RECORD_OVERHEAD < last_nonzero {
        if let RecordRead::Record(t, n) = format::decode_record::<Txn>(&rest[i..]) {
            zxids_after.push(t.zxid);
            i += n;
        } else {
            i += 1;
        }
    }
    SegmentEnd::Damaged {
        offset: off as u64,
        reason,
        bytes_after: last_nonzero as u64,
        zxids_after,
    }
}

fn io_err(path: &Path, source: io::Error) -> LogError {
    LogError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// fsyncs a directory so a new or renamed file's entry is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a file descriptor we own; mode 0 only allocates blocks.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return file.set_len(len.max(file.metadata()?.len()));
    }
    Err(e)
}

/// The appending side of the log.
pub struct FileLog {
    dir: PathBuf,
    current: Option<(File, PathBuf)>,
    offset: u64,
    synced_offset: u64,
    allocated: u64,
    prealloc_bytes: u64,
    force_sync: bool,
    roll_requested: bool,
    buf: Vec<u8>,
    last_zxid: Option<Zxid>,
    /// Number of fsyncs done.
    pub fsyncs: u64,
}

impl FileLog {
    /// A log in `dir` that continues the segment `tail` (path and end of its valid records), or
    /// starts a new segment at the first append.
    pub fn open(
        dir: &Path,
        tail: Option<(PathBuf, u64)>,
        last_zxid: Zxid,
        force_sync: bool,
        prealloc_bytes: u64,
    ) -> Result<FileLog, LogError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let mut log = FileLog {
            dir: dir.to_path_buf(),
            current: None,
            offset: 0,
            synced_offset: 0,
            allocated: 0,
            prealloc_bytes: prealloc_bytes.max(4096),
            force_sync,
            roll_requested: false,
            buf: Vec::with_capacity(64 * 1024),
            last_zxid: Some(last_zxid),
            fsyncs: 0,
        };
        if let Some((path, end)) = tail {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            // Cut whatever follows the valid records (a torn tail), durably.
            file.set_len(end).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
            log.allocated = end;
            log.offset = end;
            log.synced_offset = end;
            log.current = Some((file, path));
        }
        Ok(log)
    }

    /// Starts a new segment at the next append (done when a snapshot begins).
    pub fn request_roll(&mut self) {
        self.roll_requested = true;
    }

    fn roll(&mut self, first_zxid: Zxid) -> Result<(), LogError> {
        let path = self.dir.join(segment_name(first_zxid));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        file.write_all(&format::header(LOG_MAGIC, first_zxid))
            .map_err(|e| io_err(&path, e))?;
        preallocate(&file, self.prealloc_bytes).map_err(|e| io_err(&path, e))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        tracing::debug!(segment = %path.display(), "new log segment");
        self.current = Some((file, path));
        self.offset = HEADER_LEN as u64;
        self.synced_offset = self.offset;
        self.allocated = self.prealloc_bytes;
        self.roll_requested = false;
        Ok(())
    }

    /// After a failed append or sync: cut the segment back to the last synced batch.
    pub fn discard_unsynced(&mut self) -> Result<(), LogError> {
        if let Some((file, path)) = &self.current {
            file.set_len(self.synced_offset)
                .map_err(|e| io_err(path, e))?;
            file.sync_all().map_err(|e| io_err(path, e))?;
            self.allocated = self.synced_offset;
        }
        self.offset = self.synced_offset;
        Ok(())
    }

    /// The segment being written and the end of its synced records.
    pub fn position(&self) -> Option<(PathBuf, u64)> {
        self.current
            .as_ref()
            .map(|(_, p)| (p.clone(), self.synced_offset))
    }
}

/// Test-only seam for machines where a test cannot mount a small filesystem: while the file
/// named by this environment variable exists, appends fail as on a full disk.
pub const FAULT_FILE_ENV: &str = "ZKR_TEST_LOG_FULL_WHILE_EXISTS";

fn injected_disk_full() -> Option<io::Error> {
    let flag = std::env::var_os(FAULT_FILE_ENV)?;
    Path::new(&flag)
        .exists()
        .then(|| io::Error::from_raw_os_error(libc::ENOSPC))
}

impl LogBackend for FileLog {
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<(), LogError> {
        let Some(first) = txns.first() else {
            return Ok(());
        };
        if let Some(e) = injected_disk_full() {
            return Err(io_err(&self.dir, e));
        }
        let mut prev = self.last_zxid;
        for t in txns {
            if let Some(last) = prev {
                if !super::recovery::follows(last, t.zxid) {
                    return Err(LogError::NotContiguous { zxid: t.zxid, last });
                }
            }
            prev = Some(t.zxid);
        }
        self.buf.clear();
        for t in txns {
            format::encode_record(t.as_ref(), &mut self.buf).map_err(|message| {
                LogError::Encode {
                    zxid: t.zxid,
                    message,
                }
            })?;
        }
        let too_big = self.offset + self.buf.len() as u64 > self.prealloc_bytes.max(self.allocated)
            && self.offset > HEADER_LEN as u64;
        if self.current.is_none() || self.roll_requested || too_big {
            self.roll(first.zxid)?;
        }
        let (file, path) = self.current.as_ref().expect("a segment after roll");
        let end = self.offset + self.buf.len() as u64;
        if end > self.allocated {
            let want = end.div_ceil(self.prealloc_bytes) * self.prealloc_bytes;
            preallocate(file, want).map_err(|e| io_err(path, e))?;
            self.allocated = want;
        }
        file.write_all_at(&self.buf, self.offset)
            .map_err(|e| io_err(path, e))?;
        self.offset = end;
        self.last_zxid = prev;
        metrics::counter!("zkr_log_bytes_total").increment(self.buf.len() as u64);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), LogError> {
        if let Some((file, path)) = &self.current {
            if self.force_sync {
                file.sync_data().map_err(|e| io_err(path, e))?;
                self.fsyncs += 1;
                metrics::counter!("zkr_fsyncs_total").increment(1);
            }
        }
        self.synced_offset = self.offset;
        Ok(())
    }

    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        FileLog::discard_unsynced(self)
    }

    fn request_roll(&mut self) {
        FileLog::request_roll(self)
    }

    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError> {
        self.current = None;
        let segs = list(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut tail = None;
        for (first, path) in segs.iter().rev() {
            if *first > to {
                std::fs::remove_file(path).map_err(|e| io_err(path, e))?;
                continue;
            }
            let sc = scan(path).map_err(|e| LogError::Io {
                path: path.display().to_string(),
                source: io::Error::other(e.to_string()),
            })?;
            // Cut at the first record after `to` (or keep everything valid).
            let cut = sc
                .txns
                .iter()
                .find(|(t, _)| t.zxid > to)
                .map(|(_, off)| *off)
                .unwrap_or(match sc.end {
                    SegmentEnd::Clean(e) => e,
                    SegmentEnd::Damaged { offset, .. } => offset,
                });
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| io_err(path, e))?;
            file.set_len(cut).map_err(|e| io_err(path, e))?;
            file.sync_all().map_err(|e| io_err(path, e))?;
            tail = Some((file, path.clone(), cut));
            break;
        }
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        if let Some((file, path, cut)) = tail {
            self.allocated = cut;
            self.offset = cut;
            self.synced_offset = cut;
            self.current = Some((file, path));
        }
        self.last_zxid = Some(to);
        Ok(())
    }

    fn clear(&mut self, base: Zxid) -> Result<(), LogError> {
        self.current = None;
        for (_, path) in list(&self.dir).map_err(|e| io_err(&self.dir, e))? {
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        self.offset = 0;
        self.synced_offset = 0;
        self.allocated = 0;
        self.last_zxid = Some(base);
        Ok(())
    }
}
