//! The membership of an ensemble, as the cores use it.

use std::collections::{BTreeMap, BTreeSet};

use super::msg::Sid;

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub id: Sid,
    /// Observers neither vote nor acknowledge proposals.
    pub observer: bool,
}

/// The ensemble, from one member's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// This server.
    pub me: Sid,
    /// Every member, this one included.
    pub members: BTreeMap<Sid, Member>,
}

impl Membership {
    /// A membership of `voters` participants and `observers`, seen by `me`.
    pub fn new(me: Sid, voters: &[Sid], observers: &[Sid]) -> Membership {
        let mut members = BTreeMap::new();
        for v in voters {
            members.insert(
                *v,
                Member {
                    id: *v,
                    observer: false,
                },
            );
        }
        for o in observers {
            members.insert(
                *o,
                Member {
                    id: *o,
                    observer: true,
                },
            );
        }
        Membership { me, members }
    }

    /// The voting members.
    pub fn voters(&self) -> BTreeSet<Sid> {
        self.members
            .values()
            .filter(|m| !m.observer)
            .map(|m| m.id)
            .collect()
    }

    /// Is `id` a voter?
    pub fn is_voter(&self, id: Sid) -> bool {
        self.members.get(&id).is_some_and(|m| !m.observer)
    }

    /// Is this server an observer (it does not vote: an observer, or not a member at all)?
    pub fn i_observe(&self) -> bool {
        !self.is_voter(self.me)
    }

    /// How this server is listed: `Some(true)` as an observer, `Some(false)` as a participant,
    /// `None` when it is not a member (a server waiting to be added by reconfig: it learns as a
    /// non-voting follower, as ZooKeeper's joining servers do).
    pub fn listed_as_observer(&self) -> Option<bool> {
        self.members.get(&self.me).map(|m| m.observer)
    }

    /// Every other member.
    pub fn peers(&self) -> impl Iterator<Item = Sid> + '_ {
        self.members
            .keys()
            .copied()
            .filter(move |id| *id != self.me)
    }

    /// Does `ids` contain a majority of the voters?
    pub fn is_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a Sid>) -> bool {
        let voters = self.voters();
        let n = ids.into_iter().filter(|id| voters.contains(id)).count();
        n * 2 > voters.len()
    }

    /// The number of voters a quorum needs.
    pub fn quorum_size(&self) -> usize {
        self.voters().len() / 2 + 1
    }
}

/// Timing of the ensemble, in ticks of `tick_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// tickTime.
    pub tick_ms: i64,
    /// initLimit: discovery + sync must finish within this many ticks.
    pub init_limit: i64,
    /// syncLimit: a peer silent this many ticks is gone.
    pub sync_limit: i64,
}

impl Timing {
    /// initLimit in ms.
    pub fn init_ms(&self) -> i64 {
        self.tick_ms * self.init_limit
    }

    /// syncLimit in ms.
    pub fn sync_ms(&self) -> i64 {
        self.tick_ms * self.sync_limit
    }
}
