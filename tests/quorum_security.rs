//! An authenticated quorum (peer/auth.rs) on real ensembles: a stranger on a peer port
//! (garbage, a well-formed hello without credentials, a hello followed straight by peer
//! messages, a recorded handshake replayed) is refused and changes nothing in the ensemble; a
//! member with the wrong shared secret, or with a certificate from another CA, cannot join, and
//! the logs name the reason; a mutual-TLS ensemble replicates.
//!
//! Every wait is bounded; nothing sleeps to synchronise.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::ensemble::{zxid_of, Ensemble, EnsembleSpec};
use common::pki::Ca;
use common::raw;
use zkr_actors::peer::auth::AuthFrame;
use zkr_actors::peer::link::BACKOFF_MAX;
use zkr_actors::quorum::msg::{
    Hello, Notification, PeerMsg, PeerState, Vote, PEER_PROTOCOL_VERSION,
};

const SETTLE: Duration = Duration::from_secs(60);

fn write_secret(path: &Path, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, secret).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An ensemble whose members each read `{member_dir}/secret`, written from `secret_of(id)`.
fn with_secrets(tag: &str, proxied: bool, secret_of: impl Fn(u8) -> &'static str) -> Ensemble {
    let mut e = Ensemble::create(
        tag,
        EnsembleSpec {
            proxied,
            ensemble_extra: "secret_file = \"{member_dir}/secret\"\n".into(),
            ..EnsembleSpec::default()
        },
    );
    for id in e.ids() {
        write_secret(&e.member(id).dir.join("secret"), secret_of(id));
    }
    for id in e.ids() {
        e.spawn(id);
    }
    e
}

fn frame(v: &impl serde::Serialize) -> Vec<u8> {
    let b = rmp_serde::to_vec(v).unwrap();
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&b);
    out
}

fn hello(from: u64) -> Hello {
    Hello {
        protocol_version: PEER_PROTOCOL_VERSION,
        from,
        generation: rand::random(),
        listen_addr: None,
    }
}

/// A vote for `leader` with a history far ahead of anything real: a server that took it into
/// account would start an election for it.
fn forged_vote(leader: u64) -> PeerMsg {
    PeerMsg::Vote(Notification {
        vote: Vote {
            leader,
            zxid: i64::MAX >> 1,
            epoch: 1 << 20,
        },
        round: 1 << 30,
        state: PeerState::Looking,
    })
}

/// Connects to `port`, sends `bytes`, then reads until the server closes (at most 20 s);
/// returns what the server sent.
fn attack(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    panic!("the peer port kept a stranger's connection open for 20 s");
}

/// The handshake frames a listener sent (after its 4-byte length prefixes).
fn frames(mut bytes: &[u8]) -> Vec<AuthFrame> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let n = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        if bytes.len() < 4 + n {
            break;
        }
        out.push(rmp_serde::from_slice(&bytes[4..4 + n]).expect("a handshake frame"));
        bytes = &bytes[4 + n..];
    }
    out
}

/// What an ensemble looks like from outside: every member's mode and last zxid.
fn state(e: &Ensemble) -> Vec<(u8, Option<String>, Option<i64>)> {
    e.ids()
        .iter()
        .map(|id| (*id, e.mode(*id), zxid_of(e.member(*id).client_port)))
        .collect()
}

