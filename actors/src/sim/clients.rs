//! The simulated clients: random writes (creates and setData, and with the session workload
//! createSession, ephemeral creates and closeSession) and scripted requests, submitted to a
//! server's pipeline as its connections submit them.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::Rng;

use super::Sim;
use crate::pipeline::{Applied, Input, Output, Token};
use crate::proto::codes::opcode;
use crate::proto::records::{CreateRequest, SetDataRequest};
use crate::proto::{Acl, Request};
use crate::quorum::msg::Sid;
use crate::txn::{SessionId, Zxid};

/// A client request the simulator submits to the serving leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientOp {
    /// create(path, data) with these flags (1 = ephemeral) by `session` (0: no session).
    Create {
        /// Path.
        path: String,
        /// Data.
        data: String,
        /// Create flags.
        flags: i32,
        /// Owner session.
        session: SessionId,
    },
    /// setData(path, data, -1).
    SetData {
        /// Path.
        path: String,
        /// Data.
        data: String,
    },
    /// A new session.
    CreateSession(SessionId),
    /// closeSession.
    CloseSession(SessionId),
    /// A new configuration of voters (ids), proposed as a reconfig txn as is (no checks).
    Reconfig(Vec<Sid>),
}

impl Sim {
    /// A random client write to whoever leads (dropped without a serving leader).
    pub(crate) fn client_write(&mut self) {
        if self.clients_on {
            self.workload_step();
            return;
        }
        let Some(id) = self.leader() else { return };
        if self.session_workload && self.rng.random_bool(0.4) {
            let op = self.random_session_op();
            self.writes += 1;
            self.submit_to(id, op);
            return;
        }
        let k = self.rng.random_range(0..8);
        let path = format!("/k{k}");
        let data = format!("v{}", self.writes);
        let op = if self.rng.random_bool(0.5) {
            ClientOp::Create {
                path,
                data,
                flags: if self.rng.random_bool(0.3) { 2 } else { 0 },
                session: 0,
            }
        } else {
            ClientOp::SetData { path, data }
        };
        self.writes += 1;
        self.submit_to(id, op);
    }

    pub(crate) fn random_session_op(&mut self) -> ClientOp {
        let n = self.open_sessions.len();
        match self.rng.random_range(0..5) {
            1 | 2 if n > 0 => {
                let session = self.open_sessions[self.rng.random_range(0..n)];
                ClientOp::Create {
                    path: format!("/e{}", self.rng.random_range(0..12)),
                    data: format!("v{}", self.writes),
                    flags: 1,
                    session,
                }
            }
            3 if n > 0 => {
                let session = self.open_sessions.remove(self.rng.random_range(0..n));
                ClientOp::CloseSession(session)
            }
            _ => {
                self.next_session += 1;
                self.open_sessions.push(self.next_session);
                ClientOp::CreateSession(self.next_session)
            }
        }
    }

    /// Submits a client request to the serving leader; returns its txn's zxid (None: no
    /// serving leader, or it could not allocate one).
    pub(crate) fn submit(&mut self, op: ClientOp) -> Option<Zxid> {
        let id = self.leader()?;
        self.writes += 1;
        self.submit_to(id, op)
    }

