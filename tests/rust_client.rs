//! The Rust `zookeeper-client` crate (0.11) against a real zkr node.
//!
//! Each test starts its own node (free port, own temp dir) and talks to it only through the
//! crate's public API. Every wait is bounded by [`WAIT`]; nothing asserts timings.
//!
//! Notes on the crate that shape these tests:
//! * it pipelines ConnectRequest + auth packets + setWatches(2) + a ping in one write before the
//!   ConnectResponse arrives (protocol doc §3.4);
//! * it sends create2 (15) for plain creates, createContainer (19) and createTTL (21);
//! * it reports an expired session from `sessionId == 0` in the ConnectResponse.

mod common;

use std::future::Future;
use std::time::Duration;

use common::ZkrNode;
use zk::{
    Acl, Acls, AddWatchMode, AuthId, Client, CreateMode, CreateOptions, Error, EventType,
    MultiReadResult, MultiWriteError, MultiWriteResult, Permission, SessionState,
};
use zookeeper_client as zk;

/// Upper bound of every wait.
const WAIT: Duration = Duration::from_secs(30);

const EXTENDED: &str = "[features]\nextended_types = true\ncontainer_check_interval_ms = 300\n";

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

async fn connect(node: &ZkrNode) -> Client {
    within(
        "connect",
        Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(&node.addr()),
    )
    .await
    .expect("connect")
}

fn open() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// `user:base64(sha1("user:password"))`, computed independently (Python's hashlib) for the two
/// identities these tests use.
fn digest(user_password: &str) -> String {
    match user_password {
        "alice:secret" => "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=".to_string(),
        "bob:pw" => "bob:ikIaKsbtGweaHnb/jKn7OHqbunM=".to_string(),
        other => panic!("no known digest for {other}"),
    }
}

/// Polls `$check` (an async expression giving bool) every 100 ms until it is true, at most
/// [`WAIT`].
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let end = tokio::time::Instant::now() + WAIT;
        loop {
            if $check {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{}: not true within {WAIT:?}",
                $what
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

/// The next node event of a persistent watcher, skipping session state events.
async fn next_node_event(w: &mut zk::PersistentWatcher) -> zk::WatchedEvent {
    loop {
        let ev = w.changed().await;
        if ev.event_type != EventType::Session {
            return ev;
        }
    }
}

#[tokio::test]
async fn create_modes_and_their_stats() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    let sid = c.session_id().0;

    let (stat, seq) = c.create("/p", b"data", &open()).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "no sequence for a persistent node");
    assert!(!stat.is_invalid(), "create2 returns a real Stat");
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.czxid, stat.pzxid);
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.data_length, 4);
    assert_eq!(stat.num_children, 0);

    let seq_opts = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    let (_, s0) = c.create("/p/q-", b"", &seq_opts).await.unwrap();
    let (_, s1) = c.create("/p/q-", b"", &seq_opts).await.unwrap();
    assert_eq!((s0.into_i64(), s1.into_i64()), (0, 1));
    assert_eq!(s1.to_string(), "0000000001");
    c.create("/p/plain", b"", &open()).await.unwrap();
    // the counter counts every child creation, sequential or not
    let (_, s3) = c.create("/p/q-", b"", &seq_opts).await.unwrap();
    assert_eq!(s3.into_i64(), 3);

    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let (st, _) = c.create("/e", b"", &eph).await.unwrap();
    assert_eq!(st.ephemeral_owner, sid, "ephemeral owner is the session");
    let eph_seq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (st, s) = c.create("/p/e-", b"", &eph_seq).await.unwrap();
    assert_eq!(st.ephemeral_owner, sid);
    assert_eq!(s.into_i64(), 4);
    assert_eq!(
        c.create("/e/child", b"", &open()).await.unwrap_err(),
        Error::NoChildrenForEphemerals
    );

    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    let (st, _) = c.create("/c", b"", &container).await.unwrap();
    assert_eq!(st.ephemeral_owner, 0, "containers report owner 0");

    // TTL nodes need extended types: off by default
    let ttl = open().with_ttl(Duration::from_secs(60));
    assert_eq!(
        c.create("/ttl", b"", &ttl).await.unwrap_err(),
        Error::Unimplemented
    );

    let mut children = c.list_children("/p").await.unwrap();
    children.sort();
    assert_eq!(
        children,
        vec![
            "e-0000000004",
            "plain",
            "q-0000000000",
            "q-0000000001",
            "q-0000000003"
        ]
    );
    let (names, pstat) = c.get_children("/p").await.unwrap();
    assert_eq!(names.len(), 5);
    assert_eq!(pstat.num_children, 5);
    assert_eq!(pstat.cversion, 5);

    assert_eq!(
        c.create("/p", b"", &open()).await.unwrap_err(),
        Error::NodeExists
    );
    assert_eq!(
        c.create("/missing/x", b"", &open()).await.unwrap_err(),
        Error::NoNode
    );
}

