//! CPU and memory accounting from /proc: the bench's own CPU, each server's (by pid) and the
//! whole machine's, sampled at the start and end of a measurement.

use std::time::Instant;

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process, in clock ticks (all its threads).
fn proc_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..]; // fields from 3 (state) on
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Resident set size of a process, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (busy, total) jiffies of all CPUs from /proc/stat
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum(); // user nice system idle iowait irq softirq steal
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// CPU time so far of this process, the servers and the machine.
pub struct CpuSnap {
    pub at: Instant,
    me: u64,
    servers: Vec<Option<u64>>,
    machine: Option<(u64, u64)>,
}

impl CpuSnap {
    /// A sample now (`pids`: the servers').
    pub fn take(pids: &[u32]) -> CpuSnap {
        CpuSnap {
            at: Instant::now(),
            me: proc_ticks("self").unwrap_or(0),
            servers: pids.iter().map(|p| proc_ticks(&p.to_string())).collect(),
            machine: machine_ticks(),
        }
    }
}

/// CPU use between two samples, in percent of one core (the machine's: of all cores).
pub struct CpuUse {
    pub bench_pct: f64,
    pub servers_pct: Vec<Option<f64>>,
    pub machine_busy_pct: Option<f64>,
}

/// The CPU used between samples `a` and `b`.
pub fn cpu_between(a: &CpuSnap, b: &CpuSnap) -> CpuUse {
    let wall = (b.at - a.at).as_secs_f64().max(1e-6);
    let tck = clk_tck();
    let pct = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / tck / wall * 100.0;
    CpuUse {
        bench_pct: pct(a.me, b.me),
        servers_pct: a
            .servers
            .iter()
            .zip(&b.servers)
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => Some(pct(*x, *y)),
                _ => None,
            })
            .collect(),
        machine_busy_pct: match (a.machine, b.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0),
            _ => None,
        },
    }
}
