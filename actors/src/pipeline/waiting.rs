//! Local requests waiting for their txn to commit, found again by what the txn carries.
//!
//! A write is found by (session, xid): the txn keeps the session and the client's xid, on the
//! leader that proposed it and on a follower that forwarded it alike. A new session is found by
//! its id (its txn has xid 0). Ordered maps keep every walk deterministic (the simulator
//! replays seeds exactly).
//!
//! Invariant: a token is in at most one entry; one that is replaced, released, failed or
//! dropped leaves for good.

use std::collections::BTreeMap;

use super::io::{Applied, Token};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

/// A write waiting for its commit.
#[derive(Debug, Clone, Copy)]
struct Write {
    token: Token,
    /// Its zxid on the leader that proposed it (0: forwarded to the leader, not known here).
    zxid: Zxid,
    /// It is a closeSession.
    closes_session: bool,
}

/// The waiting requests.
#[derive(Debug, Default)]
pub struct Waiting {
    writes: BTreeMap<(SessionId, i32), Write>,
    sessions: BTreeMap<SessionId, Token>,
}

impl Waiting {
    /// A write of `session` with `xid` waits (`zxid`: 0 if not proposed here). Returns the
    /// token it replaces (a client reusing an xid), which will get no answer.
    pub fn write(
        &mut self,
        session: SessionId,
        xid: i32,
        token: Token,
        zxid: Zxid,
        closes_session: bool,
    ) -> Option<Token> {
        let w = Write {
            token,
            zxid,
            closes_session,
        };
        self.writes.insert((session, xid), w).map(|w| w.token)
    }

    /// A new session waits for its createSession txn. Returns the token it replaces.
    pub fn session(&mut self, session: SessionId, token: Token) -> Option<Token> {
        self.sessions.insert(session, token)
    }

    /// The request `txn` answers, if it waits here (it leaves).
    pub fn release(&mut self, txn: &Txn) -> Option<Token> {
        if let TxnOp::CreateSession { .. } = txn.op {
            self.sessions.remove(&txn.session_id)
        } else {
            self.writes
                .remove(&(txn.session_id, txn.cxid))
                .map(|w| w.token)
        }
    }

    /// Every waiting request fails (the log could not make them durable), in zxid order (new
    /// sessions and forwarded writes first, by session and xid).
    pub fn fail_all(&mut self) -> Vec<Applied> {
        let mut failed: Vec<(Zxid, Applied)> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|((session_id, _), w)| {
                (
                    w.zxid,
                    Applied::Failed {
                        session_id,
                        closes_session: w.closes_session,
                        token: w.token,
                    },
                )
            })
            .collect();
        failed.extend(
            std::mem::take(&mut self.sessions)
                .into_iter()
                .map(|(session_id, token)| {
                    (
                        0,
                        Applied::Failed {
                            session_id,
                            closes_session: false,
                            token,
                        },
                    )
                }),
        );
        failed.sort_by_key(|(z, _)| *z);
        failed.into_iter().map(|(_, a)| a).collect()
    }

    /// Forgets every waiting request; returns their tokens.
    pub fn drop_all(&mut self) -> Vec<Token> {
        let mut tokens: Vec<Token> = std::mem::take(&mut self.writes)
            .into_values()
            .map(|w| w.token)
            .collect();
        tokens.extend(std::mem::take(&mut self.sessions).into_values());
        tokens
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.writes.len() + self.sessions.len()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(zxid: Zxid, session_id: SessionId, cxid: i32, op: TxnOp) -> Txn {
        Txn {
            zxid,
            time_ms: 0,
            session_id,
            cxid,
            op,
        }
    }

    #[test]
    fn a_commit_releases_the_write_with_its_session_and_xid() {
        let mut w = Waiting::default();
        assert_eq!(w.write(7, 1, 100, 5, false), None);
        assert_eq!(w.write(7, 2, 101, 6, false), None);
        let close = TxnOp::CloseSession {
            ephemerals: Vec::new(),
        };
        assert_eq!(w.release(&txn(6, 7, 2, close.clone())), Some(101));
        assert_eq!(w.release(&txn(6, 7, 2, close)), None, "released once");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_new_session_is_released_by_its_create_session_txn() {
        let mut w = Waiting::default();
        w.session(9, 200);
        w.write(9, 0, 201, 3, false);
        let create = TxnOp::CreateSession {
            timeout_ms: 1000,
            password: bytes::Bytes::new(),
        };
        assert_eq!(w.release(&txn(4, 9, 0, create)), Some(200));
        assert_eq!(w.len(), 1, "the write with xid 0 still waits");
    }

    #[test]
    fn a_reused_xid_replaces_the_older_request() {
        let mut w = Waiting::default();
        w.write(7, 1, 100, 5, false);
        assert_eq!(w.write(7, 1, 101, 6, false), Some(100));
        assert_eq!(w.drop_all(), vec![101]);
        assert!(w.is_empty());
    }

    #[test]
    fn failures_come_out_in_zxid_order() {
        let mut w = Waiting::default();
        w.write(1, 1, 10, 8, false);
        w.write(2, 1, 11, 6, true);
        w.session(3, 12);
        let failed = w.fail_all();
        let tokens: Vec<Token> = failed
            .iter()
            .map(|a| match a {
                Applied::Failed { token, .. } => *token,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tokens, vec![12, 11, 10]);
        assert!(matches!(
            failed[1],
            Applied::Failed {
                closes_session: true,
                ..
            }
        ));
        assert!(w.is_empty());
    }
}
