//! Unit tests of the pipeline on one server: a standalone server (an ensemble of one) and a
//! server of an ensemble still looking for its leader. Ensembles (forwarding, ownership across
//! servers, syncs through learners) are exercised by the simulator (`crate::sim`).

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::proto::codes::opcode;
use crate::proto::records::{CreateRequest, DeleteRequest, SetDataRequest};
use crate::proto::{Acl, ErrorCode, Request};
use crate::quorum::config::{Membership, Timing};
use crate::quorum::core::{CoreConfig, DurableAction};
use crate::tree::DataTree;
use crate::txn::{SessionId, Zxid};

/// A standalone (or looking) server with its tree and its disk: durable actions complete when
/// the test says so.
struct Server {
    p: Pipeline,
    tree: DataTree,
    now: Now,
    disk: VecDeque<u64>,
    /// Every output so far.
    log: Vec<Output>,
}

fn config(standalone: bool) -> PipelineConfig {
    let membership = if standalone {
        Membership::new(1, &[1], &[])
    } else {
        Membership::new(1, &[1, 2, 3], &[])
    };
    PipelineConfig {
        core: CoreConfig {
            membership,
            timing: Timing {
                tick_ms: 100,
                init_limit: 10,
                sync_limit: 5,
            },
            commit_log_count: 100,
            commit_log_bytes: usize::MAX,
            tail_slice: crate::quorum::msg::TAIL_SLICE,
            standalone,
        },
        prep: prep::PrepConfig {
            standalone,
            ..Default::default()
        },
        dynamic: Default::default(),
        reap_budget: 10,
    }
}

impl Server {
    fn new(standalone: bool) -> Server {
        let tree = DataTree::new();
        let now = Now {
            mono_ms: 1_000,
            wall_ms: 1_700_000_000_000,
        };
        let (p, out) = Pipeline::new(config(standalone), Default::default(), now, &tree);
        let mut s = Server {
            p,
            tree,
            now,
            disk: VecDeque::new(),
            log: Vec::new(),
        };
        s.perform(out);
        s
    }

    fn perform(&mut self, out: Vec<Output>) -> Vec<Output> {
        for o in &out {
            match o {
                Output::Durably { token, action } => {
                    assert!(matches!(action, DurableAction::Append(_)));
                    self.disk.push_back(*token);
                }
                Output::Apply(items) => {
                    for i in items {
                        if let Applied::Txn { txn, .. } = i {
                            self.tree.apply(txn);
                        }
                    }
                }
                _ => {}
            }
        }
        self.log.extend(out.iter().cloned());
        out
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let out = self.p.step(self.now, &self.tree, input);
        self.perform(out)
    }

    /// Every durable action queued completes.
    fn sync_disk(&mut self) -> Vec<Output> {
        // One group commit, as the log actor completes what was queued.
        let tokens: Vec<u64> = self.disk.drain(..).collect();
        self.step(Input::Core(core::Input::Durable(tokens)))
    }

    /// The first queued durable action fails (the log drops the rest).
    fn fail_disk(&mut self) -> Vec<Output> {
        let first = self.disk.pop_front().expect("a durable action queued");
        self.disk.clear();
        self.step(Input::Core(core::Input::DurableFailed(first)))
    }

    fn sync(&mut self, token: Token, session_id: SessionId, xid: i32) -> Vec<Output> {
        self.step(Input::Sync {
            token,
            session_id,
            xid,
            path: "/".into(),
        })
    }

    fn write(&mut self, token: Token, session_id: SessionId, xid: i32, request: Request) {
        self.step(Input::Write {
            token: Some(token),
            session_id,
            xid,
            ids: Vec::new(),
            request,
        });
    }
}

fn create(path: &str, flags: i32) -> Request {
    let op = if flags == 4 {
        opcode::CREATE_CONTAINER
    } else {
        opcode::CREATE
    };
    Request::Create(
        op,
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            flags,
        },
    )
}