    /// Submits a client request to server `id`'s pipeline as a connection of `id` would;
    /// returns its txn's zxid if `id` proposed it (None: `id` forwarded it to its leader, or
    /// cannot take it now).
    pub(crate) fn submit_to(&mut self, id: Sid, op: ClientOp) -> Option<Zxid> {
        if let ClientOp::Reconfig(voters) = op {
            let text: String = voters
                .iter()
                .map(|v| format!("server.{v}=127.0.0.1:{v}:{v}:participant\n"))
                .collect();
            let config = crate::quorum::dynconfig::parse(&text).expect("a valid configuration");
            let out = self.step_pipeline(id, Input::ProposeConfig(config));
            return out.iter().find_map(|o| match o {
                Output::Proposed { zxid, token: None } => Some(*zxid),
                _ => None,
            });
        }
        let token = self.requests.handed(id);
        let input = match op {
            ClientOp::CreateSession(session_id) => Input::CreateSession {
                token,
                session_id,
                timeout_ms: 10_000,
                password: Bytes::from_static(b"pw"),
            },
            ClientOp::Create {
                path,
                data,
                flags,
                session,
            } => Input::Write {
                token: Some(token),
                session_id: session,
                xid: self.writes as i32,
                ids: Vec::new(),
                request: Request::Create(
                    opcode::CREATE,
                    CreateRequest {
                        path,
                        data: Some(Bytes::from(data)),
                        acl: Acl::open_unsafe(),
                        flags,
                    },
                ),
            },
            ClientOp::SetData { path, data } => Input::Write {
                token: Some(token),
                session_id: 0,
                xid: self.writes as i32,
                ids: Vec::new(),
                request: Request::SetData(SetDataRequest {
                    path,
                    data: Some(Bytes::from(data)),
                    version: -1,
                }),
            },
            ClientOp::CloseSession(session) => Input::Write {
                token: Some(token),
                session_id: session,
                xid: self.writes as i32,
                ids: Vec::new(),
                request: Request::CloseSession,
            },
            ClientOp::Reconfig(_) => unreachable!("proposed above"),
        };
        let out = self.step_pipeline(id, input);
        out.iter().find_map(|o| match o {
            Output::Proposed {
                zxid,
                token: Some(t),
            } if *t == token => Some(*zxid),
            _ => None,
        })
    }
}

/// What became of a client request handed to a server's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Submitted {
    /// The server it was handed to.
    pub server: Sid,
    /// The zxid it was proposed with, if that server proposed it.
    pub zxid: Option<Zxid>,
    /// How it left the pipeline ("answered", "closed", "abandoned", "lost" with a crash of its
    /// server); `None` while in flight.
    pub left: Option<&'static str>,
}

/// The client requests handed to the pipelines, by token. Every token comes out exactly once.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    next: Token,
    /// Every request so far.
    pub by_token: BTreeMap<Token, Submitted>,
}

impl Requests {
    /// A new request for server `server`: its token.
    pub fn handed(&mut self, server: Sid) -> Token {
        self.next += 1;
        self.by_token.insert(
            self.next,
            Submitted {
                server,
                zxid: None,
                left: None,
            },
        );
        self.next
    }

    /// The request `token` (if a client's) was proposed as `zxid`.
    pub fn proposed(&mut self, token: Option<Token>, zxid: Zxid) {
        if let Some(r) = token.and_then(|t| self.by_token.get_mut(&t)) {
            r.zxid = Some(zxid);
        }
    }

    /// The request `token` came out of its pipeline, `how`. It must have been in flight.
    pub fn left(&mut self, token: Token, how: &'static str) {
        let r = self
            .by_token
            .get_mut(&token)
            .unwrap_or_else(|| panic!("token {token} was never handed in"));
        assert_eq!(r.left, None, "token {token} came out twice (now {how})");
        r.left = Some(how);
    }

    /// Replies released by a server.
    pub fn answered(&mut self, items: &[Applied]) {
        for a in items {
            match a {
                Applied::Txn { token: None, .. } => {}
                Applied::Txn { token: Some(t), .. }
                | Applied::Sync { token: t, .. }
                | Applied::Failed { token: t, .. } => self.left(*t, "answered"),
            }
        }
    }

    /// Server `id` crashed: its requests in flight are lost with it (their clients see the
    /// connection drop).
    pub fn lost_with(&mut self, id: Sid) {
        for r in self.by_token.values_mut() {
            if r.server == id && r.left.is_none() {
                r.left = Some("lost");
            }
        }
    }

    /// Requests still in flight.
    pub fn in_flight(&self) -> Vec<(Token, &Submitted)> {
        self.by_token
            .iter()
            .filter(|(_, r)| r.left.is_none())
            .map(|(t, r)| (*t, r))
            .collect()
    }
}
