//! Write validation: a client write request becomes a [`TxnOp`] (ZooKeeper's
//! `PrepRequestProcessor`).
//!
//! Writes are checked against the applied tree **plus every earlier write not yet applied**
//! ("outstanding changes"), so pipelined dependent writes (create a parent, then a child) work and
//! sequence numbers are handed out without gaps or repeats. Checks run in ZooKeeper's order; the
//! first failure decides the error code, and the failed write still becomes a txn
//! ([`TxnOp::Error`]) that takes a zxid.
//!
//! Pure core: the caller passes the tree (read-locked), the zxid and the time.
//!
//! Invariants:
//! * an outstanding record for a path is authoritative only while its zxid is above the tree's
//!   last applied zxid; older records are pruned, the tree then has the same information;
//! * a failed multi leaves the outstanding records as they were before it.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;

use crate::acl::{self, AclPolicy};
use crate::proto::codes::{opcode, perms};
use crate::proto::records::*;
use crate::proto::{ErrorCode, Id, MultiOp, Request};
use crate::tree::{path, AclList, DataTree, NodeKind};
use crate::txn::{SessionId, TxnOp, Zxid};

/// What prep needs to know of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeView {
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    child_count: i32,
    acl: AclList,
}

#[derive(Debug, Clone)]
struct Record {
    zxid: Zxid,
    /// `None`: deleted by an outstanding txn.
    view: Option<NodeView>,
}

/// Settings that change validation.
#[derive(Debug, Clone, Default)]
pub struct PrepConfig {
    /// ACL policy (skipACL, SASL scheme).
    pub acl: AclPolicy,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// True on a standalone server (reconfig answers Unimplemented).
    pub standalone: bool,
}

/// A write request as the pipeline receives it.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The session (0 for server-internal requests).
    pub session_id: SessionId,
    /// The identities of the connection that sent it.
    pub ids: Vec<Id>,
    /// The request.
    pub request: Request,
}

/// The prep core.
#[derive(Debug, Default)]
pub struct Prep {
    config: PrepConfig,
    /// Keyed by path; hashed with foldhash (seeded at random per map): this map is on every
    /// write's path, and SipHash showed in its profile.
    records: HashMap<String, Record, foldhash::fast::RandomState>,
    order: VecDeque<(Zxid, String)>,
    new_sessions: HashSet<SessionId>,
    closing: HashSet<SessionId>,
    reconfig: Option<ReconfigContext>,
}

/// The ensemble state a reconfig is checked against.
#[derive(Debug, Clone, Default)]
pub struct ReconfigContext {
    /// A reconfig is proposed and not committed yet.
    pub in_progress: bool,
    /// Voters currently synced with the leader, the leader included.
    pub synced: std::collections::BTreeSet<u64>,
}

type Fail = ErrorCode;

/// Undo information for a multi.
struct Savepoint {
    order_len: usize,
    journal: Vec<(String, Option<Record>)>,
}

impl Prep {
    /// A prep core with these settings.
    pub fn new(config: PrepConfig) -> Prep {
        Prep {
            config,
            ..Prep::default()
        }
    }

    /// Forgets every outstanding record (the pipeline starts over, e.g. on a new leader).
    pub fn reset(&mut self) {
        self.records.clear();
        self.order.clear();
        self.new_sessions.clear();
        self.closing.clear();
    }

    /// The settings.
    pub fn config(&self) -> &PrepConfig {
        &self.config
    }

    fn prune(&mut self, tree: &DataTree) {
        let applied = tree.last_zxid();
        while let Some((z, _)) = self.order.front() {
            if *z > applied {
                break;
            }
            let (z, p) = self.order.pop_front().expect("front exists");
            if self.records.get(&p).is_some_and(|r| r.zxid == z) {
                self.records.remove(&p);
            }
        }
        self.new_sessions
            .retain(|s| !tree.sessions().contains_key(s));
        self.closing.retain(|s| tree.sessions().contains_key(s));
    }

