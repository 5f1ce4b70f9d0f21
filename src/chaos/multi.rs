//! Workload: multi (atomic transactions). A writer's multi sets the three keys `a`, `b`, `c` of a
//! group to one fresh value and creates `log/v<value>`; one in four also tries to create `a`
//! again, so the whole multi must fail and none of it be seen. Readers sync, then read `a`, `b`
//! and `c` one after the other.
//!
//! Checked (all-or-nothing as seen by readers):
//! * every key written with a value carries the same zxid (one txn);
//! * a reader that saw `a` at zxid z then sees `b` and `c` at z or later (every multi writes all
//!   three: a later read cannot show an older `b` than the txn that wrote the `a` it saw);
//! * no value of a multi that failed is ever seen, and its log node never exists;
//! * at the end every server has `a`, `b`, `c` equal, and the log node of that value.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use zookeeper_client as zk;

use super::client::{
    bounded, indeterminate, persistent, setup, Ids, Outcome, Run, Session, Worker,
};

/// A reader's view of one group: (value, mzxid) of `a`, `b`, `c`, read in that order.
pub type Observation = [(u64, i64); 3];

/// The multi checker (pure: fed with observations and outcomes).
#[derive(Default)]
pub struct MultiChecker {
    zxid_of: HashMap<(usize, u64), i64>,
    seen: HashSet<(usize, u64)>,
    failed: HashSet<(usize, u64)>,
    /// Violations found.
    pub violations: Vec<String>,
}

impl MultiChecker {
    /// A reader saw `obs` in group `g`.
    pub fn observe(&mut self, g: usize, obs: &Observation) {
        for (i, (v, z)) in obs.iter().enumerate() {
            self.seen.insert((g, *v));
            match self.zxid_of.insert((g, *v), *z) {
                Some(prev) if prev != *z => self.violations.push(format!(
                    "group {g}: value {v} of one multi seen at zxid 0x{prev:x} and at 0x{z:x} \
                     (key {})",
                    ["a", "b", "c"][i]
                )),
                _ => {}
            }
        }
        for w in obs.windows(2) {
            if w[1].1 < w[0].1 {
                self.violations.push(format!(
                    "group {g}: a reader saw a later key older than an earlier one: {obs:?} \
                     (a multi was seen in part)"
                ));
            }
        }
    }

    /// The multi that would have written `v` in group `g` failed.
    pub fn failed(&mut self, g: usize, v: u64) {
        self.failed.insert((g, v));
    }

    /// Values of failed multis that were seen.
    pub fn finish(&mut self) {
        let mut bad: Vec<_> = self.seen.intersection(&self.failed).copied().collect();
        bad.sort_unstable();
        for (g, v) in bad {
            self.violations
                .push(format!("group {g}: value {v} of a failed multi was seen"));
        }
    }

    /// Did the multi of `v` in group `g` fail?
    pub fn is_failed(&self, g: usize, v: u64) -> bool {
        self.failed.contains(&(g, v))
    }
}

/// The multi workload's shared state.
pub struct Multis {
    groups: usize,
    ids: Ids,
    checker: Mutex<MultiChecker>,
}

fn key(g: usize, k: &str) -> String {
    format!("/chaos/multi/g{g}/{k}")
}

