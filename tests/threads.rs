//! `node.client_threads`: client connections run on the node's event loop (0 threads of their
//! own) or on that many extra threads, and clients see the same service either way.
//!
//! Each test starts its own node; every wait is bounded; nothing asserts timings.

mod common;

use std::time::Duration;

use common::ZkrNode;
use zookeeper_client as zk;

/// Upper bound of every wait.
const WAIT: Duration = Duration::from_secs(30);

/// The actix arbiter threads of a process (the event loop's own thread is `zkr`; an arbiter's
/// is `actix-rt|system...`, which Linux cuts to 15 bytes).
fn arbiter_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc/<pid>/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("actix-rt|"))
        .count()
}

/// 16 sessions each write and read back their own nodes, and read each other's once all wrote.
async fn sixteen_sessions_write_and_read(node: &ZkrNode) {
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut clients = Vec::new();
    for _ in 0..16 {
        let c = tokio::time::timeout(
            WAIT,
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(20))
                .connect(&node.addr()),
        )
        .await
        .expect("connect within the wait")
        .expect("connect");
        clients.push(c);
    }
    let writes = clients.iter().enumerate().map(|(i, c)| {
        let open = &open;
        async move {
            let path = format!("/t{i}");
            c.create(&path, format!("v{i}").as_bytes(), open)
                .await
                .expect("create");
            for n in 0..20 {
                c.set_data(&path, format!("v{i}.{n}").as_bytes(), None)
                    .await
                    .expect("setData");
                let (data, _) = c.get_data(&path).await.expect("getData");
                assert_eq!(data, format!("v{i}.{n}").into_bytes(), "read your write");
            }
        }
    });
    tokio::time::timeout(WAIT, futures::future::join_all(writes))
        .await
        .expect("writes within the wait");
    for c in &clients {
        for i in 0..16 {
            let (data, stat) = c.get_data(&format!("/t{i}")).await.expect("getData");
            assert_eq!(data, format!("v{i}.19").into_bytes());
            assert_eq!(stat.version, 20);
        }
    }
}

#[test]
fn client_threads_start_that_many_connection_threads_and_clients_see_the_same_service() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut on_the_loop = ZkrNode::start("client_threads = 0\n");
    let mut on_three = ZkrNode::start("client_threads = 3\n");
    rt.block_on(sixteen_sessions_write_and_read(&on_the_loop));
    rt.block_on(sixteen_sessions_write_and_read(&on_three));
    let pid = |n: &ZkrNode| n.child.as_ref().expect("running").id();
    assert_eq!(
        arbiter_threads(pid(&on_three)),
        arbiter_threads(pid(&on_the_loop)) + 3,
        "client_threads = 3 runs three more arbiters than client_threads = 0"
    );
    on_the_loop.stop();
    on_three.stop();
}
