//! The learner role (follower or observer): register with the leader, accept its epoch, take
//! its synchronisation (DIFF, TRUNC, SNAP), acknowledge NEWLEADER once the synced history is
//! durable, then log and ACK proposals and apply commits in order.
//!
//! Invariants:
//! * a proposal is logged only if it directly follows the last logged txn; anything else
//!   means a lost message and the learner goes back to LOOKING;
//! * ACKs (of proposals and of NEWLEADER) are continuations of the durable write they
//!   acknowledge;
//! * a txn is applied only when committed by the leader and durable here, in zxid order;
//! * a streamed snapshot (SNAP) is taken chunk by chunk, in order, each chunk's crc32c checked
//!   before it is written and acknowledged only once written; the whole is installed only when
//!   every chunk arrived and its length and crc32c match what `SnapBegin` announced (the shell
//!   checks the file again before installing). A gap, a bad crc or a broken stream sends the
//!   learner back to LOOKING and the partial file is discarded: it registers again and the
//!   stream starts over. Nothing of a partial snapshot is ever installed. Each chunk counts as
//!   progress for initLimit, so a big snapshot is not cut off while it flows.

use super::core::{Cont, DurableAction, Output, Shared};
use super::msg::{make_zxid, PeerMsg, Sid, SnapshotMeta};
use crate::txn::follows;
use crate::txn::Zxid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Registering,
    /// Epoch accepted; receiving the sync.
    Syncing,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    Synced,
    /// Serving.
    Active,
}

/// A follower or observer.
#[derive(Debug)]
pub struct Follower {
    leader: Sid,
    observer: bool,
    phase: Phase,
    epoch: u64,
    started: i64,
    last_heard: i64,
    /// Highest zxid the leader committed (as far as we know).
    committed: Zxid,
    /// Highest zxid durable in our log.
    durable: Zxid,
    got_sync_head: bool,
    last_info_sent: i64,
    info: PeerMsg,
    /// The snapshot being received: what was announced, the next chunk expected, the bytes
    /// and crc32c so far.
    incoming: Option<(SnapshotMeta, u64, u64, u32)>,
}

impl Follower {
    pub(super) fn start(
        s: &mut Shared,
        leader: Sid,
        observer: bool,
        now: i64,
    ) -> (Follower, Vec<Output>) {
        let info = PeerMsg::FollowerInfo {
            accepted_epoch: s.accepted_epoch,
            last_zxid: s.last_logged,
            floor: s.floor,
            observer,
        };
        let f = Follower {
            leader,
            observer,
            phase: Phase::Registering,
            epoch: 0,
            started: now,
            last_heard: now,
            committed: s.last_applied,
            durable: s.last_logged,
            got_sync_head: false,
            last_info_sent: now,
            info: info.clone(),
            incoming: None,
        };
        (f, vec![Output::Send(leader, info)])
    }

    /// The leader.
    pub fn leader(&self) -> Sid {
        self.leader
    }

    /// Is this an observer?
    pub fn observer(&self) -> bool {
        self.observer
    }

    /// A snapshot is partly received (its chunks must be discarded if this role ends).
    pub(super) fn receiving_snapshot(&self) -> bool {
        self.incoming.is_some()
    }

    /// Applies what is committed and durable, once serving: until UPTODATE the leader has not
    /// established its epoch, and what it calls committed may still be only its history.
    fn apply_ready(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        if self.phase != Phase::Active {
            return;
        }
        let limit = self.committed.min(self.durable);
        let mut ready = Vec::new();
        while let Some(t) = s.unapplied.front() {
            if t.zxid > limit {
                break;
            }
            ready.push(s.unapplied.pop_front().expect("front"));
        }
        s.apply(out, ready);
    }

    pub(super) fn on_logged(&mut self, s: &mut Shared, z: Zxid, out: &mut Vec<Output>) {
        self.durable = self.durable.max(z);
        s.durable_to(z);
        self.apply_ready(s, out);
    }