#[tokio::test]
async fn ttl_nodes_with_extended_types() {
    let node = ZkrNode::start(EXTENDED);
    let c = connect(&node).await;
    let (st, _) = c
        .create("/t", b"x", &open().with_ttl(Duration::from_millis(400)))
        .await
        .unwrap();
    assert_eq!(st.ephemeral_owner, 0, "TTL nodes report owner 0");
    let seq_ttl = CreateMode::PersistentSequential
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_secs(3600));
    let (_, s) = c.create("/long-", b"", &seq_ttl).await.unwrap();
    assert_eq!(
        s.into_i64(),
        1,
        "the root's counter had one creation before"
    );
    // the short TTL node goes away once it is older than its TTL; the long one stays
    eventually!(
        "TTL node deleted",
        c.check_stat("/t").await.unwrap().is_none()
    );
    assert!(c.check_stat("/long-0000000001").await.unwrap().is_some());
}

#[tokio::test]
async fn containers_are_deleted_once_emptied() {
    let node = ZkrNode::start(EXTENDED);
    let c = connect(&node).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    c.create("/box", b"", &container).await.unwrap();
    c.create("/never-used", b"", &container).await.unwrap();
    c.create("/box/item", b"", &open()).await.unwrap();
    // a container with a child is kept
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(c.check_stat("/box").await.unwrap().is_some());
    let (_, watcher) = c.check_and_watch_stat("/box").await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let ev = within("container deletion event", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDeleted);
    assert_eq!(ev.path, "/box");
    assert!(c.check_stat("/box").await.unwrap().is_none());
    // a container that never had a child stays (maxNeverUsedIntervalMs = 0)
    assert!(c.check_stat("/never-used").await.unwrap().is_some());
}

#[tokio::test]
async fn delete_exists_get_and_set_data() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    assert_eq!(c.check_stat("/a").await.unwrap(), None);
    assert_eq!(c.get_data("/a").await.unwrap_err(), Error::NoNode);
    assert_eq!(
        c.set_data("/a", b"x", None).await.unwrap_err(),
        Error::NoNode
    );
    assert_eq!(c.delete("/a", None).await.unwrap_err(), Error::NoNode);

    let (created, _) = c.create("/a", b"one", &open()).await.unwrap();
    let stat = c.check_stat("/a").await.unwrap().expect("exists");
    assert_eq!(stat, created);
    let (data, stat) = c.get_data("/a").await.unwrap();
    assert_eq!(data, b"one");
    assert_eq!(stat.version, 0);

    let s1 = c.set_data("/a", b"two!", Some(0)).await.unwrap();
    assert_eq!(s1.version, 1);
    assert_eq!(s1.data_length, 4);
    assert!(s1.mzxid > created.mzxid);
    assert_eq!(s1.czxid, created.czxid);
    assert_eq!(s1.pzxid, created.pzxid, "setData does not touch pzxid");
    assert_eq!(
        c.set_data("/a", b"x", Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    let s2 = c.set_data("/a", b"", None).await.unwrap();
    assert_eq!(s2.version, 2);
    assert_eq!(s2.data_length, 0);
    let (data, _) = c.get_data("/a").await.unwrap();
    assert!(data.is_empty());

    c.create("/a/kid", b"", &open()).await.unwrap();
    assert_eq!(c.delete("/a", None).await.unwrap_err(), Error::NotEmpty);
    assert_eq!(
        c.delete("/a/kid", Some(5)).await.unwrap_err(),
        Error::BadVersion
    );
    c.delete("/a/kid", Some(0)).await.unwrap();
    let pstat = c.check_stat("/a").await.unwrap().unwrap();
    assert_eq!(pstat.num_children, 0);
    assert_eq!(
        pstat.cversion, 2,
        "+1 per child create and per child delete"
    );
    c.delete("/a", Some(2)).await.unwrap();
    assert_eq!(c.check_stat("/a").await.unwrap(), None);

    // special nodes cannot be deleted (server code -8)
    for special in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        let err = c.delete(special, None).await.unwrap_err();
        assert!(
            matches!(err, Error::BadArguments(_)),
            "delete {special}: {err:?}"
        );
    }
}

