//! Small process and port helpers shared by `zkr chaos` and the integration tests: free loopback
//! ports, four-letter words, stopping a child we spawned (by its PID, never by name), and
//! pausing one (SIGSTOP/SIGCONT).
//!
//! Ports for a server that binds them later ([`free_port`]) come from one process-wide picker.
//! Its invariant: a port it hands out is below the range the kernel takes local ports of
//! outgoing connections and of `bind(0)` from (`/proc/sys/net/ipv4/ip_local_port_range`,
//! 32768 if unreadable), so no connection of any process takes it while the server is starting;
//! it is below [`FIXED_BLOCKS`], so no script that takes a fixed block (the conformance cluster,
//! the benches) takes it either; and one process never hands out the same port twice (a cursor
//! shared by every thread walks [`PORT_FLOOR`]..[`FIXED_BLOCKS`] from a random offset, skipping
//! ports that do not bind on 127.0.0.1; it would repeat only after walking all 20 000 ports).
//! tests/support/ports.py keeps the same rule for the Python suites. A listener that stays bound
//! (a proxy) may bind port 0 instead.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The lowest port [`free_port`] hands out (below it: well-known ports and the fixed ones of
/// `zkr dev`, 2181.., 3181.., 7000..).
pub const PORT_FLOOR: u16 = 10_000;

/// The first port [`free_port`] never hands out: from here to the ephemeral range, the fixed
/// blocks of tests/conformance (30000-30999) and benches/lib.sh (31000..).
pub const FIXED_BLOCKS: u16 = 30_000;

/// The start of the kernel's ephemeral range when it cannot be read.
const EPHEMERAL_DEFAULT: u16 = 32_768;

/// The first port of the kernel's ephemeral range (the first number of `ip_local_port_range`).
pub fn ephemeral_start() -> u16 {
    static START: OnceLock<u16> = OnceLock::new();
    *START.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| parse_range_start(&t))
            .unwrap_or(EPHEMERAL_DEFAULT)
    })
}

/// The first number of an `ip_local_port_range` text (`"32768\t60999\n"`).
fn parse_range_start(text: &str) -> Option<u16> {
    text.split_whitespace().next()?.parse().ok()
}

/// A free loopback TCP port for a server that binds it right after: below the kernel's
/// ephemeral range and [`FIXED_BLOCKS`], never the same twice in this process (see the module
/// doc). On a machine whose ephemeral range leaves fewer than 1000 ports above [`PORT_FLOOR`],
/// the kernel's pick (bound and released).
pub fn free_port() -> u16 {
    let end = ephemeral_start().min(FIXED_BLOCKS);
    let span = u32::from(end.saturating_sub(PORT_FLOOR));
    if span < 1000 {
        return TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
    }
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    let cursor = CURSOR.get_or_init(|| AtomicU32::new(rand::random::<u32>() % span));
    for _ in 0..span {
        let port = PORT_FLOOR + (cursor.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {PORT_FLOOR}..{end}");
}

/// Sends a four-letter word and returns the answer ("" if the connection fails).
pub fn four_letter(port: u16, word: &str) -> String {
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Stops a child we spawned with SIGTERM, SIGKILL after 10 s, and reaps it.
pub fn terminate(mut c: Child) {
    signal(&c, libc::SIGCONT);
    signal(&c, libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_and_reap(c);
}

/// Kills a child we spawned with SIGKILL and reaps it.
pub fn kill_and_reap(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Sends `sig` to a child we spawned and have not reaped.
pub fn signal(c: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the PID of a child we own and have not reaped (its PID cannot have
    // been reused while we hold the unreaped child).
    unsafe {
        libc::kill(c.id() as i32, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_range_start_is_the_first_number_of_the_kernel_file() {
        assert_eq!(parse_range_start("32768\t60999\n"), Some(32768));
        assert_eq!(parse_range_start("1024 65535"), Some(1024));
        assert_eq!(parse_range_start(""), None);
        assert_eq!(parse_range_start("x 1"), None);
    }

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_the_fixed_blocks_and_never_handed_out_twice() {
        let start = ephemeral_start().min(FIXED_BLOCKS);
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1500).map(|_| free_port()).collect::<Vec<u16>>()))
            .collect();
        let ports: Vec<u16> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("picker thread"))
            .collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        if start >= PORT_FLOOR + 1000 {
            assert!(
                ports.iter().all(|p| (PORT_FLOOR..start).contains(p)),
                "a port outside {PORT_FLOOR}..{start}"
            );
        }
    }
}
