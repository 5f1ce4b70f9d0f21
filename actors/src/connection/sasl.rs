//! The server side of SASL DIGEST-MD5 (RFC 2831) as ZooKeeper's client port speaks it: a pure
//! core, no IO, no clock; the connection actor feeds it the tokens of `sasl` (102) requests.
//!
//! ZooKeeper does not implement the mechanism itself: it hands the tokens to the JDK's
//! `com.sun.security.sasl.digest.DigestMD5Server`, created as
//! `Sasl.createSaslServer("DIGEST-MD5", "zookeeper", "zk-sasl-md5", null, handler)` with the users
//! of the JAAS `Server` section (`user_NAME="password"`). What clients see is therefore that
//! class's behaviour, which this module reproduces (checked against Apache ZooKeeper 3.8.0 on
//! Java 17):
//!
//! 1. The first token (normally empty; a non-empty one is ignored) gets the challenge
//!    `realm="zk-sasl-md5",nonce="…",charset=utf-8,algorithm=md5-sess`: no `qop` directive (the
//!    default, `auth`, is all that is offered), a nonce of 30 random bytes in base64.
//! 2. The client's digest-response is checked in the JDK's order (charset, maxbuf, username,
//!    realm, nonce, cnonce, nonce-count, qop, digest-uri, response, password); success answers
//!    `rspauth=<hex>` and gives the authorization id. The JDK only knows the directive
//!    `nonce-count`, so the usual `nc=…` is ignored and the hash always uses count 1.
//! 3. The exchange is then over: any further token fails.
//!
//! The authorization id is the authentication id (user name): ZooKeeper's
//! `SaslServerCallbackHandler` authorizes every client and sets the authorized id from the user
//! name, ignoring an `authzid` directive (which still enters the hash, as RFC 2831 says).

use std::collections::BTreeMap;

use base64::Engine;
use md5::{Digest, Md5};

/// The realm and server name ZooKeeper hard-wires for DIGEST-MD5 (`zk-sasl-md5`).
pub const ZK_REALM: &str = "zk-sasl-md5";
/// The SASL protocol (service) name: the digest-uri is `zookeeper/zk-sasl-md5`.
pub const ZK_PROTOCOL: &str = "zookeeper";
/// Longest token accepted (the JDK's `MAX_RESPONSE_LENGTH`).
pub const MAX_RESPONSE_BYTES: usize = 4096;
/// Random bytes in a nonce (the JDK's `RAW_NONCE_SIZE`; 40 characters once in base64).
pub const NONCE_RAW_BYTES: usize = 30;

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The JDK throws `SaslException`: ZooKeeper answers AuthFailed and closes the connection.
    #[error("DIGEST-MD5: {0}")]
    Rejected(String),
    /// The JDK throws a runtime exception (a number it cannot parse): ZooKeeper closes the
    /// connection without an answer.
    #[error("DIGEST-MD5: malformed number in {0}")]
    Malformed(&'static str),
}

/// What the server answers a token with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The exchange goes on: send this challenge.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (`rspauth=…`); the connection gains `authorization_id`.
    Complete {
        /// The last server token.
        token: Vec<u8>,
        /// The identity for the `sasl` scheme.
        authorization_id: String,
    },
}

/// Where the server finds a user's password (a JAAS `Server` section in ZooKeeper).
pub trait Users {
    /// The password of `user`, if the user exists.
    fn password(&self, user: &str) -> Option<&str>;
}

impl Users for BTreeMap<String, String> {
    fn password(&self, user: &str) -> Option<&str> {
        self.get(user).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the (empty) initial token.
    Start,
    /// Challenge sent with this nonce; waiting for the digest-response.
    Challenged,
    /// Completed or failed: nothing more is accepted.
    Over,
}

/// One connection's DIGEST-MD5 server.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    realm: String,
    digest_uri: String,
    nonce: Vec<u8>,
    state: State,
}

/// A fresh nonce: [`NONCE_RAW_BYTES`] random bytes, base64 (as the JDK makes them).
pub fn random_nonce() -> Vec<u8> {
    let mut raw = [0u8; NONCE_RAW_BYTES];
    rand::Rng::fill(&mut rand::rng(), &mut raw[..]);
    base64::engine::general_purpose::STANDARD
        .encode(raw)
        .into_bytes()
}

