//! Requests larger than jute.maxbuffer on a real 3-node zkr ensemble (ZOOKEEPER-2101 /
//! ZOOKEEPER-3496: in ZooKeeper a txn larger than what a peer can read made the ensemble
//! unavailable; the limit has to hold where requests enter).
//!
//! zkr enforces `node.jute_max_buffer_bytes` (default 0xfffff, as ZooKeeper) on the client
//! port: a larger frame is refused and its connection closed before anything is decoded, so
//! such a request is never forwarded, proposed or logged. The largest request it accepts
//! travels as a peer frame (follower → leader, leader → followers) far below the peer codec's
//! limit (`MAX_PEER_FRAME_BYTES`, 1 GiB; the simulator scenario
//! `scenario_zk3496_oversized_txn_livelocks_the_ensemble_so_the_limit_is_at_entry` shows what
//! would happen otherwise).
//!
//! Each test runs its own processes (tests/common/ensemble.rs) and uses the `zookeeper-client`
//! crate; the logs are read back with `zkr log dump`. Every wait is bounded.

mod common;

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleSpec};
use zookeeper_client as zk;

const WAIT: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

async fn connect(hosts: &str) -> zk::Client {
    within(
        &format!("connect to {hosts}"),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(hosts),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"))
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// `zkr log dump` of a member's data directory.
fn log_dump(ens: &Ensemble, id: u8) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["log", "dump"])
        .arg(ens.member(id).data_dir())
        .output()
        .expect("run zkr log dump");
    assert!(
        out.status.success(),
        "zkr log dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until every member's log mentions `path` (bounded).
fn wait_logged(ens: &Ensemble, path: &str) {
    let end = Instant::now() + WAIT;
    loop {
        let missing: Vec<u8> = ens
            .ids()
            .into_iter()
            .filter(|id| !log_dump(ens, *id).contains(path))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "{path} not in the logs of {missing:?} within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_2mib_create_is_refused_at_the_client_port_and_never_reaches_a_log() {
    let ens = Ensemble::start("large", EnsembleSpec::default());
    let ids = ens.ids();
    let leader = ens.wait_leader(&ids, Duration::from_secs(60));
    let follower = *ids.iter().find(|i| **i != leader).expect("a follower");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let big = vec![b'x'; 2 << 20];
    // The largest data that fits a default jute.maxbuffer frame with the request around it.
    let near_max = vec![b'y'; 0xfffff - 1024];
    rt.block_on(async {
        for (who, id) in [("follower", follower), ("leader", leader)] {
            let path = format!("/big-via-{who}");
            let c = connect(&ens.addr(id)).await;
            let r = within("2 MiB create", c.create(&path, &big, &persistent())).await;
            println!("2 MiB create via the {who} {id}: {r:?}");
            assert!(r.is_err(), "a 2 MiB create was accepted via the {who}");
            // The ensemble is still available, and a request just under the limit goes
            // through (from a follower it is forwarded to the leader as one peer frame).
            let c = connect(&ens.addr(id)).await;
            let ok = format!("/near-max-via-{who}");
            within("near-max create", c.create(&ok, &near_max, &persistent()))
                .await
                .unwrap_or_else(|e| {
                    panic!("a create of {} bytes via the {who}: {e}", near_max.len())
                });
            for other in &ids {
                let o = connect(&ens.addr(*other)).await;
                within("sync", o.sync("/")).await.expect("sync");
                assert_eq!(
                    within("exists", o.check_stat(&path)).await.expect("exists"),
                    None,
                    "{path} exists on server {other}"
                );
                let (data, _) = within("get", o.get_data(&ok)).await.expect("get near-max");
                assert_eq!(data.len(), near_max.len(), "{ok} on server {other}");
            }
        }
    });
    wait_logged(&ens, "/near-max-via-leader");
    for id in &ids {
        let dump = log_dump(&ens, *id);
        assert!(
            dump.contains("/near-max-via-follower"),
            "server {id}: {dump}"
        );
        assert!(
            !dump.contains("/big-via"),
            "server {id} logged the oversized create"
        );
    }
}

/// A `jute_max_buffer_bytes` above what a peer frame carries (1 GiB) lets a client request
/// through the client port that no follower can forward and no leader can propose: every
/// peer link would break on it (the simulator scenario shows the resulting livelock). An
/// ensemble member should refuse such a configuration.
#[test]
fn an_ensemble_member_refuses_a_jute_max_buffer_above_the_peer_frame_limit() {
    let mut ens = Ensemble::create(
        "jutemax",
        EnsembleSpec {
            node_extra: "jute_max_buffer_bytes = 2147483647\n".into(),
            ..Default::default()
        },
    );
    ens.spawn(1);
    let end = Instant::now() + Duration::from_secs(10);
    while ens.is_running(1) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = ens.is_running(1);
    ens.kill9(1);
    assert!(
        !running,
        "member 1 runs with jute_max_buffer_bytes = 2147483647 (peer frames are limited to 1 GiB)"
    );
}
