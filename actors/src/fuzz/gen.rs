//! Random structured values: the seeds of the structure-aware fuzzers (valid encodings that
//! the mutations then break).

use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::peer::auth::AuthFrame;
use crate::proto::{Acl, ErrorCode, Id};
use crate::quorum::msg::{Hello, Notification, PeerMsg, PeerState, SnapshotMeta, Vote};
use crate::txn::{Txn, TxnOp};

/// A short string: a path most of the time, sometimes any characters.
pub fn string(rng: &mut SmallRng) -> String {
    match rng.random_range(0..4) {
        0 => String::new(),
        1 => (0..rng.random_range(0..8))
            .map(|_| char::from_u32(rng.random_range(0..0x3000)).unwrap_or('x'))
            .collect(),
        _ => {
            let mut p = String::new();
            for _ in 0..rng.random_range(1..4) {
                p.push('/');
                for _ in 0..rng.random_range(1..6) {
                    p.push((b'a' + rng.random_range(0..26)) as char);
                }
            }
            p
        }
    }
}

/// Up to `max` random bytes.
pub fn bytes(rng: &mut SmallRng, max: usize) -> Bytes {
    let n = rng.random_range(0..=max);
    Bytes::from((0..n).map(|_| rng.random::<u8>()).collect::<Vec<u8>>())
}

fn opt_bytes(rng: &mut SmallRng) -> Option<Bytes> {
    rng.random_bool(0.8).then(|| bytes(rng, 32))
}

/// An id.
pub fn id(rng: &mut SmallRng) -> Id {
    let scheme = ["world", "digest", "ip", "sasl", "x509", "super", "auth"][rng.random_range(0..7)]
        .to_string();
    Id {
        scheme,
        id: string(rng),
    }
}

/// An ACL list.
pub fn acls(rng: &mut SmallRng) -> Vec<Acl> {
    (0..rng.random_range(0..3))
        .map(|_| Acl {
            perms: rng.random_range(0..32),
            id: id(rng),
        })
        .collect()
}

