//! Load generation and measurement for the overload tests (tests/overload.rs): an async client
//! on raw frames (so that a test can pipeline without reading, open thousands of sessions from
//! many source addresses, and see exactly what the server sends), a latency recorder, and a
//! sampler of a process's resident memory.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use zkr_actors::proto::codes::opcode;
use zkr_actors::proto::records::{
    Acl, ConnectRequest, CreateRequest, PathWatchRequest, SetDataRequest,
};
use zkr_actors::proto::{Jute, Request};

/// The xid of a notification.
pub const NOTIFICATION: i32 = -1;
/// The xid of a ping.
pub const PING: i32 = -2;
/// SessionExpired.
pub const SESSION_EXPIRED: i32 = -112;

/// One frame the server sent: the reply header and the body after it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Reply xid (-1 notification, -2 ping).
    pub xid: i32,
    /// Reply zxid.
    pub zxid: i64,
    /// Error code.
    pub err: i32,
    /// What follows the header.
    pub body: Bytes,
}

/// The reading half of a session.
pub struct Reader {
    r: OwnedReadHalf,
    buf: BytesMut,
}

impl Reader {
    /// The next frame, `None` when the server closed the connection (or reset it).
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 4 {
                let n = i32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 4 + n {
                    self.buf.advance(4);
                    let mut f = self.buf.split_to(n).freeze();
                    if f.len() < 16 {
                        return None;
                    }
                    let xid = f.get_i32();
                    let zxid = f.get_i64();
                    let err = f.get_i32();
                    return Some(Frame {
                        xid,
                        zxid,
                        err,
                        body: f,
                    });
                }
                self.buf.reserve(4 + n - self.buf.len());
            } else {
                self.buf.reserve(4096);
            }
            match self.r.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

/// The writing half of a session.
pub struct Writer {
    w: OwnedWriteHalf,
    next_xid: i32,
}

impl Writer {
    /// Sends `req` with the next xid; returns the xid.
    pub async fn send(&mut self, req: &Request) -> std::io::Result<i32> {
        self.next_xid += 1;
        self.w.write_all(&req.to_frame(self.next_xid)).await?;
        Ok(self.next_xid)
    }

    /// Sends a ping (xid -2).
    pub async fn ping(&mut self) -> std::io::Result<()> {
        self.w.write_all(&Request::Ping.to_frame(PING)).await
    }

    /// Queues `req` into `out` (for one large write of many pipelined requests).
    pub fn encode(&mut self, req: &Request, out: &mut BytesMut) {
        self.next_xid += 1;
        out.extend_from_slice(&req.to_frame(self.next_xid));
    }

    /// Writes pre-encoded bytes.
    pub async fn write_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b).await
    }
}

/// Opens a session on `server` (from `local`, a loopback address, if given) with
/// `timeout_ms`. `rcvbuf` shrinks the socket's receive buffer (a client that reads little).
pub async fn session(
    server: SocketAddr,
    local: Option<IpAddr>,
    timeout_ms: i32,
    rcvbuf: Option<u32>,
) -> std::io::Result<(Reader, Writer, i64)> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    if let Some(n) = rcvbuf {
        socket.set_recv_buffer_size(n)?;
    }
    let stream: TcpStream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    }
    .to_bytes();
    let mut f = (connect.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&connect);
    w.write_all(&f).await?;
    let mut reader = Reader {
        r,
        buf: BytesMut::new(),
    };
    // The ConnectResponse has no reply header: read it by hand.
    let mut len = [0u8; 4];
    reader.r.read_exact(&mut len).await?;
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    reader.r.read_exact(&mut resp).await?;
    let session_id = i64::from_be_bytes(resp[8..16].try_into().unwrap());
    if session_id == 0 {
        return Err(std::io::Error::other("session refused"));
    }
    Ok((reader, Writer { w, next_xid: 0 }, session_id))
}

/// A session, retried for up to 30 s (a server that is not serving yet closes the connection).
pub async fn session_retrying(server: SocketAddr, timeout_ms: i32) -> (Reader, Writer, i64) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match session(server, None, timeout_ms, None).await {
            Ok(s) => return s,
            Err(e) if Instant::now() > end => panic!("no session on {server}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A create request (persistent, open ACL).
pub fn create(path: &str, data: &[u8]) -> Request {
    Request::Create(
        opcode::CREATE,
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: Acl::open_unsafe(),
            flags: 0,
        },
    )
}

/// A setData request (any version).
pub fn set_data(path: &str, data: Bytes) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(data),
        version: -1,
    })
}

/// A getData request.
pub fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData(PathWatchRequest {
        path: path.into(),
        watch,
    })
}

/// Sends `req` and waits for its reply (skipping notifications); returns the error code.
pub async fn call(r: &mut Reader, w: &mut Writer, req: &Request) -> Option<i32> {
    let xid = w.send(req).await.ok()?;
    loop {
        let f = r.next().await?;
        if f.xid == xid {
            return Some(f.err);
        }
    }
}

/// Latencies of one kind of request.
#[derive(Default)]
pub struct Latencies(Mutex<Vec<Duration>>);

impl Latencies {
    /// Records one.
    pub fn record(&self, d: Duration) {
        self.0.lock().unwrap().push(d);
    }

    /// (count, p99, max).
    pub fn summary(&self) -> (usize, Duration, Duration) {
        let mut v = self.0.lock().unwrap().clone();
        if v.is_empty() {
            return (0, Duration::ZERO, Duration::ZERO);
        }
        v.sort();
        let p99 = v[((v.len() * 99).div_ceil(100)).saturating_sub(1)];
        (v.len(), p99, *v.last().unwrap())
    }
}

/// What the well-behaved second client saw.
#[derive(Default)]
pub struct Observed {
    /// getData latencies.
    pub reads: Latencies,
    /// Ping latencies.
    pub pings: Latencies,
    /// Its session expired or its connection was closed.
    pub lost: AtomicBool,
}

/// The second client: a session of `timeout_ms` that alternates a getData of `path` and a ping
/// every `every`, timing each, until `stop`. Its session must survive the load.
pub async fn observe(
    server: SocketAddr,
    timeout_ms: i32,
    path: String,
    every: Duration,
    stop: Arc<AtomicBool>,
    seen: Arc<Observed>,
) {
    let (mut r, mut w, _) = session_retrying(server, timeout_ms).await;
    let mut read = true;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let ok = if read {
            matches!(call(&mut r, &mut w, &get_data(&path, false)).await, Some(0))
        } else {
            w.ping().await.is_ok() && {
                loop {
                    match r.next().await {
                        Some(f) if f.xid == PING => break f.err == 0,
                        Some(_) => continue,
                        None => break false,
                    }
                }
            }
        };
        if !ok {
            seen.lost.store(true, Ordering::Relaxed);
            return;
        }
        if read {
            seen.reads.record(t.elapsed());
        } else {
            seen.pings.record(t.elapsed());
        }
        read = !read;
        tokio::time::sleep(every).await;
    }
}

/// The resident memory of process `pid`, sampled every 50 ms until dropped; the peak.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `VmRSS` of `pid`, bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The highest sample so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Raises this process's soft open-file limit to its hard limit; returns the new soft limit.
/// Child processes (the server under test) inherit it.
pub fn raise_nofile() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit(2) on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
    }
    rl.rlim_cur
}

/// Source address number `i` for spreading many connections over 127.0.0.0/8 (50 per address,
/// under ZooKeeper's default maxClientCnxns of 60).
pub fn source_ip(i: usize) -> IpAddr {
    let n = i / 50;
    IpAddr::from([127, 1, (n / 250) as u8, (n % 250) as u8 + 1])
}
