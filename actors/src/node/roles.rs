//! The node's role transitions, as a pure core: what the node supervisor does when the quorum
//! actor reports a new role or a serving change, and when read-only mode is due.
//!
//! * The node's mode (`srvr`, `mntr`, the role metrics) follows the quorum's role.
//! * Serving follows the quorum; a node that stops serving closes its client connections
//!   (their sessions live on; the clients reconnect to a server that serves).
//! * Read-only mode (ZooKeeper's `readonlymode.enabled`): once the node has been LOOKING for
//!   max(2 s, tickTime), it serves clients that ask for read-only access, with sessions local
//!   to it; while in it, those sessions expire by their own deadlines. It ends as soon as the
//!   node finds a leader or leads: the read-only clients are closed and reconnect to a
//!   read-write server.
//!
//! * Read-only mode never serves a tree waiting for the tail behind a leader's fuzzy snapshot
//!   (`DataTree::tail_pending`: installed and not yet replayed past where its encode ended,
//!   or recovered so after a crash): it is no state any server had.
//!
//! Invariant: the node is never serving and read-only at once.
//!
//! Order of the reports: the quorum actor sends the role straight to the supervisor, and the
//! serving changes through the store (after the commits released before them, and after the
//! store ends a snapshot's replay), so a role can overtake a serving change. That does no
//! harm, because nothing here acts on the tree because of a role: serving starts only with
//! the serving report (so after the replay), and read-only mode needs this core's own view
//! of serving to be off (a serving-off report still on its way keeps it out) and the tree,
//! read when the tick runs, not waiting for its tail. A role only sets the mode and ends
//! read-only mode, which is the safe direction to be early in.

use crate::context::Mode;
use crate::quorum::core::RoleView;

/// What the supervisor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The node's mode is now this (with the role metrics).
    Mode(Mode),
    /// The node serves clients (true) or not.
    Serving(bool),
    /// Close every client connection.
    CloseClients,
    /// Enter read-only mode.
    EnterReadOnly,
    /// Leave read-only mode: close the read-only clients and drop their local sessions.
    LeaveReadOnly,
    /// In read-only mode: expire the local sessions whose deadline passed.
    ExpireLocalSessions,
}

/// Read-only mode settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnlyPolicy {
    /// `readonlymode.enabled`.
    pub enabled: bool,
    /// How long the node must have been looking first, ms.
    pub after_looking_ms: i64,
}

impl ReadOnlyPolicy {
    /// ZooKeeper's: read-only after max(2 s, tickTime) without a quorum.
    pub fn new(enabled: bool, tick_time_ms: i64) -> ReadOnlyPolicy {
        ReadOnlyPolicy {
            enabled,
            after_looking_ms: tick_time_ms.max(2000),
        }
    }
}

/// The node's role state.
#[derive(Debug)]
pub struct Roles {
    policy: ReadOnlyPolicy,
    serving: bool,
    read_only: bool,
    /// Since when (monotonic ms) the quorum has been LOOKING.
    looking_since: Option<i64>,
}

/// The node's mode while the quorum plays `role`.
pub fn mode_of(role: RoleView) -> Mode {
    match role {
        RoleView::Standalone => Mode::Standalone,
        RoleView::Leading { .. } => Mode::Leader,
        RoleView::Following { .. } => Mode::Follower,
        RoleView::Observing { .. } => Mode::Observer,
        RoleView::Looking => Mode::Looking,
    }
}

impl Roles {
    /// A node not serving yet.
    pub fn new(policy: ReadOnlyPolicy) -> Roles {
        Roles {
            policy,
            serving: false,
            read_only: false,
            looking_since: None,
        }
    }

    /// Is the node in read-only mode?
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The quorum's role is now `role` (at monotonic `now`).
    pub fn role_changed(&mut self, now: i64, role: RoleView) -> Vec<Effect> {
        let mut fx = Vec::new();
        if role == RoleView::Looking {
            self.looking_since.get_or_insert(now);
        } else {
            self.looking_since = None;
            if self.read_only {
                self.read_only = false;
                fx.push(Effect::LeaveReadOnly);
            }
        }
        fx.push(Effect::Mode(mode_of(role)));
        fx
    }

    /// The quorum starts (true) or stops serving.
    pub fn serving_changed(&mut self, on: bool) -> Vec<Effect> {
        let was = std::mem::replace(&mut self.serving, on);
        let mut fx = vec![Effect::Serving(on)];
        if was && !on {
            fx.push(Effect::CloseClients);
        }
        fx
    }