#[tokio::test]
async fn children_counts_ephemerals_and_sync() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    let other = connect(&node).await;
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
    c.create("/app", b"", &open()).await.unwrap();
    c.create("/app/x", b"", &open()).await.unwrap();
    c.create("/app/x/y", b"", &open()).await.unwrap();
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    c.create("/app/e1", b"", &eph).await.unwrap();
    c.create("/apple", b"", &eph).await.unwrap();
    other.create("/app/theirs", b"", &eph).await.unwrap();
    assert_eq!(c.count_descendants_number("/app").await.unwrap(), 4);
    assert_eq!(c.count_descendants_number("/app/x/y").await.unwrap(), 0);
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 9);
    assert_eq!(
        c.count_descendants_number("/nope").await.unwrap_err(),
        Error::NoNode
    );

    let mut mine = c.list_ephemerals("/").await.unwrap();
    mine.sort();
    assert_eq!(mine, vec!["/app/e1", "/apple"]);
    // a plain string prefix: /app also matches /apple
    let mut app = c.list_ephemerals("/app").await.unwrap();
    app.sort();
    assert_eq!(app, vec!["/app/e1", "/apple"]);
    assert_eq!(c.list_ephemerals("/app/e").await.unwrap(), vec!["/app/e1"]);
    assert_eq!(
        other.list_ephemerals("/").await.unwrap(),
        vec!["/app/theirs"]
    );

    // sync then read sees the other session's write
    other.set_data("/app/x", b"new", None).await.unwrap();
    c.sync("/app/x").await.unwrap();
    assert_eq!(c.get_data("/app/x").await.unwrap().0, b"new");
    c.sync("/does/not/exist").await.unwrap();

    let (names, st) = c.get_children("/").await.unwrap();
    assert!(names.contains(&"zookeeper".to_string()));
    assert_eq!(st.num_children as usize, names.len());

    // ephemerals vanish with their session
    drop(other);
    eventually!(
        "ephemeral of a closed session removed",
        c.check_stat("/app/theirs").await.unwrap().is_none()
    );
}

