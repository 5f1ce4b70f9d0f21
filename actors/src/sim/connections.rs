//! The workload's client connections, as Apache ZooKeeper's Java client keeps them.
//!
//! The rule: a client keeps its connection to its server until it has heard nothing from that
//! server for its *read timeout*, [`READ_TIMEOUT_MS`] (2/3 of the session timeout, as the Java
//! client computes it), measured from the last reply, ping answer or connect it got; then it
//! drops the connection and reconnects its session to another serving server that has seen
//! everything it saw and knows the session ([`Sim::move_session`]), if there is one (it tries
//! again at its next ping or request until there is). A server that crashes or stops serving
//! breaks its connections at once (a node closes them); a paused one (SIGSTOP) breaks nothing
//! and answers nothing.
//!
//! Invariants:
//!
//! * what a client sends (requests, syncs, pings, which touch the session, and reads) reaches
//!   its server as an [`Event::FromClient`], which waits, in order, like anything bound for a
//!   paused server, and runs when the server runs it: a read is answered from the server's tree
//!   as it is then, a ping touches the session then. (Reads touch nothing, as before the read
//!   timeout was modelled, so that the seeds found before replay their schedule; ZooKeeper's
//!   every request touches, a difference that only makes sessions here expire sooner.)
//! * a server runs what an older connection sent (the client left meanwhile): its effects are
//!   real (a touch, a write applied or refused with `SessionMoved`), but its replies reach no
//!   client: the client neither sees them nor counts them as heard. A write whose reply was
//!   lost so is kept, with the result its server reported, for the history checks
//!   ([`super::workload::Workload::unheard`]);
//! * a client hears a ping's answer only when its server runs the ping, so while its server
//!   runs it never reaches its read timeout (it pings every third of the session timeout).

use super::workload::{Waiting, READ_TIMEOUT_MS};
use super::{Event, Sim};
use crate::pipeline::Input;
use crate::proto::Request;
use crate::quorum::msg::Sid;
use crate::txn::{SessionId, Zxid};
use rand::Rng;

/// What a client sends its server on its connection.
#[derive(Debug, Clone)]
pub(crate) enum Wire {
    /// A ping.
    Ping,
    /// A read, answered from the server's tree when the server runs it.
    Read { xid: i32, request: Request },
    /// A write, closeSession or sync, into the server's pipeline.
    Request(Input),
}

impl Sim {
    /// Serving servers a client that saw `last_zxid` may connect to (optionally one that
    /// knows `session`), as the connection layer allows (a paused one answers no connect).
    pub(super) fn reachable(&self, last_zxid: Zxid, session: Option<SessionId>) -> Vec<Sid> {
        self.servers
            .values()
            .filter(|s| s.serving && s.pipeline.is_some() && !s.paused)
            .filter(|s| s.tree.last_zxid() >= last_zxid)
            .filter(|s| session.is_none_or(|id| s.sessions.get(id).is_some()))
            .map(|s| s.id)
            .collect()
    }

    /// A server's connections live while it neither crashes nor stops serving (the node
    /// closes its client connections then): (its life, times it stopped serving).
    pub(super) fn connection_life(&self, id: Sid) -> (u64, u64) {
        self.workload.connection_life(&self.servers[&id])
    }

    /// The session's connection is open (not dropped by its client) and its server has
    /// neither crashed nor stopped serving since, and knows the session (heard or not).
    fn connection_open(&self, session: SessionId) -> bool {
        let c = &self.workload.clients[&session];
        let s = &self.servers[&c.server];
        c.up && s.serving
            && self.connection_life(c.server) == c.life
            && s.pipeline.is_some()
            && s.sessions.get(session).is_some()
    }

    /// Silent for its read timeout?
    fn silent(&self, session: SessionId) -> bool {
        self.now - self.workload.clients[&session].heard_at >= READ_TIMEOUT_MS
    }

    /// Is the session's client connected to a serving server that knows it, and has it heard
    /// from it within its read timeout? If not, it drops the connection (if silent) and tries
    /// to reconnect elsewhere.
    pub(super) fn connected(&mut self, session: SessionId) -> bool {
        if self.connection_open(session) {
            if !self.silent(session) {
                return true;
            }
            self.read_timeout(session);
        }
        self.move_session(session);
        let c = &self.workload.clients[&session];
        c.up && self.servers[&c.server].serving
            && self.connection_life(c.server) == c.life
            && !self.silent(session)
    }

    /// The clients whose server has been silent for their read timeout drop their connection
    /// and move (checked at every step of the workload).
    pub(super) fn read_timeouts(&mut self) {
        let silent: Vec<SessionId> = self
            .workload
            .clients
            .iter()
            .filter(|(_, c)| c.open && !c.closing && c.up)
            .map(|(s, _)| *s)
            .filter(|s| self.connection_open(*s) && self.silent(*s))
            .collect();
        for session in silent {
            self.connected(session);
        }
    }

