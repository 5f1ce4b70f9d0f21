//! Encoding peer messages once: a proposal goes to every follower (and a committed txn to every
//! observer), and [`Encoder`] serializes it (rmp-serde) for the first of them and hands the same
//! bytes to the others.
//!
//! Invariant: the bytes returned for a message are exactly `rmp_serde::to_vec` of it. The cache
//! holds the last proposal's `Arc` itself, so a pointer comparison can only match that very txn
//! (its allocation cannot be reused while the cache holds it).

use std::sync::Arc;

use bytes::Bytes;

use crate::quorum::msg::PeerMsg;
use crate::txn::Txn;

/// Serializes peer messages, encoding each proposal once however many peers it goes to.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The last proposal or inform sent: whether it was an inform, its txn, its bytes.
    last: Option<(bool, Arc<Txn>, Bytes)>,
}

impl Encoder {
    /// The frame payload of `msg`.
    pub fn encode(&mut self, msg: &PeerMsg) -> Result<Bytes, rmp_serde::encode::Error> {
        let (inform, txn) = match msg {
            PeerMsg::Proposal(txn) => (false, txn),
            PeerMsg::Inform(txn) => (true, txn),
            _ => return to_bytes(msg, SMALL_MESSAGE),
        };
        if let Some((was_inform, last, bytes)) = &self.last {
            if *was_inform == inform && Arc::ptr_eq(last, txn) {
                return Ok(bytes.clone());
            }
        }
        let bytes = to_bytes(msg, txn.weight())?;
        self.last = Some((inform, txn.clone(), bytes.clone()));
        Ok(bytes)
    }
}

/// The starting buffer for a message other than a txn (acks, commits, pings): most fit.
const SMALL_MESSAGE: usize = 64;

/// `rmp_serde::to_vec` of `msg` into a buffer that starts at `capacity` bytes (for a txn, its
/// weight: its payloads plus room for the rest), not at zero and grown by doubling.
fn to_bytes(msg: &PeerMsg, capacity: usize) -> Result<Bytes, rmp_serde::encode::Error> {
    let mut out = Vec::with_capacity(capacity);
    rmp_serde::encode::write(&mut out, msg)?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnOp};

    fn txn(zxid: i64, data: &'static [u8]) -> Arc<Txn> {
        Arc::new(Txn {
            zxid,
            time_ms: 1,
            session_id: 2,
            cxid: 3,
            op: TxnOp::SetData {
                path: "/a".into(),
                data: Some(Bytes::from_static(data)),
                version: 1,
            },
        })
    }

    #[test]
    fn a_proposal_sent_to_several_peers_is_encoded_once_and_every_message_as_rmp_serde_would() {
        let mut e = Encoder::default();
        let t = txn(7, b"x");
        let first = e.encode(&PeerMsg::Proposal(t.clone())).unwrap();
        let second = e.encode(&PeerMsg::Proposal(t.clone())).unwrap();
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "the same bytes, not a copy"
        );
        assert_eq!(
            &first[..],
            &rmp_serde::to_vec(&PeerMsg::Proposal(t)).unwrap()[..]
        );
        // An equal txn in another allocation is encoded afresh (and identically).
        let u = txn(7, b"x");
        let third = e.encode(&PeerMsg::Proposal(u)).unwrap();
        assert_ne!(third.as_ptr(), first.as_ptr());
        assert_eq!(third, first);
        // A different txn, and a message of another kind, are their own encodings.
        let v = txn(8, b"y");
        let fourth = e.encode(&PeerMsg::Proposal(v.clone())).unwrap();
        assert_eq!(
            &fourth[..],
            &rmp_serde::to_vec(&PeerMsg::Proposal(v)).unwrap()[..]
        );
        let commit = PeerMsg::Commit { zxid: 8 };
        assert_eq!(
            &e.encode(&commit).unwrap()[..],
            &rmp_serde::to_vec(&commit).unwrap()[..]
        );
        // The same txn as an inform (to observers) is not the proposal's bytes.
        let t = txn(9, b"z");
        let proposal = e.encode(&PeerMsg::Proposal(t.clone())).unwrap();
        let inform = e.encode(&PeerMsg::Inform(t.clone())).unwrap();
        assert_eq!(
            &inform[..],
            &rmp_serde::to_vec(&PeerMsg::Inform(t.clone())).unwrap()[..]
        );
        assert_ne!(proposal, inform);
        let again = e.encode(&PeerMsg::Inform(t)).unwrap();
        assert_eq!(again.as_ptr(), inform.as_ptr());
        // A payload far past any small buffer, and a multi of many ops.
        let big = Arc::new(Txn {
            op: TxnOp::SetData {
                path: "/big".into(),
                data: Some(Bytes::from(vec![7u8; 100_000])),
                version: 1,
            },
            ..(*txn(10, b"")).clone()
        });
        let multi = Arc::new(Txn {
            op: TxnOp::Multi(
                (0..200)
                    .map(|i| {
                        (
                            i,
                            TxnOp::Delete {
                                path: format!("/n{i}"),
                            },
                        )
                    })
                    .collect(),
            ),
            ..(*txn(11, b"")).clone()
        });
        for t in [big, multi] {
            assert_eq!(
                &e.encode(&PeerMsg::Proposal(t.clone())).unwrap()[..],
                &rmp_serde::to_vec(&PeerMsg::Proposal(t)).unwrap()[..]
            );
        }
    }
}
