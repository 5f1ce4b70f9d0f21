//! Sessions: the expiry queue core, the live registry shared with connections, the tracker
//! actor that expires sessions, and session id / password generation.

pub mod expiry;
pub mod registry;
pub mod tracker;

pub use registry::{LiveSession, SessionRegistry};

use std::sync::atomic::{AtomicI64, Ordering};

/// Hands out session ids as ZooKeeper does: the server id in the top byte, 40 bits of a
/// millisecond clock reading at start-up, a 16-bit counter. Never 0, never the container marker.
#[derive(Debug)]
pub struct SessionIdGenerator {
    next: AtomicI64,
}

impl SessionIdGenerator {
    /// A generator for server `server_id` started at wall-clock `now_ms`.
    pub fn new(server_id: u8, now_ms: i64) -> SessionIdGenerator {
        let base = ((now_ms << 24) as u64 >> 8) as i64 | ((server_id as i64) << 56);
        SessionIdGenerator {
            next: AtomicI64::new(base),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> i64 {
        loop {
            let id = self.next.fetch_add(1, Ordering::AcqRel);
            if id != 0 && id != i64::MIN {
                return id;
            }
        }
    }
}

/// A fresh random 16-byte session password.
pub fn new_password() -> bytes::Bytes {
    let mut p = [0u8; 16];
    rand::fill(&mut p);
    bytes::Bytes::copy_from_slice(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_server_id_and_increase() {
        let g = SessionIdGenerator::new(3, 1_700_000_000_000);
        let a = g.next_id();
        let b = g.next_id();
        assert_eq!((a as u64) >> 56, 3);
        assert_eq!(b, a + 1);
    }
}
