//! Workload: the lock recipe with ephemeral sequential nodes. A client creates
//! `/chaos/lock/lN/n-<seq>`, holds the lock once its node is the lowest child, waits on its
//! predecessor otherwise, and releases by deleting its node. As Curator does, a client counts
//! itself the holder only while its session is connected: a disconnect ends its claim.
//!
//! Checked:
//! * never two holders: the claims (from the answer that showed the client's node lowest to its
//!   delete, or its first disconnect) of different sessions never overlap;
//! * every lock is released or its holder's session expired: a server never answers a live
//!   session that its lock node is gone unless it deleted it (checked online), and once every
//!   session is over no lock node is left (checked at the end, see [`super::session`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

use super::client::{bounded, ephemeral_sequential, setup, Outcome, Run, Session};

/// One client's claim on a lock: from `from` to `to` (µs), by session `session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Which lock.
    pub lock: usize,
    /// The holder's session.
    pub session: i64,
    /// When the client learned it holds the lock.
    pub from: u64,
    /// When it released it or lost its connection.
    pub to: u64,
}

/// Overlapping claims of different sessions on one lock, as violation lines.
pub fn overlapping_claims(claims: &[Claim]) -> Vec<String> {
    let mut by_lock: BTreeMap<usize, Vec<Claim>> = BTreeMap::new();
    for c in claims {
        by_lock.entry(c.lock).or_default().push(*c);
    }
    let mut out = Vec::new();
    for (lock, mut cs) in by_lock {
        cs.sort_by_key(|c| (c.from, c.to));
        // The claim reaching furthest so far.
        let mut reach: Option<Claim> = None;
        for c in cs {
            if let Some(r) = reach {
                if c.from < r.to && c.session != r.session {
                    out.push(format!(
                        "lock {lock} held by two sessions at once: 0x{:x} from {} ms to {} ms \
                         and 0x{:x} from {} ms to {} ms",
                        r.session,
                        r.from / 1000,
                        r.to / 1000,
                        c.session,
                        c.from / 1000,
                        c.to / 1000
                    ));
                }
            }
            if reach.is_none_or(|r| c.to > r.to) {
                reach = Some(c);
            }
        }
    }
    out
}

/// The lock workload's shared state.
pub struct Locks {
    locks: usize,
    claims: Mutex<Vec<Claim>>,
}

fn dir(lock: usize) -> String {
    format!("/chaos/lock/l{lock}")
}

fn seq_of(name: &str) -> Option<u64> {
    name.rsplit('-').next()?.parse().ok()
}

impl Locks {
    /// `locks` lock directories.
    pub async fn setup(run: &Arc<Run>, locks: usize) -> Result<Arc<Locks>, String> {
        let paths: Vec<(String, &[u8])> = (0..locks).map(|l| (dir(l), &b""[..])).collect();
        setup(run, "lock", &paths).await?;
        Ok(Arc::new(Locks {
            locks,
            claims: Mutex::new(Vec::new()),
        }))
    }

    /// One client: acquire, hold a little, release, until the run's deadline. Any doubt about
    /// its own node (an unknown create or delete, an error) abandons the session: closing it
    /// deletes the node.
    pub async fn client(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        while !run.over() {
            let Some(s) = Session::connect(&run, &run.hosts_for(id)).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            while !run.over() && !s.is_over() {
                let lock = rng.random_range(0..self.locks);
                let hold = Duration::from_millis(rng.random_range(10..200));
                if !self.round(&run, &s, lock, hold).await {
                    break;
                }
            }
            super::session::finish(&run, &s);
        }
    }

    /// One acquire-hold-release round; false if the session should be abandoned.
    async fn round(&self, run: &Arc<Run>, s: &Session, lock: usize, hold: Duration) -> bool {
        let limit = run.session_timeout;
        let c = &s.client;
        let d = dir(lock);
        run.op();
        let call0 = run.now();
        let (_, seq) = match bounded(
            limit,
            c.create(&format!("{d}/n-"), b"", &ephemeral_sequential()),
        )
        .await
        {
            Outcome::Ok(r) => r,
            _ => return false,
        };
        let mine = format!("n-{seq}");
        let my_path = format!("{d}/{mine}");
        let my_seq = seq.into_i64() as u64;
        // Wait until our node is the lowest.
        s.confirm(call0);
        let acquired_at = loop {
            if run.over() {
                let _ = bounded(limit, c.delete(&my_path, None)).await;
                return false;
            }
            run.op();
            let call = run.now();
            let children = match bounded(limit, c.list_children(&d)).await {
                Outcome::Ok(ch) => ch,
                _ => return false,
            };
            s.confirm(call);
            let now = run.now();
            let mut seqs: Vec<(u64, String)> = children
                .into_iter()
                .filter_map(|n| seq_of(&n).map(|q| (q, n)))
                .collect();
            seqs.sort();
            if !seqs.iter().any(|(q, _)| *q == my_seq) {
                s.vanished(run, &my_path).await;
                return false;
            }
            let pred = seqs
                .iter()
                .rev()
                .find(|(q, _)| *q < my_seq)
                .map(|(_, n)| n.clone());
            let Some(pred) = pred else {
                break now;
            };
            run.op();
            match bounded(limit, c.check_and_watch_stat(&format!("{d}/{pred}"))).await {
                Outcome::Ok((None, _)) => continue,
                Outcome::Ok((Some(_), w)) => {
                    // Woken by the predecessor's deletion, or look again after a while.
                    let _ = tokio::time::timeout(Duration::from_secs(2), w.changed()).await;
                }
                _ => return false,
            }
        };
        tokio::time::sleep(hold).await;
        let release_at = run.now();
        run.op();
        let r = bounded(limit, c.delete(&my_path, None)).await;
        let to = s
            .states
            .first_disconnect_after(acquired_at)
            .map_or(release_at, |d| d.min(release_at));
        self.claims.lock().push(Claim {
            lock,
            session: s.id,
            from: acquired_at,
            to,
        });
        match r {
            Outcome::Ok(()) => {
                run.write_ok();
                true
            }
            Outcome::Failed(zk::Error::NoNode) => {
                s.vanished(run, &my_path).await;
                false
            }
            _ => false,
        }
    }

    /// Checks the claims; violations go to `run`.
    pub fn check(&self, run: &Run) {
        for v in overlapping_claims(&self.claims.lock()) {
            run.violation(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(lock: usize, session: i64, from: u64, to: u64) -> Claim {
        Claim {
            lock,
            session,
            from,
            to,
        }
    }

    #[test]
    fn claims_one_after_the_other_are_fine() {
        let c = [
            claim(0, 1, 0, 100),
            claim(0, 2, 100, 200),
            claim(1, 3, 50, 150),
            claim(0, 1, 300, 400),
        ];
        assert!(overlapping_claims(&c).is_empty());
    }

    #[test]
    fn two_holders_at_once_are_a_violation() {
        let c = [claim(0, 1, 0, 100), claim(0, 2, 99, 200)];
        assert_eq!(overlapping_claims(&c).len(), 1);
        // Also when the overlap is with an earlier, longer claim.
        let c = [
            claim(0, 1, 0, 1000),
            claim(0, 2, 10, 20),
            claim(0, 3, 500, 600),
        ];
        assert_eq!(overlapping_claims(&c).len(), 2);
    }
}
