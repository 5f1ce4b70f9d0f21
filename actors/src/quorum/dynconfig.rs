//! The ensemble's dynamic configuration as ZooKeeper writes it in `/zookeeper/config` and in
//! `zoo.cfg.dynamic.<version>`:
//!
//! ```text
//! server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181
//! server.100=0.0.0.0:2890:3890:observer;0.0.0.0:2183
//! version=100000002
//! ```
//!
//! One line per member, `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`
//! (kept as written), then the version: the zxid of the reconfig txn that made it (hex).
//! Pure: parsing, formatting, and the incremental / whole-membership changes of `reconfig`.

use std::collections::BTreeMap;

use super::config::Membership;
use super::msg::Sid;
use crate::txn::Zxid;

/// One member as the configuration states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Host peers reach it at.
    pub host: String,
    /// Quorum (peer) port.
    pub peer_port: u16,
    /// Election port (recorded, not used by zkr).
    pub election_port: u16,
    /// Observer?
    pub observer: bool,
    /// Client address, if stated.
    pub client: Option<(String, u16)>,
}

impl ServerSpec {
    /// The spec text after `server.N=`.
    pub fn text(&self) -> String {
        let role = if self.observer {
            "observer"
        } else {
            "participant"
        };
        let mut s = format!(
            "{}:{}:{}:{role}",
            self.host, self.peer_port, self.election_port
        );
        if let Some((h, p)) = &self.client {
            s.push_str(&format!(";{h}:{p}"));
        }
        s
    }
}

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicConfig {
    /// Members by id.
    pub servers: BTreeMap<Sid, ServerSpec>,
    /// Its version (a zxid).
    pub version: Zxid,
}

/// Why a configuration text is not valid (reconfig answers BadArguments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server configuration: {0}")]
pub struct ConfigError(pub String);

fn bad(s: impl Into<String>) -> ConfigError {
    ConfigError(s.into())
}

/// Parses `host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`.
pub fn parse_spec(spec: &str) -> Result<ServerSpec, ConfigError> {
    let (peer, client) = match spec.split_once(';') {
        Some((p, c)) => (p.trim(), Some(c.trim())),
        None => (spec.trim(), None),
    };
    let parts: Vec<&str> = peer.split(':').collect();
    if parts.len() < 3 || parts.len() > 4 || parts[0].is_empty() {
        return Err(bad(format!(
            "{spec:?}: expected host:quorumPort:electionPort[:role]"
        )));
    }
    let port = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("{spec:?}: {s:?} is not a port")))
    };
    let observer = match parts.get(3).copied() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(r) => return Err(bad(format!("{spec:?}: unknown role {r:?}"))),
    };
    let client = match client {
        None | Some("") => None,
        Some(c) => Some(match c.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), port(p)?),
            None => ("0.0.0.0".to_string(), port(c)?),
        }),
    };
    Ok(ServerSpec {
        host: parts[0].to_string(),
        peer_port: port(parts[1])?,
        election_port: port(parts[2])?,
        observer,
        client,
    })
}

/// Parses `server.N=spec` entries separated by commas or newlines (a `version=` line is read
/// too; other keys are refused).
pub fn parse(text: &str) -> Result<DynamicConfig, ConfigError> {
    let mut c = DynamicConfig::default();
    for entry in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((k, v)) = entry.split_once('=') else {
            return Err(bad(format!("{entry:?} is not key=value")));
        };
        let k = k.trim();
        if k == "version" {
            c.version =
                i64::from_str_radix(v.trim(), 16).map_err(|_| bad(format!("bad version {v:?}")))?;
            continue;
        }
        let id = k
            .strip_prefix("server.")
            .and_then(|n| n.parse::<Sid>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(format!("{k:?} is not server.<id>")))?;
        c.servers.insert(id, parse_spec(v)?);
    }
    Ok(c)
}

