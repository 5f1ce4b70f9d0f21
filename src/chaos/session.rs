//! Workload: sessions and their ephemerals. Each client owns an ephemeral
//! `/chaos/sess/<session id>`, checks every few hundred ms that it exists, and now and then
//! closes its session and opens a new one.
//!
//! Checked:
//! * an ephemeral exists while its session lives: a server that answers a session must not say
//!   its node is gone (online);
//! * no session of a client that kept hearing from the servers expires sooner than its timeout
//!   allows ([`super::client::early_expiry`], for every session of every workload);
//! * an ephemeral does not outlive its session: once every session of the run is closed (or
//!   expired), no ephemeral is left under /chaos ([`leftover_ephemerals`], at the end).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::client::{bounded, ephemeral, setup as setup_paths, Outcome, Run, Session};

const DIR: &str = "/chaos/sess";

/// Creates the sessions' directory.
pub async fn setup(run: &Arc<Run>) -> Result<(), String> {
    setup_paths(run, "session", &[(DIR.to_string(), b"")]).await?;
    Ok(())
}

/// One client: a session with its ephemeral, checked until the deadline.
pub async fn client(run: Arc<Run>, id: usize, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let limit = run.session_timeout;
    while !run.over() {
        let Some(s) = Session::connect(&run, &run.hosts_for(id)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let path = format!("{DIR}/{:016x}", s.id);
        run.op();
        let call = run.now();
        match bounded(limit, s.client.create(&path, b"", &ephemeral())).await {
            Outcome::Ok(_) => {
                s.confirm(call);
                run.write_ok();
            }
            // Unknown: whether it exists is not known; start over with a new session.
            _ => {
                finish(&run, &s);
                continue;
            }
        }
        // Live for a while (most sessions outlive the run).
        let until = Instant::now() + Duration::from_millis(rng.random_range(5_000..120_000));
        while !run.over() && Instant::now() < until && !s.is_over() {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
            run.op();
            let call = run.now();
            match bounded(limit, s.client.check_stat(&path)).await {
                Outcome::Ok(Some(st)) => {
                    s.confirm(call);
                    if st.ephemeral_owner != s.id {
                        run.violation(format!(
                            "{path} belongs to session 0x{:x}, not 0x{:x}",
                            st.ephemeral_owner, s.id
                        ));
                    }
                }
                Outcome::Ok(None) => {
                    s.vanished(&run, &path).await;
                    break;
                }
                _ => {}
            }
        }
        finish(&run, &s);
    }
}

/// A session is over (or about to be closed): checks how it ended.
pub fn finish(run: &Run, s: &Session) {
    if let Some(v) = s.early_expiry(run.expiry_slack) {
        run.violation(v);
    }
}

/// The sessions' directory.
pub fn dir() -> String {
    DIR.to_string()
}

/// Ephemerals among the children of `dirs` once every session of the run is over: each one is
/// a violation. Waits up to `within` for the ensemble to finish closing and expiring sessions.
pub async fn leftover_ephemerals(
    run: &Arc<Run>,
    dirs: &[String],
    within: Duration,
) -> Result<Vec<String>, String> {
    let s = Session::connect(run, &run.hosts_for(0))
        .await
        .ok_or("final check: no session")?;
    let end = Instant::now() + within;
    let limit = run.session_timeout;
    loop {
        let mut left = Vec::new();
        for d in dirs {
            let children = match bounded(limit, s.client.list_children(d)).await {
                Outcome::Ok(c) => c,
                Outcome::Failed(_) => continue,
                Outcome::Unknown(e) => return Err(format!("final check: listing {d}: {e}")),
            };
            for c in children {
                let p = format!("{d}/{c}");
                if let Outcome::Ok(Some(st)) = bounded(limit, s.client.check_stat(&p)).await {
                    if st.ephemeral_owner != 0 {
                        left.push(format!("{p} (session 0x{:x})", st.ephemeral_owner));
                    }
                }
            }
        }
        if left.is_empty() || Instant::now() >= end {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
