//! Starting an ensemble and waiting for its leader: a member that exited on its own is noticed
//! at once (its exit status and log tail in the failure, not a minute's wait for a server that
//! can never answer), and a start that lost a port to another socket (the member's log says
//! "Address already in use") is made again from fresh ports, at most [`START_ATTEMPTS`] times.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Ensemble, EnsembleSpec};

/// Attempts of [`Ensemble::start`] when members cannot bind their ports.
pub const START_ATTEMPTS: u32 = 3;

/// How long a start waits for its leader.
const START_WITHIN: Duration = Duration::from_secs(60);

/// A member that exited on its own (not killed or stopped by the harness).
#[derive(Debug, Clone)]
pub struct Exited {
    /// Its id.
    pub id: u8,
    /// How it ended (`exit status: 2`, `killed by signal 6`).
    pub status: String,
    /// The last lines of its log.
    pub log_tail: String,
}

impl Exited {
    /// Did it exit because an address it binds was taken?
    pub fn lost_a_port(&self) -> bool {
        self.log_tail.contains("Address already in use") || self.log_tail.contains("os error 98")
    }
}

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "member {} exited ({}); its log, last lines:\n{}",
            self.id, self.status, self.log_tail
        )
    }
}

impl Ensemble {
    /// Builds the configurations and starts every member (the node binary `bin`); waits until
    /// one leader serves and every other member follows or observes it. Panics (the members'
    /// logs printed, the directory kept) when that does not happen within a minute or a member
    /// exits; a start whose members lost a port is made again from fresh ports first.
    pub fn start(tag: &str, spec: EnsembleSpec, bin: &Path) -> Ensemble {
        let fixed_ports = spec.base_port.is_some();
        Ensemble::start_from(tag, fixed_ports, |_| {
            Ensemble::create(tag, spec.clone(), bin)
        })
    }

    /// [`Ensemble::start`] of the ensembles `make` builds (called with the attempt, from 1):
    /// starts the founders of one and waits for its leader; when members exited because a port
    /// was taken, drops it and starts the next (unless `fixed_ports`: the next would have the
    /// same ports), at most [`START_ATTEMPTS`] in all, each retry printed.
    pub fn start_from(
        tag: &str,
        fixed_ports: bool,
        mut make: impl FnMut(u32) -> Ensemble,
    ) -> Ensemble {
        let mut attempt = 1;
        loop {
            let mut e = make(attempt);
            let founders = e.founder_ids();
            for id in &founders {
                e.spawn(*id);
            }
            let err = match e.try_wait_leader(&founders, START_WITHIN) {
                Ok(_) => return e,
                Err(err) => err,
            };
            let lost: Vec<u8> = e
                .exited(&founders)
                .iter()
                .filter(|x| x.lost_a_port())
                .map(|x| x.id)
                .collect();
            if lost.is_empty() || fixed_ports || attempt >= START_ATTEMPTS {
                // Panics with `e` alive: its drop prints every member's log and keeps them.
                panic!("ensemble {tag}: start attempt {attempt} of {START_ATTEMPTS} failed: {err}");
            }
            eprintln!(
                "ensemble {tag}: start attempt {attempt} of {START_ATTEMPTS}: members {lost:?} \
                 could not bind a port (address already in use); starting again from fresh \
                 ports\n{err}"
            );
            attempt += 1;
        }
    }

    /// How member `id` ended, if it was running and has exited on its own since. It is not
    /// reaped ([`Ensemble::reap_exited`] still reports it).
    pub fn exit_status(&self, id: u8) -> Option<String> {
        let pid = self.member(id).pid()?;
        // SAFETY: an all-zero siginfo_t is valid; waitid(2) with WNOWAIT only reads the state
        // of our own unreaped child (its PID cannot be reused while we hold it).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed: still running).
        let (who, status) = unsafe { (info.si_pid(), info.si_status()) };
        if r != 0 || who == 0 {
            return None;
        }
        Some(if info.si_code == libc::CLD_EXITED {
            format!("exit status: {status}")
        } else {
            format!("killed by signal {status}")
        })
    }

    /// The members of `ids` that exited on their own (see [`Ensemble::exit_status`]).
    pub fn exited(&self, ids: &[u8]) -> Vec<Exited> {
        ids.iter()
            .filter_map(|id| {
                let status = self.exit_status(*id)?;
                Some(Exited {
                    id: *id,
                    status,
                    log_tail: self.log_tail(*id, 15),
                })
            })
            .collect()
    }

    /// Waits until exactly one of `ids` leads and every other one of them serves as a follower
    /// (voters) or an observer (observers); returns the leader. Panics after `within`, or as
    /// soon as one of `ids` exits on its own.
    pub fn wait_leader(&self, ids: &[u8], within: Duration) -> u8 {
        self.try_wait_leader(ids, within)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Ensemble::wait_leader`] that says what it last saw instead of panicking (at once when
    /// a member of `ids` exited on its own: it can never serve).
    pub fn try_wait_leader(&self, ids: &[u8], within: Duration) -> Result<u8, String> {
        let end = Instant::now() + within;
        let mut last = BTreeMap::new();
        while Instant::now() < end {
            let exited = self.exited(ids);
            if !exited.is_empty() {
                let why: Vec<String> = exited.iter().map(|x| x.to_string()).collect();
                return Err(format!(
                    "no stable leader among {ids:?}: {}",
                    why.join("\n")
                ));
            }
            last = self.modes(ids);
            let leaders: Vec<u8> = last
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(id, _)| *id)
                .collect();
            let others_ok = last.iter().all(|(id, m)| {
                let want = if self.member(*id).observer {
                    "observer"
                } else {
                    "follower"
                };
                leaders.contains(id) || m.as_deref() == Some(want)
            });
            if leaders.len() == 1 && others_ok {
                return Ok(leaders[0]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // What the members that do not serve say about it (a crash at start, a port taken).
        let mut why = String::new();
        for (id, mode) in &last {
            if mode.is_none() {
                why += &format!(
                    "\n--- member {id}'s log, last lines:\n{}",
                    self.log_tail(*id, 15)
                );
            }
        }
        Err(format!(
            "no stable leader among {ids:?} within {within:?}; modes: {last:?}{why}"
        ))
    }
}