/// A txn operation (`depth` bounds multi nesting).
pub fn op(rng: &mut SmallRng, depth: u32) -> TxnOp {
    match rng.random_range(0..if depth > 0 { 12 } else { 11 }) {
        0 => TxnOp::CreateSession {
            timeout_ms: rng.random(),
            password: bytes(rng, 16),
        },
        1 => TxnOp::CloseSession {
            ephemerals: (0..rng.random_range(0..3)).map(|_| string(rng)).collect(),
        },
        2 | 3 => TxnOp::Create {
            path: string(rng),
            data: opt_bytes(rng),
            acl: acls(rng),
            ephemeral_owner: rng.random(),
            parent_cversion: rng.random(),
        },
        4 => TxnOp::Delete { path: string(rng) },
        5 | 6 => TxnOp::SetData {
            path: string(rng),
            data: opt_bytes(rng),
            version: rng.random(),
        },
        7 => TxnOp::SetAcl {
            path: string(rng),
            acl: acls(rng),
            aversion: rng.random(),
        },
        8 => TxnOp::Check { path: string(rng) },
        9 => TxnOp::Error(
            ErrorCode::from_code(-(rng.random_range(0..130))).unwrap_or(ErrorCode::NoNode),
        ),
        10 => TxnOp::Reconfig {
            data: bytes(rng, 64),
            version: rng.random(),
        },
        _ => TxnOp::Multi(
            (0..rng.random_range(0..4))
                .map(|_| (rng.random_range(-11..22), op(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// A txn.
pub fn txn(rng: &mut SmallRng) -> Txn {
    Txn {
        zxid: rng.random_range(0..1 << 40),
        time_ms: rng.random(),
        session_id: rng.random(),
        cxid: rng.random(),
        op: op(rng, 2),
    }
}

fn vote(rng: &mut SmallRng) -> Vote {
    Vote {
        leader: rng.random_range(0..8),
        zxid: rng.random(),
        epoch: rng.random_range(0..1000),
    }
}

/// A peer message.
pub fn peer_msg(rng: &mut SmallRng) -> PeerMsg {
    let sessions = |rng: &mut SmallRng| (0..rng.random_range(0..4)).map(|_| rng.random()).collect();
    match rng.random_range(0..20) {
        0 => PeerMsg::Vote(Notification {
            vote: vote(rng),
            round: rng.random(),
            state: [
                PeerState::Looking,
                PeerState::Following,
                PeerState::Leading,
                PeerState::Observing,
            ][rng.random_range(0..4)],
        }),
        1 => PeerMsg::FollowerInfo {
            accepted_epoch: rng.random(),
            last_zxid: rng.random(),
            floor: rng.random(),
            observer: rng.random(),
        },
        2 => PeerMsg::LeaderInfo {
            new_epoch: rng.random(),
        },
        3 => PeerMsg::AckEpoch {
            new_epoch: rng.random(),
            current_epoch: rng.random(),
            last_zxid: rng.random(),
        },
        4 => PeerMsg::Diff {
            zxid: rng.random(),
            committed: rng.random(),
        },
        5 => PeerMsg::Trunc {
            zxid: rng.random(),
            committed: rng.random(),
        },
        6 => {
            if rng.random() {
                PeerMsg::SnapBegin(SnapshotMeta {
                    zxid: rng.random(),
                    end: rng.random(),
                    bytes: rng.random(),
                    chunks: rng.random(),
                    crc: rng.random(),
                })
            } else {
                PeerMsg::SnapChunk {
                    seq: rng.random(),
                    data: bytes(rng, 64),
                    crc: rng.random(),
                }
            }
        }
        7 | 8 => PeerMsg::Proposal(Arc::new(txn(rng))),
        9 => PeerMsg::Ack { zxid: rng.random() },
        10 => PeerMsg::Commit { zxid: rng.random() },
        11 => PeerMsg::Inform(Arc::new(txn(rng))),
        12 => PeerMsg::NewLeader {
            epoch: rng.random(),
        },
        13 => PeerMsg::UpToDate,
        14 => PeerMsg::Ping {
            touched: sessions(rng),
            round: rng.random(),
        },
        15 => PeerMsg::PingReply {
            touched: sessions(rng),
            round: rng.random(),
        },
        16 => PeerMsg::Request {
            session_id: rng.random(),
            xid: rng.random(),
            opcode: rng.random_range(-11..110),
            body: bytes(rng, 48),
            ids: (0..rng.random_range(0..3)).map(|_| id(rng)).collect(),
        },
        17 => PeerMsg::CreateSession {
            session_id: rng.random(),
            timeout_ms: rng.random(),
            password: bytes(rng, 16),
        },
        18 => PeerMsg::Revalidate {
            session_id: rng.random(),
        },
        _ => {
            if rng.random() {
                PeerMsg::SyncRequest {
                    session_id: rng.random(),
                    xid: rng.random(),
                }
            } else {
                PeerMsg::SyncDone {
                    session_id: rng.random(),
                    xid: rng.random(),
                    zxid: rng.random(),
                }
            }
        }
    }
}

/// A hello.
pub fn hello(rng: &mut SmallRng) -> Hello {
    Hello {
        protocol_version: if rng.random_bool(0.9) {
            crate::quorum::msg::PEER_PROTOCOL_VERSION
        } else {
            rng.random()
        },
        from: rng.random_range(0..8),
        generation: rng.random(),
        listen_addr: rng
            .random_bool(0.5)
            .then(|| format!("127.0.0.1:{}", rng.random::<u16>())),
    }
}

/// A handshake frame.
pub fn auth_frame(rng: &mut SmallRng) -> AuthFrame {
    let proof = |rng: &mut SmallRng| rng.random_bool(0.7).then(|| rng.random::<[u8; 32]>());
    match rng.random_range(0..5) {
        0 => AuthFrame::Start {
            nonce: rng.random(),
        },
        1 => AuthFrame::Challenge {
            nonce: rng.random(),
            proof: proof(rng),
        },
        2 => AuthFrame::Proof { proof: proof(rng) },
        3 => AuthFrame::Accepted,
        _ => AuthFrame::Refused {
            reason: string(rng),
        },
    }
}
