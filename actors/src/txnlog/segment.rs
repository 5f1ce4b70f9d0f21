//! Log segments: `log.<first zxid, 16 hex digits>` files of framed txn records, preallocated,
//! appended by [`FileLog`] and read back by [`scan`].
//!
//! Invariants:
//! * within a segment, records are in increasing zxid order and contiguous;
//! * `FileLog::sync` returns only after every appended record is on disk (fdatasync), unless
//!   `force_sync` is off;
//! * after a failed append or sync, the file is cut back to the end of the last synced batch,
//!   so a txn that was never acknowledged cannot be replayed later, and the next append follows
//!   the last synced txn; if the cut itself fails, the next append retries it before writing;
//! * after an I/O error (not a full disk) the segment is closed at its synced end and the next
//!   append starts a new one: pages whose fsync failed are never trusted again;
//! * a segment that could not be started (its header or preallocation failed) is removed, so
//!   a full disk leaves no empty segment between two others;
//! * zeros written ahead of the records ([`ZERO_AHEAD_BYTES`]) lie only in space already
//!   reserved, read exactly as the reserved space reads (zeros), and are never needed: a
//!   failure to write them fails nothing, and recovery finds the end of the records in them as
//!   it does in reserved space.
//!
//! Zeros ahead: a reserved (`fallocate`d) block is "unwritten" until written, so an fdatasync
//! of records that reach a new block also converts its extent and writes the inode. Small
//! appends ([`ZERO_BATCH_MAX`]) therefore write zeros up to [`ZERO_AHEAD_BYTES`] ahead of
//! themselves: the fsync that carries them converts a whole step at once, and the fsyncs of the
//! records that follow write data only. Large appends do not: their fsyncs would carry the
//! zeros as well as the records (benches/notes.md measured write p99 13-25 % higher with
//! 500 KB values), and they convert few extents per byte anyway.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{self, RecordRead, HEADER_LEN, LOG_MAGIC};
use super::fs::{LogFile, LogFs, RealFs};
use super::recovery::Layout;
use super::{snapshot, LogBackend, LogError};
use crate::txn::{Txn, Zxid};

/// Preallocation step of a segment (ZooKeeper preallocates 64 MiB).
pub const PREALLOC_BYTES_DEFAULT: u64 = 64 << 20;

/// How far ahead of the records a small append writes zeros into the reserved space.
pub const ZERO_AHEAD_BYTES: u64 = 1 << 20;

/// Appends of at least this many bytes never write zeros ahead.
pub const ZERO_BATCH_MAX: u64 = 64 << 10;

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

/// [`scan`] of a segment's bytes (`p` names it in errors), through the same record-at-a-time
/// reader as recovery (the fuzzing entry: a corrupt disk).
pub fn scan_bytes(buf: &[u8], p: &str) -> Result<Scan, ScanError> {
    let mut txns = Vec::new();
    let (first_zxid, end) = scan_reader(io::Cursor::new(buf), p, Zxid::MIN, |t, off| {
        if let Ok(t) = t {
            txns.push((t, off))
        }
    })?;
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
    scan_file(path, Zxid::MIN, |t, off| {
        if let Ok(t) = t {
            visit(t, off)
        }
    })
}

/// A segment read by [`scan_after`].
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// The first zxid its header names.
    pub first_zxid: Zxid,
    /// How it ends.
    pub end: SegmentEnd,
    /// The zxid of its last valid record, if it has one.
    pub last_zxid: Option<Zxid>,
}

/// [`scan_each`] for a replay after a snapshot at `skip_to`: every record is checked (framing,
/// CRC) as `scan_each` checks it, but those of txns at or before `skip_to` (the snapshot has
/// them) are not decoded whole, only their zxid, and are not handed to `visit`.
pub fn scan_after(
    path: &Path,
    skip_to: Zxid,
    mut visit: impl FnMut(Txn),
) -> Result<Scanned, ScanError> {
    let mut last_zxid = None;
    let (first_zxid, end) = scan_file(path, skip_to, |t, _| match t {
        Ok(t) => {
            last_zxid = Some(t.zxid);
            visit(t)
        }
        Err(z) => last_zxid = Some(z),
    })?;
    Ok(Scanned {
        first_zxid,
        end,
        last_zxid,
    })
}

