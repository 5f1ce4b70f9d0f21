//! ZooKeeper 3.6's audit log (`audit.enable`): who created, deleted, set data or ACL, ran a multi
//! or a reconfig, and the result, one line per operation in ZooKeeper's format
//! (`session=0x…\tuser=…\tip=…\toperation=create\tznode=/a\tznode_type=persistent\tresult=success`:
//! its `AuditEvent`, fields without a value left out, `result` last).
//!
//! As in ZooKeeper, the server a client is connected to logs that client's operations once they
//! are applied (`FinalRequestProcessor`), failures included (a failed multi is one
//! `multiOperation` failure line, a successful one a line per create, delete and setData in it);
//! every server logs the deletion of a closed or expired session's ephemeral nodes
//! (`ephemeralZNodeDeletionOnSessionCloseOrExpire`), and the binary logs `serverStart` and
//! `serverStop`. `user` is the connection's identities as ZooKeeper's `AuthUtil.getUsers` names
//! them (every connection has its `ip` identity), comma-separated.
//!
//! Lines go to the tracing target [`TARGET`]; the binary routes them to `zookeeper_audit.log`
//! (or the main log). Pure functions, plus one process-wide switch: when it is off (the
//! default), requests carry no audit fields and nothing is formatted.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::proto::request::{MultiOp, Request};
use crate::proto::{Acl, Id};
use crate::tree::OpResult;

/// The tracing target of audit lines.
pub const TARGET: &str = "zkr::audit";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the audit log on (`audit.enable=true`), for the whole process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Is the audit log on?
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What a write request needs for its audit lines, captured when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRequest {
    /// `session=0x…`.
    pub session: i64,
    /// `user=`: the connection's identities.
    pub user: String,
    /// `ip=`.
    pub ip: String,
    /// The operation, with what its lines need.
    pub op: AuditOp,
}

/// An audited operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOp {
    /// create, create2, createContainer, createTTL: the path asked for and the create mode.
    Create {
        /// Path asked for (the created path may have a sequence suffix).
        path: String,
        /// `znode_type=`.
        mode: &'static str,
    },
    /// delete, deleteContainer.
    Delete(String),
    /// setData.
    SetData(String),
    /// setACL: path and the ACL as ZooKeeper prints it.
    SetAcl(String, String),
    /// multi: its ops in order, as (operation, path, create mode); checks are `check`.
    Multi(Vec<(&'static str, String, Option<&'static str>)>),
    /// reconfig.
    Reconfig,
}

/// ZooKeeper's `CreateMode.fromFlag(flags).toString().toLowerCase()`.
pub fn create_mode(flags: i32) -> &'static str {
    match flags {
        1 => "ephemeral",
        2 => "persistent_sequential",
        3 => "ephemeral_sequential",
        4 => "container",
        5 => "persistent_with_ttl",
        6 => "persistent_sequential_with_ttl",
        _ => "persistent",
    }
}