/// Waits until `id`'s log has `n` lines containing `needle` after `from`; returns them.
fn wait_log_lines(e: &Ensemble, id: u8, from: usize, needle: &str, n: usize) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<String> = e
            .log_since(id, from)
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < end,
            "member {id}: {n} lines with {needle:?} expected, got:\n{}",
            e.log_since(id, from)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stranger_on_the_peer_port_is_refused_and_the_ensemble_sees_no_effect() {
    let e = with_secrets("stranger", true, |_| "the ensemble's shared secret, 1");
    let leader = e.wait_leader(&e.ids(), SETTLE);
    raw::create(e.member(leader).client_port, "/before");
    // The followers apply the create a moment after the leader answered: wait (bounded) until
    // every member has it, so that `before` is a state at rest.
    let want = zxid_of(e.member(leader).client_port);
    let end = Instant::now() + SETTLE;
    while e
        .ids()
        .iter()
        .any(|id| zxid_of(e.member(*id).client_port) != want)
    {
        assert!(
            Instant::now() < end,
            "the members did not converge: {:?}",
            state(&e)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = state(&e);
    let follower = e.ids().into_iter().find(|id| *id != leader).unwrap();
    // What member `follower` sent the leader on its link: hello, handshake, then peer messages.
    let recorded = e.proxies[&(follower, leader)].recorded();
    assert!(!recorded.is_empty() && recorded[0].len() > 100);
    let from: Vec<usize> = e.ids().iter().map(|id| e.log_len(*id)).collect();

    for id in e.ids() {
        let port = e.member(id).peer_port;
        // 1. Garbage, then a length prefix of 2 GB.
        attack(port, &[0xde; 4096]);
        attack(port, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        // 2. A well-formed hello without credentials, impersonating another member, answering
        //    the challenge without a proof, then a forged vote.
        let other = if id == 1 { 2 } else { 1 };
        let mut bytes = frame(&hello(other));
        bytes.extend(frame(&AuthFrame::Start { nonce: [7; 32] }));
        bytes.extend(frame(&AuthFrame::Proof { proof: None }));
        bytes.extend(frame(&forged_vote(other)));
        let answer = frames(&attack(port, &bytes));
        assert!(
            matches!(
                answer.first(),
                Some(AuthFrame::Challenge { proof: Some(_), .. })
            ),
            "{answer:?}"
        );
        assert!(
            matches!(answer.get(1), Some(AuthFrame::Refused { reason }) if reason.contains("no proof")),
            "{answer:?}"
        );
        // 3. A hello followed straight by peer messages (a peer that skips the handshake).
        let mut bytes = frame(&hello(other));
        bytes.extend(frame(&forged_vote(other)));
        attack(port, &bytes);
    }
    // 4. The recorded connection replayed to the leader: its proof was for another challenge.
    attack(e.member(leader).peer_port, &recorded[0]);

    for (i, id) in e.ids().into_iter().enumerate() {
        let refused = wait_log_lines(&e, id, from[i], "peer connection refused", 4);
        assert!(
            refused.iter().any(|l| l.contains("no proof")),
            "{refused:?}"
        );
        assert!(
            refused.iter().any(
                |l| l.contains("unexpected handshake frame") || l.contains("undecodable frame")
            ),
            "{refused:?}"
        );
        if id == leader {
            wait_log_lines(&e, id, from[i], "proof does not match", 1);
        }
        // Nothing else happened: no role change, no election, no link lost, no session.
        for line in e.log_since(id, from[i]).lines() {
            assert!(
                line.contains("peer connection refused"),
                "member {id} logged during the attacks: {line}"
            );
        }
    }
    assert_eq!(state(&e), before, "the ensemble changed");
    // And it still replicates.
    raw::create(e.member(leader).client_port, "/after");
    assert!(raw::exists(e.member(follower).client_port, "/after"));
}

/// A 3-member ensemble whose member 3 has another secret than members 1 and 2.
fn member_3_with_the_wrong_secret(tag: &str) -> Ensemble {
    with_secrets(tag, false, |id| {
        if id == 3 {
            "a secret that is not the ensemble's"
        } else {
            "the ensemble's shared secret, 2"
        }
    })
}

#[test]
fn a_member_with_the_wrong_secret_cannot_join_and_every_side_names_the_reason() {
    let e = member_3_with_the_wrong_secret("wrong-secret");
    let leader = e.wait_leader(&[1, 2], SETTLE);
    raw::create(e.member(leader).client_port, "/without-3");
    // Member 3 is told why, and tells why it refuses the others.
    let told = wait_log_lines(&e, 3, 0, "peer link not authenticated", 1);
    assert!(
        told.iter().any(|l| l.contains("proof does not match")),
        "{told:?}"
    );
    wait_log_lines(&e, 3, 0, "peer connection refused", 1);
    for id in [1, 2] {
        let lines = wait_log_lines(&e, id, 0, "peer connection refused", 1);
        assert!(
            lines.iter().any(|l| l.contains("claimed_server=Some(3)")),
            "{lines:?}"
        );
    }
    // It never serves and never receives the ensemble's data.
    assert_eq!(e.mode(3), None);
    assert_eq!(
        e.wait_leader(&[1, 2], SETTLE),
        leader,
        "the leader changed while 3 tried to join"
    );
    let mntr = common::four_letter(e.member(leader).client_port, "mntr");
    assert!(mntr.contains("zk_synced_followers\t1"), "{mntr}");
}

/// Lines of `id`'s log after `from` that contain `needle`.
fn count_lines(e: &Ensemble, id: u8, from: usize, needle: &str) -> usize {
    e.log_since(id, from)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn a_refused_member_retrying_for_10_s_changes_nothing_and_logs_once_per_backed_off_retry() {
    let e = member_3_with_the_wrong_secret("refused-retries");
    let leader = e.wait_leader(&[1, 2], SETTLE);
    // Past the first retries (their back-off starts at 50 ms): from here on every link retries
    // at most every BACKOFF_MAX.
    wait_log_lines(&e, 3, 0, "peer link not authenticated", 6);
    let epoch = |id: u8| zxid_of(e.member(id).client_port).map(|z| z >> 32);
    let first_epoch = epoch(leader).expect("the leader answers srvr");
    let from: Vec<usize> = e.ids().iter().map(|id| e.log_len(*id)).collect();
    let mut writer = raw::session(e.member(1).client_port);
    let started = Instant::now();
    let mut writes = 0;
    while started.elapsed() < Duration::from_secs(10) {
        writes += 1;
        let req = common::load::create(&format!("/during-{writes}"), b"v");
        assert_eq!(
            raw::call(&mut writer, writes, &req),
            0,
            "write {writes} through member 1"
        );
        let other = if leader == 1 { 2 } else { 1 };
        assert_eq!(
            e.mode(leader).as_deref(),
            Some("leader"),
            "after {writes} writes"
        );
        assert_eq!(
            e.mode(other).as_deref(),
            Some("follower"),
            "after {writes} writes"
        );
        assert_eq!(
            epoch(leader),
            Some(first_epoch),
            "a new epoch: an election ran"
        );
        assert_eq!(e.mode(3), None, "member 3 serves");
        std::thread::sleep(Duration::from_millis(100));
    }
    let window = started.elapsed();
    raw::close(&mut writer);
    // Each side logs the reason once per attempt; each of the two links of a pair retries at
    // most every BACKOFF_MAX (2 s), plus one attempt in flight at each end of the window.
    let per_link = (window.as_secs_f64() / BACKOFF_MAX.as_secs_f64()).ceil() as usize + 2;
    let mut counts = Vec::new();
    for (id, needle, links) in [
        (3, "peer link not authenticated", 2),
        (3, "peer connection refused", 2),
        (1, "peer link not authenticated", 1),
        (1, "peer connection refused", 1),
        (2, "peer link not authenticated", 1),
        (2, "peer connection refused", 1),
    ] {
        let n = count_lines(&e, id, from[usize::from(id) - 1], needle);
        counts.push(format!("member {id}: {n} x {needle:?}"));
        assert!(
            n <= links * per_link,
            "member {id} logged {needle:?} {n} times in {window:?} over {links} link(s) \
             (at most {} expected):\n{}",
            links * per_link,
            e.log_since(id, from[usize::from(id) - 1])
        );
    }
    // The reason is still named: the refused member keeps retrying and keeps saying why.
    assert!(
        count_lines(&e, 3, from[2], "proof does not match") >= 1,
        "{counts:?}"
    );
    println!("{writes} writes in {window:?}; {counts:?}");
    assert!(raw::exists(
        e.member(2).client_port,
        &format!("/during-{writes}")
    ));
}

#[test]
fn a_refused_member_restarted_with_the_right_secret_joins_and_gets_the_data() {
    let mut e = member_3_with_the_wrong_secret("secret-fixed");
    let leader = e.wait_leader(&[1, 2], SETTLE);
    raw::create(e.member(leader).client_port, "/before-the-fix");
    // Members 1 and 2 have been refused by 3 long enough to be at their longest back-off.
    wait_log_lines(&e, 1, 0, "peer link not authenticated", 6);
    e.stop(3);
    write_secret(
        &e.member(3).dir.join("secret"),
        "the ensemble's shared secret, 2",
    );
    e.spawn(3);
    let now_leader = e.wait_leader(&[1, 2, 3], SETTLE);
    assert_eq!(now_leader, leader, "the leader changed when 3 joined");
    assert!(raw::exists(e.member(3).client_port, "/before-the-fix"));
}

/// An ensemble with mutual TLS: members 1-3 get certificates from `ca`, except those in
/// `foreign`, which get theirs from another CA (and still trust `ca`).
fn tls_ensemble(tag: &str, foreign: &[u8]) -> (Ensemble, common::TempDir) {
    let pki = common::TempDir::new("pki");
    let ca = Ca::new(pki.path(), "ensemble-ca");
    let other = Ca::new(pki.path(), "other-ca");
    let mut e = Ensemble::create(
        tag,
        EnsembleSpec {
            extra_toml: "[ensemble.tls]\ncert_file = \"{member_dir}/peer-combined.pem\"\n\
                         ca_file = \"{member_dir}/ca.pem\"\n"
                .into(),
            ..EnsembleSpec::default()
        },
    );
    for id in e.ids() {
        let dir = e.member(id).dir.clone();
        let issuer = if foreign.contains(&id) { &other } else { &ca };
        let issued = issuer.issue(pki.path(), &format!("node{id}"), &["127.0.0.1"]);
        std::fs::copy(&issued.combined_file, dir.join("peer-combined.pem")).unwrap();
        std::fs::copy(&ca.cert_file, dir.join("ca.pem")).unwrap();
    }
    for id in e.ids() {
        e.spawn(id);
    }
    (e, pki)
}

#[test]
fn a_mutual_tls_ensemble_replicates_and_refuses_strangers() {
    let (e, _pki) = tls_ensemble("tls", &[]);
    let leader = e.wait_leader(&e.ids(), SETTLE);
    raw::create(e.member(leader).client_port, "/over-tls");
    let follower = e.ids().into_iter().find(|id| *id != leader).unwrap();
    assert!(raw::exists(e.member(follower).client_port, "/over-tls"));
    let before = state(&e);
    let from = e.log_len(leader);
    // Plain TCP with a well-formed hello: no TLS handshake, refused.
    let mut bytes = frame(&hello(follower as u64));
    bytes.extend(frame(&AuthFrame::Start { nonce: [1; 32] }));
    bytes.extend(frame(&forged_vote(follower as u64)));
    assert!(attack(e.member(leader).peer_port, &bytes).len() < 64);
    let lines = wait_log_lines(&e, leader, from, "peer connection refused", 1);
    assert!(lines.iter().any(|l| l.contains("TLS")), "{lines:?}");
    assert_eq!(state(&e), before);
}

#[test]
fn a_member_with_a_certificate_from_another_ca_cannot_join_and_the_logs_say_why() {
    let (e, _pki) = tls_ensemble("tls-foreign", &[3]);
    let leader = e.wait_leader(&[1, 2], SETTLE);
    raw::create(e.member(leader).client_port, "/without-3");
    // The others refuse 3's certificate, and 3's peers' refusal shows in its own log.
    for id in [1, 2] {
        let lines = wait_log_lines(&e, id, 0, "peer connection refused", 1);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("TLS") && l.contains("certificate")),
            "{lines:?}"
        );
    }
    wait_log_lines(&e, 3, 0, "peer link not authenticated", 1);
    assert_eq!(e.mode(3), None);
    let mntr = common::four_letter(e.member(leader).client_port, "mntr");
    assert!(mntr.contains("zk_synced_followers\t1"), "{mntr}");
}