    /// Truncation or snapshot install done; `z` is what the shell could rebuild. True: the
    /// rebuilt state is not what the leader expects: go back to LOOKING and sync again.
    pub(super) fn on_reset(&mut self, s: &Shared, z: Zxid) -> bool {
        // The rebuilt state itself was checked when the shell reported it (`Input::Reloaded`);
        // proposals that followed the TRUNC/SNAP may already be queued behind it.
        if s.last_durable < z {
            tracing::warn!(
                expected = %format!("{z:#x}"),
                rebuilt = %format!("{:#x}", s.last_durable),
                "could not rebuild the state the leader asked for; syncing again"
            );
            return true;
        }
        self.durable = z;
        false
    }

    /// Returns true to go back to LOOKING.
    pub(super) fn on_message(
        &mut self,
        s: &mut Shared,
        now: i64,
        from: Sid,
        msg: PeerMsg,
        out: &mut Vec<Output>,
    ) -> bool {
        if from != self.leader {
            return false;
        }
        self.last_heard = now;
        match msg {
            PeerMsg::LeaderInfo { new_epoch } => {
                if self.phase != Phase::Registering {
                    return false;
                }
                if new_epoch < s.accepted_epoch {
                    tracing::info!(
                        new_epoch,
                        accepted = s.accepted_epoch,
                        "leader proposes an older epoch"
                    );
                    return true;
                }
                self.epoch = new_epoch;
                self.phase = Phase::Syncing;
                let ack = PeerMsg::AckEpoch {
                    new_epoch,
                    current_epoch: s.current_epoch,
                    last_zxid: s.last_logged,
                };
                if new_epoch > s.accepted_epoch {
                    s.accepted_epoch = new_epoch;
                    s.durably(
                        out,
                        DurableAction::SaveEpochs {
                            accepted: s.accepted_epoch,
                            current: s.current_epoch,
                        },
                        vec![Cont::Send(self.leader, ack)],
                    );
                } else {
                    out.push(Output::Send(self.leader, ack));
                }
            }
            PeerMsg::Diff { zxid, committed } => {
                if self.phase != Phase::Syncing || zxid != s.last_logged {
                    tracing::warn!(zxid = %format!("{zxid:#x}"), ours = %format!("{:#x}", s.last_logged), "unexpected DIFF");
                    return true;
                }
                self.got_sync_head = true;
                // What of it the leader has committed (or will with its epoch): applied after
                // UPTODATE. A DIFF point can be a proposal still in flight.
                self.committed = self.committed.max(committed);
            }
            PeerMsg::Trunc { zxid, committed } => {
                if self.phase != Phase::Syncing {
                    return true;
                }
                tracing::info!(to = %format!("{zxid:#x}"), from = %format!("{:#x}", s.last_logged), "TRUNC: dropping txns the new leader does not have");
                self.got_sync_head = true;
                s.reset_history(zxid);
                self.durable = 0;
                self.committed = committed;
                s.durably(
                    out,
                    DurableAction::Truncate { to: zxid },
                    vec![Cont::Reset(zxid)],
                );
            }
            PeerMsg::SnapBegin(snap) => {
                if self.phase != Phase::Syncing || self.got_sync_head || snap.chunks == 0 {
                    return true;
                }
                self.started = now;
                self.incoming = Some((snap, 0, 0, 0));
            }
            PeerMsg::SnapChunk { seq, data, crc } => {
                return self.on_snap_chunk(s, now, seq, data, crc, out);
            }
            PeerMsg::Proposal(txn) => return self.log_txn(s, txn, false, out),
            PeerMsg::Inform(txn) => return self.log_txn(s, txn, true, out),
            PeerMsg::Commit { zxid } => {
                if zxid > s.last_logged {
                    tracing::warn!(zxid = %format!("{zxid:#x}"), "commit of a txn we never logged");
                    return true;
                }
                self.committed = self.committed.max(zxid);
                self.apply_ready(s, out);
            }
            PeerMsg::NewLeader { epoch } => {
                if self.phase != Phase::Syncing || epoch != self.epoch || !self.got_sync_head {
                    return true;
                }
                self.phase = Phase::Synced;
                s.current_epoch = epoch;
                // Everything synced so far is in the log actor's queue before this: when the
                // epochs are saved, the history is durable.
                s.durably(
                    out,
                    DurableAction::SaveEpochs {
                        accepted: s.accepted_epoch,
                        current: s.current_epoch,
                    },
                    vec![Cont::Send(
                        self.leader,
                        PeerMsg::Ack {
                            zxid: make_zxid(epoch, 0),
                        },
                    )],
                );
            }
            PeerMsg::UpToDate => {
                if self.phase != Phase::Synced {
                    return true;
                }
                self.phase = Phase::Active;
                self.apply_ready(s, out);
                out.push(Output::Serving(true));
            }
            PeerMsg::Ping { touched, round } => {
                if !touched.is_empty() {
                    out.push(Output::SessionsAlive(touched));
                }
                out.push(Output::Send(
                    self.leader,
                    PeerMsg::PingReply {
                        touched: Vec::new(),
                        round,
                    },
                ));
            }
            _ => {}
        }
        false
    }

