//! Serving reads (ZooKeeper's `FinalRequestProcessor` read cases) and the other requests that
//! need the tree or the watch tables but no txn: ping, setWatches, addWatch, check/removeWatches,
//! whoAmI, getEphemerals, multiRead.
//!
//! Each function builds the reply frame; the caller queues it while still holding the tree lock.

use bytes::Bytes;
use parking_lot::Mutex;

use crate::acl::{self, AclPolicy};
use crate::outbox::{ConnId, Outbox};
use crate::proto::codes::{event_type, perms, xid as xids};
use crate::proto::records::*;
use crate::proto::reply::{self, MultiResult};
use crate::proto::{ErrorCode, MultiOp, Request};
use crate::tree::watches::{Table, WatchManager, WatchMode};
use crate::tree::DataTree;

/// Access to the watch tables: already locked (the store, during an apply) or locked on demand
/// (a connection, only when a read registers or inspects a watch).
pub enum Watches<'a> {
    /// The caller holds the lock.
    Locked(&'a mut WatchManager<ConnId>),
    /// Lock when needed.
    Lazy(&'a Mutex<WatchManager<ConnId>>),
}

impl Watches<'_> {
    fn with<R>(&mut self, f: impl FnOnce(&mut WatchManager<ConnId>) -> R) -> R {
        match self {
            Watches::Locked(w) => f(w),
            Watches::Lazy(m) => f(&mut m.lock()),
        }
    }
}

fn err(xid: i32, zxid: i64, e: ErrorCode) -> (bytes::Bytes, bool) {
    (reply::header_only(xid, zxid, e.code()), false)
}

/// Executes one read-like request for `outbox`; returns the reply and whether to close after it.
pub fn execute(
    tree: &DataTree,
    watches: &mut Watches<'_>,
    policy: &AclPolicy,
    outbox: &Outbox,
    xid: i32,
    request: Request,
) -> (bytes::Bytes, bool) {
    let zxid = tree.last_zxid();
    let conn = outbox.id();
    let allowed = |acl: &[crate::proto::Acl], perm: i32| {
        outbox.with_identities(|ids| acl::check(policy, acl, perm, ids))
    };
    match request {
        Request::Ping => (reply::header_only(xids::PING, zxid, 0), false),
        Request::Exists(r) => {
            if r.path.contains('\0') {
                return err(xid, zxid, ErrorCode::BadArguments);
            }
            let node = tree.get(&r.path);
            if let Some(n) = node {
                if !allowed(n.acl(), perms::READ) {
                    return err(xid, zxid, ErrorCode::NoAuth);
                }
            }
            if r.watch {
                watches.with(|w| w.add(Table::Data, &r.path, &conn, WatchMode::Standard));
            }
            match node {
                None => err(xid, zxid, ErrorCode::NoNode),
                Some(n) => (
                    reply::reply(xid, zxid, 0, Some(&StatResponse { stat: n.stat() })),
                    false,
                ),
            }
        }
        Request::GetData(r) => {
            let Some(n) = tree.get(&r.path) else {
                return err(xid, zxid, ErrorCode::NoNode);
            };
            if !allowed(n.acl(), perms::READ) {
                return err(xid, zxid, ErrorCode::NoAuth);
            }
            if r.watch {
                watches.with(|w| w.add(Table::Data, &r.path, &conn, WatchMode::Standard));
            }
            (reply::data_reply(xid, zxid, n.data(), &n.stat()), false)
        }
        Request::GetAcl(r) => {
            let Some(n) = tree.get(&r.path) else {
                return err(xid, zxid, ErrorCode::NoNode);
            };
            if !allowed(n.acl(), perms::READ | perms::ADMIN) {
                return err(xid, zxid, ErrorCode::NoAuth);
            }
            let acl_out = if allowed(n.acl(), perms::ADMIN) {
                n.acl().as_ref().clone()
            } else {
                acl::redact(n.acl())
            };
            let body = GetAclResponse {
                acl: acl_out,
                stat: n.stat(),
            };
            (reply::reply(xid, zxid, 0, Some(&body)), false)
        }
        Request::GetChildren(r) => get_children(tree, watches, &allowed, conn, xid, r, false),
        Request::GetChildren2(r) => get_children(tree, watches, &allowed, conn, xid, r, true),
        Request::GetAllChildrenNumber(r) => {
            let Some(n) = tree.get(&r.path) else {
                return err(xid, zxid, ErrorCode::NoNode);
            };
            if !allowed(n.acl(), perms::READ) {
                return err(xid, zxid, ErrorCode::NoAuth);
            }
            let body = GetAllChildrenNumberResponse {
                total_number: tree.descendant_count(&r.path) as i32,
            };
            (reply::reply(xid, zxid, 0, Some(&body)), false)
        }
        Request::GetEphemerals(r) => {
            let prefix = r.path.trim();
            let mut eph = tree.ephemerals_of(outbox.session());
            eph.retain(|p| prefix.is_empty() || prefix == "/" || p.starts_with(&r.path));
            let body = GetEphemeralsResponse { ephemerals: eph };
            (reply::reply(xid, zxid, 0, Some(&body)), false)
        }
        Request::AddWatch(r) => {
            let recursive = match r.mode {
                0 => false,
                1 => true,
                _ => return err(xid, zxid, ErrorCode::MarshallingError),
            };
            watches.with(|w| w.add_persistent(&r.path, &conn, recursive));
            (
                reply::reply(xid, zxid, 0, Some(&ErrorResponse { err: 0 })),
                false,
            )
        }
        Request::CheckWatches(r) => match watches.with(|w| w.contains(&r.path, &conn, r.typ)) {
            None => err(xid, zxid, ErrorCode::MarshallingError),
            Some(false) => err(xid, zxid, ErrorCode::NoWatcher),
            Some(true) => (reply::header_only(xid, zxid, 0), false),
        },
        Request::RemoveWatches(r) => match watches.with(|w| w.remove(&r.path, &conn, r.typ)) {
            None => err(xid, zxid, ErrorCode::MarshallingError),
            Some(false) => err(xid, zxid, ErrorCode::NoWatcher),
            Some(true) => (reply::header_only(xid, zxid, 0), false),
        },
        Request::WhoAmI => {
            let infos = outbox.with_identities(|ids| {
                ids.iter()
                    .map(|i| ClientInfo {
                        auth_scheme: i.scheme.clone(),
                        user: acl::user_name(i),
                    })
                    .collect()
            });
            let body = WhoAmIResponse { client_info: infos };
            (reply::reply(xid, zxid, 0, Some(&body)), false)
        }
        Request::SetWatches(sw) => {
            let sw2 = SetWatches2 {
                relative_zxid: sw.relative_zxid,
                data_watches: sw.data_watches,
                exist_watches: sw.exist_watches,
                child_watches: sw.child_watches,
                persistent_watches: Vec::new(),
                persistent_recursive_watches: Vec::new(),
            };
            set_watches(tree, watches, outbox, xid, sw2)
        }
        Request::SetWatches2(sw) => set_watches(tree, watches, outbox, xid, sw),
        Request::MultiRead(ops) => {
            let Ok(ops) = ops else {
                return err(xid, zxid, ErrorCode::MarshallingError);
            };
            if ops.iter().any(|o| !o.is_read()) {
                return err(xid, zxid, ErrorCode::MarshallingError);
            }
            let results: Vec<MultiResult> = ops
                .iter()
                .map(|op| {
                    let (p, children) = match op {
                        MultiOp::GetData(r) => (&r.path, false),
                        MultiOp::GetChildren(r) => (&r.path, true),
                        _ => unreachable!("checked above"),
                    };
                    match tree.get(p) {
                        None => MultiResult::Error(ErrorCode::NoNode.code()),
                        Some(n) if !allowed(n.acl(), perms::READ) => {
                            MultiResult::Error(ErrorCode::NoAuth.code())
                        }
                        Some(n) if children => MultiResult::GetChildren(n.child_names()),
                        Some(n) => {
                            MultiResult::GetData(n.data().map(Bytes::copy_from_slice), n.stat())
                        }
                    }
                })
                .collect();
            (
                reply::reply_raw(xid, zxid, 0, &reply::multi_body(&results)),
                false,
            )
        }
        other => {
            // Not a read: a caller bug, answered like an unknown request.
            tracing::error!(
                opcode = other.opcode(),
                "non-read request routed to the read path"
            );
            (
                reply::header_only(xid, zxid, ErrorCode::Unimplemented.code()),
                true,
            )
        }
    }
}

