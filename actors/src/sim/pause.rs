//! Pausing a server (SIGSTOP and SIGCONT, as the chaos nemesis does to real processes).
//!
//! Invariants: a paused server runs nothing. Every event bound for it (a message delivered, its
//! tick, its disk's completion, its shell's own later steps, a pipeline input such as a link
//! reset, what its clients send) waits in its `deferred` queue in the order it came, and runs in
//! that order when it wakes, its clock having run on meanwhile (so its timers are all due at
//! once). Its clients keep their connections until their read timeout, then move
//! ([`super::connections`]); no new client connects to it, and it is no client's leader. A crash
//! of a paused server puts what waited back on the queue, where each event finds its server's
//! life or its link ended, as it would have without the pause.

use super::{Event, Sim};
use crate::quorum::msg::Sid;
use rand::Rng;

impl Sim {
    /// The server an event runs on, if it runs on one.
    pub(super) fn runs_on(e: &Event) -> Option<Sid> {
        match e {
            Event::Deliver { to, .. } => Some(*to),
            Event::Tick(id)
            | Event::DurableDone { id, .. }
            | Event::SnapEncode { id, .. }
            | Event::LocalSnap { id, .. }
            | Event::Later { id, .. }
            | Event::FromClient { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// Stops `id` for `ms` (as SIGSTOP and SIGCONT would): messages to it, its timers, its
    /// disk's completions and the shell's own steps wait, in order, and run when it resumes.
    pub(crate) fn pause(&mut self, id: Sid, ms: i64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.paused || s.pipeline.is_none() {
            return;
        }
        s.paused = true;
        s.tracker_first = false;
        s.pauses += 1;
        let n = s.pauses;
        // The clients go on (into the settling) until this server's have had their read
        // timeout, or their replies, and a second more.
        let until = self.now + ms.min(super::workload::READ_TIMEOUT_MS) + 1000;
        self.workload.writes_until = self.workload.writes_until.max(until);
        if self.trace {
            eprintln!("{:>6} s{id} PAUSE {ms} ms", self.now);
        }
        self.schedule(ms, Event::Resume { id, n });
    }

    /// [`Sim::pause`], and on waking the session tracker runs first (otherwise a coin decides:
    /// its interval and the core's tick are different actors in a node, either may run first).
    pub(crate) fn pause_tracker_first(&mut self, id: Sid, ms: i64) {
        self.pause(id, ms);
        self.servers.get_mut(&id).expect("server").tracker_first = true;
    }

    /// Ends `id`'s pause (if any): what waited runs now, in the order it came.
    pub(super) fn resume(&mut self, id: Sid) {
        let s = self.servers.get_mut(&id).expect("server");
        if !s.paused {
            return;
        }
        s.paused = false;
        s.resumed_at = Some(self.now);
        if self.trace {
            eprintln!("{:>6} s{id} RESUME", self.now);
        }
        let waited = std::mem::take(&mut s.deferred);
        let tracker_first = s.tracker_first;
        if tracker_first || self.rng.random_bool(0.5) {
            self.track_sessions(id);
        }
        for e in waited {
            self.run_event(e);
        }
    }

    /// A stopped process can be killed: what waited for `id` goes back to the queue, where each
    /// event finds its server's life (or its link) ended, as it would have without the pause;
    /// its timers' chains go on.
    pub(super) fn unpause_to_kill(&mut self, id: Sid) {
        let s = self.servers.get_mut(&id).expect("server");
        s.paused = false;
        for e in std::mem::take(&mut s.deferred) {
            self.schedule(0, e);
        }
    }
}
