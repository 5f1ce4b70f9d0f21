//! Peer addresses from configuration entries. Resolving a host name is IO (DNS, `/etc/hosts`),
//! so the quorum actor resolves names on a blocking thread; an entry that is an IP literal
//! needs no IO and is read in place ([`literal_peers`]), which keeps the common case (and every
//! configuration of the tests) synchronous with the commit that changed it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::quorum::dynconfig::DynamicConfig;
use crate::quorum::msg::Sid;

/// The peer address of every member of `cfg` but `me`, if every entry names an IP address
/// (no IO); `None` if one names a host that must be resolved.
pub fn literal_peers(cfg: &DynamicConfig, me: Sid) -> Option<HashMap<Sid, SocketAddr>> {
    cfg.servers
        .iter()
        .filter(|(id, _)| **id != me)
        .map(|(id, spec)| {
            let ip: IpAddr = spec.host.parse().ok()?;
            Some((*id, SocketAddr::new(ip, spec.peer_port)))
        })
        .collect()
}

/// The peer address of every member of `cfg` but `me`, as its entry names it, host names
/// resolved (blocking: call it off the actor threads). A member whose host does not resolve is
/// left out, with a warning.
pub fn resolve_peers(cfg: &DynamicConfig, me: Sid) -> HashMap<Sid, SocketAddr> {
    cfg.servers
        .iter()
        .filter(|(id, _)| **id != me)
        .filter_map(|(id, spec)| {
            let addr = (spec.host.as_str(), spec.peer_port)
                .to_socket_addrs()
                .ok()?
                .next();
            if addr.is_none() {
                tracing::warn!(server = id, host = %spec.host, "cannot resolve a member's host");
            }
            addr.map(|a| (*id, a))
        })
        .collect()
}

/// A `host:port` a joining server announced: `Ok` if it is an IP address and port (no IO),
/// `Err` with the text to resolve otherwise.
pub fn literal_addr(listen_addr: &str) -> Result<SocketAddr, &str> {
    listen_addr.parse().map_err(|_| listen_addr)
}

/// Resolves a `host:port` (blocking: call it off the actor threads).
pub fn resolve_addr(listen_addr: &str) -> Option<SocketAddr> {
    listen_addr.to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::dynconfig::parse;

    #[test]
    fn ip_entries_are_read_without_resolving_and_names_are_left_to_the_resolver() {
        let ips = parse("server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.2:2889:3889;2182\nserver.3=127.0.0.3:2890:3890;2183").unwrap();
        let got = literal_peers(&ips, 1).expect("IP literals only");
        assert_eq!(got.len(), 2);
        assert_eq!(got[&2], "127.0.0.2:2889".parse().unwrap());
        assert_eq!(got[&3], "127.0.0.3:2890".parse().unwrap());
        assert_eq!(got, resolve_peers(&ips, 1), "the same as resolving");

        let named =
            parse("server.1=127.0.0.1:2888:3888;2181\nserver.2=localhost:2889:3889;2182").unwrap();
        assert_eq!(
            literal_peers(&named, 2),
            Some(HashMap::from([(1, "127.0.0.1:2888".parse().unwrap())])),
            "only this server is named"
        );
        assert_eq!(literal_peers(&named, 1), None);
        assert_eq!(
            resolve_peers(&named, 1).get(&2).map(|a| a.port()),
            Some(2889)
        );

        assert_eq!(
            literal_addr("127.0.0.1:2888"),
            Ok("127.0.0.1:2888".parse().unwrap())
        );
        assert_eq!(literal_addr("localhost:2888"), Err("localhost:2888"));
        assert_eq!(resolve_addr("localhost:2888").map(|a| a.port()), Some(2888));
    }
}
