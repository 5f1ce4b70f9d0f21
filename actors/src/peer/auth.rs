//! Authentication of peer links: who may vote, propose, and receive the ensemble's data.
//!
//! Two mechanisms, usable alone or together:
//!
//! * **Mutual TLS** (ZooKeeper's `sslQuorum=true` with the `ssl.quorum.*` keys; zkr's
//!   `[ensemble.tls]`): every peer connection is a TLS connection in which both ends show a
//!   certificate signed by the configured CA. The connecting side checks that the listener's
//!   certificate is valid for the member's configured host (unless `hostname_verification` is
//!   off); the listening side requires a client certificate from the CA. Nothing of zkr's peer
//!   protocol is read or written before the TLS handshake succeeds.
//! * **A shared secret** (zkr's `[ensemble] secret_file`, zoo.cfg `zkr.quorum.secretFile`): an
//!   HMAC-SHA256 challenge-response in the first frames, in both directions. The connecting
//!   server sends its [`Hello`](crate::quorum::msg::Hello) and a fresh nonce; the listener answers with its
//!   own fresh nonce and a proof over both nonces (so the connecting server knows it talks to a
//!   member before it sends anything); the connecting server answers with its proof over both
//!   nonces, its id, the listener's id and the connection's generation. A recorded handshake
//!   replayed on a new connection fails: the listener's nonce is new every time. The secret
//!   authenticates the connection, it does not encrypt it: against an on-path attacker use TLS.
//!
//! The handshake ([`AuthFrame`]) always runs (without a secret the proofs are absent and not
//! asked for), so one protocol version serves every setup. The listening side reads handshake
//! frames with a small frame limit and a deadline, and forwards nothing to the quorum actor until
//! the handshake is accepted: a stranger can neither vote, nor propose, nor receive data, and
//! cannot make the listener allocate more than [`HANDSHAKE_FRAME_LIMIT`] bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ring::hmac;
use serde::{Deserialize, Serialize};
use tokio_rustls::rustls;

use crate::config::{ClientAuth, EnsembleSection, QuorumTlsSection, TlsSection};
use crate::quorum::msg::Sid;

/// Largest frame accepted before a peer is authenticated.
pub const HANDSHAKE_FRAME_LIMIT: usize = 4096;
/// How long a peer connection may take to authenticate.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Shortest secret accepted, bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// A nonce: 32 random bytes, new for every connection and side.
pub type Nonce = [u8; 32];
/// An HMAC-SHA256 proof.
pub type Proof = [u8; 32];

/// The handshake frames after the [`Hello`](crate::quorum::msg::Hello).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthFrame {
    /// Connecting → listening: my nonce.
    Start {
        /// The connecting server's nonce.
        nonce: Nonce,
    },
    /// Listening → connecting: my nonce, and my proof if I have a secret.
    Challenge {
        /// The listener's nonce.
        nonce: Nonce,
        /// [`listener_proof`], if the listener has a secret.
        proof: Option<Proof>,
    },
    /// Connecting → listening: my proof if I have a secret.
    Proof {
        /// [`connector_proof`], if the connecting server has a secret.
        proof: Option<Proof>,
    },
    /// Listening → connecting: authenticated; the peer protocol follows.
    Accepted,
    /// Listening → connecting: refused, and why (then the connection closes).
    Refused {
        /// The reason, for the connecting server's log.
        reason: String,
    },
}

/// Why a peer connection was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The peer should have proved it knows the shared secret and did not.
    #[error("no proof of the shared secret (is the peer configured with one?)")]
    NoProof,
    /// The peer's proof does not match: another secret, or a replayed handshake.
    #[error("proof does not match the shared secret (a wrong secret or a replayed handshake)")]
    BadProof,
    /// The peer did not follow the handshake.
    #[error("unexpected handshake frame: {0}")]
    Protocol(String),
    /// The peer refused us.
    #[error("refused by the peer: {0}")]
    Refused(String),
    /// Nothing complete within [`HANDSHAKE_DEADLINE`].
    #[error("no complete handshake within {0:?}")]
    Timeout(Duration),
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection failed or closed during the handshake.
    #[error("connection: {0}")]
    Io(String),
    /// The peer could not be reached (nothing was exchanged).
    #[error("unreachable: {0}")]
    Unreachable(String),
}

