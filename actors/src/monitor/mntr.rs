//! The text of `mntr`: the node's [`Figures`] under ZooKeeper's keys and rules (the ensemble keys
//! only on a member, the leader keys only on the leader), then every other sample of the metrics
//! registry.

use std::fmt::Write as _;

use super::Figures;
use crate::context::NodeContext;
use crate::metrics::FIGURE_GAUGES;

impl Figures {
    /// The `mntr` lines of these figures (keys without `zk_`), in ZooKeeper's order where it has
    /// one; the ensemble keys only on a member, the leader keys only on the leader, as ZooKeeper.
    pub fn mntr_pairs(&self) -> Vec<(String, String)> {
        let (min, avg, max) = self.latency_ms;
        let mut v: Vec<(&str, String)> = vec![
            ("version", crate::version::version_string()),
            ("server_state", self.mode.name().into()),
            ("avg_latency", java_double(avg)),
            ("max_latency", max.to_string()),
            ("min_latency", min.to_string()),
            ("packets_received", self.packets_received.to_string()),
            ("packets_sent", self.packets_sent.to_string()),
            (
                "num_alive_connections",
                self.num_alive_connections.to_string(),
            ),
            (
                "outstanding_requests",
                self.outstanding_requests.to_string(),
            ),
            ("znode_count", self.znode_count.to_string()),
            ("watch_count", self.watch_count.to_string()),
            ("ephemerals_count", self.ephemerals_count.to_string()),
            (
                "approximate_data_size",
                self.approximate_data_size.to_string(),
            ),
            ("open_file_descriptor_count", self.open_fds.to_string()),
            ("max_file_descriptor_count", self.max_fds.to_string()),
            ("uptime", self.uptime_ms.to_string()),
            ("global_sessions", self.global_sessions.to_string()),
            ("local_sessions", self.local_sessions.to_string()),
            ("connection_drop_probability", "0.0".into()),
            ("outstanding_tls_handshake", "0".into()),
        ];
        if self.ensemble {
            v.push(("quorum_size", self.quorum_size.to_string()));
            v.push(("peer_state", self.peer_state()));
        }
        match (&self.leader, self.ensemble) {
            (Some(l), true) => {
                v.push(("learners", l.learners.to_string()));
                v.push(("followers", l.learners.to_string()));
                v.push(("synced_followers", l.synced_followers.to_string()));
                v.push(("synced_non_voting_followers", "0".into()));
                v.push(("synced_observers", l.synced_observers.to_string()));
                v.push(("pending_syncs", l.pending_syncs.to_string()));
                v.push(("leader_uptime", l.uptime_ms.to_string()));
                v.push(("last_proposal_size", self.proposal_sizes.0.to_string()));
                v.push(("max_proposal_size", self.proposal_sizes.2.to_string()));
                v.push(("min_proposal_size", self.proposal_sizes.1.to_string()));
            }
            _ => v.push(("last_proposal_size", "-1".into())),
        }
        v.push(("last_zxid", format!("0x{:x}", self.last_zxid)));
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The whole `mntr` answer: the node's [`Figures`], then every other sample the Prometheus
/// registry holds (counters, summaries' quantiles, sums and counts, labelled series such as
/// `zk_zkr_peer_link_up{peer="2"}`), as ZooKeeper prints its registry with the Prometheus
/// provider. Histogram buckets are left to `/metrics`. Without the exporter (`[metrics] port =
/// 0`) only the figures are printed.
pub fn mntr(node: &NodeContext) -> String {
    let figures = Figures::collect(node);
    let registry = registry_samples();
    let auth_failed = registry
        .iter()
        .find(|(k, _)| k == "zkr_auth_failures_total")
        .map_or_else(|| "0".to_string(), |(_, v)| v.clone());
    let mut s = String::new();
    for (k, v) in figures.mntr_pairs() {
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    let _ = writeln!(s, "zk_auth_failed_count\t{auth_failed}");
    let mut rest: Vec<&(String, String)> = registry
        .iter()
        .filter(|(k, _)| {
            let base = k.split('{').next().unwrap_or(k);
            !FIGURE_GAUGES.contains(&base) && !base.ends_with("_bucket")
        })
        .collect();
    rest.sort();
    for (k, v) in rest {
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    s
}

/// Every sample the metrics registry holds now, as (`name{labels}`, value); empty when no
/// exporter runs.
pub fn registry_samples() -> Vec<(String, String)> {
    crate::metrics::registry_text()
        .map(|text| exposition_samples(&text))
        .unwrap_or_default()
}

/// The samples of a Prometheus text exposition, as (`name{labels}`, value), comments skipped.
pub fn exposition_samples(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim_end().rsplit_once(' ')?;
            Some((k.trim_end().to_string(), v.to_string()))
        })
        .collect()
}

/// A double as Java prints it in `mntr` (at most 4 fraction digits, at least one).
fn java_double(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    let mut t = format!("{r}");
    if !t.contains('.') && !t.contains("inf") && !t.contains("NaN") {
        t.push_str(".0");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::LeaderFigures;
    use super::*;
    use crate::context::Mode;

    #[test]
    fn exposition_samples_parse_names_labels_and_values() {
        let text = "# HELP znode_count Znodes\n# TYPE znode_count gauge\nznode_count 5\n\
                    fsynctime{quantile=\"0.5\"} 0.25\nfsynctime_sum 3.5\n\
                    zkr_peer_link_up{peer=\"2\"} 1\n\n";
        let s = exposition_samples(text);
        assert_eq!(
            s,
            vec![
                ("znode_count".to_string(), "5".to_string()),
                ("fsynctime{quantile=\"0.5\"}".into(), "0.25".into()),
                ("fsynctime_sum".into(), "3.5".into()),
                ("zkr_peer_link_up{peer=\"2\"}".into(), "1".into()),
            ]
        );
    }

    fn figures(mode: Mode, ensemble: bool, leader: Option<LeaderFigures>) -> Figures {
        Figures {
            mode,
            serving: true,
            ensemble,
            znode_count: 7,
            watch_count: 3,
            ephemerals_count: 1,
            approximate_data_size: 99,
            num_alive_connections: 2,
            outstanding_requests: 0,
            global_sessions: 2,
            local_sessions: 0,
            uptime_ms: 1234,
            open_fds: 40,
            max_fds: 1024,
            packets_received: 10,
            packets_sent: 11,
            latency_ms: (0, 0.5, 3),
            last_zxid: 0x1_0000_0005,
            quorum_size: 3,
            leader_id: Some(2),
            epochs: (1, 1),
            leader,
            proposal_sizes: (120, 80, 300),
            log_queue: 0,
            store_queue: 0,
        }
    }

    #[test]
    fn mntr_pairs_follow_zookeeper_keys_by_role() {
        let leader = LeaderFigures {
            learners: 2,
            synced_followers: 2,
            synced_observers: 0,
            pending_syncs: 0,
            outstanding_proposals: 1,
            uptime_ms: 500,
        };
        let kv = |f: &Figures| -> std::collections::HashMap<String, String> {
            f.mntr_pairs().into_iter().collect()
        };
        let l = kv(&figures(Mode::Leader, true, Some(leader.clone())));
        assert_eq!(l["server_state"], "leader");
        assert_eq!(l["quorum_size"], "3");
        assert_eq!(l["synced_followers"], "2");
        assert_eq!(l["followers"], "2");
        assert_eq!(l["learners"], "2");
        assert_eq!(l["pending_syncs"], "0");
        assert_eq!(l["leader_uptime"], "500");
        assert_eq!(l["last_proposal_size"], "120");
        assert_eq!(l["min_proposal_size"], "80");
        assert_eq!(l["max_proposal_size"], "300");
        assert_eq!(l["avg_latency"], "0.5");
        assert_eq!(l["last_zxid"], "0x100000005");
        assert_eq!(l["peer_state"], "leading - broadcast");
        let f = kv(&figures(Mode::Follower, true, None));
        assert_eq!(f["server_state"], "follower");
        assert_eq!(f["quorum_size"], "3");
        assert!(!f.contains_key("synced_followers"));
        assert_eq!(f["last_proposal_size"], "-1");
        assert_eq!(f["peer_state"], "following - broadcast");
        let mut looking = figures(Mode::Looking, true, None);
        looking.serving = false;
        assert_eq!(looking.peer_state(), "looking - election");
        let s = kv(&figures(Mode::Standalone, false, Some(leader)));
        assert!(!s.contains_key("quorum_size"));
        assert!(!s.contains_key("peer_state"));
        assert!(!s.contains_key("synced_followers"));
        let pairs = figures(Mode::Standalone, false, None).mntr_pairs();
        assert_eq!(pairs[0].0, "version");
        assert_eq!(pairs[1], ("server_state".into(), "standalone".into()));
    }

    #[test]
    fn java_double_prints_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(0.123456), "0.1235");
    }
}