/// ZooKeeper's `ZKUtil.aclToString`: `scheme:id:perms` (perms as `cdrwa`), comma-separated.
pub fn acl_string(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| {
            let mut p = String::new();
            for (bit, c) in [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')] {
                if a.perms & bit != 0 {
                    p.push(c);
                }
            }
            format!("{}:{}:{p}", a.id.scheme, a.id.id)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// ZooKeeper's `AuthUtil.getUsers`: the user name of every identity, comma-separated.
pub fn users(ids: &[Id]) -> String {
    ids.iter()
        .map(crate::acl::user_name)
        .filter(|u| !u.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// The audited operation of a request, if it is one.
pub fn operation(request: &Request) -> Option<AuditOp> {
    Some(match request {
        Request::Create(_, c) => AuditOp::Create {
            path: c.path.clone(),
            mode: create_mode(c.flags),
        },
        Request::CreateTtl(c) => AuditOp::Create {
            path: c.path.clone(),
            mode: create_mode(c.flags),
        },
        Request::Delete(d) => AuditOp::Delete(d.path.clone()),
        Request::DeleteContainer(d) => AuditOp::Delete(d.path.clone()),
        Request::SetData(s) => AuditOp::SetData(s.path.clone()),
        Request::SetAcl(s) => AuditOp::SetAcl(s.path.clone(), acl_string(&s.acl)),
        Request::Multi(Ok(ops)) => AuditOp::Multi(
            ops.iter()
                .map(|op| match op {
                    MultiOp::Create(_, c) => ("create", c.path.clone(), Some(create_mode(c.flags))),
                    MultiOp::CreateTtl(c) => ("create", c.path.clone(), Some(create_mode(c.flags))),
                    MultiOp::Delete(d) => ("delete", d.path.clone(), None),
                    MultiOp::SetData(d) => ("setData", d.path.clone(), None),
                    MultiOp::Check(c) => ("check", c.path.clone(), None),
                    MultiOp::GetData(g) | MultiOp::GetChildren(g) => ("read", g.path.clone(), None),
                })
                .collect(),
        ),
        Request::Reconfig(_) => AuditOp::Reconfig,
        _ => return None,
    })
}

/// One audit line: ZooKeeper's `AuditEvent.toString()`.
#[allow(clippy::too_many_arguments)]
pub fn line(
    session: Option<i64>,
    user: &str,
    ip: Option<&str>,
    operation: &str,
    znode: Option<&str>,
    znode_type: Option<&str>,
    acl: Option<&str>,
    result: &str,
) -> String {
    let session = session.map(|s| format!("0x{s:x}"));
    let fields = [
        ("session", session.as_deref()),
        ("user", Some(user)),
        ("ip", ip),
        ("operation", Some(operation)),
        ("znode", znode),
        ("znode_type", znode_type),
        ("acl", acl),
        ("result", Some(result)),
    ];
    fields
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("\t")
}

/// The lines of an applied request (`result` is its apply result).
pub fn lines(req: &AuditRequest, result: &OpResult) -> Vec<String> {
    let ok = |r: &OpResult| !matches!(r, OpResult::Error(_));
    let outcome = |r: &OpResult| if ok(r) { "success" } else { "failure" };
    let one = |op: &str, path: Option<&str>, mode: Option<&str>, acl: Option<&str>, r: &str| {
        line(
            Some(req.session),
            &req.user,
            Some(&req.ip),
            op,
            path,
            mode,
            acl,
            r,
        )
    };
    match &req.op {
        AuditOp::Create { path, mode } => {
            let created = match result {
                OpResult::Created(p, _) => p.as_str(),
                _ => path.as_str(),
            };
            vec![one(
                "create",
                Some(created),
                Some(mode),
                None,
                outcome(result),
            )]
        }
        AuditOp::Delete(p) => vec![one("delete", Some(p), None, None, outcome(result))],
        AuditOp::SetData(p) => vec![one("setData", Some(p), None, None, outcome(result))],
        AuditOp::SetAcl(p, acl) => vec![one("setAcl", Some(p), None, Some(acl), outcome(result))],
        AuditOp::Reconfig => vec![one(
            "reconfig",
            Some(crate::quorum::CONFIG_NODE),
            None,
            None,
            outcome(result),
        )],
        AuditOp::Multi(ops) => match result {
            OpResult::Multi(results) if results.iter().all(|(_, r)| ok(r)) => ops
                .iter()
                .zip(results)
                .filter(|((op, _, _), _)| matches!(*op, "create" | "delete" | "setData"))
                .map(|((op, path, mode), (_, r))| {
                    let path = match r {
                        OpResult::Created(p, _) => p.as_str(),
                        _ => path.as_str(),
                    };
                    one(op, Some(path), *mode, None, "success")
                })
                .collect(),
            _ => vec![one("multiOperation", None, None, None, "failure")],
        },
    }
}

/// The user the server runs as (ZooKeeper's `ZKAuditProvider.getZKUser()`), for the lines the
/// server itself causes.
pub fn server_user() -> String {
    // SAFETY: getpwuid returns a pointer to a static record (or null); it is read at once and
    // its name copied, on the one thread that logs this line at a time in practice (a race
    // with another getpwuid caller could only garble the name, not memory safety of ours).
    let name = unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    name.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "zkr".into())
}

/// A closed or expired session's ephemeral nodes were deleted (every server logs these).
pub fn ephemerals_deleted(session: i64, paths: &[String]) {
    let user = server_user();
    for p in paths {
        emit(&line(
            Some(session),
            &user,
            None,
            "ephemeralZNodeDeletionOnSessionCloseOrExpire",
            Some(p),
            None,
            None,
            "success",
        ));
    }
}

/// Writes `line` to the audit log.
pub fn emit(line: &str) {
    tracing::info!(target: TARGET, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Stat;

    fn req(op: AuditOp) -> AuditRequest {
        AuditRequest {
            session: 0x1000_0000_0000_0001,
            user: "127.0.0.1,alice".into(),
            ip: "127.0.0.1".into(),
            op,
        }
    }

    #[test]
    fn lines_follow_zookeepers_audit_event() {
        let r = req(AuditOp::Create {
            path: "/a-".into(),
            mode: "persistent_sequential",
        });
        assert_eq!(
            lines(
                &r,
                &OpResult::Created("/a-0000000001".into(), Stat::default())
            ),
            vec![
                "session=0x1000000000000001\tuser=127.0.0.1,alice\tip=127.0.0.1\t\
                  operation=create\tznode=/a-0000000001\tznode_type=persistent_sequential\t\
                  result=success"
            ]
        );
        let r = req(AuditOp::Delete("/gone".into()));
        assert_eq!(
            lines(&r, &OpResult::Error(-101)),
            vec![
                "session=0x1000000000000001\tuser=127.0.0.1,alice\tip=127.0.0.1\t\
                  operation=delete\tznode=/gone\tresult=failure"
            ]
        );
        let r = req(AuditOp::Multi(vec![
            ("create", "/m".into(), Some("ephemeral")),
            ("check", "/m".into(), None),
            ("setData", "/x".into(), None),
        ]));
        let created = OpResult::Created("/m".into(), Stat::default());
        let set = OpResult::Stat(Stat::default());
        assert_eq!(
            lines(
                &r,
                &OpResult::Multi(vec![(1, created), (13, OpResult::Checked), (5, set)])
            ),
            vec![
                "session=0x1000000000000001\tuser=127.0.0.1,alice\tip=127.0.0.1\t\
                 operation=create\tznode=/m\tznode_type=ephemeral\tresult=success",
                "session=0x1000000000000001\tuser=127.0.0.1,alice\tip=127.0.0.1\t\
                 operation=setData\tznode=/x\tresult=success",
            ]
        );
        assert_eq!(
            lines(&r, &OpResult::Error(-101)),
            vec![
                "session=0x1000000000000001\tuser=127.0.0.1,alice\tip=127.0.0.1\t\
                  operation=multiOperation\tresult=failure"
            ]
        );
        assert_eq!(
            line(None, "zk", None, "serverStart", None, None, None, "success"),
            "user=zk\toperation=serverStart\tresult=success"
        );
    }

    #[test]
    fn acls_and_modes_print_as_zookeeper() {
        let acl = vec![
            Acl {
                perms: 31,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            },
            Acl {
                perms: 1 | 8,
                id: Id {
                    scheme: "digest".into(),
                    id: "u:h".into(),
                },
            },
        ];
        assert_eq!(acl_string(&acl), "world:anyone:cdrwa,digest:u:h:dr");
        assert_eq!(create_mode(0), "persistent");
        assert_eq!(create_mode(3), "ephemeral_sequential");
        assert_eq!(create_mode(6), "persistent_sequential_with_ttl");
    }
}
