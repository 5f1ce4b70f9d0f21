//! The file operations the log writer uses, behind one seam, so that a failing disk can be
//! played where a real one cannot be made to fail: [`RealFs`] is the operating system;
//! [`FaultyFs`] wraps it and fails writes (ENOSPC: the disk is full) or syncs (EIO) on demand.
//!
//! The faults are switched either in-process (a [`Faults`] handle, for unit tests) or, for tests
//! of real node processes on machines where a small filesystem cannot be mounted, by flag files
//! in the directory named by [`FAULT_DIR_ENV`]: while `<dir>/full` exists every write, extension
//! and preallocation fails with ENOSPC; while `<dir>/eio` exists every fsync fails with EIO. The
//! node uses [`FaultyFs`] only when that variable is set (and says so in its log).
//!
//! Invariant: [`FaultyFs`] never fails an operation half-way: a failed write wrote nothing (as a
//! full disk refuses a whole block), so what a test sees is what a real failure can leave.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Tests of real processes: the directory whose flag files switch faults on (see the module doc).
pub const FAULT_DIR_ENV: &str = "ZKR_TEST_FAULT_DIR";

/// An open file of the log.
pub trait LogFile: Send {
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync.
    fn sync_data(&mut self) -> io::Result<()>;
    /// fsync.
    fn sync_all(&mut self) -> io::Result<()>;
    /// Cuts or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Reserves blocks up to `len` bytes (the file reads as zeros there).
    fn allocate(&mut self, len: u64) -> io::Result<()>;
}

/// The file system operations of the log.
pub trait LogFs: Send + Sync + std::fmt::Debug {
    /// Opens `path` for reading and writing; `create` makes it (emptied if it exists).
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn LogFile>>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory so that entries created, renamed or removed in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

struct RealFile(File);

impl LogFile for RealFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&mut self, len: u64) -> io::Result<()> {
        // Mode 0 only allocates blocks.
        let e = match rustix::fs::fallocate(&self.0, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(e) => io::Error::from(e),
        };
        if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
            let now = self.0.metadata()?.len();
            return self.0.set_len(len.max(now));
        }
        Err(e)
    }
}

impl LogFs for RealFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
}

/// Switches of a [`FaultyFs`], shared with the test that drives it.
#[derive(Debug, Default)]
pub struct Faults {
    /// Writes, extensions and preallocations fail with ENOSPC.
    pub full: AtomicBool,
    /// Syncs fail with EIO.
    pub eio: AtomicBool,
    /// The next this-many syncs fail with EIO (then syncs work again).
    pub failing_syncs: AtomicU32,
    /// If not 0: writes that start at or after this offset fail with ENOSPC (the disk has no
    /// room there; writes before it still work).
    pub full_from_offset: AtomicU64,
    /// Flag files (see the module doc), checked at every operation.
    pub flag_dir: Option<PathBuf>,
}

impl Faults {
    /// Faults switched by flag files in `dir`.
    pub fn from_flag_dir(dir: PathBuf) -> Faults {
        Faults {
            flag_dir: Some(dir),
            ..Faults::default()
        }
    }

    fn disk_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
            || self
                .flag_dir
                .as_ref()
                .is_some_and(|d| d.join("full").exists())
    }

    fn sync_fails(&self) -> bool {
        if self.eio.load(Ordering::SeqCst)
            || self
                .flag_dir
                .as_ref()
                .is_some_and(|d| d.join("eio").exists())
        {
            return true;
        }
        self.failing_syncs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// The real file system with injected faults.
#[derive(Debug, Clone, Default)]
pub struct FaultyFs {
    /// The switches.
    pub faults: Arc<Faults>,
}

impl FaultyFs {
    /// A faulty file system driven by `faults`.
    pub fn new(faults: Arc<Faults>) -> FaultyFs {
        FaultyFs { faults }
    }

    /// The file system of a node process: [`FaultyFs`] when [`FAULT_DIR_ENV`] is set, else
    /// [`RealFs`].
    pub fn from_env() -> Arc<dyn LogFs> {
        match std::env::var_os(FAULT_DIR_ENV) {
            Some(dir) => {
                tracing::warn!(dir = ?dir, "test fault injection on: the log's disk fails while flag files exist there");
                Arc::new(FaultyFs::new(Arc::new(Faults::from_flag_dir(dir.into()))))
            }
            None => Arc::new(RealFs),
        }
    }
}

struct FaultyFile {
    inner: Box<dyn LogFile>,
    faults: Arc<Faults>,
}

impl LogFile for FaultyFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let from = self.faults.full_from_offset.load(Ordering::SeqCst);
        if self.faults.disk_full() || (from != 0 && offset >= from) {
            return Err(enospc());
        }
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if self.faults.sync_fails() {
            return Err(eio());
        }
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        if self.faults.sync_fails() {
            return Err(eio());
        }
        self.inner.sync_all()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        // Cutting a file frees space; growing one with ftruncate makes a sparse file, which
        // succeeds on a full disk too.
        self.inner.set_len(len)
    }
    fn allocate(&mut self, len: u64) -> io::Result<()> {
        if self.faults.disk_full() {
            return Err(enospc());
        }
        self.inner.allocate(len)
    }
}

impl LogFs for FaultyFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn LogFile>> {
        // A full disk still creates an empty file (an inode); its first write fails.
        let inner = RealFs.open(path, create)?;
        Ok(Box::new(FaultyFile {
            inner,
            faults: self.faults.clone(),
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.faults.sync_fails() {
            return Err(eio());
        }
        RealFs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
}
