//! A fault-injecting disk for one node: a FUSE passthrough filesystem mounted over the node's
//! data directory (its files live in a backing directory beside it), in the spirit of Jepsen's
//! CharybdeFS. While healthy every call goes straight to the backing file; the nemesis can make
//! * `fsync`/`fdatasync` fail with EIO (the data written stays in the backing file, as after a
//!   real failed fsync nothing is known about it),
//! * the disk *full*: writes, fallocate and file creation fail with ENOSPC,
//! * `fsync` slow: every sync waits a given time before it runs.
//!
//! Mounting needs /dev/fuse and the right to mount (root here); [`FaultyDisk::mount`] says why
//! it could not, and the run reports disk faults as unavailable instead of skipping them
//! silently. The mount is undone when the [`FaultyDisk`] is dropped.
//!
//! Inodes are numbered by path (one number per path seen; a rename moves the number), which is
//! all a node's data directory needs: no hard links, no symlinks.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use parking_lot::Mutex;

/// The faults a [`FaultyDisk`] injects right now (shared with the nemesis).
#[derive(Debug, Default)]
pub struct DiskFaults {
    /// fsync and fdatasync fail with EIO.
    pub fail_fsync: AtomicBool,
    /// Writes, fallocate and creates fail with ENOSPC.
    pub full: AtomicBool,
    /// Every sync waits this long first (ms; 0: none).
    pub slow_fsync_ms: AtomicU64,
    /// Syncs that failed because of `fail_fsync`.
    pub failed_syncs: AtomicU64,
    /// Writes refused because of `full`.
    pub refused_writes: AtomicU64,
}

impl DiskFaults {
    /// Clears every fault.
    pub fn heal(&self) {
        self.fail_fsync.store(false, Ordering::SeqCst);
        self.full.store(false, Ordering::SeqCst);
        self.slow_fsync_ms.store(0, Ordering::SeqCst);
    }
}

