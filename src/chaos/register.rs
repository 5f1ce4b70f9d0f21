//! Workload: versioned compare-and-set registers, many keys. Clients write with setData(value,
//! the version they last read) and read with sync + getData; each key's history is checked for
//! linearizability against [`VersionedRegister`] with the WGL checker
//! ([`super::linearizability`]). BadVersion is an answer; a write whose answer was lost may have
//! taken effect at any point after its call, or never; a read whose answer was lost is left out.

use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use zookeeper_client as zk;

use super::client::{setup, Outcome, Run, Worker};
use super::linearizability::{
    check, Operation, RegisterOp, RegisterRet, Verdict, VersionedRegister,
};

/// Search steps allowed per key's history.
const CHECK_BUDGET: u64 = 20_000_000;

type Op = Operation<RegisterOp, RegisterRet>;

/// The histories of every key.
pub struct Registers {
    keys: usize,
    history: Mutex<Vec<Vec<Op>>>,
}

fn path(key: usize) -> String {
    format!("/chaos/reg/k{key}")
}

fn decode(data: &[u8]) -> Option<u64> {
    std::str::from_utf8(data).ok()?.parse().ok()
}

impl Registers {
    /// `keys` registers, created with value 0 at version 0.
    pub async fn setup(run: &Arc<Run>, keys: usize) -> Result<Arc<Registers>, String> {
        let paths: Vec<(String, &[u8])> = (0..keys).map(|k| (path(k), &b"0"[..])).collect();
        setup(run, "register", &paths).await?;
        Ok(Arc::new(Registers {
            keys,
            history: Mutex::new(vec![Vec::new(); keys]),
        }))
    }

    /// One client: random reads and CAS writes until the run's deadline.
    pub async fn client(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut w = Worker::new(&run, id, seed);
        let mut versions = vec![0i32; self.keys];
        let mut seq = 0u64;
        while let Some((s, rng)) = w.next(1..15).await {
            let c = s.client.clone();
            let key = rng.random_range(0..self.keys);
            let p = path(key);
            let call = run.now();
            if rng.random_bool(0.5) {
                let r = s
                    .op(&run, async {
                        c.sync(&p).await?;
                        c.get_data(&p).await
                    })
                    .await;
                if let Outcome::Ok((data, stat)) = r {
                    let ret = run.now();
                    let Some(value) = decode(&data) else {
                        run.violation(format!("{p} holds {data:?}, never written"));
                        continue;
                    };
                    versions[key] = stat.version;
                    self.push(
                        key,
                        id,
                        RegisterOp::Read,
                        call,
                        Some((
                            ret,
                            RegisterRet::Read {
                                value,
                                version: stat.version,
                            },
                        )),
                    );
                }
            } else {
                seq += 1;
                let value = ((id as u64 + 1) << 32) | seq;
                let expected = versions[key];
                let r = s
                    .op(
                        &run,
                        c.set_data(&p, value.to_string().as_bytes(), Some(expected)),
                    )
                    .await;
                let ret = match r {
                    Outcome::Ok(stat) => {
                        run.write_ok();
                        versions[key] = stat.version;
                        Some((
                            run.now(),
                            RegisterRet::Written {
                                version: stat.version,
                            },
                        ))
                    }
                    Outcome::Failed(zk::Error::BadVersion) => {
                        Some((run.now(), RegisterRet::BadVersion))
                    }
                    // Any other answer: the write may or may not have happened.
                    _ => None,
                };
                self.push(key, id, RegisterOp::Cas { expected, value }, call, ret);
            }
        }
    }

    fn push(
        &self,
        key: usize,
        client: usize,
        input: RegisterOp,
        call: u64,
        ret: Option<(u64, RegisterRet)>,
    ) {
        self.history.lock()[key].push(Operation {
            client,
            input,
            call,
            ret,
        });
    }

    /// Checks every key's history; violations go to `run`.
    pub fn check(&self, run: &Run) {
        let hist = self.history.lock().clone();
        for (key, h) in hist.iter().enumerate() {
            match check(&VersionedRegister::default(), h, CHECK_BUDGET) {
                Verdict::Ok => {}
                Verdict::Violation { linearized, stuck } => run.violation(format!(
                    "{} is not linearizable: after {linearized} operations no order explains \
                     {:?} ({} operations in its history)",
                    path(key),
                    h[stuck],
                    h.len()
                )),
                Verdict::Undecided => run.note(format!(
                    "{}: linearizability undecided within {CHECK_BUDGET} steps ({} operations)",
                    path(key),
                    h.len()
                )),
            }
        }
    }
}