#[tokio::test]
async fn acls_and_digest_auth() {
    let node = ZkrNode::start("");
    let alice = within(
        "connect as alice",
        Client::connector()
            .with_auth("digest", b"alice:secret")
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    let anon = connect(&node).await;

    // whoAmI
    let users = alice.list_auth_users().await.unwrap();
    let mut pairs: Vec<(String, String)> = users
        .iter()
        .map(|u| (u.scheme().to_string(), u.user().to_string()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("digest".to_string(), "alice".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string())
        ]
    );
    let users = anon.list_auth_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].scheme(), "ip");

    // creator_all = auth:"" -> digest:alice:<hash>
    let creator = CreateMode::Persistent.with_acls(Acls::creator_all());
    alice.create("/secret", b"s", &creator).await.unwrap();
    let (acl, st) = alice.get_acl("/secret").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert_eq!(acl[0].id(), digest("alice:secret"));
    assert_eq!(acl[0].permission(), Permission::ALL);
    assert_eq!(st.aversion, 0);

    assert_eq!(anon.get_data("/secret").await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        anon.set_data("/secret", b"x", None).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(
        anon.create("/secret/kid", b"", &open()).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(anon.get_acl("/secret").await.unwrap_err(), Error::NoAuth);
    // creator_all without any authenticated identity is an invalid ACL
    assert_eq!(
        anon.create("/mine", b"", &creator).await.unwrap_err(),
        Error::InvalidAcl
    );

    // late auth on an existing connection
    anon.auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(anon.get_data("/secret").await.unwrap().0, b"s");

    // READ for everyone, ALL for alice; getACL without ADMIN redacts the hash
    let alice_id = digest("alice:secret");
    let acls = [
        Acl::new(Permission::READ, AuthId::new("world", "anyone")),
        Acl::new(Permission::ALL, AuthId::new("digest", &alice_id)),
    ];
    let st = alice.set_acl("/secret", &acls, Some(0)).await.unwrap();
    assert_eq!(st.aversion, 1);
    assert_eq!(
        alice.set_acl("/secret", &acls, Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    let reader = connect(&node).await;
    assert_eq!(reader.get_data("/secret").await.unwrap().0, b"s");
    let (seen, _) = reader.get_acl("/secret").await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].id(),
        "alice:x",
        "digest hash redacted without ADMIN"
    );
    assert_eq!(
        reader.set_acl("/secret", &acls, None).await.unwrap_err(),
        Error::NoAuth
    );
    let (full, _) = alice.get_acl("/secret").await.unwrap();
    assert_eq!(full[1].id(), alice_id);

    // server-side ACL validation
    let bad = [Acl::new(Permission::ALL, AuthId::new("world", "bob"))];
    assert_eq!(
        alice
            .create(
                "/bad",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&bad))
            )
            .await
            .unwrap_err(),
        Error::InvalidAcl
    );
    assert_eq!(
        alice.set_acl("/secret", &bad, None).await.unwrap_err(),
        Error::InvalidAcl
    );

    // a bad scheme fails auth and ends the session for the crate
    let victim = connect(&node).await;
    let mut states = victim.state_watcher();
    assert_eq!(
        within("auth with an unknown scheme", victim.auth("nosuch", b"x"))
            .await
            .unwrap_err(),
        Error::AuthFailed
    );
    let state = within("AuthFailed state", async {
        loop {
            let s = states.changed().await;
            if s.is_terminated() {
                return s;
            }
        }
    })
    .await;
    assert_eq!(state, SessionState::AuthFailed);
}