fn get_children(
    tree: &DataTree,
    watches: &mut Watches<'_>,
    allowed: &dyn Fn(&[crate::proto::Acl], i32) -> bool,
    conn: ConnId,
    xid: i32,
    r: PathWatchRequest,
    with_stat: bool,
) -> (bytes::Bytes, bool) {
    let zxid = tree.last_zxid();
    let Some(n) = tree.get(&r.path) else {
        return err(xid, zxid, ErrorCode::NoNode);
    };
    if !allowed(n.acl(), perms::READ) {
        return err(xid, zxid, ErrorCode::NoAuth);
    }
    if r.watch {
        watches.with(|w| w.add(Table::Child, &r.path, &conn, WatchMode::Standard));
    }
    let children = n.child_names();
    let frame = if with_stat {
        reply::reply(
            xid,
            zxid,
            0,
            Some(&GetChildren2Response {
                children,
                stat: n.stat(),
            }),
        )
    } else {
        reply::reply(xid, zxid, 0, Some(&GetChildrenResponse { children }))
    };
    (frame, false)
}

fn set_watches(
    tree: &DataTree,
    watches: &mut Watches<'_>,
    outbox: &Outbox,
    xid: i32,
    sw: SetWatches2,
) -> (bytes::Bytes, bool) {
    let conn = outbox.id();
    let rel = sw.relative_zxid;
    let mut events: Vec<(i32, String)> = Vec::new();
    watches.with(|w| {
        for p in sw.data_watches {
            match tree.get(&p) {
                None => events.push((event_type::NODE_DELETED, p)),
                Some(n) if n.mzxid > rel => events.push((event_type::NODE_DATA_CHANGED, p)),
                Some(_) => w.add(Table::Data, &p, &conn, WatchMode::Standard),
            }
        }
        for p in sw.exist_watches {
            match tree.get(&p) {
                Some(_) => events.push((event_type::NODE_CREATED, p)),
                None => w.add(Table::Data, &p, &conn, WatchMode::Standard),
            }
        }
        for p in sw.child_watches {
            match tree.get(&p) {
                None => events.push((event_type::NODE_DELETED, p)),
                Some(n) if n.pzxid > rel => events.push((event_type::NODE_CHILDREN_CHANGED, p)),
                Some(_) => w.add(Table::Child, &p, &conn, WatchMode::Standard),
            }
        }
        for p in sw.persistent_watches {
            w.add_persistent(&p, &conn, false);
        }
        for p in sw.persistent_recursive_watches {
            w.add_persistent(&p, &conn, true);
        }
    });
    for (event, p) in events {
        outbox.send_now(reply::notification(-1, event, &p));
    }
    (reply::header_only(xid, tree.last_zxid(), 0), false)
}
