//! What one authenticated peer connection delivers to the quorum actor at a time: the next
//! frame (awaited), then the frames already read behind it, without waiting, each decoded and
//! holding its share of the connection's incoming byte budget.
//!
//! Invariants: messages come out in the order their frames arrived, none twice and none
//! skipped; a delivery holds at most [`FRAMES_PER_DELIVERY`] messages and the budget of every
//! one of them (given back when the quorum actor drops the delivery); a frame the budget cannot
//! take yet waits, first in line, until earlier deliveries are dropped (so a connection whose
//! budget is spent is not read further); the end of the connection, a read error or an
//! undecodable frame ends the stream of deliveries after the messages before it. Waiting in
//! [`Gather::next`] is cancel-safe: a frame read is kept until it is delivered.

use std::sync::Arc;

use bytes::BytesMut;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::quorum::msg::{PeerMsg, Sid};

/// Unit of the incoming budget (semaphore permits are counts).
pub const BUDGET_UNIT: usize = 1024;

/// At most this many frames that arrived together go to the quorum actor in one delivery.
pub const FRAMES_PER_DELIVERY: usize = 64;

/// Messages for the quorum actor and the budget they hold.
#[derive(Debug)]
pub struct Delivery {
    /// At least one message, in arrival order.
    pub msgs: Vec<PeerMsg>,
    /// Their share of the connection's budget.
    pub permit: OwnedSemaphorePermit,
}

/// Turns one connection's frames into [`Delivery`]s.
pub struct Gather<S> {
    frames: S,
    peer: Sid,
    budget: Arc<Semaphore>,
    units: u32,
    /// A frame read and not delivered yet (its budget was short).
    held: Option<BytesMut>,
    /// False once the connection ended or sent something undecodable.
    open: bool,
}

