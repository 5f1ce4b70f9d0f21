//! Session ownership on the leader (ZOOKEEPER-710): which server each session's client is
//! connected to. A write of a session arriving through another server is answered
//! `SessionMoved`: the client has moved on, and an old connection must not change the tree
//! behind its back.
//!
//! A session belongs to the server that created it or that its client last resumed it on
//! (`Revalidate`); a session no server claimed yet belongs to the first one a write of it
//! comes through. closeSession is taken from any server. A standalone server owns everything.

use std::collections::BTreeMap;

use crate::quorum::msg::Sid;
use crate::txn::SessionId;

/// The leader's table of session owners.
#[derive(Debug, Default)]
pub struct Owners {
    by_session: BTreeMap<SessionId, Sid>,
}

impl Owners {
    /// `session`'s client is now connected to `server`.
    pub fn claim(&mut self, session: SessionId, server: Sid) {
        self.by_session.insert(session, server);
    }

    /// May `server` write for `session`? The first server to ask owns an unclaimed session.
    /// Server-internal requests (session 0) are always allowed.
    pub fn allows(&mut self, session: SessionId, server: Sid) -> bool {
        session == 0 || *self.by_session.entry(session).or_insert(server) == server
    }

    /// The session closed.
    pub fn closed(&mut self, session: SessionId) {
        self.by_session.remove(&session);
    }

    /// Forgets every owner (a new leader learns them again).
    pub fn clear(&mut self) {
        self.by_session.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_through_another_server_than_the_owner_is_refused() {
        let mut o = Owners::default();
        o.claim(5, 1);
        assert!(o.allows(5, 1));
        assert!(!o.allows(5, 2), "session moved away from server 2");
        o.claim(5, 2);
        assert!(o.allows(5, 2));
        assert!(!o.allows(5, 1));
    }

    #[test]
    fn the_first_server_owns_an_unclaimed_session_and_internal_requests_pass() {
        let mut o = Owners::default();
        assert!(o.allows(9, 3));
        assert!(!o.allows(9, 1));
        assert!(o.allows(0, 1) && o.allows(0, 2));
        o.closed(9);
        assert!(o.allows(9, 1), "a closed session's id is free again");
        o.clear();
        assert!(o.allows(9, 2));
    }
}
