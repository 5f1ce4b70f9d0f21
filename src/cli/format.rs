//! What `zkr cli` prints, as zkCli.sh (ZooKeeper 3.8) prints it: stats, ACLs, watch events,
//! the errors of failed operations. Pure functions.

use zookeeper_client as zk;

/// A Stat as zkCli's `stat`, `get -s`, `ls -s` print it (`cZxid = 0x…`, Java dates).
pub fn stat(s: &zk::Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\ndataLength = {}\n\
         numChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// Milliseconds since the epoch as Java's `Date.toString()` prints them in the system's time
/// zone, as zkCli does (`Sat Dec 05 22:22:12 UTC 2026`; see `zkr_actors::javadate`).
pub fn java_date(ms: i64) -> String {
    zkr_actors::javadate::local(ms)
}

/// ZooKeeper's permission letters, in its order (`cdrwa`).
pub fn perms(p: zk::Permission) -> String {
    [
        (zk::Permission::CREATE, 'c'),
        (zk::Permission::DELETE, 'd'),
        (zk::Permission::READ, 'r'),
        (zk::Permission::WRITE, 'w'),
        (zk::Permission::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p.has(*bit))
    .map(|(_, c)| *c)
    .collect()
}

/// `getAcl`'s lines: `'scheme,'id` then `: perms`, per entry.
pub fn acls(list: &[zk::Acl]) -> String {
    list.iter()
        .map(|a| format!("'{},'{}\n: {}\n", a.scheme(), a.id(), perms(a.permission())))
        .collect()
}

/// Parses zkCli's ACL argument: `scheme:id:perms[,scheme:id:perms...]` (the id may hold `:`).
pub fn parse_acls(text: &str) -> Result<Vec<zk::Acl>, String> {
    text.split(',')
        .map(|one| {
            let (scheme, rest) = one
                .split_once(':')
                .ok_or_else(|| format!("{one} does not have the form scheme:id:perm"))?;
            let (id, letters) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("{one} does not have the form scheme:id:perm"))?;
            let mut p = zk::Permission::NONE;
            for c in letters.chars() {
                p = p | match c {
                    'r' => zk::Permission::READ,
                    'w' => zk::Permission::WRITE,
                    'c' => zk::Permission::CREATE,
                    'd' => zk::Permission::DELETE,
                    'a' => zk::Permission::ADMIN,
                    _ => return Err(format!("Unknown perm type: {c}")),
                };
            }
            Ok(zk::Acl::new(p, zk::AuthId::new(scheme, id)))
        })
        .collect()
}

/// What zkCli prints when its session connects.
pub const CONNECTED: &str = "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n";

/// A watch event as zkCli prints it (its `WatchedEvent.toString()` after a `WATCHER::` line).
pub fn event(e: &zk::WatchedEvent) -> String {
    let kind = match e.event_type {
        zk::EventType::Session => "None",
        zk::EventType::NodeCreated => "NodeCreated",
        zk::EventType::NodeDeleted => "NodeDeleted",
        zk::EventType::NodeDataChanged => "NodeDataChanged",
        zk::EventType::NodeChildrenChanged => "NodeChildrenChanged",
    };
    let state = match e.session_state {
        zk::SessionState::SyncConnected => "SyncConnected",
        zk::SessionState::Disconnected => "Disconnected",
        zk::SessionState::Expired => "Expired",
        zk::SessionState::AuthFailed => "AuthFailed",
        zk::SessionState::Closed => "Closed",
        _ => "SyncConnected",
    };
    let path = if e.path.is_empty() { "null" } else { &e.path };
    format!("\nWATCHER::\n\nWatchedEvent state:{state} type:{kind} path:{path}\n")
}

/// The message zkCli prints when an operation on `path` fails with `e` (its
/// `KeeperException.getMessage()` or the command's own wording).
pub fn error(e: &zk::Error, path: &str) -> String {
    match e {
        zk::Error::NoNode => format!("Node does not exist: {path}"),
        zk::Error::NodeExists => format!("Node already exists: {path}"),
        zk::Error::NotEmpty => format!("Node not empty: {path}"),
        zk::Error::BadVersion => format!("version No is not valid : {path}"),
        zk::Error::NoAuth => format!("Insufficient permission : {path}"),
        zk::Error::NoChildrenForEphemerals => {
            format!("Ephemerals cannot have children: {path}")
        }
        zk::Error::InvalidAcl => format!("KeeperErrorCode = InvalidACL for {path}"),
        zk::Error::ReconfigDisabled => "KeeperErrorCode = Reconfig is disabled".into(),
        zk::Error::Unimplemented => "KeeperErrorCode = Unimplemented".into(),
        zk::Error::BadArguments(why) => format!("KeeperErrorCode = BadArguments for {path}: {why}"),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_round_trip_in_zkclis_forms() {
        let a = parse_acls("world:anyone:cdr,digest:u:abc=:rwcda").unwrap();
        assert_eq!(
            acls(&a),
            "'world,'anyone\n: cdr\n'digest,'u:abc=\n: cdrwa\n"
        );
        assert!(parse_acls("world:anyone:q").is_err());
        assert!(parse_acls("nonsense").is_err());
    }

    #[test]
    fn stats_have_zkclis_lines() {
        let s = zk::Stat {
            czxid: 2,
            mzxid: 2,
            pzxid: 6,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 1,
        };
        let text = stat(&s);
        assert!(text.starts_with("cZxid = 0x2\nctime = Thu Jan 01 00:00:00 UTC 1970\n"));
        assert!(text.ends_with("dataLength = 5\nnumChildren = 1\n"));
    }
}