impl<S, E> Gather<S>
where
    S: Stream<Item = Result<BytesMut, E>> + Unpin,
{
    /// A gatherer over `frames` from `peer`, with `budget_bytes` of incoming budget.
    pub fn new(frames: S, peer: Sid, budget_bytes: usize) -> Gather<S> {
        let units = budget_bytes
            .div_ceil(BUDGET_UNIT)
            .clamp(1, Semaphore::MAX_PERMITS) as u32;
        Gather {
            frames,
            peer,
            budget: Arc::new(Semaphore::new(units as usize)),
            units,
            held: None,
            open: true,
        }
    }

    /// Budget units a frame of `len` bytes holds (a frame larger than the whole budget holds
    /// all of it, so it still gets through alone).
    fn cost(&self, len: usize) -> u32 {
        (len.div_ceil(BUDGET_UNIT) as u32).clamp(1, self.units)
    }

    fn decode(&self, b: &[u8]) -> Option<PeerMsg> {
        rmp_serde::from_slice::<PeerMsg>(b)
            .map_err(|e| {
                tracing::warn!(peer = self.peer, error = %e, "undecodable peer message; dropping the connection");
            })
            .ok()
    }

    /// The next delivery, or `None` once the connection is over (ended, failed, or sent an
    /// undecodable frame) and everything before that was delivered.
    pub async fn next(&mut self) -> Option<Delivery> {
        if !self.open {
            return None;
        }
        if self.held.is_none() {
            match self.frames.next().await {
                Some(Ok(b)) => self.held = Some(b),
                _ => {
                    self.open = false;
                    return None;
                }
            }
        }
        let cost = self.cost(self.held.as_ref().map_or(0, |b| b.len()));
        let Ok(mut permit) = self.budget.clone().acquire_many_owned(cost).await else {
            self.open = false;
            return None;
        };
        let first = self.held.take()?;
        let Some(first) = self.decode(&first) else {
            self.open = false;
            return None;
        };
        let mut msgs = vec![first];
        while msgs.len() < FRAMES_PER_DELIVERY {
            let b = match self.frames.next().now_or_never() {
                None => break, // nothing more read yet
                Some(Some(Ok(b))) => b,
                Some(_) => {
                    self.open = false; // the connection ended
                    break;
                }
            };
            let Ok(more) = self
                .budget
                .clone()
                .try_acquire_many_owned(self.cost(b.len()))
            else {
                self.held = Some(b);
                break;
            };
            let Some(m) = self.decode(&b) else {
                self.open = false;
                break;
            };
            permit.merge(more);
            msgs.push(m);
        }
        Some(Delivery { msgs, permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;

    type Frames = mpsc::UnboundedReceiver<Result<BytesMut, std::io::Error>>;
    type Feed = mpsc::UnboundedSender<Result<BytesMut, std::io::Error>>;

    fn frame(i: i64) -> Result<BytesMut, std::io::Error> {
        let m = PeerMsg::Commit { zxid: i };
        Ok(BytesMut::from(&rmp_serde::to_vec(&m).expect("encode")[..]))
    }

    /// A frame of about `bytes` bytes (a ping listing sessions).
    fn big_frame(bytes: usize) -> Result<BytesMut, std::io::Error> {
        let m = PeerMsg::Ping {
            touched: vec![i64::MIN; bytes / 9],
            round: 0,
        };
        Ok(BytesMut::from(&rmp_serde::to_vec(&m).expect("encode")[..]))
    }

    fn zxids(d: &Delivery) -> Vec<i64> {
        d.msgs
            .iter()
            .map(|m| match m {
                PeerMsg::Commit { zxid } => *zxid,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn gather(budget: usize) -> (Feed, Gather<Frames>) {
        let (tx, rx) = mpsc::unbounded();
        (tx, Gather::new(rx, 2, budget))
    }

    #[tokio::test]
    async fn frames_already_read_go_in_one_delivery_in_order_at_most_64() {
        let (tx, mut g) = gather(1 << 20);
        for i in 1..=3 {
            tx.unbounded_send(frame(i)).unwrap();
        }
        assert_eq!(zxids(&g.next().await.unwrap()), vec![1, 2, 3]);
        for i in 4..=103 {
            tx.unbounded_send(frame(i)).unwrap();
        }
        let a = g.next().await.unwrap();
        let b = g.next().await.unwrap();
        assert_eq!(zxids(&a), (4..=67).collect::<Vec<_>>());
        assert_eq!(zxids(&b), (68..=103).collect::<Vec<_>>());
        // nothing read yet: the next delivery waits for a frame
        let mut next = Box::pin(g.next());
        assert!((&mut next).now_or_never().is_none());
        tx.unbounded_send(frame(104)).unwrap();
        assert_eq!(zxids(&next.await.unwrap()), vec![104]);
    }

    #[tokio::test]
    async fn a_frame_the_budget_cannot_take_waits_until_earlier_deliveries_are_dropped() {
        // 4 units of budget; each big frame costs 3
        let (tx, mut g) = gather(4 * BUDGET_UNIT);
        tx.unbounded_send(big_frame(2500)).unwrap();
        tx.unbounded_send(big_frame(2500)).unwrap();
        tx.unbounded_send(frame(7)).unwrap();
        let first = g.next().await.unwrap();
        assert_eq!(
            first.msgs.len(),
            1,
            "the second frame does not fit beside the first"
        );
        assert_eq!(first.permit.num_permits(), 3);
        let mut next = Box::pin(g.next());
        assert!(
            (&mut next).now_or_never().is_none(),
            "the held frame waits for the budget"
        );
        drop(first);
        let second = next.await.unwrap();
        assert!(matches!(second.msgs[0], PeerMsg::Ping { .. }));
        assert_eq!(
            second.msgs.len(),
            2,
            "the small frame follows it: {second:?}"
        );
        assert!(matches!(second.msgs[1], PeerMsg::Commit { zxid: 7 }));
        assert_eq!(second.permit.num_permits(), 4);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_whole_budget_still_gets_through_alone() {
        let (tx, mut g) = gather(BUDGET_UNIT);
        tx.unbounded_send(big_frame(5000)).unwrap();
        tx.unbounded_send(frame(1)).unwrap();
        let d = g.next().await.unwrap();
        assert_eq!(d.msgs.len(), 1);
        drop(d);
        assert_eq!(zxids(&g.next().await.unwrap()), vec![1]);
    }

    #[tokio::test]
    async fn the_end_of_the_connection_comes_after_the_frames_read_before_it() {
        let (tx, mut g) = gather(1 << 20);
        tx.unbounded_send(frame(1)).unwrap();
        tx.unbounded_send(frame(2)).unwrap();
        drop(tx);
        assert_eq!(zxids(&g.next().await.unwrap()), vec![1, 2]);
        assert!(g.next().await.is_none());
        assert!(g.next().await.is_none());
    }

    #[tokio::test]
    async fn a_read_error_ends_the_connection_after_the_frames_before_it() {
        let (tx, mut g) = gather(1 << 20);
        tx.unbounded_send(frame(1)).unwrap();
        tx.unbounded_send(Err(std::io::Error::other("reset")))
            .unwrap();
        tx.unbounded_send(frame(2)).unwrap();
        assert_eq!(zxids(&g.next().await.unwrap()), vec![1]);
        assert!(g.next().await.is_none(), "nothing after the error");
    }

    #[tokio::test]
    async fn an_undecodable_frame_ends_the_connection_after_the_frames_before_it() {
        let (tx, mut g) = gather(1 << 20);
        tx.unbounded_send(frame(1)).unwrap();
        tx.unbounded_send(Ok(BytesMut::from(&[0xc1u8, 0xff][..])))
            .unwrap();
        tx.unbounded_send(frame(2)).unwrap();
        assert_eq!(zxids(&g.next().await.unwrap()), vec![1]);
        assert!(g.next().await.is_none(), "nothing after the bad frame");
        let (tx, mut g) = gather(1 << 20);
        tx.unbounded_send(Ok(BytesMut::from(&[0xc1u8][..])))
            .unwrap();
        assert!(
            g.next().await.is_none(),
            "a bad first frame ends it at once"
        );
    }

    #[tokio::test]
    async fn waiting_for_the_budget_is_cancel_safe() {
        let (tx, mut g) = gather(4 * BUDGET_UNIT);
        tx.unbounded_send(big_frame(2500)).unwrap();
        tx.unbounded_send(frame(9)).unwrap();
        tx.unbounded_send(big_frame(2500)).unwrap();
        let first = g.next().await.unwrap();
        assert_eq!(first.msgs.len(), 2, "{first:?}");
        // the third frame is read and held; a next() given up while it waits keeps it
        assert!(g.next().now_or_never().is_none());
        assert!(g.next().now_or_never().is_none());
        drop(first);
        let d = g.next().await.unwrap();
        assert_eq!(d.msgs.len(), 1);
        assert!(matches!(d.msgs[0], PeerMsg::Ping { .. }));
        drop(tx);
        drop(d);
        assert!(g.next().await.is_none());
    }
}