fn scan_file(
    path: &Path,
    skip_to: Zxid,
    visit: impl FnMut(Result<Txn, Zxid>, u64),
) -> Result<(Zxid, SegmentEnd), ScanError> {
    let p = path.display().to_string();
    let file = File::open(path).map_err(|source| ScanError::Io {
        path: p.clone(),
        source,
    })?;
    scan_reader(
        io::BufReader::with_capacity(1 << 20, file),
        &p,
        skip_to,
        visit,
    )
}

/// The zxid of a txn record's payload, read without decoding the rest (`None`: not a txn).
fn peek_zxid(payload: &[u8]) -> Option<Zxid> {
    #[derive(serde::Deserialize)]
    struct Head(Zxid, IgnoredAny, IgnoredAny, IgnoredAny, IgnoredAny);
    use serde::de::IgnoredAny;
    rmp_serde::from_slice::<Head>(payload).ok().map(|h| h.0)
}

/// [`scan_each`] of a segment read from `r` (`p` names it in errors); the txns at or before
/// `skip_to` are handed over as `Err(zxid)`, undecoded.
fn scan_reader<R: Read + Seek>(
    mut r: R,
    p: &str,
    skip_to: Zxid,
    mut visit: impl FnMut(Result<Txn, Zxid>, u64),
) -> Result<(Zxid, SegmentEnd), ScanError> {
    let io_err = |source| ScanError::Io {
        path: p.to_string(),
        source,
    };
    let mut head = [0u8; HEADER_LEN];
    let whole = format::read_header(&mut r, &mut head).map_err(io_err)?;
    let header = format::parse_header(whole, LOG_MAGIC).map_err(|source| ScanError::Header {
        path: p.to_string(),
        source,
    })?;
    let mut off = HEADER_LEN;
    let mut buf = Vec::with_capacity(format::READ_BUFFER_BYTES);
    let end = loop {
        format::read_frame(&mut r, &mut buf).map_err(io_err)?;
        let record = match format::check_record(&buf) {
            RecordRead::Record(payload, n) => {
                match (skip_to > Zxid::MIN).then(|| peek_zxid(payload)).flatten() {
                    Some(z) if z <= skip_to => RecordRead::Record(Err(z), n),
                    _ => match rmp_serde::from_slice::<Txn>(payload) {
                        Ok(t) => RecordRead::Record(Ok(t), n),
                        Err(e) => RecordRead::Corrupt(format!("undecodable payload: {e}")),
                    },
                }
            }
            RecordRead::End => RecordRead::End,
            RecordRead::Short { available } => RecordRead::Short { available },
            RecordRead::Corrupt(r) => RecordRead::Corrupt(r),
        };
        let reason = match record {
            RecordRead::Record(t, n) => {
                visit(t, off as u64);
                off += n;
                continue;
            }
            RecordRead::End => break SegmentEnd::Clean(off as u64),
            RecordRead::Short { .. } => "record cut short (torn write)".to_string(),
            RecordRead::Corrupt(reason) => reason,
        };
        // Damage: look at the whole rest of the segment (only now) to say what is lost with it.
        let mut rest = Vec::new();
        r.seek(io::SeekFrom::Start(off as u64)).map_err(io_err)?;
        r.read_to_end(&mut rest).map_err(io_err)?;
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

/// fsyncs a directory so a new or renamed file's entry is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being appended to.
struct Current {
    file: Box<dyn LogFile>,
    path: PathBuf,
}

/// The appending side of the log (and the snapshots a leader installs), in a [`Layout`].
pub struct FileLog {
    fs: Arc<dyn LogFs>,
    layout: Layout,
    current: Option<Current>,
    /// End of the records written.
    offset: u64,
    /// End of the records synced.
    synced_offset: u64,
    /// Bytes reserved in the current segment.
    allocated: u64,
    /// End of what the current segment had written (records, or zeros ahead of them); set to
    /// `allocated` when writing zeros failed (no more zeros in this segment).
    zeroed: u64,
    /// Zeros written ahead of small appends (0: none).
    zero_ahead: u64,
    prealloc_bytes: u64,
    force_sync: bool,
    roll_requested: bool,
    buf: Vec<u8>,
    /// The last txn appended.
    last_zxid: Zxid,
    /// The last txn synced.
    synced_zxid: Zxid,
    /// A failed append or sync could not be cut back: do it before the next write.
    cut_pending: bool,
    /// An I/O error hit the current segment: once cut back, the next append starts a new one.
    abandon: bool,
    /// A whole preallocation step did not fit: the segment grows by what each batch needs.
    exact_allocation: bool,
    /// Number of fsyncs done.
    pub fsyncs: u64,
}

impl FileLog {
    /// A log in `layout` that continues the segment `tail` (path and end of its valid records),
    /// or starts a new segment at the first append; `last_zxid` is the recovered last txn.
    pub fn open(
        layout: &Layout,
        tail: Option<(PathBuf, u64)>,
        last_zxid: Zxid,
        force_sync: bool,
        prealloc_bytes: u64,
    ) -> Result<FileLog, LogError> {
        FileLog::open_on(
            Arc::new(RealFs),
            layout,
            tail,
            last_zxid,
            force_sync,
            prealloc_bytes,
        )
    }

    /// [`FileLog::open`] on a given file system (tests inject faults through it).
    pub fn open_on(
        fs: Arc<dyn LogFs>,
        layout: &Layout,
        tail: Option<(PathBuf, u64)>,
        last_zxid: Zxid,
        force_sync: bool,
        prealloc_bytes: u64,
    ) -> Result<FileLog, LogError> {
        let dir = &layout.log_dir;
        fs.create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let mut log = FileLog {
            fs,
            layout: layout.clone(),
            current: None,
            offset: 0,
            synced_offset: 0,
            allocated: 0,
            zeroed: 0,
            zero_ahead: ZERO_AHEAD_BYTES,
            prealloc_bytes: prealloc_bytes.max(4096),
            force_sync,
            roll_requested: false,
            buf: Vec::with_capacity(64 * 1024),
            last_zxid,
            synced_zxid: last_zxid,
            cut_pending: false,
            abandon: false,
            exact_allocation: false,
            fsyncs: 0,
        };
        if let Some((path, end)) = tail {
            let mut file = log
                .fs
                .open(&path, false)
                .map_err(|e| LogError::io(&path, e))?;
            // Cut whatever follows the valid records (a torn tail), durably.
            file.set_len(end).map_err(|e| LogError::io(&path, e))?;
            file.sync_all().map_err(|e| LogError::io(&path, e))?;
            log.allocated = end;
            log.zeroed = end;
            log.offset = end;
            log.synced_offset = end;
            log.current = Some(Current { file, path });
        }
        Ok(log)
    }

    /// Where the log and snapshots live.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn roll(&mut self, first_zxid: Zxid) -> Result<(), LogError> {
        let dir = self.layout.log_dir.clone();
        let path = dir.join(segment_name(first_zxid));
        let header = format::header(LOG_MAGIC, first_zxid);
        let prealloc = self.prealloc_bytes;
        let mut allocated = prealloc;
        let made = self.fs.open(&path, true).and_then(|mut file| {
            file.write_all_at(&header, 0)?;
            if let Err(e) = file.allocate(prealloc) {
                if !super::is_disk_full(&e) {
                    return Err(e);
                }
                // Not room for a whole preallocation: the segment grows record by record.
                allocated = 0;
            }
            file.sync_all()?;
            Ok(file)
        });
        let file = match made.and_then(|f| self.fs.sync_dir(&dir).map(|_| f)) {
            Ok(f) => f,
            Err(e) => {
                // Leave no empty or headless segment behind (it would sit between two others).
                if let Err(e2) = self.fs.remove(&path) {
                    tracing::warn!(segment = %path.display(), error = %e2, "cannot remove a segment that could not be started; recovery will drop it");
                }
                return Err(LogError::io(&path, e));
            }
        };
        tracing::debug!(segment = %path.display(), "new log segment");
        self.current = Some(Current { file, path });
        self.offset = HEADER_LEN as u64;
        self.synced_offset = self.offset;
        self.exact_allocation = allocated == 0;
        self.allocated = allocated.max(HEADER_LEN as u64);
        self.zeroed = self.offset;
        self.roll_requested = false;
        Ok(())
    }

    /// Cuts the current segment back to its synced end (durably) and forgets the unsynced txns.
    fn cut_back(&mut self) -> Result<(), LogError> {
        self.offset = self.synced_offset;
        self.last_zxid = self.synced_zxid;
        self.cut_pending = true;
        if let Some(c) = &mut self.current {
            c.file
                .set_len(self.synced_offset)
                .and_then(|_| c.file.sync_all())
                .map_err(|e| LogError::io(&c.path, e))?;
            self.allocated = self.synced_offset;
            self.zeroed = self.synced_offset;
        }
        self.cut_pending = false;
        if std::mem::take(&mut self.abandon) && self.current.take().is_some() {
            tracing::warn!("I/O error: the log goes on in a new segment");
        }
        Ok(())
    }

    /// Notes how `e` hit the current segment.
    fn failed(&mut self, e: LogError) -> LogError {
        if e.kind() == super::LogErrorKind::Io {
            self.abandon = true;
        }
        e
    }

    /// After a small append: once the records come within [`ZERO_BATCH_MAX`] of the zeroed end,
    /// writes zeros from there to [`ZERO_AHEAD_BYTES`] past the records (never past the
    /// reserved space). Best effort: a failure (a full disk, EIO) is logged and ends the zeroing
    /// in this segment; the records' own write and sync decide the append. (An error of the
    /// zeros' writeback surfaces at the next fdatasync, the failing sync's path.)
    fn zero_ahead(&mut self) {
        let end = self.offset;
        if self.zeroed >= end + ZERO_BATCH_MAX || self.zeroed >= self.allocated {
            return;
        }
        let to = (end + self.zero_ahead).min(self.allocated);
        let Some(c) = self.current.as_mut() else {
            return;
        };
        if to <= self.zeroed {
            return;
        }
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let mut at = self.zeroed;
        while at < to {
            let n = (to - at).min(ZEROS.len() as u64);
            if let Err(e) = c.file.write_all_at(&ZEROS[..n as usize], at) {
                tracing::debug!(segment = %c.path.display(), error = %e, "zeros ahead of the log not written; the segment goes on without them");
                self.zeroed = self.allocated;
                return;
            }
            at += n;
            self.zeroed = at;
        }
    }

    /// Zeros written ahead of small appends, in bytes (0: none; tests compare with and without).
    #[cfg(test)]
    pub(crate) fn set_zero_ahead(&mut self, bytes: u64) {
        self.zero_ahead = bytes;
    }

    /// End of what the current segment had written (records, or zeros ahead of them; the
    /// reserved end once zeroing failed). For tests.
    #[cfg(test)]
    pub(crate) fn zeroed_end(&self) -> u64 {
        self.zeroed
    }

    /// The segment being written and the end of its synced records.
    pub fn position(&self) -> Option<(PathBuf, u64)> {
        self.current
            .as_ref()
            .map(|c| (c.path.clone(), self.synced_offset))
    }

    /// Removes every segment, newest first, and makes that durable.
    fn remove_segments(&mut self) -> Result<(), LogError> {
        self.current = None;
        let dir = self.layout.log_dir.clone();
        let segs = list(&dir).map_err(|e| LogError::io(&dir, e))?;
        for (_, path) in segs.iter().rev() {
            self.fs.remove(path).map_err(|e| LogError::io(path, e))?;
        }
        self.fs.sync_dir(&dir).map_err(|e| LogError::io(&dir, e))
    }

    /// Removes the snapshots `which` selects, and makes that durable.
    fn remove_snapshots(&self, mut which: impl FnMut(Zxid) -> bool) -> Result<(), LogError> {
        let dir = &self.layout.snap_dir;
        let snaps = snapshot::list(dir).map_err(|e| LogError::io(dir, e))?;
        let mut removed = false;
        for (z, p) in snaps.iter().rev() {
            if which(*z) {
                self.fs.remove(p).map_err(|e| LogError::io(p, e))?;
                // After its snapshot: a marker without one is ignored.
                super::stream::discard(&super::stream::tail_end_path(dir, *z));
                removed = true;
            }
        }
        if removed {
            self.fs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        }
        Ok(())
    }

    fn reset_to(&mut self, zxid: Zxid) {
        self.current = None;
        self.offset = 0;
        self.synced_offset = 0;
        self.allocated = 0;
        self.zeroed = 0;
        self.last_zxid = zxid;
        self.synced_zxid = zxid;
        self.cut_pending = false;
        self.abandon = false;
    }
}

impl LogBackend for FileLog {
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<u64, LogError> {
        let Some(first) = txns.first() else {
            return Ok(0);
        };
        if self.cut_pending {
            self.cut_back()?;
        }
        let prev = super::check_follows(self.last_zxid, txns)?;
        self.buf.clear();
        for t in txns {
            format::encode_record(t.as_ref(), &mut self.buf).map_err(|message| {
                LogError::Encode {
                    zxid: t.zxid,
                    message,
                }
            })?;
        }
        let len = self.buf.len() as u64;
        let too_big = self.offset > HEADER_LEN as u64 && self.offset + len > self.prealloc_bytes;
        if self.current.is_none() || self.roll_requested || too_big {
            self.roll(first.zxid)?;
        }
        let end = self.offset + len;
        let c = self.current.as_mut().expect("a segment after roll");
        if end > self.allocated {
            let mut want = end.div_ceil(self.prealloc_bytes) * self.prealloc_bytes;
            let mut r = if self.exact_allocation {
                Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
            } else {
                c.file.allocate(want)
            };
            if r.as_ref().is_err_and(super::is_disk_full) {
                // Not room for a whole step: take just what this batch needs, and do not try a
                // whole step again in this segment (a failing fallocate on a nearly full
                // tmpfs costs tens of ms).
                self.exact_allocation = true;
                want = end;
                r = c.file.allocate(want);
            }
            if let Err(e) = r {
                let e = LogError::io(&c.path, e);
                return Err(self.failed(e));
            }
            self.allocated = want;
        }
        // From here on the file may hold unsynced records: a failure must cut them.
        self.cut_pending = true;
        if let Err(e) = c.file.write_all_at(&self.buf, self.offset) {
            let e = LogError::io(&c.path, e);
            return Err(self.failed(e));
        }
        self.offset = end;
        self.last_zxid = prev;
        metrics::counter!("zkr_log_bytes_total").increment(len);
        self.zeroed = self.zeroed.max(end);
        if len < ZERO_BATCH_MAX {
            self.zero_ahead();
        }
        Ok(len)
    }

    fn sync(&mut self) -> Result<(), LogError> {
        if let Some(c) = &mut self.current {
            if self.force_sync && self.offset > self.synced_offset {
                if let Err(e) = c.file.sync_data() {
                    let e = LogError::io(&c.path, e);
                    return Err(self.failed(e));
                }
                self.fsyncs += 1;
                metrics::counter!("zkr_fsyncs_total").increment(1);
            }
        }
        self.synced_offset = self.offset;
        self.synced_zxid = self.last_zxid;
        self.cut_pending = false;
        Ok(())
    }

    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        self.cut_back()
    }

    fn request_roll(&mut self) {
        self.roll_requested = true;
    }

    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError> {
        // Never below the oldest snapshot (the floor this log reports): the segments before it
        // may be purged, so what recovery rebuilt would not end at `to`, or not hold the txns
        // before the log's first one. Refused before anything is touched.
        let dir = &self.layout.snap_dir;
        let floor = snapshot::floor(dir).map_err(|e| LogError::io(dir, e))?;
        if floor > to {
            return Err(LogError::BelowFloor { to, floor });
        }
        // Newer snapshots first: a crash after this leaves the old log, which recovery replays
        // from an older snapshot (the old history); never a snapshot ahead of a cut log.
        self.remove_snapshots(|z| z > to)?;
        self.current = None;
        let dir = self.layout.log_dir.clone();
        let segs = list(&dir).map_err(|e| LogError::io(&dir, e))?;
        let mut tail = None;
        for (first, path) in segs.iter().rev() {
            if *first > to {
                self.fs.remove(path).map_err(|e| LogError::io(path, e))?;
                continue;
            }
            let sc = match scan(path) {
                Ok(sc) => sc,
                // A segment that never got its header holds nothing: drop it too.
                Err(ScanError::Header { .. }) => {
                    self.fs.remove(path).map_err(|e| LogError::io(path, e))?;
                    continue;
                }
                Err(ScanError::Io { source, .. }) => return Err(LogError::io(path, source)),
            };
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
            let mut file = self
                .fs
                .open(path, false)
                .map_err(|e| LogError::io(path, e))?;
            file.set_len(cut)
                .and_then(|_| file.sync_all())
                .map_err(|e| LogError::io(path, e))?;
            tail = Some((file, path.clone(), cut));
            break;
        }
        self.fs.sync_dir(&dir).map_err(|e| LogError::io(&dir, e))?;
        self.reset_to(to);
        if let Some((file, path, cut)) = tail {
            self.allocated = cut;
            self.zeroed = cut;
            self.offset = cut;
            self.synced_offset = cut;
            self.current = Some(Current { file, path });
        }
        Ok(())
    }

    fn install_snapshot(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<(), LogError> {
        let dir = self.layout.snap_dir.clone();
        // The new snapshot is durable before anything old goes: a crash at any point leaves
        // either the old state or this snapshot (with, at worst, an old log recovery skips).
        super::stream::save_tail_end(&dir, zxid, zxid)
            .and_then(|_| snapshot::save_bytes(&dir, zxid, bytes))
            .map_err(|e| LogError::io(&dir, e))?;
        self.remove_segments()?;
        self.remove_snapshots(|z| z != zxid)?;
        self.reset_to(zxid);
        Ok(())
    }

    fn install_snapshot_file(
        &mut self,
        zxid: Zxid,
        end: Zxid,
        received: &Path,
    ) -> Result<(), LogError> {
        let dir = self.layout.snap_dir.clone();
        let to = dir.join(snapshot::snapshot_name(zxid));
        // Where its encode ended is durable before the snapshot can be recovered from.
        super::stream::save_tail_end(&dir, zxid, end)
            .map_err(|e| LogError::io(&super::stream::tail_end_path(&dir, zxid), e))?;
        // Checked and fsynced by the caller: moved into place, durably, before anything goes.
        std::fs::rename(received, &to)
            .and_then(|_| sync_dir(&dir))
            .map_err(|e| LogError::io(&to, e))?;
        self.remove_segments()?;
        self.remove_snapshots(|z| z != zxid)?;
        self.reset_to(zxid);
        Ok(())
    }

    fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }
}