/// A mounted fault-injecting filesystem.
pub struct FaultyDisk {
    /// Its fault switches.
    pub faults: Arc<DiskFaults>,
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

impl FaultyDisk {
    /// Mounts a passthrough of `backing` on `mountpoint` (both created if missing).
    pub fn mount(backing: &Path, mountpoint: &Path) -> Result<FaultyDisk, String> {
        if !Path::new("/dev/fuse").exists() {
            return Err("no /dev/fuse".into());
        }
        std::fs::create_dir_all(backing).map_err(|e| format!("{}: {e}", backing.display()))?;
        std::fs::create_dir_all(mountpoint)
            .map_err(|e| format!("{}: {e}", mountpoint.display()))?;
        let faults = Arc::new(DiskFaults::default());
        let fs = PassFs {
            root: backing.to_path_buf(),
            faults: faults.clone(),
            inodes: Mutex::new(Inodes::new()),
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
        };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("zkr-chaos".into()),
            MountOption::Subtype("zkr-chaos".into()),
        ];
        // Several threads, so that a slow fsync does not hold up every other call.
        config.n_threads = Some(4);
        let session = fuser::spawn_mount(fs, mountpoint, &config)
            .map_err(|e| format!("mounting FUSE on {}: {e}", mountpoint.display()))?;
        Ok(FaultyDisk {
            faults,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for FaultyDisk {
    fn drop(&mut self) {
        self.faults.heal();
        if let Some(s) = self.session.take() {
            if s.umount_and_join().is_err() {
                // Busy (a process still has a file open): detach it lazily rather than leave a
                // mount whose server is gone.
                if let Ok(c) = c_path(&self.mountpoint) {
                    // SAFETY: umount2(2) on a NUL-terminated path.
                    unsafe {
                        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                    }
                }
            }
        }
    }
}

/// Path <-> inode number.
struct Inodes {
    by_ino: HashMap<u64, PathBuf>,
    by_path: HashMap<PathBuf, u64>,
    next: u64,
}

impl Inodes {
    fn new() -> Inodes {
        let mut i = Inodes {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next: 2,
        };
        i.by_ino.insert(1, PathBuf::new());
        i.by_path.insert(PathBuf::new(), 1);
        i
    }

    fn ino_of(&mut self, rel: &Path) -> u64 {
        if let Some(i) = self.by_path.get(rel) {
            return *i;
        }
        let i = self.next;
        self.next += 1;
        self.by_ino.insert(i, rel.to_path_buf());
        self.by_path.insert(rel.to_path_buf(), i);
        i
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(i) = self.by_path.remove(rel) {
            self.by_ino.remove(&i);
        }
    }

    /// Moves `from` (and everything under it) to `to`.
    fn rename(&mut self, from: &Path, to: &Path) {
        self.forget_path(to);
        let moved: Vec<(PathBuf, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, i) in moved {
            let rest = p
                .strip_prefix(from)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let np = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            self.by_path.remove(&p);
            self.by_path.insert(np.clone(), i);
            self.by_ino.insert(i, np);
        }
    }
}

struct PassFs {
    root: PathBuf,
    faults: Arc<DiskFaults>,
    inodes: Mutex<Inodes>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    next_fh: AtomicU64,
}

const TTL: Duration = Duration::from_millis(0);

fn errno(e: std::io::Error) -> Errno {
    Errno::from(e)
}

fn attr_of(ino: u64, md: &std::fs::Metadata) -> FileAttr {
    let ts = |s: i64, ns: i64| {
        if s >= 0 {
            UNIX_EPOCH + Duration::new(s as u64, ns as u32)
        } else {
            UNIX_EPOCH
        }
    };
    FileAttr {
        ino: INodeNo(ino),
        size: md.size(),
        blocks: md.blocks(),
        atime: ts(md.atime(), md.atime_nsec()),
        mtime: ts(md.mtime(), md.mtime_nsec()),
        ctime: ts(md.ctime(), md.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: FileType::from_std(md.file_type()).unwrap_or(FileType::RegularFile),
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: md.blksize() as u32,
        flags: 0,
    }
}

fn c_path(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// open(2) with the caller's flags.
fn open_raw(p: &Path, flags: i32, mode: u32) -> Result<File, Errno> {
    let c = c_path(p)?;
    // SAFETY: open(2) on a NUL-terminated path; a non-negative result is a descriptor we own.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        return Err(errno(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn empty(reply: ReplyEmpty, r: Result<(), Errno>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn attr(reply: ReplyAttr, r: Result<FileAttr, Errno>) {
    match r {
        Ok(a) => reply.attr(&TTL, &a),
        Err(e) => reply.error(e),
    }
}

fn entry(reply: ReplyEntry, r: Result<FileAttr, Errno>) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

impl PassFs {
    fn rel(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.inodes
            .lock()
            .by_ino
            .get(&ino.0)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.rel(parent)?.join(name))
    }

    fn real(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn entry_of(&self, rel: &Path) -> Result<FileAttr, Errno> {
        let md = std::fs::symlink_metadata(self.real(rel)).map_err(errno)?;
        let ino = self.inodes.lock().ino_of(rel);
        Ok(attr_of(ino, &md))
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<File>, Errno> {
        self.files.lock().get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    fn add_file(&self, f: File) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.files.lock().insert(fh, Arc::new(f));
        FileHandle(fh)
    }

    fn remove(
        &self,
        parent: INodeNo,
        name: &OsStr,
        how: fn(&Path) -> std::io::Result<()>,
    ) -> Result<(), Errno> {
        let rel = self.child(parent, name)?;
        how(&self.real(&rel)).map_err(errno)?;
        self.inodes.lock().forget_path(&rel);
        Ok(())
    }

    fn full(&self) -> bool {
        let full = self.faults.full.load(Ordering::SeqCst);
        if full {
            self.faults.refused_writes.fetch_add(1, Ordering::Relaxed);
        }
        full
    }

    /// The sync faults: waits if syncs are slow; Err(EIO) if they fail.
    fn sync_faults(&self) -> Result<(), Errno> {
        let ms = self.faults.slow_fsync_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if self.faults.fail_fsync.load(Ordering::SeqCst) {
            self.faults.failed_syncs.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::EIO);
        }
        Ok(())
    }
}

impl Filesystem for PassFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        entry(
            reply,
            self.child(parent, name).and_then(|p| self.entry_of(&p)),
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = match fh.map(|fh| self.file(fh)) {
            Some(Ok(f)) => f.metadata().map_err(errno).map(|md| attr_of(ino.0, &md)),
            _ => self.rel(ino).and_then(|p| {
                std::fs::symlink_metadata(self.real(&p))
                    .map_err(errno)
                    .map(|md| attr_of(ino.0, &md))
            }),
        };
        attr(reply, r);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = (|| {
            let p = self.real(&self.rel(ino)?);
            if let Some(size) = size {
                let grows = std::fs::metadata(&p)
                    .map(|m| size > m.len())
                    .unwrap_or(false);
                if grows && self.full() {
                    return Err(Errno::ENOSPC);
                }
                match fh.map(|fh| self.file(fh)) {
                    Some(Ok(f)) => f.set_len(size).map_err(errno)?,
                    _ => File::options()
                        .write(true)
                        .open(&p)
                        .and_then(|f| f.set_len(size))
                        .map_err(errno)?,
                }
            }
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(errno)?;
            }
            std::fs::symlink_metadata(&p)
                .map_err(errno)
                .map(|md| attr_of(ino.0, &md))
        })();
        attr(reply, r);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.child(parent, name).and_then(|rel| {
            if self.full() {
                return Err(Errno::ENOSPC);
            }
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(self.real(&rel))
                .map_err(errno)?;
            self.entry_of(&rel)
        });
        entry(reply, r);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.remove(parent, name, |p| std::fs::remove_file(p)),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.remove(parent, name, |p| std::fs::remove_dir(p)));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            let from = self.child(parent, name)?;
            let to = self.child(newparent, newname)?;
            std::fs::rename(self.real(&from), self.real(&to)).map_err(errno)?;
            self.inodes.lock().rename(&from, &to);
            Ok(())
        })();
        empty(reply, r);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = self
            .rel(ino)
            .and_then(|rel| open_raw(&self.real(&rel), flags.0, 0));
        match r {
            Ok(f) => reply.opened(self.add_file(f), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = (|| {
            if self.full() {
                return Err(Errno::ENOSPC);
            }
            let rel = self.child(parent, name)?;
            let f = open_raw(&self.real(&rel), flags | libc::O_CREAT, mode)?;
            let attr = self.entry_of(&rel)?;
            Ok((f, attr))
        })();
        match r {
            Ok((f, attr)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                self.add_file(f),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.file(fh).and_then(|f| {
            let mut buf = vec![0u8; size as usize];
            let mut got = 0;
            while got < buf.len() {
                match f.read_at(&mut buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(errno(e)),
                }
            }
            buf.truncate(got);
            Ok(buf)
        });
        match r {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.file(fh).and_then(|f| {
            if self.full() {
                return Err(Errno::ENOSPC);
            }
            f.write_all_at(data, offset).map_err(errno)
        });
        match r {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.files.lock().remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.file(fh).and_then(|f| {
            self.sync_faults()?;
            if datasync {
                f.sync_data().map_err(errno)
            } else {
                f.sync_all().map_err(errno)
            }
        });
        empty(reply, r);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self
            .rel(ino)
            .and_then(|rel| File::open(self.real(&rel)).map_err(errno));
        match r {
            Ok(f) => reply.opened(self.add_file(f), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.rel(ino).and_then(|rel| {
            let mut entries = vec![
                (ino.0, FileType::Directory, OsStr::new(".").to_os_string()),
                (ino.0, FileType::Directory, OsStr::new("..").to_os_string()),
            ];
            let mut names: Vec<_> = std::fs::read_dir(self.real(&rel))
                .map_err(errno)?
                .filter_map(Result::ok)
                .collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let kind = e
                    .file_type()
                    .ok()
                    .and_then(FileType::from_std)
                    .unwrap_or(FileType::RegularFile);
                let child = rel.join(e.file_name());
                let i = self.inodes.lock().ino_of(&child);
                entries.push((i, kind, e.file_name()));
            }
            Ok(entries)
        });
        match r {
            Ok(entries) => {
                for (k, (i, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(i), (k + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.files.lock().remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.file(fh).and_then(|f| {
            self.sync_faults()?;
            f.sync_all().map_err(errno)
        });
        empty(reply, r);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let st = match rustix::fs::statvfs(&self.root) {
            Ok(st) => st,
            Err(e) => {
                reply.error(errno(e.into()));
                return;
            }
        };
        let bavail = if self.faults.full.load(Ordering::SeqCst) {
            0
        } else {
            st.f_bavail as u64
        };
        reply.statfs(
            st.f_blocks as u64,
            bavail.min(st.f_bfree as u64),
            bavail,
            st.f_files as u64,
            st.f_ffree as u64,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self.file(fh).and_then(|f| {
            if self.full() {
                return Err(Errno::ENOSPC);
            }
            let flags = rustix::fs::FallocateFlags::from_bits_retain(mode as u32);
            rustix::fs::fallocate(f, flags, offset, length).map_err(|e| errno(e.into()))?;
            Ok(())
        });
        empty(reply, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_a_directory_moves_the_inodes_under_it() {
        let mut i = Inodes::new();
        let a = i.ino_of(Path::new("log"));
        let b = i.ino_of(Path::new("log/seg.1"));
        let c = i.ino_of(Path::new("snap.tmp"));
        i.rename(Path::new("log"), Path::new("old"));
        assert_eq!(i.by_ino[&a], PathBuf::from("old"));
        assert_eq!(i.by_ino[&b], PathBuf::from("old/seg.1"));
        assert_eq!(i.by_path[Path::new("old/seg.1")], b);
        assert!(!i.by_path.contains_key(Path::new("log")));
        i.rename(Path::new("snap.tmp"), Path::new("old/seg.1"));
        assert_eq!(i.by_ino[&c], PathBuf::from("old/seg.1"));
        assert!(!i.by_ino.contains_key(&b));
    }

    /// The real filesystem: files pass through; fsync fails with EIO and writes with ENOSPC
    /// while those faults are on; everything works again once healed. Needs /dev/fuse and the
    /// right to mount (root, as `zkr chaos` and CI run).
    #[test]
    fn a_mounted_disk_passes_files_through_and_injects_its_faults() {
        use std::io::Write;
        let tmp = tempfile::Builder::new()
            .prefix("zkr-disk-test-")
            .tempdir()
            .unwrap();
        let base = tmp.path();
        let disk = FaultyDisk::mount(&base.join("backing"), &base.join("mnt"))
            .expect("mount the FUSE disk");
        let p = disk.mountpoint().join("dir/f.tmp");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = File::create(&p).unwrap();
        f.write_all(b"hello").unwrap();
        f.sync_all().unwrap();
        disk.faults.fail_fsync.store(true, Ordering::SeqCst);
        let e = f.sync_all().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
        disk.faults.heal();
        f.sync_all().unwrap();
        disk.faults.full.store(true, Ordering::SeqCst);
        let e = f.write_all(b" world").and_then(|_| f.flush()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        assert!(File::create(disk.mountpoint().join("new")).is_err());
        disk.faults.heal();
        f.write_all(b"!").unwrap();
        drop(f);
        std::fs::rename(&p, disk.mountpoint().join("dir/f")).unwrap();
        assert_eq!(
            std::fs::read(disk.mountpoint().join("dir/f")).unwrap(),
            b"hello!"
        );
        assert_eq!(
            std::fs::read(base.join("backing/dir/f")).unwrap(),
            b"hello!"
        );
        drop(disk);
    }
}