impl DigestMd5Server {
    /// ZooKeeper's server (`zookeeper/zk-sasl-md5`), challenging with `nonce` (inject
    /// [`random_nonce`] in production, a fixed value in tests).
    pub fn new(nonce: Vec<u8>) -> DigestMd5Server {
        DigestMd5Server::with_names(ZK_PROTOCOL, ZK_REALM, nonce)
    }

    /// A server for another protocol and server name (the realm is the server name, as in the
    /// JDK when no realm property is given).
    pub fn with_names(protocol: &str, server_name: &str, nonce: Vec<u8>) -> DigestMd5Server {
        DigestMd5Server {
            realm: server_name.to_string(),
            digest_uri: format!("{protocol}/{server_name}"),
            nonce,
            state: State::Start,
        }
    }

    /// Has the exchange ended (successfully or not)?
    pub fn is_over(&self) -> bool {
        self.state == State::Over
    }

    /// Evaluates one client token (`SaslServer.evaluateResponse`).
    pub fn step(&mut self, token: &[u8], users: &dyn Users) -> Result<Step, SaslError> {
        if token.len() > MAX_RESPONSE_BYTES {
            self.state = State::Over;
            return Err(SaslError::Rejected(format!(
                "Invalid digest response length. Got: {} Expected < {MAX_RESPONSE_BYTES}",
                token.len()
            )));
        }
        match self.state {
            State::Start => {
                // A client's initial response (subsequent authentication) is ignored: the JDK
                // answers it with a fresh challenge (RFC 2831 §2.2).
                self.state = State::Challenged;
                Ok(Step::Challenge(self.challenge()))
            }
            State::Challenged => {
                self.state = State::Over;
                let directives = parse_directives(token)?;
                self.validate(&directives, users)
            }
            State::Over => Err(SaslError::Rejected("Server at illegal state".into())),
        }
    }

    fn challenge(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"realm=\"");
        write_quoted(&mut out, self.realm.as_bytes());
        out.extend_from_slice(b"\",nonce=\"");
        write_quoted(&mut out, &self.nonce);
        out.extend_from_slice(b"\",charset=utf-8,algorithm=md5-sess");
        out
    }

    fn validate(&self, d: &Directives, users: &dyn Users) -> Result<Step, SaslError> {
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        if let Some(charset) = d.get(Key::Charset) {
            if charset != b"utf-8" {
                return Err(reject(format!(
                    "digest response format violation. Incompatible charset value: {}",
                    text(charset)
                )));
            }
        }
        if let Some(maxbuf) = d.get(Key::Maxbuf) {
            java_parse_int(&text(maxbuf), 10).ok_or(SaslError::Malformed("maxbuf"))?;
        }
        let username = d
            .get(Key::Username)
            .map(text)
            .ok_or_else(|| reject("digest response format violation. Missing username."))?;
        let realm = d.get(Key::Realm).map(text).unwrap_or_default();
        if realm != self.realm {
            return Err(reject(format!(
                "digest response format violation. Nonexistent realm: {realm}"
            )));
        }
        let nonce = d
            .get(Key::Nonce)
            .ok_or_else(|| reject("digest response format violation. Missing nonce."))?;
        if nonce != self.nonce.as_slice() {
            return Err(reject(
                "digest response format violation. Mismatched nonce.",
            ));
        }
        let cnonce = d
            .get(Key::Cnonce)
            .ok_or_else(|| reject("digest response format violation. Missing cnonce."))?;
        if let Some(count) = d.get(Key::NonceCount) {
            let n = java_parse_int(&text(count), 16).ok_or(SaslError::Malformed("nonce-count"))?;
            if n != 1 {
                return Err(reject(format!(
                    "digest response format violation. Nonce count does not match: {}",
                    text(count)
                )));
            }
        }
        let qop = d.get(Key::Qop).map(text).unwrap_or_else(|| "auth".into());
        match qop.as_str() {
            "auth" => {}
            "auth-int" | "auth-conf" => {
                return Err(reject(format!("server does not support qop: {qop}")))
            }
            _ => {
                return Err(reject(format!(
                    "digest response format violation. Invalid QOP: {qop}"
                )))
            }
        }
        let uri = d.get(Key::DigestUri).map(text);
        let uri = match uri {
            Some(u) if java_equals_ignore_case(&u, &self.digest_uri) => u,
            other => {
                return Err(reject(format!(
                    "digest response format violation. Mismatched URI: {}; expecting: {}",
                    other.as_deref().unwrap_or("null"),
                    self.digest_uri
                )))
            }
        };
        let response = d
            .get(Key::Response)
            .ok_or_else(|| reject("digest response format violation. Missing response."))?;
        let authzid = d.get(Key::Authzid);
        let password = users.password(&username).ok_or_else(|| {
            reject(format!(
                "cannot acquire password for {username} in realm : {realm}"
            ))
        })?;
        let parts = ResponseParts {
            digest_uri: &uri,
            username: &username,
            realm: &realm,
            password,
            nonce: &self.nonce,
            cnonce,
            authzid,
        };
        if response != parts.value("AUTHENTICATE").as_slice() {
            return Err(reject(
                "digest response format violation. Mismatched response.",
            ));
        }
        let mut token = b"rspauth=".to_vec();
        token.extend_from_slice(&parts.value(""));
        Ok(Step::Complete {
            token,
            authorization_id: username,
        })
    }
}