    /// A chunk of the snapshot being streamed. True: go LOOKING (and start over).
    fn on_snap_chunk(
        &mut self,
        s: &mut Shared,
        now: i64,
        seq: u64,
        data: bytes::Bytes,
        crc: u32,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some((snap, next, bytes, whole)) = self.incoming.as_mut() else {
            tracing::warn!(seq, "snapshot chunk without SNAP");
            return true;
        };
        if seq != *next || crc32c::crc32c(&data) != crc {
            tracing::warn!(
                seq,
                expected = *next,
                "snapshot chunk out of order or corrupt; syncing again"
            );
            return true;
        }
        *next += 1;
        *bytes += data.len() as u64;
        *whole = crc32c::crc32c_append(*whole, &data);
        self.started = now;
        let snap = *snap;
        let ack = Cont::Send(self.leader, PeerMsg::SnapAck { seq });
        if *next < snap.chunks {
            s.durably(out, DurableAction::SnapChunk { seq, data }, vec![ack]);
            return false;
        }
        if *bytes != snap.bytes || *whole != snap.crc {
            tracing::warn!(
                bytes = *bytes,
                expected = snap.bytes,
                "streamed snapshot does not match its checksum; syncing again"
            );
            return true;
        }
        self.incoming = None;
        s.durably(out, DurableAction::SnapChunk { seq, data }, Vec::new());
        // Installed, then acknowledged: the tail that follows is logged after it.
        self.got_sync_head = true;
        let z = snap.zxid;
        s.reset_history(z);
        self.durable = 0;
        self.committed = z;
        s.durably(
            out,
            DurableAction::InstallSnapshot(snap),
            vec![Cont::Reset(z), ack],
        );
        false
    }

    /// Logs a proposed (or, for an observer, informed = committed) txn. True: go LOOKING.
    fn log_txn(
        &mut self,
        s: &mut Shared,
        txn: std::sync::Arc<crate::txn::Txn>,
        committed: bool,
        out: &mut Vec<Output>,
    ) -> bool {
        if self.phase == Phase::Registering || (self.phase == Phase::Syncing && !self.got_sync_head)
        {
            return true;
        }
        if !follows(s.last_logged, txn.zxid) {
            tracing::warn!(
                zxid = %format!("{:#x}", txn.zxid),
                last = %format!("{:#x}", s.last_logged),
                "proposal does not follow the log (lost message)"
            );
            return true;
        }
        s.last_logged = txn.zxid;
        s.unapplied.push_back(txn.clone());
        let z = txn.zxid;
        if committed {
            self.committed = self.committed.max(z);
        }
        let mut then = vec![Cont::Logged(z)];
        if !self.observer && self.phase != Phase::Syncing {
            then.push(Cont::Send(self.leader, PeerMsg::Ack { zxid: z }));
        }
        s.durably(out, DurableAction::Append(vec![txn]), then);
        false
    }

    /// Returns true to go back to LOOKING.
    pub(super) fn on_tick(&mut self, s: &mut Shared, now: i64, out: &mut Vec<Output>) -> bool {
        let t = s.cfg.timing;
        if self.phase == Phase::Registering && now - self.last_info_sent >= t.tick_ms {
            // The leader may have been between two terms when the last one arrived.
            self.last_info_sent = now;
            out.push(Output::Send(self.leader, self.info.clone()));
        }
        if self.phase < Phase::Active {
            if now - self.started > t.init_ms() {
                tracing::info!(
                    leader = self.leader,
                    "no sync with the leader within initLimit"
                );
                return true;
            }
        } else if now - self.last_heard > t.sync_ms() {
            tracing::info!(
                leader = self.leader,
                "leader silent for syncLimit: looking again"
            );
            return true;
        }
        false
    }
}