/// The shared secret (an HMAC key).
#[derive(Clone)]
pub struct Secret(hmac::Key);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from its bytes.
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The proof of `message`.
    pub fn sign(&self, message: &[u8]) -> Proof {
        let tag = hmac::sign(&self.0, message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Is `proof` the proof of `message`? (Compared in constant time.)
    pub fn verify(&self, message: &[u8], proof: &Proof) -> bool {
        hmac::verify(&self.0, message, proof).is_ok()
    }
}

/// Length-prefixed parts, so that no two different part lists give the same bytes.
fn message(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum());
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// What the listener proves, for a connection from `from` to `to` (the listener): it knows the
/// secret, now (the connecting server's fresh nonce).
pub fn listener_message(
    from: Sid,
    to: Sid,
    connector_nonce: &Nonce,
    listener_nonce: &Nonce,
) -> Vec<u8> {
    message(&[
        b"zkr peer link v2: listener",
        &from.to_be_bytes(),
        &to.to_be_bytes(),
        connector_nonce,
        listener_nonce,
    ])
}

/// What the connecting server proves: it knows the secret, now (the listener's fresh nonce), and
/// who connects to whom on which connection.
pub fn connector_message(
    from: Sid,
    to: Sid,
    generation: u64,
    connector_nonce: &Nonce,
    listener_nonce: &Nonce,
) -> Vec<u8> {
    message(&[
        b"zkr peer link v2: connector",
        &from.to_be_bytes(),
        &to.to_be_bytes(),
        &generation.to_be_bytes(),
        connector_nonce,
        listener_nonce,
    ])
}

/// The proof of `message` if we have a secret.
pub fn prove(secret: Option<&Secret>, message: &[u8]) -> Option<Proof> {
    secret.map(|s| s.sign(message))
}

/// Checks the proof of `message` the peer sent, when we have a secret (without one there is
/// nothing to check).
pub fn check(
    secret: Option<&Secret>,
    got: Option<&Proof>,
    message: &[u8],
) -> Result<(), AuthError> {
    let Some(secret) = secret else {
        return Ok(());
    };
    let Some(got) = got else {
        return Err(AuthError::NoProof);
    };
    if secret.verify(message, got) {
        Ok(())
    } else {
        Err(AuthError::BadProof)
    }
}

/// A fresh random nonce.
pub fn nonce() -> Nonce {
    rand::random()
}

/// What peer links need to authenticate, built once at start from the configuration.
#[derive(Clone, Default)]
pub struct PeerSecurity {
    /// The shared secret, if configured.
    pub secret: Option<Secret>,
    /// Mutual TLS, if configured.
    pub tls: Option<PeerTls>,
    /// TCP keepalive on peer connections (`tcpKeepAlive`).
    pub keepalive: bool,
}

impl std::fmt::Debug for PeerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecurity")
            .field("secret", &self.secret.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The rustls configurations of both ends of a peer connection.
#[derive(Clone)]
pub struct PeerTls {
    /// Listening side (client certificates required).
    pub server: Arc<rustls::ServerConfig>,
    /// Connecting side (shows our certificate, checks the listener's).
    pub client: Arc<rustls::ClientConfig>,
}

/// Why peer security could not be set up (the node does not start).
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The secret file.
    #[error("ensemble.secret_file {path}: {message}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The TLS material.
    #[error("ensemble.tls: {0}")]
    Tls(String),
}

impl PeerSecurity {
    /// Builds the peer security of an ensemble section (nothing configured: no authentication).
    pub fn from_config(ens: &EnsembleSection) -> Result<PeerSecurity, SecurityError> {
        let secret = match &ens.secret_file {
            Some(p) => Some(read_secret(p)?),
            None => None,
        };
        let tls = match &ens.tls {
            Some(t) => Some(peer_tls(t)?),
            None => None,
        };
        Ok(PeerSecurity {
            secret,
            tls,
            keepalive: ens.tcp_keepalive,
        })
    }

    /// Is any authentication configured?
    pub fn authenticated(&self) -> bool {
        self.secret.is_some() || self.tls.is_some()
    }
}

/// Reads a secret file: at least [`MIN_SECRET_BYTES`] bytes (surrounding whitespace trimmed),
/// readable by its owner only.
pub fn read_secret(path: &Path) -> Result<Secret, SecurityError> {
    let bad = |message: String| SecurityError::Secret {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "is readable or writable by group or others (mode {:o}); chmod 600 it",
                mode & 0o777
            )));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let trimmed = bytes.trim_ascii();
    if trimmed.len() < MIN_SECRET_BYTES {
        return Err(bad(format!(
            "the secret is {} bytes; at least {MIN_SECRET_BYTES} are required",
            trimmed.len()
        )));
    }
    Ok(Secret::new(trimmed))
}