impl DynamicConfig {
    /// The text of `/zookeeper/config`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (id, spec) in &self.servers {
            s.push_str(&format!("server.{id}={}\n", spec.text()));
        }
        s.push_str(&format!("version={:x}", self.version));
        s
    }

    /// The membership seen by `me`.
    pub fn membership(&self, me: Sid) -> Membership {
        let voters: Vec<Sid> = self
            .servers
            .iter()
            .filter(|(_, s)| !s.observer)
            .map(|(id, _)| *id)
            .collect();
        let observers: Vec<Sid> = self
            .servers
            .iter()
            .filter(|(_, s)| s.observer)
            .map(|(id, _)| *id)
            .collect();
        Membership::new(me, &voters, &observers)
    }

    /// The configuration after a reconfig request: incremental (`joining`, `leaving`) or a
    /// whole new membership (`new_members`). Errors are BadArguments.
    pub fn reconfigured(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
    ) -> Result<DynamicConfig, ConfigError> {
        fn nonempty(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let (joining, leaving, new_members) =
            (nonempty(joining), nonempty(leaving), nonempty(new_members));
        let mut next = if let Some(members) = new_members {
            if joining.is_some() || leaving.is_some() {
                return Err(bad(
                    "newMembers cannot be combined with joining or leaving servers",
                ));
            }
            let mut c = parse(members)?;
            c.version = 0;
            c
        } else {
            if joining.is_none() && leaving.is_none() {
                return Err(bad("nothing to change"));
            }
            let mut c = self.clone();
            if let Some(j) = joining {
                let add = parse(j)?;
                if add.servers.is_empty() {
                    return Err(bad("no joining server"));
                }
                c.servers.extend(add.servers);
            }
            if let Some(l) = leaving {
                for id in l.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                    let id: Sid = id
                        .parse()
                        .map_err(|_| bad(format!("{id:?} is not a server id")))?;
                    if c.servers.remove(&id).is_none() {
                        return Err(bad(format!("server {id} is not a member")));
                    }
                }
            }
            c
        };
        if !next.servers.values().any(|s| !s.observer) {
            return Err(bad("the new configuration has no participant"));
        }
        next.version = 0;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: &str = "server.1=127.0.0.1:31012:31013:participant\nserver.2=127.0.0.1:31022:31023:participant\nserver.3=127.0.0.1:31032:31033:participant\nversion=100000000";

    #[test]
    fn round_trips_zookeepers_text() {
        let c = parse(INITIAL).unwrap();
        assert_eq!(c.version, 0x1_0000_0000);
        assert_eq!(c.text(), INITIAL);
    }

    #[test]
    fn incremental_changes_as_apache_makes_them() {
        // What Apache 3.8 answered to kazoo's test_add_remove_observer.
        let c = parse(INITIAL).unwrap();
        let joining = "server.100=0.0.0.0:31901:31902:observer;0.0.0.0:31903";
        let mut n = c.reconfigured(Some(joining), None, None).unwrap();
        n.version = 0x1_0000_0002;
        assert_eq!(
            n.text(),
            format!(
                "{}\n{joining}\nversion=100000002",
                INITIAL.rsplit_once('\n').unwrap().0
            )
        );
        let mut back = n.reconfigured(None, Some("100"), None).unwrap();
        back.version = 0x1_0000_0004;
        assert!(!back.text().contains("server.100"));
        let m = n.membership(1);
        assert!(!m.is_voter(100));
        assert_eq!(m.quorum_size(), 2);
    }

    #[test]
    fn bad_input_is_refused() {
        let c = parse(INITIAL).unwrap();
        assert!(c.reconfigured(Some("some thing"), None, None).is_err());
        assert!(c.reconfigured(Some("server.9=h:1"), None, None).is_err());
        assert!(c
            .reconfigured(Some("server.9=h:1:2:leader"), None, None)
            .is_err());
        assert!(c.reconfigured(None, Some("42"), None).is_err());
        assert!(
            c.reconfigured(None, Some("1,2,3"), None).is_err(),
            "no participant left"
        );
        assert!(c.reconfigured(None, None, None).is_err());
        let whole = "server.1=127.0.0.1:31012:31013:participant;0.0.0.0:31010,server.2=127.0.0.1:31022:31023";
        assert_eq!(
            c.reconfigured(None, None, Some(whole))
                .unwrap()
                .servers
                .len(),
            2
        );
    }
}