#[tokio::test]
async fn pipelined_connect_auth_and_ping() {
    // The crate writes ConnectRequest, the auth packets and a ping in one burst, before the
    // ConnectResponse. The server must hold them until the session exists, then process them
    // in order: the very first request after connect already runs as alice.
    let node = ZkrNode::start("");
    let alice = within(
        "connect",
        Client::connector()
            .with_auth("digest", b"alice:secret")
            .with_auth("digest", b"bob:pw")
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    let creator = CreateMode::Persistent.with_acls(Acls::creator_all());
    alice
        .create("/only-alice-and-bob", b"ok", &creator)
        .await
        .unwrap();
    let (acl, _) = alice.get_acl("/only-alice-and-bob").await.unwrap();
    let mut ids: Vec<&str> = acl.iter().map(|a| a.id()).collect();
    ids.sort();
    let (a, b) = (digest("alice:secret"), digest("bob:pw"));
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);

    // Several sessions connecting at once, each with a pipelined burst.
    let mut handles = Vec::new();
    for i in 0..8 {
        let addr = node.addr();
        handles.push(tokio::spawn(async move {
            let c = Client::connector()
                .with_auth("digest", b"alice:secret")
                .connect(&addr)
                .await
                .expect("connect");
            let (data, _) = c.get_data("/only-alice-and-bob").await.expect("read");
            assert_eq!(data, b"ok", "client {i}");
            c.session_id().0
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(within("pipelined client", h).await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "distinct sessions");
}

#[tokio::test]
async fn reconnect_resends_auth_and_watches_in_one_burst() {
    // Take the session's connection away (another connection resumes the same session, which
    // makes the server close the first one), then let the client reconnect on its own: it
    // pipelines ConnectRequest + auth + setWatches2 + ping. Its auth identity and its watches
    // must survive.
    let node = ZkrNode::start("");
    let writer = connect(&node).await;
    writer.create("/w", b"0", &open()).await.unwrap();
    let c = within(
        "connect",
        Client::connector()
            .with_auth("digest", b"alice:secret")
            .with_session_timeout(Duration::from_secs(20))
            .with_detached()
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    let mut states = c.state_watcher();
    let (_, _, data_watch) = c.get_and_watch_data("/w").await.unwrap();
    let mut persistent = c.watch("/w", AddWatchMode::Persistent).await.unwrap();
    let (_, exists_watch) = c.check_and_watch_stat("/later").await.unwrap();

    let hijack = within(
        "resume the same session elsewhere",
        Client::connector()
            .with_session(c.session().clone())
            .with_detached()
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    assert_eq!(hijack.session_id(), c.session_id());
    drop(hijack);

    // The hijacker's background task may still reconnect once before it notices it was dropped
    // (then our client loses its connection once more): wait until the client is connected and
    // a request goes through.
    within("client notices the lost connection", async {
        loop {
            if states.changed().await == SessionState::Disconnected {
                return;
            }
        }
    })
    .await;
    let users = within("client reconnects and answers", async {
        loop {
            match c.list_auth_users().await {
                Ok(users) => return users,
                Err(Error::ConnectionLoss) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("whoAmI after reconnect: {e}"),
            }
        }
    })
    .await;
    assert!(
        users
            .iter()
            .any(|u| u.scheme() == "digest" && u.user() == "alice"),
        "auth re-sent on reconnect: {users:?}"
    );
    let s = writer.set_data("/w", b"1", None).await.unwrap();
    let ev = within("one-shot data watch after reconnect", data_watch.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/w");
    assert!(
        ev.zxid == s.mzxid || ev.zxid == -1,
        "event zxid {}",
        ev.zxid
    );
    // the persistent watcher also saw the connection go and come back
    let ev = within(
        "persistent watch after reconnect",
        next_node_event(&mut persistent),
    )
    .await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/w");
    writer.create("/later", b"", &open()).await.unwrap();
    let ev = within("exists watch after reconnect", exists_watch.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeCreated);
    assert_eq!(ev.path, "/later");
}

#[tokio::test]
async fn multi_writer_success_and_failure() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    c.create("/m", b"v0", &open()).await.unwrap();

    let mut w = c.new_multi_writer();
    w.add_create("/m/a", b"A", &open()).unwrap();
    w.add_create(
        "/m/s-",
        b"",
        &CreateMode::PersistentSequential.with_acls(Acls::anyone_all()),
    )
    .unwrap();
    w.add_set_data("/m", b"v1", Some(0)).unwrap();
    w.add_check_version("/m", 1).unwrap();
    w.add_create("/m/b", b"", &open()).unwrap();
    w.add_delete("/m/b", Some(0)).unwrap();
    let results = within("multi", w.commit()).await.unwrap();
    assert_eq!(results.len(), 6);
    let MultiWriteResult::Create { path, stat } = &results[0] else {
        panic!("{:?}", results[0])
    };
    assert_eq!(path, "/m/a");
    let zxid = stat.czxid;
    let MultiWriteResult::Create { path, stat: s2 } = &results[1] else {
        panic!("{:?}", results[1])
    };
    assert_eq!(path, "/m/s-0000000001");
    assert_eq!(s2.czxid, zxid, "one zxid for the whole multi");
    let MultiWriteResult::SetData { stat } = &results[2] else {
        panic!("{:?}", results[2])
    };
    assert_eq!((stat.version, stat.mzxid), (1, zxid));
    assert!(matches!(results[3], MultiWriteResult::Check));
    assert!(matches!(results[4], MultiWriteResult::Create { .. }));
    assert!(matches!(results[5], MultiWriteResult::Delete));
    assert_eq!(c.get_data("/m").await.unwrap().0, b"v1");
    assert!(c.check_stat("/m/b").await.unwrap().is_none());

    // failure: nothing applied, the failing index reported
    let mut w = c.new_multi_writer();
    w.add_create("/m/new", b"", &open()).unwrap();
    w.add_set_data("/m", b"v2", Some(0)).unwrap();
    w.add_delete("/m/a", None).unwrap();
    let err = within("failing multi", w.commit()).await.unwrap_err();
    assert_eq!(
        err,
        MultiWriteError::OperationFailed {
            index: 1,
            source: Error::BadVersion
        }
    );
    assert!(c.check_stat("/m/new").await.unwrap().is_none());
    assert!(c.check_stat("/m/a").await.unwrap().is_some());
    assert_eq!(c.get_data("/m").await.unwrap().0, b"v1");

    let mut w = c.new_multi_writer();
    w.add_create("/m/a", b"", &open()).unwrap();
    assert_eq!(
        within("multi NodeExists", w.commit()).await.unwrap_err(),
        MultiWriteError::OperationFailed {
            index: 0,
            source: Error::NodeExists
        }
    );
    let mut w = c.new_multi_writer();
    w.add_check_version("/nope", -1).unwrap();
    assert_eq!(
        within("multi check NoNode", w.commit()).await.unwrap_err(),
        MultiWriteError::OperationFailed {
            index: 0,
            source: Error::NoNode
        }
    );
    // an empty multi never reaches the server
    assert!(c.new_multi_writer().commit().await.unwrap().is_empty());

    // CheckWriter: a guarded write
    let mut cw = c.new_check_writer("/m", Some(1)).unwrap();
    cw.add_set_data("/m/a", b"guarded", None).unwrap();
    within("check writer", cw.commit()).await.unwrap();
    assert_eq!(c.get_data("/m/a").await.unwrap().0, b"guarded");
    let mut cw = c.new_check_writer("/m", Some(0)).unwrap();
    cw.add_set_data("/m/a", b"no", None).unwrap();
    let err = within("failing check writer", cw.commit())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        zk::CheckWriteError::CheckFailed {
            source: Error::BadVersion
        }
    );
    assert_eq!(c.get_data("/m/a").await.unwrap().0, b"guarded");
}

#[tokio::test]
async fn multi_reader_results_and_errors() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    c.create("/r", b"root", &open()).await.unwrap();
    c.create("/r/one", b"1", &open()).await.unwrap();
    c.create("/r/two", b"2", &open()).await.unwrap();
    let mut r = c.new_multi_reader();
    r.add_get_data("/r/one").unwrap();
    r.add_get_children("/r").unwrap();
    r.add_get_data("/r/missing").unwrap();
    r.add_get_children("/r/missing").unwrap();
    r.add_get_data("/r").unwrap();
    let results = within("multiRead", r.commit()).await.unwrap();
    assert_eq!(results.len(), 5);
    let MultiReadResult::Data { data, stat } = &results[0] else {
        panic!("{:?}", results[0])
    };
    assert_eq!(data, b"1");
    assert_eq!(stat.data_length, 1);
    let MultiReadResult::Children { children } = &results[1] else {
        panic!("{:?}", results[1])
    };
    let mut kids = children.clone();
    kids.sort();
    assert_eq!(kids, vec!["one", "two"]);
    assert!(matches!(
        &results[2],
        MultiReadResult::Error { err: Error::NoNode }
    ));
    assert!(matches!(
        &results[3],
        MultiReadResult::Error { err: Error::NoNode }
    ));
    let MultiReadResult::Data { data, stat } = &results[4] else {
        panic!("{:?}", results[4])
    };
    assert_eq!(data, b"root");
    assert_eq!(stat.num_children, 2);
    assert!(c.new_multi_reader().commit().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_shot_watches() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    let w = connect(&node).await;

    // data watch: fires once on setData, with the txn zxid (ZooKeeper 3.9 behaviour)
    c.create("/d", b"", &open()).await.unwrap();
    let (_, _, watcher) = c.get_and_watch_data("/d").await.unwrap();
    let st = w.set_data("/d", b"x", None).await.unwrap();
    let ev = within("NodeDataChanged", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/d");
    assert_eq!(ev.zxid, st.mzxid, "notification zxid is the txn zxid (3.9)");

    // exists watch on a missing node: NodeCreated
    let (none, watcher) = c.check_and_watch_stat("/later").await.unwrap();
    assert!(none.is_none());
    let (created, _) = w.create("/later", b"", &open()).await.unwrap();
    let ev = within("NodeCreated", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeCreated);
    assert_eq!(ev.path, "/later");
    assert_eq!(ev.zxid, created.czxid);

    // child watch: NodeChildrenChanged on create and on delete
    let (_, watcher) = c.list_and_watch_children("/d").await.unwrap();
    w.create("/d/k", b"", &open()).await.unwrap();
    let ev = within("NodeChildrenChanged (create)", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeChildrenChanged);
    assert_eq!(ev.path, "/d");
    let (_, _, watcher) = c.get_and_watch_children("/d").await.unwrap();
    w.delete("/d/k", None).await.unwrap();
    let ev = within("NodeChildrenChanged (delete)", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeChildrenChanged);

    // data watch on delete: NodeDeleted; a child watch on the same node as well
    let (_, _, data_w) = c.get_and_watch_data("/d").await.unwrap();
    let (_, child_w) = c.list_and_watch_children("/d").await.unwrap();
    w.delete("/d", None).await.unwrap();
    let ev = within("NodeDeleted (data watch)", data_w.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeDeleted, "/d")
    );
    let ev = within("NodeDeleted (child watch)", child_w.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeDeleted, "/d")
    );

    // setACL fires nothing; the next setData does
    let (_, _, watcher) = c.get_and_watch_data("/later").await.unwrap();
    w.set_acl("/later", &Acls::anyone_all(), None)
        .await
        .unwrap();
    w.set_data("/later", b"after acl", None).await.unwrap();
    let ev = within("NodeDataChanged after setACL", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);

    // a watch is one-shot: a second change after the event produces nothing for a new
    // watcher set after it except its own event
    let (_, _, watcher) = c.get_and_watch_data("/later").await.unwrap();
    w.set_data("/later", b"2", None).await.unwrap();
    w.set_data("/later", b"3", None).await.unwrap();
    let ev = within("single event", watcher.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(c.get_data("/later").await.unwrap().0, b"3");
}

#[tokio::test]
async fn persistent_and_recursive_watches() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    let w = connect(&node).await;

    let mut p = c.watch("/pw", AddWatchMode::Persistent).await.unwrap();
    let mut rec = c
        .watch("/tree", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    w.create("/pw", b"", &open()).await.unwrap();
    w.set_data("/pw", b"1", None).await.unwrap();
    w.set_data("/pw", b"2", None).await.unwrap();
    w.create("/pw/kid", b"", &open()).await.unwrap();
    w.delete("/pw/kid", None).await.unwrap();
    w.delete("/pw", None).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        let ev = within("persistent watch event", p.changed()).await;
        got.push((ev.event_type, ev.path));
    }
    assert_eq!(
        got,
        vec![
            (EventType::NodeCreated, "/pw".to_string()),
            (EventType::NodeDataChanged, "/pw".to_string()),
            (EventType::NodeDataChanged, "/pw".to_string()),
            (EventType::NodeChildrenChanged, "/pw".to_string()),
            (EventType::NodeChildrenChanged, "/pw".to_string()),
            (EventType::NodeDeleted, "/pw".to_string()),
        ]
    );

    w.create("/tree", b"", &open()).await.unwrap();
    w.create("/tree/a", b"", &open()).await.unwrap();
    w.create("/tree/a/b", b"", &open()).await.unwrap();
    w.set_data("/tree/a/b", b"x", None).await.unwrap();
    w.delete("/tree/a/b", None).await.unwrap();
    // a sibling outside the tree is not reported
    w.create("/treehouse", b"", &open()).await.unwrap();
    w.set_data("/tree", b"last", None).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        let ev = within("recursive watch event", rec.changed()).await;
        got.push((ev.event_type, ev.path));
    }
    assert_eq!(
        got,
        vec![
            (EventType::NodeCreated, "/tree".to_string()),
            (EventType::NodeCreated, "/tree/a".to_string()),
            (EventType::NodeCreated, "/tree/a/b".to_string()),
            (EventType::NodeDataChanged, "/tree/a/b".to_string()),
            (EventType::NodeDeleted, "/tree/a/b".to_string()),
            (EventType::NodeDataChanged, "/tree".to_string()),
        ],
        "recursive watches never report NodeChildrenChanged"
    );
}

#[tokio::test]
async fn session_resume_and_expiry() {
    let node = ZkrNode::start("");
    let observer = connect(&node).await;
    let c = within(
        "connect detached",
        Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .with_detached()
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    assert_eq!(c.session_timeout(), Duration::from_secs(4));
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    c.create("/mine", b"", &eph).await.unwrap();
    let info = c.session().clone();
    let sid = c.session_id();
    drop(c); // detached: no closeSession, the session lives on

    // resume it: same id, the ephemeral is still ours
    let again = within(
        "resume",
        Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .with_session(info.clone())
            .with_detached()
            .connect(&node.addr()),
    )
    .await
    .unwrap();
    assert_eq!(again.session_id(), sid);
    assert_eq!(again.list_ephemerals("/").await.unwrap(), vec!["/mine"]);
    let st = again.check_stat("/mine").await.unwrap().unwrap();
    assert_eq!(st.ephemeral_owner, sid.0);
    let (_, gone) = observer.check_and_watch_stat("/mine").await.unwrap();
    drop(again);

    // nobody talks for the session: it expires, its ephemeral goes
    let ev = within("ephemeral deleted on expiry", gone.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDeleted);
    let err = within(
        "resume an expired session",
        Client::connector().with_session(info).connect(&node.addr()),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::SessionExpired);

    // closing a client (not detached) ends its session at once
    let c = connect(&node).await;
    c.create("/short", b"", &eph).await.unwrap();
    let (_, gone) = observer.check_and_watch_stat("/short").await.unwrap();
    drop(c);
    let ev = within("ephemeral deleted on close", gone.changed()).await;
    assert_eq!(ev.event_type, EventType::NodeDeleted);
}

#[tokio::test]
async fn config_reconfig_chroot_and_error_codes() {
    let node = ZkrNode::start("");
    let c = connect(&node).await;
    let (data, st) = c.get_config().await.unwrap();
    assert!(data.is_empty(), "standalone /zookeeper/config is empty");
    assert_eq!(st.aversion, -1);
    let (acl, _) = c.get_acl("/zookeeper/config").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].permission(), Permission::READ);
    let err = c
        .update_ensemble(
            zk::EnsembleUpdate::Incremental {
                joinings: vec!["server.5=127.0.0.1:1:2;3"].into_iter(),
                leavings: vec![].into_iter(),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::ReconfigDisabled);
    assert_eq!(
        c.set_data("/zookeeper/config", b"x", None)
            .await
            .unwrap_err(),
        Error::NoAuth
    );

    // chroot is client-side: paths in and out are relative
    c.create("/app", b"", &open()).await.unwrap();
    let app = c.clone().chroot("/app").expect("chroot");
    app.create("/x", b"in app", &open()).await.unwrap();
    assert_eq!(c.get_data("/app/x").await.unwrap().0, b"in app");
    let (_, seq) = app
        .create(
            "/s-",
            b"",
            &CreateMode::EphemeralSequential.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), 1);
    assert_eq!(
        app.list_ephemerals("/").await.unwrap(),
        vec!["/s-0000000001"]
    );
    let (_, _, w) = app.get_and_watch_data("/x").await.unwrap();
    c.set_data("/app/x", b"2", None).await.unwrap();
    let ev = within("chrooted watch", w.changed()).await;
    assert_eq!(ev.path, "/x");

    // a node under a missing parent, and sequential names under chroot
    assert_eq!(
        app.create("/no/such", b"", &open()).await.unwrap_err(),
        Error::NoNode
    );
}
