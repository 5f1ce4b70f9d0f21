//! The simulated network: FIFO links with random delays, link breaks that lose what is in
//! flight (both ends are told, as a broken TCP connection does), duplicates now and then,
//! partitions, held links, the frame size limit of the peer codec, and the random faults of a
//! run (crashes and restarts, partitions, broken links).

use rand::Rng;

use super::{Event, Sim};
use crate::quorum::core;
use crate::quorum::msg::{PeerMsg, Sid};

/// The kind of a message, for counts and hooks.
pub(crate) fn kind(m: &PeerMsg) -> &'static str {
    match m {
        PeerMsg::Vote(_) => "Vote",
        PeerMsg::FollowerInfo { .. } => "FollowerInfo",
        PeerMsg::LeaderInfo { .. } => "LeaderInfo",
        PeerMsg::AckEpoch { .. } => "AckEpoch",
        PeerMsg::Diff { .. } => "Diff",
        PeerMsg::Trunc { .. } => "Trunc",
        PeerMsg::SnapBegin(_) => "SnapBegin",
        PeerMsg::SnapChunk { .. } => "SnapChunk",
        PeerMsg::SnapAck { .. } => "SnapAck",
        PeerMsg::Proposal(_) => "Proposal",
        PeerMsg::Ack { .. } => "Ack",
        PeerMsg::Commit { .. } => "Commit",
        PeerMsg::Inform(_) => "Inform",
        PeerMsg::NewLeader { .. } => "NewLeader",
        PeerMsg::UpToDate => "UpToDate",
        PeerMsg::Ping { .. } => "Ping",
        PeerMsg::PingReply { .. } => "PingReply",
        PeerMsg::Request { .. } => "Request",
        PeerMsg::CreateSession { .. } => "CreateSession",
        PeerMsg::SyncRequest { .. } => "SyncRequest",
        PeerMsg::SyncDone { .. } => "SyncDone",
        PeerMsg::Revalidate { .. } => "Revalidate",
    }
}

pub(crate) fn pair(a: Sid, b: Sid) -> (Sid, Sid) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub(crate) fn linked(&self, a: Sid, b: Sid) -> bool {
        match &self.partition {
            None => true,
            Some(side) => side.contains(&a) == side.contains(&b),
        }
    }

    /// Sends `msg`; returns the time it will be delivered (None: it will not be).
    pub(crate) fn send(&mut self, from: Sid, to: Sid, msg: PeerMsg) -> Option<i64> {
        if !self.linked(from, to)
            || self.servers[&to].pipeline.is_none()
            || self.servers[&from].pipeline.is_none()
        {
            return None;
        }
        let roll: f64 = if self.chaos { self.rng.random() } else { 0.5 };
        if roll < 0.002 {
            // The connection breaks: in-flight messages of both directions are lost.
            self.break_link(from, to);
            return None;
        }
        if let Some(limit) = self.frame_limit {
            let len = rmp_serde::to_vec(&msg).map_or(usize::MAX, |b| b.len());
            if len > limit {
                // The peer codec refuses the frame: the link task fails and the connection
                // drops (both ends see it go down once the current step is over).
                if self.trace {
                    eprintln!(
                        "{:>6} s{from} -> s{to} {} of {len} bytes exceeds the frame limit: link breaks",
                        self.now,
                        kind(&msg)
                    );
                }
                self.schedule(0, Event::BreakLink(from, to));
                return None;
            }
        }
        let gen = *self.gens.entry(pair(from, to)).or_insert(0);
        if self.held_links.contains(&(from, to)) {
            self.held.push((from, to, gen, msg));
            return None;
        }
        Some(self.schedule_delivery(from, to, gen, msg, roll > 0.999, None))
    }

    pub(crate) fn schedule_delivery(
        &mut self,
        from: Sid,
        to: Sid,
        gen: u64,
        msg: PeerMsg,
        dup: bool,
        then_crash: Option<Sid>,
    ) -> i64 {
        let delay = self.rng.random_range(1..20);
        let at = (self.now + delay).max(*self.link_free_at.get(&(from, to)).unwrap_or(&0));
        self.link_free_at.insert((from, to), at);
        let ev = Event::Deliver {
            from,
            to,
            gen,
            msg,
            then_crash,
        };
        if dup {
            self.schedule(at - self.now, ev.clone());
        }
        self.schedule(at - self.now, ev);
        at
    }

    /// Holds every message from `from` to `to` until [`Sim::release`].
    pub(crate) fn hold(&mut self, from: Sid, to: Sid) {
        self.held_links.insert((from, to));
    }

    /// Delivers what the link `from` → `to` held (unless the link broke meanwhile), in order,
    /// and stops holding it.
    pub(crate) fn release(&mut self, from: Sid, to: Sid) {
        self.held_links.remove(&(from, to));
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(f, t, _, _)| *f == from && *t == to);
        self.held = rest;
        let gen = self.gens.get(&pair(from, to)).copied().unwrap_or(0);
        for (f, t, g, msg) in mine {
            if g == gen
                && self.servers[&t].pipeline.is_some()
                && self.servers[&f].pipeline.is_some()
            {
                self.schedule_delivery(f, t, g, msg, false, None);
            }
        }
    }

    /// Breaks the connection between `a` and `b` (both ends see it; in-flight messages lost).
    pub(crate) fn break_link(&mut self, a: Sid, b: Sid) {
        *self.gens.entry(pair(a, b)).or_insert(0) += 1;
        for (x, y) in [(a, b), (b, a)] {
            if self.servers[&x].pipeline.is_some() {
                self.step(x, core::Input::LinkReset { peer: y });
            }
        }
    }

    pub(crate) fn inject_fault(&mut self) {
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        let pick = ids[self.rng.random_range(0..ids.len())];
        match self.rng.random_range(0..10) {
            0..=2 => {
                self.run_event(Event::Crash(pick));
                let back = self.rng.random_range(100..2000);
                self.schedule(back, Event::Restart(pick));
            }
            3..=4 => {
                let mut side: Vec<Sid> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.random_bool(0.4))
                    .collect();
                if side.is_empty() {
                    side.push(pick);
                }
                self.run_event(Event::Partition(side));
                let heal = self.rng.random_range(200..2500);
                self.schedule(heal, Event::Heal);
            }
            5..=6 => {
                let other = ids[self.rng.random_range(0..ids.len())];
                if other != pick {
                    self.run_event(Event::BreakLink(pick, other));
                }
            }
            7 if self.pause_faults => {
                // Stopped past syncLimit, or past the sessions' timeout: on waking, a leader's
                // tracker finds every session it tracked overdue.
                let ms = if self.rng.random_bool(0.5) {
                    self.rng.random_range(100..1500)
                } else {
                    let t = super::workload::SESSION_TIMEOUT_MS;
                    self.rng.random_range(t..t + 1500)
                };
                self.pause(pick, ms);
            }
            _ => {}
        }
    }
}
