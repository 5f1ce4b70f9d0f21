//! Paced writeback of the big files a node writes beside its log (snapshots, SNAP stream files):
//! their pages are handed to the disk a few MiB at a time as they are written
//! (`sync_file_range`), instead of piling up as gigabytes of dirty page cache that the kernel
//! later flushes in one burst. Such a burst sits in the disk's queue in front of the log's
//! fsyncs (and, on ext4, makes the journal commit of every fsync wait for it), so the clients'
//! writes stall for hundreds of milliseconds; paced, an fsync waits behind at most [`STEP`] of
//! them.
//!
//! This is writeback scheduling only, never durability: what must be durable is still fsynced
//! by its writer, and an fsync of a paced file has little left to do.
//!
//! Invariant: at most two steps of a [`Paced`] file are dirty or under writeback at a time (the
//! writer waits for the step before the one it hands over); elsewhere than Linux nothing is
//! paced.

use std::fs::File;
use std::io::{self, Write};

/// Bytes handed to the disk at a time.
pub const STEP: u64 = 2 << 20;

/// Starts the writeback of `[from, to)` of `file` and waits until `[before, from)` is written
/// back (blocking). Nothing is made durable.
pub fn push(file: &File, before: u64, from: u64, to: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let range = |start: u64, end: u64, flags| {
            if end <= start {
                return Ok(());
            }
            // SAFETY: a plain syscall on an open descriptor; no memory is passed.
            let r = unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    start as libc::off64_t,
                    (end - start) as libc::off64_t,
                    flags,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        range(
            before,
            from,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )?;
        range(from, to, libc::SYNC_FILE_RANGE_WRITE)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, before, from, to);
        Ok(())
    }
}

/// A file written from its start, sequentially, whose pages go to the disk every [`STEP`]
/// bytes (see the module doc). Unbuffered: put a `BufWriter` in front of it.
pub struct Paced {
    file: File,
    written: u64,
    pushed: u64,
    waited: u64,
}

impl Paced {
    /// Paces the writes to `file` (empty, or written up to its end by nothing else).
    pub fn new(file: File) -> Paced {
        Paced {
            file,
            written: 0,
            pushed: 0,
            waited: 0,
        }
    }

    /// The file (whatever was written is handed to the disk first).
    pub fn into_inner(mut self) -> io::Result<File> {
        self.push_now()?;
        Ok(self.file)
    }

    fn push_now(&mut self) -> io::Result<()> {
        push(&self.file, self.waited, self.pushed, self.written)?;
        self.waited = self.pushed;
        self.pushed = self.written;
        Ok(())
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.pushed >= STEP {
            self.push_now()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn paced_file_holds_what_was_written_and_hands_it_over_step_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = &dir.path().join("f");
        let mut p = Paced::new(File::create(path).unwrap());
        let data: Vec<u8> = (0..(5 * STEP + 123)).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(100_000) {
            p.write_all(piece).unwrap();
            assert!(
                p.written - p.pushed < STEP,
                "a full step is handed over at once"
            );
            assert!(p.waited <= p.pushed);
            // At most two steps (each at most one write past STEP) are not known written back.
            assert!(p.written - p.waited < 2 * (STEP + piece.len() as u64));
        }
        assert!(
            p.pushed > 4 * STEP,
            "the steps were handed over as they filled"
        );
        let f = p.into_inner().unwrap();
        f.sync_all().unwrap();
        let mut back = Vec::new();
        File::open(path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn push_of_an_empty_or_reversed_range_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("f")).unwrap();
        push(&f, 0, 0, 0).unwrap();
        push(&f, 10, 5, 5).unwrap();
    }
}