fn applied(out: &[Output]) -> Vec<Applied> {
    out.iter()
        .filter_map(|o| match o {
            Output::Apply(items) => Some(items.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The tokens a list of outputs answers, closes or abandons.
fn tokens_out(out: &[Output]) -> Vec<Token> {
    let mut v = Vec::new();
    for o in out {
        match o {
            Output::Apply(items) => v.extend(items.iter().filter_map(|i| match i {
                Applied::Txn { token, .. } => *token,
                Applied::Sync { token, .. } | Applied::Failed { token, .. } => Some(*token),
            })),
            Output::Close(t) => v.push(*t),
            Output::Abandon(ts) => v.extend(ts.iter().copied()),
            _ => {}
        }
    }
    v
}

#[test]
fn a_standalone_server_serves_at_once_and_expires_sessions() {
    let s = Server::new(true);
    assert_eq!(
        s.log,
        vec![
            Output::Role(RoleView::Standalone),
            Output::Expiring(false),
            Output::Serving(true),
            Output::Expiring(true)
        ]
    );
    assert!(s.p.serving() && s.p.leading());
}

#[test]
fn a_write_is_answered_only_once_durable_with_its_token() {
    let mut s = Server::new(true);
    s.write(7, 0, 1, create("/a", 0));
    assert!(
        applied(&s.log).is_empty(),
        "nothing commits before the log is durable"
    );
    assert!(s.log.contains(&Output::Proposed {
        zxid: 1,
        token: Some(7)
    }));
    let out = s.sync_disk();
    match applied(&out).as_slice() {
        [Applied::Txn { txn, token }] => {
            assert_eq!((txn.zxid, *token), (1, Some(7)));
        }
        other => panic!("{other:?}"),
    }
    assert!(s.tree.get("/a").is_some());
}

#[test]
fn pipelined_dependent_writes_validate_against_the_writes_in_flight() {
    let mut s = Server::new(true);
    s.write(1, 0, 1, create("/p", 0));
    s.write(2, 0, 2, create("/p/c", 0));
    s.write(3, 0, 3, create("/p", 0));
    let out = s.sync_disk();
    let errors: Vec<Option<ErrorCode>> = applied(&out)
        .iter()
        .map(|a| match a {
            Applied::Txn { txn, .. } => txn.op.error(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(errors, vec![None, None, Some(ErrorCode::NodeExists)]);
}

#[test]
fn a_sync_is_answered_behind_the_writes_before_it() {
    let mut s = Server::new(true);
    s.write(1, 5, 1, create("/a", 0));
    let out = s.sync(2, 5, 2);
    assert!(
        applied(&out).is_empty(),
        "the write before it is not applied"
    );
    let out = s.sync_disk();
    assert_eq!(tokens_out(&out), vec![1, 2]);
    // Nothing outstanding: answered at once.
    let out = s.sync(3, 5, 3);
    assert_eq!(tokens_out(&out), vec![3]);
}

#[test]
fn a_failed_log_write_fails_the_requests_in_flight_in_order() {
    let mut s = Server::new(true);
    s.write(1, 5, 1, create("/a", 0));
    s.write(
        2,
        5,
        2,
        Request::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version: -1,
        }),
    );
    s.write(3, 6, 1, Request::CloseSession);
    let out = s.fail_disk();
    let failed = applied(&out);
    assert_eq!(tokens_out(&out), vec![1, 2, 3]);
    assert!(matches!(
        failed[2],
        Applied::Failed {
            session_id: 6,
            closes_session: true,
            ..
        }
    ));
    assert!(s.p.serving(), "a standalone server keeps serving");
    // The next write takes the zxid the failed one had, and is answered.
    s.write(4, 0, 9, create("/b", 0));
    let out = s.sync_disk();
    match applied(&out).as_slice() {
        [Applied::Txn { txn, token }] => assert_eq!((txn.zxid, *token), (1, Some(4))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sync_behind_a_failed_write_is_answered_after_its_error() {
    // The failed write will never be applied: a sync queued behind it must not wait for a
    // zxid that only later writes would reach.
    let mut s = Server::new(true);
    s.write(1, 5, 1, create("/a", 0));
    s.sync(2, 5, 2);
    let out = s.fail_disk();
    assert_eq!(tokens_out(&out), vec![1, 2]);
    assert!(matches!(
        applied(&out).as_slice(),
        [
            Applied::Failed { token: 1, .. },
            Applied::Sync { token: 2, .. }
        ]
    ));
}

#[test]
fn a_server_without_a_leader_closes_its_clients_requests() {
    let mut s = Server::new(false);
    assert_eq!(s.p.role(), RoleView::Looking);
    s.write(1, 5, 1, create("/a", 0));
    s.sync(2, 5, 2);
    s.step(Input::CreateSession {
        token: 3,
        session_id: 9,
        timeout_ms: 10_000,
        password: Bytes::from_static(b"pw"),
    });
    let out = s.step(Input::Expire(5));
    assert_eq!(out, vec![Output::NotExpired(5)]);
    let closed: Vec<Token> = s
        .log
        .iter()
        .filter_map(|o| match o {
            Output::Close(t) => Some(*t),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![1, 2, 3]);
    assert_eq!(tokens_out(&s.log), closed, "nothing else came out");
}

#[test]
fn an_expired_session_is_closed_by_a_txn_with_its_ephemerals() {
    let mut s = Server::new(true);
    s.step(Input::CreateSession {
        token: 1,
        session_id: 9,
        timeout_ms: 10_000,
        password: Bytes::from_static(b"pw"),
    });
    s.write(2, 9, 1, create("/e", 1));
    s.sync_disk();
    assert!(s.tree.sessions().contains_key(&9));
    s.step(Input::Expire(9));
    let out = s.sync_disk();
    match applied(&out).as_slice() {
        [Applied::Txn { txn, token: None }] => {
            assert_eq!(
                txn.op,
                crate::txn::TxnOp::CloseSession {
                    ephemerals: vec!["/e".into()]
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.tree.get("/e").is_none() && !s.tree.sessions().contains_key(&9));
}

#[test]
fn the_sweep_deletes_a_container_once_its_last_child_is_gone() {
    let mut s = Server::new(true);
    s.write(1, 0, 1, create("/c", 4));
    s.sync_disk();
    assert!(
        s.step(Input::Reap).is_empty(),
        "a container never used stays"
    );
    s.write(2, 0, 2, create("/c/x", 0));
    s.write(
        3,
        0,
        3,
        Request::Delete(DeleteRequest {
            path: "/c/x".into(),
            version: -1,
        }),
    );
    s.sync_disk();
    s.step(Input::Reap);
    let out = s.sync_disk();
    match applied(&out).as_slice() {
        [Applied::Txn { txn, token: None }] => assert_eq!(txn.session_id, 0),
        other => panic!("{other:?}"),
    }
    assert!(s.tree.get("/c").is_none());
}

#[test]
fn the_first_commit_of_a_reconfig_is_reported_to_the_shell() {
    // A standalone server refuses reconfig (Unimplemented); an applied Reconfig txn from the
    // log is what moves the links, whoever proposed it.
    let mut s = Server::new(true);
    let text = "server.1=127.0.0.1:2001:2002:participant\nversion=100000000";
    let txn = std::sync::Arc::new(crate::txn::Txn {
        zxid: 1,
        time_ms: 0,
        session_id: 0,
        cxid: 0,
        op: crate::txn::TxnOp::Reconfig {
            data: Bytes::from(text),
            version: 0x1_0000_0000,
        },
    });
    let mut out = Vec::new();
    s.p.applied(vec![txn], &mut out);
    match &out[0] {
        Output::Reconfigured { next, version, .. } => {
            assert_eq!(*version, 0x1_0000_0000);
            assert_eq!(next.servers.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.p.dynamic_config().servers.len(), 1);
}

/// What a random client does to a standalone server.
#[derive(Debug, Clone)]
enum Step {
    Write(u8),
    Sync,
    NewSession,
    Expire(u8),
    DiskSyncs,
    DiskFails,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<u8>().prop_map(Step::Write),
        1 => Just(Step::Sync),
        1 => Just(Step::NewSession),
        1 => any::<u8>().prop_map(Step::Expire),
        2 => Just(Step::DiskSyncs),
        1 => Just(Step::DiskFails),
    ]
}

proptest! {
    /// Every token handed in comes out exactly once, and replies come out in zxid order.
    #[test]
    fn every_request_is_answered_exactly_once(steps in prop::collection::vec(step_strategy(), 1..60)) {
        let mut s = Server::new(true);
        let mut next: Token = 0;
        let mut handed: BTreeSet<Token> = BTreeSet::new();
        let mut sessions: Vec<SessionId> = Vec::new();
        for st in steps {
            next += 1;
            match st {
                Step::Write(k) => {
                    let path = format!("/k{}", k % 4);
                    let session = sessions.get(k as usize % sessions.len().max(1)).copied().unwrap_or(0);
                    let req = if k % 3 == 0 { create(&path, if session != 0 && k % 2 == 0 { 1 } else { 0 }) } else {
                        Request::SetData(SetDataRequest { path, data: None, version: -1 })
                    };
                    s.write(next, session, next as i32, req);
                    handed.insert(next);
                }
                Step::Sync => {
                    s.step(Input::Sync { token: next, session_id: 0, xid: next as i32, path: "/".into() });
                    handed.insert(next);
                }
                Step::NewSession => {
                    let id = 0x100 + next as SessionId;
                    s.step(Input::CreateSession { token: next, session_id: id, timeout_ms: 1000, password: Bytes::new() });
                    sessions.push(id);
                    handed.insert(next);
                }
                Step::Expire(k) => {
                    if let Some(id) = sessions.get(k as usize % sessions.len().max(1)).copied() {
                        s.step(Input::Expire(id));
                    }
                }
                Step::DiskSyncs => { s.sync_disk(); }
                Step::DiskFails => { if !s.disk.is_empty() { s.fail_disk(); } }
            }
        }
        s.sync_disk();
        let out = tokens_out(&s.log);
        let unique: BTreeSet<Token> = out.iter().copied().collect();
        prop_assert_eq!(unique.len(), out.len(), "a token came out twice: {:?}", out);
        prop_assert_eq!(unique, handed);
        prop_assert_eq!(s.p.waiting(), 0);
        let zxids: Vec<Zxid> = applied(&s.log).iter().filter_map(|a| match a {
            Applied::Txn { txn, .. } => Some(txn.zxid),
            _ => None,
        }).collect();
        prop_assert!(zxids.windows(2).all(|w| w[0] < w[1]), "applied out of order: {:?}", zxids);
    }
}
