//! The text of the `dump` four-letter word, as ZooKeeper 3.8 prints it (protocol doc §21.6):
//! the session tracker, the ephemeral nodes by session, the connections by expiry. Pure: the
//! caller gathers the figures (with wall-clock expiry times) and the time zone.
//!
//! Invariants:
//! * an expiry queue is printed as ZooKeeper's `ExpiryQueue` prints one: `<title> Sets (n)/(m):`
//!   (n buckets, m members), then each bucket in ascending time as `k expire at <Java date>:`
//!   and its k members, one per line after a tab; members of a bucket are sorted (ZooKeeper
//!   prints them in hash order, which no client can rely on);
//! * only buckets with members are printed: ZooKeeper also keeps a bucket a member left until
//!   its time passes, and prints it as `0 expire at …` meanwhile — an artefact zkr does not
//!   reproduce;
//! * a connection's expiry is ZooKeeper's NIO one: its last activity plus its session's timeout
//!   (the sessionless-connection timeout before it has a session), rounded up to the next
//!   multiple of the sessionless-connection timeout ([`connection_expiry`]).

// Address values from `core` (the same types as `std::net`'s; `core` has no sockets).
use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::tz::TimeZone;

use crate::javadate;
use crate::session::expiry::round_up;

/// A session id (ZooKeeper's `long`).
type SessionId = i64;

/// What the session tracker part shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sessions {
    /// A standalone server or the leader: its sessions by expiry bucket, as (wall-clock ms of
    /// the bucket, session id).
    Buckets(Vec<(i64, SessionId)>),
    /// A follower or observer (ZooKeeper's `LearnerSessionTracker`): every session of the
    /// ensemble with its timeout in ms, no expiry (the leader expires them).
    Global(Vec<(SessionId, i64)>),
}

/// Everything `dump` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    /// The session tracker's part.
    pub sessions: Sessions,
    /// The sessions owning ephemeral nodes, with their paths.
    pub ephemerals: Vec<(SessionId, Vec<String>)>,
    /// The open client connections, as (wall-clock ms they expire at, [`connection`] text).
    pub connections: Vec<(i64, String)>,
}

/// The `dump` text, times in `zone`.
pub fn text(d: &Dump, zone: &TimeZone) -> String {
    let mut s = String::from("SessionTracker dump:\n");
    match &d.sessions {
        Sessions::Buckets(b) => {
            let members = b.iter().map(|(at, id)| (*at, format!("0x{id:x}")));
            expiry_sets(&mut s, "Session", members, zone);
        }
        Sessions::Global(all) => {
            let mut all = all.clone();
            all.sort_unstable();
            let _ = writeln!(s, "Global Sessions({}):", all.len());
            for (id, timeout) in all {
                let _ = writeln!(s, "0x{id:x}\t{timeout}ms");
            }
        }
    }
    let _ = writeln!(
        s,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        d.ephemerals.len()
    );
    for (sid, paths) in &d.ephemerals {
        let _ = writeln!(s, "0x{sid:x}:");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push_str("Connections dump:\n");
    expiry_sets(&mut s, "Connections", d.connections.iter().cloned(), zone);
    s
}

/// Appends an expiry queue's dump of `members`, given as (expiry in wall-clock ms, text).
fn expiry_sets(
    s: &mut String,
    title: &str,
    members: impl Iterator<Item = (i64, String)>,
    zone: &TimeZone,
) {
    let mut buckets: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut count = 0usize;
    for (at, text) in members {
        buckets.entry(at).or_default().push(text);
        count += 1;
    }
    let _ = writeln!(s, "{title} Sets ({})/({count}):", buckets.len());
    for (at, mut texts) in buckets {
        texts.sort_unstable();
        let _ = writeln!(
            s,
            "{} expire at {}:",
            texts.len(),
            javadate::format(at, zone)
        );
        for t in texts {
            let _ = writeln!(s, "\t{t}");
        }
    }
}

/// A connection as ZooKeeper's NIO connection prints itself in `dump` (the address as Java's
/// `InetSocketAddress` prints an unresolved peer: `/` and the address, `:` and the port).
pub fn connection(remote: SocketAddr, session: SessionId) -> String {
    format!(
        "ip: /{}:{} sessionId: 0x{session:x}",
        java_ip(remote.ip()),
        remote.port()
    )
}

/// An address as Java prints it: IPv4 dotted (an IPv4-mapped IPv6 address too: Java makes it
/// an `Inet4Address`), IPv6 as eight uncompressed hex groups (`0:0:0:0:0:0:0:1`).
fn java_ip(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            groups.join(":")
        }
    }
}