    fn view(&self, tree: &DataTree, p: &str) -> Option<NodeView> {
        if let Some(r) = self.records.get(p) {
            if r.zxid > tree.last_zxid() {
                return r.view.clone();
            }
        }
        tree.get(p).map(|n| NodeView {
            version: n.version,
            cversion: n.cversion,
            aversion: n.aversion,
            ephemeral_owner: n.ephemeral_owner(),
            child_count: n.num_children as i32,
            acl: n.acl().clone(),
        })
    }

    fn put(
        &mut self,
        sp: &mut Option<&mut Savepoint>,
        zxid: Zxid,
        p: &str,
        view: Option<NodeView>,
    ) {
        let old = self.records.insert(p.to_string(), Record { zxid, view });
        if let Some(sp) = sp {
            sp.journal.push((p.to_string(), old));
        }
        self.order.push_back((zxid, p.to_string()));
    }

    fn rollback(&mut self, sp: Savepoint) {
        for (p, old) in sp.journal.into_iter().rev() {
            match old {
                Some(r) => {
                    self.records.insert(p, r);
                }
                None => {
                    self.records.remove(&p);
                }
            }
        }
        self.order.truncate(sp.order_len);
    }

    fn session_known(&self, tree: &DataTree, s: SessionId) -> bool {
        s == 0 || tree.sessions().contains_key(&s) || self.new_sessions.contains(&s)
    }

    fn check_session(&self, tree: &DataTree, s: SessionId) -> Result<(), Fail> {
        if !self.session_known(tree, s) {
            return Err(ErrorCode::SessionExpired);
        }
        if self.closing.contains(&s) {
            return Err(ErrorCode::SessionExpired);
        }
        Ok(())
    }

    fn check_acl(&self, acl: &AclList, perm: i32, ids: &[Id]) -> Result<(), Fail> {
        if acl::check(&self.config.acl, acl, perm, ids) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    /// Validates `req` and turns it into the op of txn `zxid`. `now_ms` is the txn time.
    pub fn prep(&mut self, tree: &DataTree, req: &WriteRequest, zxid: Zxid, now_ms: i64) -> TxnOp {
        self.prune(tree);
        let _ = now_ms;
        let result = match &req.request {
            Request::Multi(ops) => return self.prep_multi(tree, req, ops, zxid),
            Request::CloseSession => return self.prep_close(tree, req.session_id, zxid),
            r => self.prep_one(tree, req, r, zxid, &mut None),
        };
        match result {
            Ok(op) => op,
            Err(e) => TxnOp::Error(e),
        }
    }

    /// A new session: records it so that its requests that follow are accepted.
    pub fn prep_create_session(
        &mut self,
        session: SessionId,
        timeout_ms: i32,
        password: Bytes,
    ) -> TxnOp {
        self.new_sessions.insert(session);
        TxnOp::CreateSession {
            timeout_ms,
            password,
        }
    }

    /// Is this session known and not closing (for requests that need no txn, e.g. sync)?
    pub fn session_alive(&self, tree: &DataTree, s: SessionId) -> bool {
        self.check_session(tree, s).is_ok()
    }

    fn prep_close(&mut self, tree: &DataTree, session: SessionId, zxid: Zxid) -> TxnOp {
        let mut es: HashSet<String> = tree.ephemerals_of(session).into_iter().collect();
        for (p, r) in &self.records {
            if r.zxid <= tree.last_zxid() {
                continue;
            }
            match &r.view {
                None => {
                    es.remove(p);
                }
                Some(v) if v.ephemeral_owner == session => {
                    es.insert(p.clone());
                }
                Some(_) => {}
            }
        }
        let mut ephemerals: Vec<String> = es.into_iter().collect();
        ephemerals.sort();
        for p in &ephemerals {
            if let Some(parent) = path::parent(p) {
                if let Some(mut pv) = self.view(tree, parent) {
                    pv.child_count -= 1;
                    self.put(&mut None, zxid, parent, Some(pv));
                }
            }
            self.put(&mut None, zxid, p, None);
        }
        if session != 0 {
            self.closing.insert(session);
        }
        TxnOp::CloseSession { ephemerals }
    }

    fn prep_multi(
        &mut self,
        tree: &DataTree,
        req: &WriteRequest,
        ops: &Result<Vec<MultiOp>, crate::proto::request::MultiDecodeError>,
        zxid: Zxid,
    ) -> TxnOp {
        let Ok(ops) = ops else {
            return TxnOp::Error(ErrorCode::MarshallingError);
        };
        if ops.iter().any(|o| o.is_read()) {
            return TxnOp::Error(ErrorCode::MarshallingError);
        }
        let mut sp = Savepoint {
            order_len: self.order.len(),
            journal: Vec::new(),
        };
        let mut txns = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let as_request = match op.clone() {
                MultiOp::Create(code, r) => Request::Create(code, r),
                MultiOp::CreateTtl(r) => Request::CreateTtl(r),
                MultiOp::Delete(r) => Request::Delete(r),
                MultiOp::SetData(r) => Request::SetData(r),
                MultiOp::Check(r) => Request::Check(r),
                MultiOp::GetData(_) | MultiOp::GetChildren(_) => unreachable!("checked above"),
            };
            match self.prep_one(tree, req, &as_request, zxid, &mut Some(&mut sp)) {
                Ok(t) => txns.push((op.opcode(), t)),
                Err(e) => {
                    self.rollback(sp);
                    let errs = (0..ops.len())
                        .map(|j| match j.cmp(&i) {
                            std::cmp::Ordering::Less => 0,
                            std::cmp::Ordering::Equal => e.code(),
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                        })
                        .collect();
                    return TxnOp::MultiFailed(errs);
                }
            }
        }
        TxnOp::Multi(txns)
    }