    /// The client gives up on its silent server: the connection is gone (what it waited for
    /// gets no reply: ConnectionLoss).
    fn read_timeout(&mut self, session: SessionId) {
        let c = &self.workload.clients[&session];
        let from = c.server;
        if self.trace {
            eprintln!(
                "{:>6} client {session:#x}: read timeout on s{from} (heard {} ms ago)",
                self.now,
                self.now - c.heard_at
            );
        }
        self.workload.timeouts.push((self.now, session, from));
        self.workload.drop_connection(session);
        self.workload.clients.get_mut(&session).expect("client").up = false;
    }

    /// The client reconnects its session to another serving server (one that has seen all it
    /// saw and knows the session), if there is one.
    pub(super) fn move_session(&mut self, session: SessionId) {
        let c = &self.workload.clients[&session];
        let candidates = self.reachable(c.last_zxid, Some(session));
        if candidates.is_empty() {
            return;
        }
        let to = candidates[self.rng.random_range(0..candidates.len())];
        let life = self.connection_life(to);
        // The old connection is gone: what was in flight on it gets no reply (ConnectionLoss).
        self.workload.drop_connection(session);
        let c = self.workload.clients.get_mut(&session).expect("client");
        c.server = to;
        c.life = life;
        c.up = true;
        c.heard_at = self.now;
        self.touch(to, session);
        self.step_pipeline(to, Input::SessionResumed(session));
    }

    /// Pings of the clients whose ping is due.
    pub(super) fn ping_due(&mut self) {
        let due: Vec<SessionId> = self
            .workload
            .clients
            .iter()
            .filter(|(_, c)| c.open && !c.closing && c.next_ping <= self.now)
            .map(|(s, _)| *s)
            .collect();
        for session in due {
            self.workload
                .clients
                .get_mut(&session)
                .expect("client")
                .next_ping = self.now + super::workload::SESSION_TIMEOUT_MS / 3;
            if self.connected(session) {
                self.client_send(session, Wire::Ping);
            }
        }
    }

    /// The client sends `wire` on its connection: its server runs it now, or when it wakes.
    pub(super) fn client_send(&mut self, session: SessionId, wire: Wire) {
        let c = &self.workload.clients[&session];
        let (id, conn) = (c.server, c.conn);
        let life = self.servers[&id].life;
        self.run_event(Event::FromClient {
            id,
            life,
            session,
            conn,
            wire,
        });
    }

    /// Server `id` runs what connection `conn` of `session` sent: a ping or request touches
    /// the session; a ping is answered, a read executed, a request stepped into the pipeline.
    pub(super) fn serve_client(&mut self, id: Sid, session: SessionId, conn: u64, wire: Wire) {
        let touched = !matches!(wire, Wire::Read { .. }) && self.touch(id, session);
        let current = self
            .workload
            .clients
            .get(&session)
            .is_some_and(|c| c.conn == conn);
        match wire {
            Wire::Ping if touched && current => self.workload.heard(session, self.now),
            Wire::Ping => {}
            Wire::Read { xid, request } if current => {
                self.client_read(id, session, xid, request, None);
            }
            // A read of a connection that is gone: its reply reaches no one.
            Wire::Read { .. } => {}
            Wire::Request(input) => {
                self.step_pipeline(id, input);
            }
        }
    }

    /// A request or ping of `session` touches it at server `id` (if it serves and knows the
    /// session); returns whether it did.
    pub(super) fn touch(&mut self, id: Sid, session: SessionId) -> bool {
        let mono = self.clock(id).mono_ms;
        let s = &self.servers[&id];
        if !s.serving || s.pipeline.is_none() {
            return false;
        }
        let Some(live) = s.sessions.get(session) else {
            return false;
        };
        live.touch(mono, self.timing.tick_ms);
        if let Some(c) = self.workload.clients.get_mut(&session) {
            c.touches.push(self.now);
            if c.touches.len() > 4 {
                c.touches.remove(0);
            }
        }
        true
    }

    /// Is the session's client waiting for a reply (a request, or a read, in flight)?
    pub(crate) fn waiting(&self, session: SessionId) -> bool {
        self.workload
            .clients
            .get(&session)
            .is_some_and(|c| c.pending.is_some())
    }

    /// The client's read in flight is answered.
    pub(super) fn read_answered(&mut self, session: SessionId) {
        if let Some(c) = self.workload.clients.get_mut(&session) {
            if c.pending == Some(Waiting::Read) {
                c.pending = None;
            }
        }
        self.workload.heard(session, self.now);
    }
}
