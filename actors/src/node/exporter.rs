//! The Prometheus exporter: installs metrics-exporter-prometheus behind the `metrics` facade,
//! serving `/metrics` on `[metrics] address:port` (or keeping the registry for `mntr` and the
//! admin server only), and samples the node's state gauges
//! ([`crate::monitor::Figures`]) once a [`SAMPLE_EVERY`].

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::context::{Mode, NodeContext};
use crate::metrics::{
    BATCH_BUCKETS_TXNS, FSYNC_BATCH_SIZE, LATENCY_BUCKETS_SECONDS, PROPOSAL_COMMIT_LATENCY,
    REQUEST_LATENCY, SNAPSHOT_BUCKETS_SECONDS, SNAPSHOT_DURATION, SUMMARY_BUCKET,
    SUMMARY_QUANTILES,
};
use crate::monitor::Figures;

/// How often the state gauges are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder and, given an address, serves `/metrics` there (inside the
/// actix system). Without an address the registry is kept for `mntr` and the admin server's
/// `monitor` only.
pub fn install(addr: Option<SocketAddr>) -> Result<(), String> {
    let e = |e: metrics_exporter_prometheus::BuildError| e.to_string();
    let mut builder = PrometheusBuilder::new()
        .set_quantiles(&SUMMARY_QUANTILES)
        .map_err(e)?
        .set_bucket_duration(SUMMARY_BUCKET)
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_LATENCY.into()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(PROPOSAL_COMMIT_LATENCY.into()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .map_err(e)?
        .set_buckets_for_metric(Matcher::Full(FSYNC_BATCH_SIZE.into()), &BATCH_BUCKETS_TXNS)
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(SNAPSHOT_DURATION.into()),
            &SNAPSHOT_BUCKETS_SECONDS,
        )
        .map_err(e)?;
    let (recorder, exporter) = match addr {
        Some(addr) => {
            builder = builder.with_http_listener(addr);
            let (r, x) = builder.build().map_err(e)?;
            (r, Some(x))
        }
        None => (builder.build_recorder(), None),
    };
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    let _ = HANDLE.set(handle.clone());
    let rendered = handle.clone();
    crate::metrics::set_registry(move || rendered.render());
    crate::metrics::describe();
    crate::metrics::cache_request_histograms();
    // Before the exporter answers its first scrape (its socket is bound, not served yet).
    crate::metrics::register_from_start();
    match exporter {
        Some(exporter) => {
            actix_rt::spawn(async move {
                if let Err(e) = exporter.await {
                    tracing::error!(error = ?e, "metrics exporter stopped");
                }
            });
        }
        None => {
            // What the exporter's builder would otherwise do: rotate the summaries' windows.
            actix_rt::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
    }
    Ok(())
}

/// After the node's actors started: registers the series that must exist before anything
/// happens (so that rates and alerts see zeros, not nothing), and samples the state gauges
/// every [`SAMPLE_EVERY`] when the exporter runs.
pub fn start(node: &Arc<NodeContext>) {
    let me = node.config.node.id as u64;
    let peers = node
        .config
        .ensemble
        .iter()
        .flat_map(|e| e.servers.iter().map(|s| s.id as u64))
        .filter(|id| *id != me);
    crate::metrics::preregister(me, peers);
    if node.mode() == Mode::Looking {
        metrics::counter!("looking_count").increment(1);
    }
    if HANDLE.get().is_none() {
        return;
    }
    let node = node.clone();
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // Off the arbiter's thread: the figures read `/proc` (open file descriptors).
            let node = node.clone();
            let _ = tokio::task::spawn_blocking(move || Figures::collect(&node).export()).await;
        }
    });
}