fn peer_tls(t: &QuorumTlsSection) -> Result<PeerTls, SecurityError> {
    let server = crate::net::tls::server_config(&TlsSection {
        secure_client_port: Some(0),
        secure_client_address: None,
        cert_file: Some(t.cert_file.clone()),
        key_file: t.key_file.clone(),
        ca_file: Some(t.ca_file.clone()),
        client_auth: ClientAuth::Need,
        super_user: None,
    })
    .map_err(|e| SecurityError::Tls(e.to_string()))?;
    let client = crate::net::tls::client_config(
        &t.cert_file,
        t.key_file.as_deref(),
        &t.ca_file,
        t.hostname_verification,
    )
    .map_err(|e| SecurityError::Tls(e.to_string()))?;
    Ok(PeerTls { server, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.as_bytes())
    }

    #[test]
    fn proofs_verify_only_with_the_same_secret_and_nonces() {
        let (k, other) = (secret("0123456789abcdef"), secret("fedcba9876543210"));
        let (nc, ns) = (nonce(), nonce());
        let m = connector_message(1, 2, 7, &nc, &ns);
        let p = k.sign(&m);
        assert_eq!(check(Some(&k), Some(&p), &m), Ok(()));
        assert_eq!(check(Some(&other), Some(&p), &m), Err(AuthError::BadProof));
        assert_eq!(check(Some(&k), None, &m), Err(AuthError::NoProof));
        assert_eq!(check(None, None, &m), Ok(()));
        // A replay on a new connection: the listener's nonce is new.
        let replayed = connector_message(1, 2, 7, &nc, &nonce());
        assert_eq!(
            check(Some(&k), Some(&p), &replayed),
            Err(AuthError::BadProof)
        );
        // The proof names who connects to whom, and the connection's generation.
        for (from, to, g) in [(2, 1, 7), (1, 3, 7), (1, 2, 8)] {
            let m = connector_message(from, to, g, &nc, &ns);
            assert_eq!(check(Some(&k), Some(&p), &m), Err(AuthError::BadProof));
        }
    }

    #[test]
    fn the_two_directions_prove_different_things() {
        let k = secret("0123456789abcdef");
        let (nc, ns) = (nonce(), nonce());
        let lp = k.sign(&listener_message(1, 2, &nc, &ns));
        assert_ne!(lp, k.sign(&connector_message(1, 2, 0, &nc, &ns)));
        // A listener proof cannot be reflected back (nonces swapped).
        assert_ne!(lp, k.sign(&listener_message(1, 2, &ns, &nc)));
    }

    #[test]
    fn secret_files_must_be_private_and_long_enough() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "short\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_secret(&p).unwrap_err().to_string();
        assert!(e.contains("at least 16"), "{e}");
        std::fs::write(&p, "a-long-enough-shared-secret\n").unwrap();
        assert!(read_secret(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_secret(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn handshake_frames_round_trip() {
        for f in [
            AuthFrame::Start { nonce: nonce() },
            AuthFrame::Challenge {
                nonce: nonce(),
                proof: Some([7; 32]),
            },
            AuthFrame::Proof { proof: None },
            AuthFrame::Accepted,
            AuthFrame::Refused {
                reason: "no".into(),
            },
        ] {
            let b = rmp_serde::to_vec(&f).unwrap();
            assert!(b.len() < HANDSHAKE_FRAME_LIMIT);
            assert_eq!(rmp_serde::from_slice::<AuthFrame>(&b).unwrap(), f);
        }
    }
}