fn decode(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

impl Multis {
    /// `groups` groups with value 0 everywhere.
    pub async fn setup(run: &Arc<Run>, groups: usize) -> Result<Arc<Multis>, String> {
        let paths: Vec<(String, &[u8])> = (0..groups).map(|g| (key(g, "log"), &b""[..])).collect();
        let s = setup(run, "multi", &paths).await?;
        let c = &s.client;
        for g in 0..groups {
            let mut m = c.new_multi_writer();
            for k in ["a", "b", "c"] {
                m.add_create(&key(g, k), b"0", &persistent())
                    .map_err(|e| e.to_string())?;
            }
            match bounded(run.session_timeout * 2, async {
                m.commit().await.map_err(zk::Error::from)
            })
            .await
            {
                Outcome::Ok(_) | Outcome::Failed(zk::Error::NodeExists) => {}
                r => return Err(format!("multi setup: {r:?}")),
            }
        }
        Ok(Arc::new(Multis {
            groups,
            ids: Ids::default(),
            checker: Mutex::new(MultiChecker::default()),
        }))
    }

    /// One writer until the deadline.
    pub async fn writer(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut w = Worker::new(&run, id, seed);
        while let Some((s, rng)) = w.next(5..40).await {
            let g = rng.random_range(0..self.groups);
            let v = self.ids.next();
            let doomed = rng.random_bool(0.25);
            let mut m = s.client.new_multi_writer();
            let data = v.to_string();
            let mut ok = true;
            for k in ["a", "b", "c"] {
                ok &= m.add_set_data(&key(g, k), data.as_bytes(), None).is_ok();
            }
            ok &= m
                .add_create(&format!("{}/v{v}", key(g, "log")), b"", &persistent())
                .is_ok();
            if doomed {
                ok &= m.add_create(&key(g, "a"), b"", &persistent()).is_ok();
            }
            if !ok {
                run.violation("multi: the client refused to build a multi".into());
                return;
            }
            run.op();
            let call = run.now();
            let r = tokio::time::timeout(run.session_timeout, m.commit()).await;
            if let Ok(Ok(_) | Err(zk::MultiWriteError::OperationFailed { .. })) = &r {
                s.confirm(call);
            }
            match r {
                Ok(Ok(_)) => {
                    run.write_ok();
                    if doomed {
                        run.violation(format!(
                            "group {g}: a multi that creates an existing node succeeded (value {v})"
                        ));
                    }
                }
                Ok(Err(zk::MultiWriteError::OperationFailed { .. })) => {
                    self.checker.lock().failed(g, v);
                }
                Ok(Err(zk::MultiWriteError::RequestFailed { source }))
                    if !indeterminate(&source) =>
                {
                    self.checker.lock().failed(g, v);
                }
                _ => {}
            }
        }
    }

    /// One reader until the deadline.
    pub async fn reader(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut w = Worker::new(&run, id, seed);
        while let Some((s, rng)) = w.next(5..40).await {
            let g = rng.random_range(0..self.groups);
            let c = &s.client;
            let r = s
                .op(&run, async {
                    c.sync(&key(g, "a")).await?;
                    let (a, sa) = c.get_data(&key(g, "a")).await?;
                    let (b, sb) = c.get_data(&key(g, "b")).await?;
                    let (cc, sc) = c.get_data(&key(g, "c")).await?;
                    Ok([
                        (decode(&a), sa.mzxid),
                        (decode(&b), sb.mzxid),
                        (decode(&cc), sc.mzxid),
                    ])
                })
                .await;
            if let Outcome::Ok(obs) = r {
                self.checker.lock().observe(g, &obs);
            }
        }
    }

    /// Final check on every server (`direct`: connect strings of single members).
    pub async fn finish(&self, run: &Arc<Run>, direct: &[String]) {
        for h in direct {
            let Some(s) = Session::connect(run, h).await else {
                run.violation(format!("multi final check: no session on {h}"));
                continue;
            };
            for g in 0..self.groups {
                let c = &s.client;
                let r = bounded(run.session_timeout, async {
                    c.sync(&key(g, "a")).await?;
                    let mut obs = [(0u64, 0i64); 3];
                    for (i, k) in ["a", "b", "c"].iter().enumerate() {
                        let (d, st) = c.get_data(&key(g, k)).await?;
                        obs[i] = (decode(&d), st.mzxid);
                    }
                    let log = c
                        .check_stat(&format!("{}/v{}", key(g, "log"), obs[0].0))
                        .await?;
                    Ok((obs, log.is_some()))
                })
                .await;
                match r {
                    Outcome::Ok((obs, log)) => {
                        let mut ch = self.checker.lock();
                        ch.observe(g, &obs);
                        if obs[0] != obs[1] || obs[1] != obs[2] {
                            ch.violations
                                .push(format!("group {g} on {h}: keys differ at rest: {obs:?}"));
                        }
                        if obs[0].0 != 0 && !log {
                            ch.violations.push(format!(
                                "group {g} on {h}: value {} without its log node",
                                obs[0].0
                            ));
                        }
                    }
                    other => run.violation(format!("multi final check on {h}: {other:?}")),
                }
            }
        }
        let mut ch = self.checker.lock();
        ch.finish();
        for v in ch.violations.drain(..) {
            run.violation(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_multis_in_order_are_fine() {
        let mut c = MultiChecker::default();
        c.observe(0, &[(1, 10), (1, 10), (1, 10)]);
        // A newer multi landed between the reads of a and b.
        c.observe(0, &[(1, 10), (2, 12), (2, 12)]);
        c.failed(0, 3);
        c.finish();
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    #[test]
    fn a_multi_seen_in_part_is_a_violation() {
        let mut c = MultiChecker::default();
        // b older than the a read before it: a's multi did not write b.
        c.observe(0, &[(2, 12), (1, 10), (2, 12)]);
        assert_eq!(c.violations.len(), 1);
        let mut c = MultiChecker::default();
        // One value under two zxids: not one txn.
        c.observe(0, &[(2, 12), (2, 13), (2, 13)]);
        assert_eq!(c.violations.len(), 1);
    }

    #[test]
    fn a_failed_multi_seen_is_a_violation() {
        let mut c = MultiChecker::default();
        c.observe(1, &[(7, 20), (7, 20), (7, 20)]);
        c.failed(1, 7);
        c.finish();
        assert_eq!(c.violations.len(), 1);
    }
}
