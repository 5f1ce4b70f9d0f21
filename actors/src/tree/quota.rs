//! Quota bookkeeping (`Quotas`, `StatsTrack`, and the quota parts of ZooKeeper's `DataTree`).
//!
//! Setting a quota on `/a/b` (zkCli `setquota`) creates `/zookeeper/quota/a/b/zookeeper_limits`
//! and `/zookeeper/quota/a/b/zookeeper_stats`. The server then keeps the stats node's data
//! (`count=<nodes>,bytes=<data bytes>`) current as nodes under `/a/b` come, go and change size:
//! it rewrites the data in place, with no version bump and no watch event. Quotas are only
//! counted here, never enforced (`zookeeper.enforceQuota` is off).

/// The root of the quota tree.
pub const ROOT: &str = "/zookeeper/quota";
/// The node holding a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The node holding a quota's current usage.
pub const STAT_NODE: &str = "zookeeper_stats";

/// The quota'd path a node directly under `/zookeeper/quota/...` belongs to
/// (`Quotas.trimQuotaPath`): `/zookeeper/quota/a/b` gives `/a/b`. `None` outside the quota tree
/// and for `/zookeeper/quota` itself (ZooKeeper keeps no quota on the root).
pub fn quota_path_of(parent: &str) -> Option<&str> {
    parent
        .strip_prefix(ROOT)
        .filter(|p| p.len() > 1 && p.starts_with('/'))
}

/// The stats node of quota'd path `path`.
pub fn stat_path(path: &str) -> String {
    format!("{ROOT}{path}/{STAT_NODE}")
}

/// A parsed `StatsTrack`: `count` and `bytes`, plus any other keys (hard limits), kept in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsTrack {
    /// Number of nodes (`count`).
    pub count: Option<i64>,
    /// Bytes of data (`bytes`).
    pub bytes: Option<i64>,
    /// Other keys, sorted, as `StatsTrack.toString` writes them.
    pub others: std::collections::BTreeMap<String, i64>,
}

impl StatsTrack {
    /// A fresh track with just a count and bytes.
    pub fn new(count: i64, bytes: i64) -> StatsTrack {
        StatsTrack {
            count: Some(count),
            bytes: Some(bytes),
            others: Default::default(),
        }
    }

    /// Parses `StatsTrack` text (`count=1,bytes=2` or `count=1,bytes=2=;countHardLimit=3`).
    /// `None` where ZooKeeper's parser would throw (a key without `=`, a value that is not a
    /// number); an empty value reads as -1, as in ZooKeeper.
    pub fn parse(data: &[u8]) -> Option<StatsTrack> {
        let text = std::str::from_utf8(data).ok()?;
        let mut t = StatsTrack::default();
        for pair in text.split([',', ';']).filter(|s| !s.is_empty()) {
            // Java's split("=") drops trailing empty strings: "bytes=-1=" is ["bytes", "-1"].
            let mut parts: Vec<&str> = pair.split('=').collect();
            while parts.len() > 1 && parts.last() == Some(&"") {
                parts.pop();
            }
            if parts.len() < 2 {
                return None;
            }
            let value = if parts[1].is_empty() {
                -1
            } else {
                parts[1].parse::<i64>().ok()?
            };
            match parts[0] {
                "count" => t.count = Some(value),
                "bytes" => t.bytes = Some(value),
                key => {
                    t.others.insert(key.to_string(), value);
                }
            }
        }
        Some(t)
    }

    /// The text `StatsTrack.toString` writes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.count {
            out.push_str(&format!("count={c},"));
        }
        if let Some(b) = self.bytes {
            out.push_str(&format!("bytes={b}"));
        }
        if !self.others.is_empty() {
            out.push('=');
            for (k, v) in &self.others {
                out.push_str(&format!(";{k}={v}"));
            }
        }
        out
    }

    /// Adds to the count and bytes (`updateQuotaStat`; a missing value counts as -1).
    pub fn add(&mut self, count_diff: i64, bytes_diff: i64) {
        self.count = Some(self.count.unwrap_or(-1) + count_diff);
        self.bytes = Some(self.bytes.unwrap_or(-1) + bytes_diff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_round_trips_as_zookeeper_writes_it() {
        let t = StatsTrack::parse(b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1").unwrap();
        assert_eq!((t.count, t.bytes), (Some(5), Some(-1)));
        assert_eq!(
            t.to_text(),
            "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(StatsTrack::new(2, 1).to_text(), "count=2,bytes=1");
        let mut t = StatsTrack::parse(b"count=1,bytes=2=;foo=7").unwrap();
        t.add(1, 1);
        assert_eq!(t.to_text(), "count=2,bytes=3=;foo=7");
        // "count==5".split("=") is ["count", "", "5"]: an empty value, read as -1.
        assert_eq!(
            StatsTrack::parse(b"count==5,bytes=4").unwrap().count,
            Some(-1)
        );
    }

    #[test]
    fn unparsable_stats_are_refused() {
        assert_eq!(StatsTrack::parse(b"garbage"), None);
        assert_eq!(StatsTrack::parse(b"count=x"), None);
        assert_eq!(StatsTrack::parse(b"count=,bytes=4"), None);
        assert_eq!(StatsTrack::parse(&[0xff, 0xfe]), None);
        assert_eq!(StatsTrack::parse(b""), Some(StatsTrack::default()));
    }

    #[test]
    fn quota_paths() {
        assert_eq!(quota_path_of("/zookeeper/quota/a/b"), Some("/a/b"));
        assert_eq!(quota_path_of("/zookeeper/quota"), None);
        assert_eq!(quota_path_of("/zookeeper/quotax/a"), None);
        assert_eq!(quota_path_of("/a"), None);
        assert_eq!(stat_path("/a/b"), "/zookeeper/quota/a/b/zookeeper_stats");
    }
}