    /// Time passes: read-only mode starts when due; while in it, local sessions expire.
    /// `tree_waiting`: the store's tree waits for the tail behind a leader's fuzzy snapshot
    /// (no read-only mode on it; one in progress ends).
    pub fn tick(&mut self, now: i64, tree_waiting: bool) -> Vec<Effect> {
        if self.read_only {
            if tree_waiting {
                self.read_only = false;
                return vec![Effect::LeaveReadOnly, Effect::Mode(Mode::Looking)];
            }
            return vec![Effect::ExpireLocalSessions];
        }
        let Some(since) = self.looking_since else {
            return Vec::new();
        };
        if !self.policy.enabled
            || now - since < self.policy.after_looking_ms
            || self.serving
            || tree_waiting
        {
            return Vec::new();
        }
        self.read_only = true;
        vec![Effect::EnterReadOnly]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(enabled: bool) -> Roles {
        Roles::new(ReadOnlyPolicy::new(enabled, 2000))
    }

    #[test]
    fn the_mode_follows_the_role() {
        let mut r = roles(false);
        assert_eq!(
            r.role_changed(0, RoleView::Following { leader: 2 }),
            vec![Effect::Mode(Mode::Follower)]
        );
        assert_eq!(
            r.role_changed(5, RoleView::Leading { epoch: 3 }),
            vec![Effect::Mode(Mode::Leader)]
        );
    }

    #[test]
    fn stopping_serving_closes_clients_only_if_it_served() {
        let mut r = roles(false);
        assert_eq!(r.serving_changed(false), vec![Effect::Serving(false)]);
        assert_eq!(r.serving_changed(true), vec![Effect::Serving(true)]);
        assert_eq!(
            r.serving_changed(false),
            vec![Effect::Serving(false), Effect::CloseClients]
        );
    }

    #[test]
    fn read_only_mode_starts_only_after_looking_long_enough() {
        let mut r = roles(true);
        r.role_changed(1_000, RoleView::Looking);
        assert!(r.tick(2_999, false).is_empty());
        assert_eq!(r.tick(3_000, false), vec![Effect::EnterReadOnly]);
        assert!(r.read_only());
        assert_eq!(r.tick(3_100, false), vec![Effect::ExpireLocalSessions]);
        // Looking again (a new election round) keeps the mode and the clock.
        assert_eq!(
            r.role_changed(3_200, RoleView::Looking),
            vec![Effect::Mode(Mode::Looking)]
        );
        assert!(r.read_only());
    }

    #[test]
    fn finding_a_leader_ends_read_only_mode() {
        let mut r = roles(true);
        r.role_changed(0, RoleView::Looking);
        r.tick(10_000, false);
        assert_eq!(
            r.role_changed(10_100, RoleView::Following { leader: 1 }),
            vec![Effect::LeaveReadOnly, Effect::Mode(Mode::Follower)]
        );
        assert!(!r.read_only());
        assert!(
            r.tick(50_000, false).is_empty(),
            "not looking: no read-only mode"
        );
    }

    #[test]
    fn read_only_mode_needs_the_feature_and_no_quorum() {
        let mut off = roles(false);
        off.role_changed(0, RoleView::Looking);
        assert!(off.tick(60_000, false).is_empty());
        let mut serving = roles(true);
        serving.role_changed(0, RoleView::Looking);
        serving.serving_changed(true);
        assert!(serving.tick(60_000, false).is_empty());
    }

    #[test]
    fn a_role_that_overtakes_serving_off_does_not_start_read_only_mode_while_serving() {
        // The quorum stops serving, then looks for a leader: the role comes straight to the
        // supervisor, the serving change after the store's queue.
        let mut r = roles(true);
        r.role_changed(0, RoleView::Following { leader: 1 });
        r.serving_changed(true);
        r.role_changed(100, RoleView::Looking);
        assert!(r.tick(60_000, false).is_empty(), "still serving");
        assert_eq!(
            r.serving_changed(false),
            vec![Effect::Serving(false), Effect::CloseClients]
        );
        assert_eq!(r.tick(60_100, false), vec![Effect::EnterReadOnly]);
    }

    #[test]
    fn a_serving_on_overtaken_by_looking_keeps_read_only_mode_out_until_serving_off() {
        // The quorum serves, then loses its leader at once: Looking arrives before the
        // serving-on (behind the store's queue), and the serving-off after it.
        let mut r = roles(true);
        r.role_changed(0, RoleView::Following { leader: 1 });
        r.role_changed(10, RoleView::Looking);
        assert_eq!(r.serving_changed(true), vec![Effect::Serving(true)]);
        assert!(r.tick(60_000, false).is_empty());
        r.serving_changed(false);
        assert_eq!(r.tick(60_100, false), vec![Effect::EnterReadOnly]);
    }

    #[test]
    fn read_only_mode_never_serves_a_tree_waiting_for_its_snapshots_tail() {
        // Recovered (or installed) from a leader's fuzzy snapshot short of its tail: looking
        // for ever does not start read-only mode on it.
        let mut r = roles(true);
        r.role_changed(0, RoleView::Looking);
        assert!(r.tick(60_000, true).is_empty());
        assert!(!r.read_only());
        // A tree replaced under read-only mode by one waiting for its tail ends it.
        assert_eq!(r.tick(60_100, false), vec![Effect::EnterReadOnly]);
        assert_eq!(
            r.tick(60_200, true),
            vec![Effect::LeaveReadOnly, Effect::Mode(Mode::Looking)]
        );
        assert!(!r.read_only());
        assert!(r.tick(60_300, true).is_empty());
    }
}
