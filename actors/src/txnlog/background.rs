//! Background work at a lower CPU priority: encoding a snapshot for a learner, writing the node's
//! own snapshots. Like a database's compaction, such work only has to finish, while the
//! clients' requests wait on the serving threads; on a machine whose cores are all busy the
//! scheduler gives it what the serving threads leave. (A learner's install of a streamed
//! snapshot is not background work: it is on the learner's way back into the ensemble and runs
//! at the normal priority.)
//!
//! Each job runs on a thread of its own (never a pooled one: a thread's priority cannot be
//! raised back without privilege, and the blocking pool also runs the log's fsyncs), at
//! [`LOWER_BY`] nice steps below the process's own; threads it starts inherit that priority.
//!
//! Invariant: the priority is a scheduling hint only; a job that cannot lower it runs at the
//! normal one.

use std::io;

/// Nice steps background work runs below the thread that starts it (nice 0 is the normal
/// priority, 19 the lowest; 10 steps give it about a tenth of a busy core's time).
pub const LOWER_BY: i32 = 10;

/// The nice value background work started from a thread at nice `from` runs at.
pub fn background_nice(from: i32) -> i32 {
    (from + LOWER_BY).min(19)
}

/// Lowers the calling thread's priority by [`LOWER_BY`] (Linux: per thread).
pub fn lower_this_thread() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let to = background_nice(this_thread_nice()?);
        // SAFETY: plain syscalls; no memory is passed.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, to) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's nice value.
pub fn this_thread_nice() -> io::Result<i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls; no memory is passed.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        // -1 is also a valid priority: errno tells them apart.
        unsafe { *libc::__errno_location() = 0 };
        let p = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
        if p == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(0) {
                return Err(e);
            }
        }
        Ok(p)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(0)
}

/// Runs `job` on a new thread named `name` at the background priority; the result comes back
/// through the returned receiver (an error if the thread could not be started or died).
pub fn spawn<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if let Err(e) = lower_this_thread() {
                tracing::debug!(error = %e, "cannot lower a background thread's priority");
            }
            let _ = tx.send(job());
        });
    if let Err(e) = started {
        tracing::error!(error = %e, thread = name, "cannot start a background thread");
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_job_runs_at_the_background_priority_and_the_caller_keeps_its_own() {
        let before = this_thread_nice().unwrap();
        let (nice, inner) = spawn("zkr-test-bg", || {
            let nice = this_thread_nice().unwrap();
            // A thread it starts inherits the priority.
            let inner = std::thread::spawn(|| this_thread_nice().unwrap())
                .join()
                .unwrap();
            (nice, inner)
        })
        .await
        .unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(nice, background_nice(before));
            assert_eq!(inner, nice);
        }
        assert_eq!(this_thread_nice().unwrap(), before);
    }
}