fn reject(message: impl Into<String>) -> SaslError {
    SaslError::Rejected(message.into())
}

/// The inputs of a response-value (RFC 2831 §2.1.2.1), qop `auth`, nonce count 1.
struct ResponseParts<'a> {
    digest_uri: &'a str,
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a [u8],
    cnonce: &'a [u8],
    authzid: Option<&'a [u8]>,
}

impl ResponseParts<'_> {
    /// `HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))` with `A2 = method:digest-uri`
    /// (`AUTHENTICATE` for the client's response, empty for rspauth).
    fn value(&self, method: &str) -> Vec<u8> {
        let a2 = format!("{method}:{}", self.digest_uri);
        let mut inner = Md5::new();
        inner.update(latin1_or_utf8(self.username));
        inner.update(b":");
        inner.update(latin1_or_utf8(self.realm));
        inner.update(b":");
        inner.update(latin1_or_utf8(self.password));
        let mut a1 = Md5::new();
        a1.update(inner.finalize());
        a1.update(b":");
        a1.update(self.nonce);
        a1.update(b":");
        a1.update(self.cnonce);
        if let Some(z) = self.authzid {
            a1.update(b":");
            a1.update(z);
        }
        let mut kd = Md5::new();
        kd.update(hex(&a1.finalize()));
        kd.update(b":");
        kd.update(self.nonce);
        kd.update(b":00000001:");
        kd.update(self.cnonce);
        kd.update(b":auth:");
        kd.update(hex(&Md5::digest(a2.as_bytes())));
        hex(&kd.finalize())
    }
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 0xf) as usize]);
    }
    out
}

/// RFC 2831's rule for user name, realm and password in A1 when the server speaks UTF-8: ISO
/// 8859-1 bytes if every character fits, UTF-8 otherwise (the JDK's `stringToByte_8859_1`).
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// Java's `String.equalsIgnoreCase`: per character, equal, or equal once upper- or lower-cased
/// (simple case mapping).
fn java_equals_ignore_case(a: &str, b: &str) -> bool {
    fn simple(mut it: impl Iterator<Item = char>, c: char) -> char {
        match (it.next(), it.next()) {
            (Some(x), None) => x,
            _ => c,
        }
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(&x, &y)| {
            x == y
                || simple(x.to_uppercase(), x) == simple(y.to_uppercase(), y)
                || simple(x.to_lowercase(), x) == simple(y.to_lowercase(), y)
        })
}

/// Java's `Integer.parseInt(s, radix)`: optional sign, at least one digit, fits an i32.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i32::from_str_radix(s, radix).ok()
}

