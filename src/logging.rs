//! The node's logs: text or JSON lines (`--log-format`), to stderr or to a rotated file in a log
//! directory (`--log-dir`, or ZooKeeper's `ZOO_LOG_DIR` habit: `zkr.<date>.log`, with a
//! `zkr.log` link to the current one, `--log-rotation daily|hourly|never`, `--log-max-files`),
//! and the audit log (`zkr_actors::audit`) in its own `zookeeper_audit.log` there, in
//! ZooKeeper's layout (`<ISO8601 time> INFO audit.Slf4jAuditLogger: <fields>`).
//!
//! The log output never stops, slows or kills the node, whether it is a file or stderr (a full
//! disk, a closed pipe, a pipe nobody reads): lines are handed to a writer thread through a
//! bounded queue that drops lines when full (tracing-appender's lossy non-blocking writer), a
//! write or flush that fails loses that line and counts it in
//! `zkr_log_file_write_errors_total` (the error never reaches the writer thread, which would
//! print it to stderr, nor tracing's internal-error fallback, which would too: a failing stderr
//! panicked there), and a log directory that cannot be opened at start-up leaves the logs on
//! stderr with a warning.

use std::io::{self, Write};
use std::path::PathBuf;

use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (time, level, fields, message): for log shippers.
    Json,
}

/// `--log-rotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogRotation {
    /// A new file every day.
    #[default]
    Daily,
    /// A new file every hour.
    Hourly,
    /// One file (`zkr.log`), never rotated.
    Never,
}

/// Where and how the node logs.
#[derive(Debug, Clone, clap::Args)]
pub struct LogOptions {
    /// Line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "ZKR_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Write the logs (and the audit log) to files in this directory instead of stderr
    /// (ZooKeeper's zookeeper.log.dir; `ZOO_LOG_DIR` is read too).
    #[arg(long, env = "ZOO_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// When the log file is rotated.
    #[arg(long, value_enum, default_value_t = LogRotation::Daily)]
    pub log_rotation: LogRotation,
    /// Rotated log files kept (older ones are deleted).
    #[arg(long, default_value_t = 10)]
    pub log_max_files: usize,
}

/// Keeps the writer threads alive (and flushes them when dropped).
pub struct LogGuards(#[allow(dead_code)] Vec<WorkerGuard>);

/// Lines queued for a log file before new ones are dropped.
const QUEUE_LINES: usize = 64 * 1024;

/// A writer that counts its failures and swallows them (the line is lost; the node goes on).
struct Counted<W>(W);

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            failed();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.0.flush().is_err() {
            failed();
        }
        Ok(())
    }
}

/// stderr through the lossy queue: a stderr that blocks or fails never holds up the node.
fn stderr_writer() -> (NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("zkr-log-writer")
        .finish(Counted(io::stderr()))
}

/// Writes a line to stderr, ignoring failure (a message the node cannot deliver is not a
/// reason to panic).
pub fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

fn failed() {
    metrics::counter!("zkr_log_file_write_errors_total").increment(1);
}

fn appender(
    opts: &LogOptions,
    dir: &std::path::Path,
    prefix: &str,
) -> Result<(NonBlocking, WorkerGuard), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rotation = match opts.log_rotation {
        LogRotation::Daily => Rotation::DAILY,
        LogRotation::Hourly => Rotation::HOURLY,
        LogRotation::Never => Rotation::NEVER,
    };
    let mut b = RollingFileAppender::builder()
        .rotation(rotation.clone())
        .filename_prefix(prefix)
        .filename_suffix("log");
    if rotation != Rotation::NEVER {
        b = b
            .max_log_files(opts.log_max_files.max(1))
            .latest_symlink(format!("{prefix}.log"));
    }
    let file = b
        .build(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUE_LINES)
            .thread_name("zkr-log-writer")
            .finish(Counted(file)),
    )
}

/// Installs the node's logging.
pub fn init(opts: &LogOptions) -> LogGuards {
    let env = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let mut guards = Vec::new();
    let mut warning = None;
    let files = match &opts.log_dir {
        Some(dir) => match (
            appender(opts, dir, "zkr"),
            appender(opts, dir, "zookeeper_audit"),
        ) {
            (Ok((main, g1)), Ok((audit, g2))) => {
                guards.push(g1);
                guards.push(g2);
                Some((main, audit))
            }
            (Err(e), _) | (_, Err(e)) => {
                warning = Some(format!("cannot write logs to {e}; logging to stderr"));
                None
            }
        },
        None => None,
    };
    let json = opts.log_format == LogFormat::Json;
    let registry = tracing_subscriber::registry();
    match files {
        Some((main, audit)) => {
            // The audit lines go to their own file only.
            let main_filter = env().add_directive(
                format!("{}=off", zkr_actors::audit::TARGET)
                    .parse()
                    .expect("a valid directive"),
            );
            let main_layer = if json {
                tracing_subscriber::fmt::layer()
                    .json()
                    .log_internal_errors(false)
                    .with_writer(main)
                    .with_filter(main_filter)
                    .boxed()
            } else {
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .log_internal_errors(false)
                    .with_writer(main)
                    .with_filter(main_filter)
                    .boxed()
            };
            let audit_layer = AuditLayer {
                out: parking_lot::Mutex::new(audit),
            }
            .with_filter(
                Targets::new().with_target(zkr_actors::audit::TARGET, tracing::Level::INFO),
            );
            registry.with(main_layer).with(audit_layer).init();
        }
        None => {
            let (err, guard) = stderr_writer();
            guards.push(guard);
            let layer = if json {
                tracing_subscriber::fmt::layer()
                    .json()
                    .log_internal_errors(false)
                    .with_writer(err)
                    .with_filter(env())
                    .boxed()
            } else {
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .log_internal_errors(false)
                    .with_writer(err)
                    .with_filter(env())
                    .boxed()
            };
            registry.with(layer).init();
        }
    }
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    LogGuards(guards)
}

/// Writes audit events in ZooKeeper's audit layout.
struct AuditLayer {
    out: parking_lot::Mutex<NonBlocking>,
}

impl<S: Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                if f.name() == "message" {
                    self.0 = v.to_string();
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let line = format!("{} INFO audit.Slf4jAuditLogger: {}\n", iso8601_now(), m.0);
        // Lossy and non-blocking: a full queue or a failed write loses the line.
        let _ = self.out.lock().write_all(line.as_bytes());
    }
}

/// Now, as log4j's `%d{ISO8601}` prints it (`2026-12-05 21:52:01,330`, UTC).
fn iso8601_now() -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second],[subsecond digits:3]"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_time_looks_like_log4j_iso8601() {
        let t = iso8601_now();
        assert_eq!(t.len(), 23, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[10..11], " ");
        assert_eq!(&t[19..20], ",");
    }
}
