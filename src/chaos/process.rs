//! Small process and port helpers shared by `zkr chaos` and the integration tests: free loopback
//! ports, four-letter words, stopping a child we spawned (by its PID, never by name), and
//! pausing one (SIGSTOP/SIGCONT).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A free loopback TCP port (bound and released; good enough for a process that starts right
/// away).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
