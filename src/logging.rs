//! The node's log output. It must never stop or kill the node: stdout may be a full disk, a
//! closed pipe, or a pipe nobody reads.
//!
//! Lines are formatted on the thread that logs and handed to one writer thread through a
//! bounded queue (tracing-appender's non-blocking writer, lossy): when the output blocks, lines
//! are dropped and counted instead of blocking actor threads. The writer ignores write and
//! flush errors (counted too), so nothing on the way prints to stderr or panics.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines (or parts) the output refused.
static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// stdout, with every error swallowed (and counted).
struct LossyStdout;

impl Write for LossyStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if io::stdout().lock().write_all(buf).is_err() {
            WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if io::stdout().lock().flush().is_err() {
            WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Keeps the writer thread alive; drop it last (it flushes what is queued).
pub struct Guard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

/// Installs the subscriber: `RUST_LOG` (default `info`), lines to stdout, never blocking.
pub fn init() -> Guard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(64 * 1024)
        .finish(LossyStdout);
    let dropped = writer.error_counter();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .log_internal_errors(false)
        .init();
    metrics::describe_counter!(
        "zkr_log_lines_dropped_total",
        "log lines dropped because the log output was blocked or failing"
    );
    std::thread::Builder::new()
        .name("log-output-stats".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            let n = dropped.dropped_lines() as u64 + WRITE_ERRORS.load(Ordering::Relaxed);
            metrics::counter!("zkr_log_lines_dropped_total").absolute(n);
        })
        .ok();
    Guard { _worker: worker }
}

/// Writes a line to stderr, ignoring failure (a message the node cannot deliver is not a
/// reason to panic).
pub fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