/// Writes `value` with `"` and `\` and control characters (other than HT, LF, CR) escaped
/// (the JDK's `writeQuotedStringValue`).
fn write_quoted(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        if b == b'"' || b == b'\\' || b == 127 || (b <= 31 && b != 13 && b != 9 && b != 10) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// The directives a digest-response may carry (the JDK's `DIRECTIVE_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Username,
    Realm,
    Nonce,
    Cnonce,
    NonceCount,
    Qop,
    DigestUri,
    Response,
    Maxbuf,
    Charset,
    Cipher,
    Authzid,
    AuthParam,
}

const KEYS: [(&str, Key); 13] = [
    ("username", Key::Username),
    ("realm", Key::Realm),
    ("nonce", Key::Nonce),
    ("cnonce", Key::Cnonce),
    ("nonce-count", Key::NonceCount),
    ("qop", Key::Qop),
    ("digest-uri", Key::DigestUri),
    ("response", Key::Response),
    ("maxbuf", Key::Maxbuf),
    ("charset", Key::Charset),
    ("cipher", Key::Cipher),
    ("authzid", Key::Authzid),
    ("auth-param", Key::AuthParam),
];

/// A parsed digest-response: at most one value per known directive.
#[derive(Debug, Default)]
struct Directives {
    values: [Option<Vec<u8>>; KEYS.len()],
}

impl Directives {
    fn get(&self, key: Key) -> Option<&[u8]> {
        let i = KEYS.iter().position(|(_, k)| *k == key)?;
        self.values[i].as_deref()
    }

    /// Records `key=value`: known keys (case-insensitive) at most once, unknown ones ignored.
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), SaslError> {
        let Some(i) = KEYS
            .iter()
            .position(|(name, _)| name.as_bytes().eq_ignore_ascii_case(key))
        else {
            return Ok(());
        };
        if self.values[i].is_some() {
            return Err(reject(format!(
                "peer sent more than one {} directive: {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&value)
            )));
        }
        self.values[i] = Some(value);
        Ok(())
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t')
}

fn skip_lws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_lws(buf[i]) {
        i += 1;
    }
    i
}

/// Parses `key=value, key="quoted value", …` the way the JDK's `parseDirectives` does (bytes,
/// not text: quoted values may hold any byte; `\x` stands for `x`).
fn parse_directives(buf: &[u8]) -> Result<Directives, SaslError> {
    let mut out = Directives::default();
    let mut key: Vec<u8> = Vec::new();
    let mut value: Vec<u8> = Vec::new();
    let (mut getting_key, mut quoted, mut expect_separator) = (true, false, false);
    let mut i = skip_lws(buf, 0);
    while i < buf.len() {
        let b = buf[i];
        if getting_key {
            if b == b',' {
                if !key.is_empty() {
                    return Err(reject("Directive key contains a ','"));
                }
                i = skip_lws(buf, i + 1);
            } else if b == b'=' {
                if key.is_empty() {
                    return Err(reject("Empty directive key"));
                }
                getting_key = false;
                i = skip_lws(buf, i + 1);
                if i >= buf.len() {
                    return Err(reject("Valueless directive found"));
                }
                if buf[i] == b'"' {
                    quoted = true;
                    i += 1;
                }
            } else if is_lws(b) {
                i = skip_lws(buf, i + 1);
                if i >= buf.len() || buf[i] != b'=' {
                    return Err(reject("'=' expected after key"));
                }
            } else {
                key.push(b);
                i += 1;
            }
        } else if quoted {
            if b == b'\\' {
                i += 1;
                if i >= buf.len() {
                    return Err(reject("Unmatched quote found for directive"));
                }
                value.push(buf[i]);
                i += 1;
            } else if b == b'"' {
                i += 1;
                quoted = false;
                expect_separator = true;
            } else {
                value.push(b);
                i += 1;
            }
        } else if is_lws(b) || b == b',' {
            out.put(&key, std::mem::take(&mut value))?;
            key.clear();
            getting_key = true;
            expect_separator = false;
            i = skip_lws(buf, i + 1);
        } else if expect_separator {
            return Err(reject(
                "Expecting comma or linear whitespace after quoted string",
            ));
        } else {
            value.push(b);
            i += 1;
        }
    }
    if quoted {
        return Err(reject("Unmatched quote found for directive"));
    }
    if !key.is_empty() {
        out.put(&key, value)?;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "sasl_tests.rs"]
mod tests;