    fn prep_one(
        &mut self,
        tree: &DataTree,
        req: &WriteRequest,
        r: &Request,
        zxid: Zxid,
        sp: &mut Option<&mut Savepoint>,
    ) -> Result<TxnOp, Fail> {
        let ids = &req.ids;
        let session = req.session_id;
        match r {
            Request::Create(_, c) => {
                self.prep_create(tree, req, &c.path, &c.data, &c.acl, c.flags, -1, zxid, sp)
            }
            Request::CreateTtl(c) => self.prep_create(
                tree, req, &c.path, &c.data, &c.acl, c.flags, c.ttl, zxid, sp,
            ),
            Request::Delete(DeleteRequest { path: p, version }) => {
                self.check_session(tree, session)?;
                let parent = parent_and_validate(p)?;
                let pv = self.view(tree, parent).ok_or(ErrorCode::NoNode)?;
                self.check_acl(&pv.acl, perms::DELETE, ids)?;
                let nv = self.view(tree, p).ok_or(ErrorCode::NoNode)?;
                check_version(nv.version, *version)?;
                if nv.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.record_delete(sp, zxid, parent, pv, p);
                Ok(TxnOp::Delete { path: p.clone() })
            }
            Request::DeleteContainer(PathRequest { path: p }) => {
                let parent = parent_and_validate(p)?;
                let nv = self.view(tree, p).ok_or(ErrorCode::NoNode)?;
                if nv.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                if matches!(
                    NodeKind::from_owner(nv.ephemeral_owner),
                    NodeKind::Ephemeral(_)
                ) {
                    return Err(ErrorCode::BadVersion);
                }
                let pv = self.view(tree, parent).ok_or(ErrorCode::NoNode)?;
                self.record_delete(sp, zxid, parent, pv, p);
                Ok(TxnOp::Delete { path: p.clone() })
            }
            Request::SetData(SetDataRequest {
                path: p,
                data,
                version,
            }) => {
                self.check_session(tree, session)?;
                path::validate(p).map_err(|_| ErrorCode::BadArguments)?;
                let mut nv = self.view(tree, p).ok_or(ErrorCode::NoNode)?;
                self.check_acl(&nv.acl, perms::WRITE, ids)?;
                let new_version = check_version(nv.version, *version)?;
                nv.version = new_version;
                self.put(sp, zxid, p, Some(nv));
                Ok(TxnOp::SetData {
                    path: p.clone(),
                    data: data.clone(),
                    version: new_version,
                })
            }
            Request::SetAcl(SetAclRequest {
                path: p,
                acl: new_acl,
                version,
            }) => {
                self.check_session(tree, session)?;
                path::validate(p).map_err(|_| ErrorCode::BadArguments)?;
                let fixed =
                    acl::fixup(&self.config.acl, new_acl, ids).ok_or(ErrorCode::InvalidAcl)?;
                let mut nv = self.view(tree, p).ok_or(ErrorCode::NoNode)?;
                self.check_acl(&nv.acl, perms::ADMIN, ids)?;
                let new_aversion = check_version(nv.aversion, *version)?;
                nv.aversion = new_aversion;
                nv.acl = std::sync::Arc::new(fixed.clone());
                self.put(sp, zxid, p, Some(nv));
                Ok(TxnOp::SetAcl {
                    path: p.clone(),
                    acl: fixed,
                    aversion: new_aversion,
                })
            }
            Request::Check(CheckVersionRequest { path: p, version }) => {
                self.check_session(tree, session)?;
                path::validate(p).map_err(|_| ErrorCode::BadArguments)?;
                let nv = self.view(tree, p).ok_or(ErrorCode::NoNode)?;
                self.check_acl(&nv.acl, perms::READ, ids)?;
                check_version(nv.version, *version)?;
                Ok(TxnOp::Check { path: p.clone() })
            }
            Request::Reconfig(r) => self.prep_reconfig(tree, req, r, zxid),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    /// reconfig (16), in ZooKeeper's check order (protocol doc §7.15).
    fn prep_reconfig(
        &mut self,
        tree: &DataTree,
        req: &WriteRequest,
        r: &ReconfigRequest,
        zxid: Zxid,
    ) -> Result<TxnOp, Fail> {
        if !self.config.reconfig_enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        self.check_session(tree, req.session_id)?;
        if self.config.standalone {
            return Err(ErrorCode::Unimplemented);
        }
        let ctx = self.reconfig.clone().unwrap_or_default();
        if ctx.in_progress {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let node = tree
            .get(crate::quorum::CONFIG_NODE)
            .ok_or(ErrorCode::NoNode)?;
        let text = node
            .data()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .unwrap_or_default();
        let current =
            crate::quorum::dynconfig::parse(&text).map_err(|_| ErrorCode::BadArguments)?;
        if r.cur_config_id != -1 && r.cur_config_id != current.version {
            return Err(ErrorCode::BadVersion);
        }
        let mut next = current
            .reconfigured(
                r.joining_servers.as_deref(),
                r.leaving_servers.as_deref(),
                r.new_members.as_deref(),
            )
            .map_err(|_| ErrorCode::BadArguments)?;
        next.version = zxid;
        let new_voters = next.membership(0).voters();
        let synced = new_voters.iter().filter(|v| ctx.synced.contains(v));
        if synced.count() * 2 <= new_voters.len() {
            return Err(ErrorCode::NewConfigNoQuorum);
        }
        self.check_acl(node.acl(), perms::WRITE, &req.ids)?;
        Ok(TxnOp::Reconfig {
            data: Bytes::from(next.text()),
            version: zxid,
        })
    }

    /// What reconfig needs to know of the ensemble (set by the leader before each prep).
    pub fn set_reconfig_context(&mut self, ctx: ReconfigContext) {
        self.reconfig = Some(ctx);
    }

    fn record_delete(
        &mut self,
        sp: &mut Option<&mut Savepoint>,
        zxid: Zxid,
        parent: &str,
        mut pv: NodeView,
        p: &str,
    ) {
        pv.child_count -= 1;
        self.put(sp, zxid, parent, Some(pv));
        self.put(sp, zxid, p, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        req: &WriteRequest,
        p: &str,
        data: &Option<Bytes>,
        acl_in: &[crate::proto::Acl],
        flags: i32,
        ttl: i64,
        zxid: Zxid,
        sp: &mut Option<&mut Savepoint>,
    ) -> Result<TxnOp, Fail> {
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        if mode.ttl && !self.config.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        if mode.ttl {
            if ttl <= 0 || ttl > crate::proto::codes::ephemeral_owner::TTL_MAX_MS {
                return Err(ErrorCode::BadArguments);
            }
        } else if ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        self.check_session(tree, req.session_id)?;
        let Some(last_slash) = p.rfind('/') else {
            return Err(ErrorCode::BadArguments);
        };
        if p.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup(&self.config.acl, acl_in, &req.ids).ok_or(ErrorCode::InvalidAcl)?;
        let parent = if last_slash == 0 {
            "/"
        } else {
            &p[..last_slash]
        };
        let mut pv = self.view(tree, parent).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&pv.acl, perms::CREATE, &req.ids)?;
        let final_path = if mode.sequential {
            format!("{p}{:010}", pv.cversion)
        } else {
            p.to_string()
        };
        path::validate(&final_path).map_err(|_| ErrorCode::BadArguments)?;
        if self.view(tree, &final_path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(
            NodeKind::from_owner(pv.ephemeral_owner),
            NodeKind::Ephemeral(_)
        ) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let owner = if mode.ephemeral {
            req.session_id
        } else if mode.container {
            crate::proto::codes::ephemeral_owner::CONTAINER
        } else if mode.ttl {
            NodeKind::ttl_owner(ttl)
        } else {
            0
        };
        let parent_cversion = pv.cversion.wrapping_add(1);
        pv.cversion = parent_cversion;
        pv.child_count += 1;
        // The parent's path as ZooKeeper keys it (root "/").
        self.put(sp, zxid, parent, Some(pv));
        let acl_list = std::sync::Arc::new(acl.clone());
        self.put(
            sp,
            zxid,
            &final_path,
            Some(NodeView {
                version: 0,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: owner,
                child_count: 0,
                acl: acl_list,
            }),
        );
        Ok(TxnOp::Create {
            path: final_path,
            data: data.clone(),
            acl,
            ephemeral_owner: owner,
            parent_cversion,
        })
    }
}

/// The create mode a `flags` value names (`CreateMode.fromFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateMode {
    /// Owned by the session.
    pub ephemeral: bool,
    /// Gets a sequence suffix.
    pub sequential: bool,
    /// A container.
    pub container: bool,
    /// Has a TTL.
    pub ttl: bool,
}

impl CreateMode {
    /// Decodes `flags`; `None` for values that are not a create mode.
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        let m = |ephemeral, sequential, container, ttl| {
            Some(CreateMode {
                ephemeral,
                sequential,
                container,
                ttl,
            })
        };
        match flags {
            0 => m(false, false, false, false),
            1 => m(true, false, false, false),
            2 => m(false, true, false, false),
            3 => m(true, true, false, false),
            4 => m(false, false, true, false),
            5 => m(false, false, false, true),
            6 => m(false, true, false, true),
            _ => None,
        }
    }
}

/// `getParentPathAndValidate`: a `/`, no NUL, not a special path.
fn parent_and_validate(p: &str) -> Result<&str, Fail> {
    if p.contains('\0') || path::is_special(p) {
        return Err(ErrorCode::BadArguments);
    }
    path::parent(p).ok_or(ErrorCode::BadArguments)
}

/// `checkAndIncVersion`: -1 matches any version; returns the version after the change
/// (ZooKeeper 3.9 wraps past `i32::MAX`).
fn check_version(current: i32, expected: i32) -> Result<i32, Fail> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Is `op` (a request opcode) one the pipeline turns into a txn?
pub fn is_txn_opcode(op: i32) -> bool {
    matches!(
        op,
        opcode::CREATE
            | opcode::CREATE2
            | opcode::CREATE_CONTAINER
            | opcode::CREATE_TTL
            | opcode::DELETE
            | opcode::DELETE_CONTAINER
            | opcode::SET_DATA
            | opcode::SET_ACL
            | opcode::MULTI
            | opcode::RECONFIG
            | opcode::CLOSE_SESSION
    )
}
