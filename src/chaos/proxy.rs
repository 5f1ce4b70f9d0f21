//! A fault-injecting TCP proxy for peer connections: it listens on a loopback port of its own
//! and forwards every accepted connection to a target address, byte for byte, in both
//! directions. Two faults, until it is *healed*:
//! * *cut*: the connections it carries are shut down at once and new ones are accepted and
//!   closed right away (the connecting side sees a closed connection);
//! * *stall* (a silent partition): nothing is forwarded and nothing is closed: bytes already
//!   read wait in the proxy, the rest in the kernel's buffers, and new connections wait in the
//!   listen backlog; healing delivers everything, late but intact (as TCP does when a network
//!   partition ends before the connection times out);
//! * *one-way stall*: bytes from the dialing side to the target (*up*) or back (*down*) stop,
//!   the other direction flows, and new connections wait in the backlog (a connection needs
//!   both directions to be set up).
//!
//! One proxy per directed peer connection (server A's outgoing link to server B goes through
//! proxy A→B), so cutting the proxies to and from one server partitions it from the others.
//! Everything runs on plain threads; a proxy stops its threads when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Default)]
struct State {
    cut: bool,
    /// Bytes from the dialing side to the target wait.
    stall_up: bool,
    /// Bytes from the target back to the dialing side wait.
    stall_down: bool,
    /// Both sockets of every live connection (clones, for shutdown).
    conns: Vec<(u64, TcpStream, TcpStream)>,
    next_id: u64,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A running proxy.
pub struct Proxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Where it forwards to.
    pub target: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a fresh loopback port forwarding to `target` (which need not be up yet).
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(listener, target, sh))
            .expect("spawn proxy thread");
        Proxy {
            port,
            target,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Cuts the proxy: live connections are shut down, new ones closed on arrival.
    pub fn cut(&self) {
        let conns = {
            let mut st = self.shared.state.lock().unwrap();
            st.cut = true;
            std::mem::take(&mut st.conns)
        };
        for (_, a, b) in conns {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// Stalls the proxy: nothing gets through, nothing is closed.
    pub fn stall(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.stall_up = true;
        st.stall_down = true;
    }

    /// Stalls one direction: `up` (from the dialing side to the target) or down; the other
    /// direction of the live connections flows; new connections wait.
    pub fn stall_one_way(&self, up: bool) {
        let mut st = self.shared.state.lock().unwrap();
        if up {
            st.stall_up = true;
        } else {
            st.stall_down = true;
        }
    }

    /// Heals the proxy: new connections are forwarded again, stalled bytes delivered.
    pub fn heal(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.cut = false;
        st.stall_up = false;
        st.stall_down = false;
    }

    /// Is it cut or stalled (in either direction)?
    pub fn is_faulty(&self) -> bool {
        let st = self.shared.state.lock().unwrap();
        st.cut || st.stall_up || st.stall_down
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed on arrival because the proxy was cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.stalled(None) {
            // New connections wait in the backlog.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match listener.accept() {
            Ok((inbound, _)) => {
                let _ = inbound.set_nonblocking(false);
                if shared.state.lock().unwrap().cut {
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                let sh = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("proxy-conn".into())
                    .spawn(move || forward(inbound, target, sh));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Connects to the target and pumps bytes both ways until either side closes or the proxy
/// is cut.
fn forward(inbound: TcpStream, target: SocketAddr, shared: Arc<Shared>) {
    let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        let _ = inbound.shutdown(Shutdown::Both);
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (Ok(in2), Ok(out2)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let id = {
        // Registered under the lock that `cut` takes: either this connection is in the list
        // when the proxy is cut, or it sees the cut here.
        let mut st = shared.state.lock().unwrap();
        if st.cut || shared.stop.load(Ordering::SeqCst) {
            drop(st);
            shared.refused.fetch_add(1, Ordering::Relaxed);
            let _ = inbound.shutdown(Shutdown::Both);
            let _ = outbound.shutdown(Shutdown::Both);
            return;
        }
        match (inbound.try_clone(), outbound.try_clone()) {
            (Ok(a), Ok(b)) => {
                st.next_id += 1;
                let id = st.next_id;
                st.conns.push((id, a, b));
                id
            }
            _ => return,
        }
    };
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    let sh = shared.clone();
    let back = std::thread::Builder::new()
        .name("proxy-pump".into())
        .spawn(move || pump(out2, in2, &sh, false));
    pump(inbound, outbound, &shared, true);
    if let Ok(h) = back {
        let _ = h.join();
    }
    // Forget the dead sockets.
    let mut st = shared.state.lock().unwrap();
    st.conns.retain(|(i, _, _)| *i != id);
}

impl Shared {
    /// Is direction `up` (or, with `None`, either direction) stalled, and the proxy not
    /// stopping?
    fn stalled(&self, up: Option<bool>) -> bool {
        let st = self.state.lock().unwrap();
        let stalled = match up {
            Some(true) => st.stall_up,
            Some(false) => st.stall_down,
            None => st.stall_up || st.stall_down,
        };
        stalled && !self.stop.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` (direction `up`: dialing side to target) until EOF or an error, then
/// shuts both down. While that direction is stalled, what was read waits here and nothing more
/// is read.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, up: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while shared.stalled(Some(up)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                while shared.stalled(Some(up)) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