/// When a connection last active at `last_active_ms` expires (same clock): after its
/// `timeout_ms` (the session's, or `sessionless_ms` without a session), rounded up to the next
/// multiple of `sessionless_ms`, ZooKeeper's interval for connection expiry.
pub fn connection_expiry(last_active_ms: i64, timeout_ms: i64, sessionless_ms: i64) -> i64 {
    round_up(last_active_ms + timeout_ms, sessionless_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Apache ZooKeeper 3.8's answer for a standalone server with two kazoo clients and the
    // asking connection (times in UTC).
    const APACHE: &str = "SessionTracker dump:\n\
        Session Sets (1)/(2):\n\
        2 expire at Sun Dec 06 23:58:31 UTC 2026:\n\
        \t0x1000011ad980000\n\
        \t0x1000011ad980001\n\
        ephemeral nodes dump:\n\
        Sessions with Ephemerals (0):\n\
        Connections dump:\n\
        Connections Sets (2)/(3):\n\
        1 expire at Sun Dec 06 23:58:11 UTC 2026:\n\
        \tip: /127.0.0.1:52348 sessionId: 0x0\n\
        2 expire at Sun Dec 06 23:58:31 UTC 2026:\n\
        \tip: /127.0.0.1:52338 sessionId: 0x1000011ad980000\n\
        \tip: /127.0.0.1:52340 sessionId: 0x1000011ad980001\n";

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn standalone_reads_as_apache_prints_it() {
        let (a, b) = (0x1000011ad980000, 0x1000011ad980001);
        let later = 1_796_601_511_000;
        let d = Dump {
            sessions: Sessions::Buckets(vec![(later, b), (later, a)]),
            ephemerals: vec![],
            connections: vec![
                (later, connection(addr(52340), b)),
                (later - 20_000, connection(addr(52348), 0)),
                (later, connection(addr(52338), a)),
            ],
        };
        assert_eq!(text(&d, &TimeZone::UTC), APACHE);
    }

    #[test]
    fn empty_queues_and_ephemerals() {
        let d = Dump {
            sessions: Sessions::Buckets(vec![]),
            ephemerals: vec![(0x5, vec!["/a".into(), "/b".into()])],
            connections: vec![],
        };
        assert_eq!(
            text(&d, &TimeZone::UTC),
            "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\n\
             Sessions with Ephemerals (1):\n0x5:\n\t/a\n\t/b\nConnections dump:\n\
             Connections Sets (0)/(0):\n"
        );
    }

    #[test]
    fn a_learner_lists_global_sessions_with_their_timeouts() {
        let d = Dump {
            sessions: Sessions::Global(vec![(0x20, 30_000), (0x1f, 10_000)]),
            ephemerals: vec![],
            connections: vec![],
        };
        assert!(text(&d, &TimeZone::UTC).starts_with(
            "SessionTracker dump:\nGlobal Sessions(2):\n0x1f\t10000ms\n0x20\t30000ms\n\
             ephemeral nodes dump:\n"
        ));
    }

    #[test]
    fn connection_expiry_rounds_up_to_the_sessionless_timeout() {
        assert_eq!(connection_expiry(1_000, 10_000, 10_000), 20_000);
        assert_eq!(connection_expiry(0, 10_000, 10_000), 20_000);
        assert_eq!(connection_expiry(5_500, 30_000, 10_000), 40_000);
        assert_eq!(connection_expiry(5_500, 4_000, 0), 9_501);
    }

    #[test]
    fn ipv6_peers_print_as_java_prints_them() {
        let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 2181));
        assert_eq!(
            connection(v6, 0x1),
            "ip: /0:0:0:0:0:0:0:1:2181 sessionId: 0x1"
        );
        let v6 = SocketAddr::from(([0xfe80, 0, 0, 0, 0x0abc, 0, 0, 0x10], 7));
        assert_eq!(
            connection(v6, 0),
            "ip: /fe80:0:0:0:abc:0:0:10:7 sessionId: 0x0"
        );
        let mapped = SocketAddr::from(([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], 9));
        assert_eq!(connection(mapped, 0), "ip: /127.0.0.1:9 sessionId: 0x0");
    }
}
