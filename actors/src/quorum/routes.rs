//! Which address this server reaches each peer at after a configuration is committed
//! (decision 11 in `docs/architecture.md`).
//!
//! A member whose entry a configuration change did not touch keeps the address this server
//! already reaches it at: each server's own configuration may name its peers differently
//! (another host name, a NAT or proxy in between), and the configuration a new leader
//! announces at the start of its epoch (version `epoch << 32`, no reconfig behind it) is the
//! leader's view, not a change. New members and members whose entry a reconfig changed use the
//! committed address, as ZooKeeper does.
//!
//! Pure: the shell resolves host names (DNS is IO) and passes the results in; addresses are
//! any type (`SocketAddr` in the node).

use std::collections::HashMap;

use super::dynconfig::DynamicConfig;
use super::msg::{counter_of, Sid};

/// The addresses to use once the committed configuration moves from `previous` to `next`:
/// `resolved` holds `next`'s members (this server excluded) at the addresses its entries name,
/// `current` the addresses in use. A server in `current` that is a member of neither
/// configuration (one joining by reconfig, dialled back when it connected) keeps its link: it
/// connects once, so a link dropped here would leave it unanswered for good.
pub fn after_commit<A: Clone>(
    previous: &DynamicConfig,
    next: &DynamicConfig,
    resolved: HashMap<Sid, A>,
    current: &HashMap<Sid, A>,
) -> HashMap<Sid, A> {
    let announcement = counter_of(next.version) == 0;
    let joining = current
        .iter()
        .filter(|(id, _)| !previous.servers.contains_key(id) && !next.servers.contains_key(id));
    let joining: Vec<(Sid, A)> = joining.map(|(id, a)| (*id, a.clone())).collect();
    resolved
        .into_iter()
        .map(|(id, addr)| {
            let untouched = previous.servers.get(&id) == next.servers.get(&id);
            match current.get(&id) {
                Some(kept) if announcement || untouched => (id, kept.clone()),
                _ => (id, addr),
            }
        })
        .chain(joining)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::dynconfig::parse;

    /// The members of `cfg` but `me`, at the peer ports their entries name.
    fn ports(cfg: &DynamicConfig, me: Sid) -> HashMap<Sid, u16> {
        cfg.servers
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, s)| (*id, s.peer_port))
            .collect()
    }

    #[test]
    fn an_epoch_announcement_keeps_the_addresses_in_use() {
        let mine = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant").unwrap();
        let leaders = parse("server.1=127.0.0.1:3001:1:participant\nserver.2=127.0.0.1:3002:1:participant\nserver.3=127.0.0.1:1003:1:participant\nversion=100000000").unwrap();
        let current = ports(&mine, 1);
        let next = after_commit(&mine, &leaders, ports(&leaders, 1), &current);
        assert_eq!(next, HashMap::from([(2, 1002), (3, 1003)]));
    }

    #[test]
    fn a_reconfig_moves_only_the_members_it_changed() {
        let before = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant\nversion=100000000").unwrap();
        let after = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:4003:1:participant\nserver.4=127.0.0.1:1004:1:observer\nversion=100000005").unwrap();
        // This server reaches 2 through its own route.
        let current = HashMap::from([(2, 2002), (3, 1003)]);
        let next = after_commit(&before, &after, ports(&after, 1), &current);
        assert_eq!(next, HashMap::from([(2, 2002), (3, 4003), (4, 1004)]));
    }

    /// Seen in `tests/ensemble.rs` under load: server 4, not a member, connected while the
    /// leader committed its first configuration; the links that dialled it back were dropped
    /// by that commit, and it stayed LOOKING (no server ever dialled it again).
    #[test]
    fn a_commit_keeps_the_link_to_a_server_joining_and_drops_a_removed_member() {
        let before = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant").unwrap();
        let announced = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant\nversion=100000000").unwrap();
        let current = HashMap::from([(2, 1002), (3, 1003), (4, 1004)]);
        let next = after_commit(&before, &announced, ports(&announced, 1), &current);
        assert_eq!(next, HashMap::from([(2, 1002), (3, 1003), (4, 1004)]));
        // A reconfig that removes 3: its link goes, the joiner's stays.
        let without_3 = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nversion=100000007").unwrap();
        let next = after_commit(&announced, &without_3, ports(&without_3, 1), &next);
        assert_eq!(next, HashMap::from([(2, 1002), (4, 1004)]));
    }
}
