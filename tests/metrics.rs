//! The Prometheus endpoint and `mntr` of a real standalone node (tests/ops has the ensemble, the
//! dashboards and a real Prometheus).
//!
//! Each test starts its own node on free ports with its own temp dir; every wait is bounded.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{four_letter, free_port, ZkrNode};
use zk::{Acls, Client, CreateMode};
use zookeeper_client as zk;

/// Upper bound of every wait.
const WAIT: Duration = Duration::from_secs(30);

/// `GET /metrics` over a plain socket; the body.
fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    assert!(out.starts_with("HTTP/1."), "{out}");
    assert!(out.lines().next().unwrap_or("").contains(" 200"), "{out}");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `name{labels}` -> value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.trim().to_string(), v.parse().ok()?))
        })
        .collect()
}

fn mntr(port: u16) -> HashMap<String, String> {
    four_letter(port, "mntr")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates, reads, an ephemeral and a watch; returns the client and the watcher, which the test
/// keeps until it ends.
async fn load(node: &ZkrNode) -> (Client, zk::OneshotWatcher) {
    let client = tokio::time::timeout(
        WAIT,
        Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(&node.addr()),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    client.create("/m", b"", &opts).await.expect("create");
    for i in 0..20 {
        client
            .create(&format!("/m/n{i}"), b"data", &opts)
            .await
            .expect("create");
        client.get_data(&format!("/m/n{i}")).await.expect("get");
    }
    client.create("/m/e", b"", &eph).await.expect("ephemeral");
    let (_, _, watch) = client.get_and_watch_data("/m/n1").await.expect("watch");
    (client, watch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_node_serves_zookeeper_and_zkr_metrics_and_mntr_agrees() {
    let metrics_port = free_port();
    let node = ZkrNode::start(&format!(
        "[metrics]\nport = {metrics_port}\naddress = \"127.0.0.1\"\n"
    ));
    let _session = load(&node).await;
    let port = node.port;
    let (m, text) = tokio::task::spawn_blocking(move || {
        eventually("the sampler's gauges after the load", || {
            let text = scrape(metrics_port);
            let m = samples(&text);
            (m.get("znode_count") == Some(&27.0)).then_some((m, text))
        })
    })
    .await
    .expect("scrape");
    // ZooKeeper's names, types and help.
    assert!(text.contains("# TYPE znode_count gauge"), "{text}");
    assert!(text.contains("# TYPE readlatency summary"), "{text}");
    assert!(text.contains("# TYPE looking_count counter"), "{text}");
    assert!(text.contains("# HELP fsynctime "), "{text}");
    for q in ["0.5", "0.9", "0.99"] {
        assert!(
            m.contains_key(&format!("readlatency{{quantile=\"{q}\"}}")),
            "{q}"
        );
        assert!(
            m.contains_key(&format!("updatelatency{{quantile=\"{q}\"}}")),
            "{q}"
        );
        assert!(
            m.contains_key(&format!("fsynctime{{quantile=\"{q}\"}}")),
            "{q}"
        );
    }
    assert!(m["readlatency_count"] >= 20.0);
    assert!(m["updatelatency_count"] >= 22.0);
    assert_eq!(m["ephemerals_count"], 1.0);
    assert_eq!(m["watch_count"], 1.0);
    assert_eq!(m["global_sessions"], 1.0);
    assert_eq!(m["quorum_size"], 1.0);
    assert!(m["uptime"] > 0.0);
    // zkr's own: role, per-op histograms with buckets, pre-registered counters.
    assert_eq!(m["zkr_role"], 4.0);
    assert_eq!(m["zkr_leader"], 1.0);
    assert_eq!(m["zkr_serving"], 1.0);
    assert!(
        text.contains("# TYPE zkr_request_latency_seconds histogram"),
        "{text}"
    );
    assert!(m["zkr_request_latency_seconds_count{op=\"getData\"}"] >= 20.0);
    assert!(m.contains_key("zkr_request_latency_seconds_bucket{op=\"getData\",le=\"0.001\"}"));
    assert!(m["zkr_proposal_commit_latency_seconds_count"] >= 22.0);
    assert!(m["zkr_fsync_batch_size_count"] >= 1.0);
    assert!(m["zkr_log_bytes_total"] > 0.0);
    assert_eq!(m["zkr_bad_requests_total{reason=\"unknown_opcode\"}"], 0.0);
    assert_eq!(m["zkr_session_expiries_total"], 0.0);

    // mntr: the same figures under zk_ keys, the registry's other samples after them.
    let agreed = tokio::task::spawn_blocking(move || {
        eventually("mntr and /metrics agreeing", || {
            let mn = mntr(port);
            let m = samples(&scrape(metrics_port));
            let keys = [
                "znode_count",
                "ephemerals_count",
                "watch_count",
                "global_sessions",
                "zkr_txns_applied_total",
                "readlatency_count",
            ];
            keys.iter()
                .all(|k| {
                    mn.get(&format!("zk_{k}"))
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| Some(&v) == m.get(*k))
                })
                .then_some(mn)
        })
    })
    .await
    .expect("mntr");
    assert_eq!(agreed["zk_server_state"], "standalone");
    assert!(agreed.contains_key("zk_readlatency{quantile=\"0.99\"}"));
    assert!(agreed.contains_key("zk_zkr_role"));
    assert!(
        !agreed.keys().any(|k| k.contains("_bucket")),
        "histogram buckets stay on /metrics"
    );
    assert!(
        !agreed.contains_key("zk_synced_followers"),
        "no ensemble keys standalone"
    );
}

#[test]
fn metrics_port_zero_turns_the_exporter_off_and_mntr_still_answers() {
    let node = ZkrNode::start("[metrics]\nport = 0\n");
    let m = mntr(node.port);
    assert_eq!(
        m.get("zk_server_state").map(String::as_str),
        Some("standalone")
    );
    assert_eq!(m.get("zk_znode_count").map(String::as_str), Some("5"));
    assert!(
        !m.keys().any(|k| k.starts_with("zk_zkr_")),
        "no registry without the exporter: {m:?}"
    );
}
