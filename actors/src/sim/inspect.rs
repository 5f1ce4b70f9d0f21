//! What scenarios and checks ask of the simulator: who runs, serves and leads, the servers'
//! zxids, and the messages and role changes seen so far. Nothing here changes the simulation.

use super::Sim;
use crate::quorum::core::RoleView;
use crate::quorum::msg::Sid;
use crate::txn::Zxid;

impl Sim {
    /// Is `id` running?
    pub(crate) fn alive(&self, id: Sid) -> bool {
        self.servers[&id].pipeline.is_some()
    }

    /// Does `id` serve clients?
    pub(crate) fn serving(&self, id: Sid) -> bool {
        self.servers[&id].serving
    }

    /// `id`'s role (None: down).
    pub(crate) fn role(&self, id: Sid) -> Option<RoleView> {
        self.servers[&id].pipeline.as_ref().map(|p| p.role())
    }

    /// `id`'s last logged zxid (None: down).
    pub(crate) fn last_logged(&self, id: Sid) -> Option<Zxid> {
        self.servers[&id]
            .pipeline
            .as_ref()
            .map(|p| p.core().last_logged())
    }

    /// `id`'s last applied zxid.
    pub(crate) fn last_applied(&self, id: Sid) -> Zxid {
        self.servers[&id].applied.last().map_or(0, |t| t.zxid)
    }

    /// The last committed zxid.
    pub(crate) fn last_committed(&self) -> Zxid {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }

    /// Is there one serving leader and does every running server serve?
    pub(crate) fn stable(&self) -> bool {
        self.leader().is_some()
            && self
                .servers
                .values()
                .all(|s| s.pipeline.is_none() || s.serving)
    }

    /// Messages of `kind` sent from `from` to `to` so far.
    pub(crate) fn sent_count(&self, from: Sid, to: Sid, kind: &str) -> usize {
        self.sent
            .iter()
            .filter(|((f, t, k), _)| *f == from && *t == to && *k == kind)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Times `id` went back to LOOKING since `since`.
    pub(crate) fn lookings_since(&self, id: Sid, since: i64) -> usize {
        self.roles
            .iter()
            .filter(|(t, s, r)| *t >= since && *s == id && *r == RoleView::Looking)
            .count()
    }

    /// Pauses injected so far ([`Sim::pause`]), all servers together.
    pub(crate) fn pauses(&self) -> u64 {
        self.servers.values().map(|s| s.pauses).sum()
    }
}
