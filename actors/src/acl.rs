//! ACL checks and authentication providers (digest, ip, world, super; sasl ids come from SASL).
//!
//! Pure functions over a connection's identities ([`Id`]s) and a node's ACL list, following
//! `ZooKeeperServer.checkACL`, `PrepRequestProcessor.fixupACL`, `DigestAuthenticationProvider`
//! and `IPAuthenticationProvider`.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::proto::{Acl, Id};

/// `user:base64(sha1("user:password"))`, the digest identity of `user:password`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Java's `String.split(regex)` for a one-character separator: trailing empty strings dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() {
        return Vec::new();
    }
    parts
}

/// Is `scheme` one this server has a provider for (auth schemes usable in ACLs)?
fn has_provider(scheme: &str, sasl_enabled: bool) -> bool {
    matches!(scheme, "digest" | "ip") || (sasl_enabled && scheme == "sasl")
}

/// Does the provider of `scheme` authenticate (as opposed to ip, which merely observes)?
fn is_authenticated(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509")
}

/// Is `id` well formed for `scheme` (`AuthenticationProvider.isValid`)?
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => java_split(id, ':').len() == 2,
        "ip" => parse_ip_acl(id).is_some(),
        "sasl" => true,
        _ => false,
    }
}

/// An `ip` ACL id: an address and a prefix length.
fn parse_ip_acl(id: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let addr = parse_ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => {
            let b: i64 = b.parse().ok()?;
            if !(0..=max as i64).contains(&b) {
                return None;
            }
            b as u32
        }
    };
    Some((addr, bits))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // Java's v4addr2Bytes: exactly four dot-separated decimal parts 0..=255.
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let v: i64 = p.parse().ok()?;
        if !(0..=255).contains(&v) {
            return None;
        }
        b[i] = v as u8;
    }
    Some(IpAddr::from(b))
}

fn ip_matches(client: &str, acl_id: &str) -> bool {
    let Some((acl_addr, bits)) = parse_ip_acl(acl_id) else {
        return false;
    };
    let Some(client) = parse_ip(client) else {
        return false;
    };
    let (a, c): (Vec<u8>, Vec<u8>) = match (acl_addr, client) {
        (IpAddr::V4(a), IpAddr::V4(c)) => (a.octets().to_vec(), c.octets().to_vec()),
        (IpAddr::V6(a), IpAddr::V6(c)) => (a.octets().to_vec(), c.octets().to_vec()),
        _ => return false,
    };
    let mut left = bits;
    for (x, y) in a.iter().zip(c.iter()) {
        if left == 0 {
            break;
        }
        let mask: u8 = if left >= 8 {
            0xff
        } else {
            0xffu8 << (8 - left)
        };
        if x & mask != y & mask {
            return false;
        }
        left = left.saturating_sub(8);
    }
    true
}

/// The text ZooKeeper uses for a client address in an `ip` identity (Java's `getHostAddress`:
/// IPv6 uncompressed, e.g. `0:0:0:0:0:0:0:1`).
pub fn ip_identity(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => a
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

/// Options of the ACL checks that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct AclPolicy {
    /// `zookeeper.skipACL`: no checks at all.
    pub skip_acl: bool,
    /// Whether the `sasl` scheme has a provider (SASL configured).
    pub sasl_enabled: bool,
}

/// May a connection with `ids` do `perm` on a node with `acl`? (`ZooKeeperServer.checkACL`)
pub fn check(policy: &AclPolicy, acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if policy.skip_acl || acl.is_empty() {
        return true;
    }
    if ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        if !has_provider(&a.id.scheme, policy.sasl_enabled) {
            continue;
        }
        for i in ids.iter().filter(|i| i.scheme == a.id.scheme) {
            let hit = match a.id.scheme.as_str() {
                "ip" => ip_matches(&i.id, &a.id.id),
                _ => i.id == a.id.id,
            };
            if hit {
                return true;
            }
        }
    }
    false
}

/// Validates and expands an ACL for create/setACL (`fixupACL`): duplicates removed, `auth`
/// replaced by the connection's authenticated ids. `None` means InvalidACL.
pub fn fixup(policy: &AclPolicy, acl: &[Acl], ids: &[Id]) -> Option<Vec<Acl>> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            let mut any = false;
            for i in ids {
                if has_provider(&i.scheme, policy.sasl_enabled) && is_authenticated(&i.scheme) {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: i.clone(),
                    });
                }
            }
            if !any {
                return None;
            }
        } else if has_provider(&a.id.scheme, policy.sasl_enabled)
            && is_valid_id(&a.id.scheme, &a.id.id)
        {
            out.push(a.clone());
        } else {
            return None;
        }
    }
    Some(out)
}

/// The user name whoAmI shows for an identity (`AuthenticationProvider.getUserName`).
pub fn user_name(id: &Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_string(),
        "ip" | "sasl" | "x509" => id.id.clone(),
        _ => String::new(),
    }
}

/// getACL without ADMIN: digest ids show as `user:x`.
pub fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: "digest".into(),
                        id: format!("{user}:x"),
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::perms;

    fn id(s: &str, i: &str) -> Id {
        Id {
            scheme: s.into(),
            id: i.into(),
        }
    }

    #[test]
    fn digest_matches_zookeepers() {
        // The superDigest kazoo's harness configures is the digest of super:test.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn ip_cidr_matching() {
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.2", "127.0.0.1"));
        assert!(ip_matches("127.0.0.2", "127.0.0.1/30"));
        assert!(!ip_matches("127.0.0.2", "127.0.0.1/31"));
        assert!(ip_matches("0:0:0:0:0:0:0:1", "::1/128"));
        assert!(!ip_matches("127.0.0.1", "::1"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
    }

    #[test]
    fn checks_follow_zookeeper() {
        let p = AclPolicy::default();
        let acl = vec![Acl::new(perms::READ, "digest", &digest_id("bob:pw"))];
        assert!(!check(&p, &acl, perms::READ, &[id("ip", "127.0.0.1")]));
        assert!(check(
            &p,
            &acl,
            perms::READ,
            &[id("digest", &digest_id("bob:pw"))]
        ));
        assert!(!check(
            &p,
            &acl,
            perms::WRITE,
            &[id("digest", &digest_id("bob:pw"))]
        ));
        assert!(check(&p, &acl, perms::WRITE, &[id("super", "")]));
        assert!(check(&p, &[], perms::WRITE, &[]));
        let getacl = perms::READ | perms::ADMIN;
        assert!(check(
            &p,
            &acl,
            getacl,
            &[id("digest", &digest_id("bob:pw"))]
        ));
    }

    #[test]
    fn fixup_rules() {
        let p = AclPolicy::default();
        assert_eq!(fixup(&p, &[], &[]), None);
        assert_eq!(fixup(&p, &[Acl::new(31, "world", "nobody")], &[]), None);
        assert_eq!(
            fixup(&p, &[Acl::new(31, "auth", "")], &[id("ip", "1.2.3.4")]),
            None
        );
        let d = id("digest", "u:h");
        assert_eq!(
            fixup(
                &p,
                &[Acl::new(31, "auth", "")],
                &[id("ip", "1.2.3.4"), d.clone()]
            ),
            Some(vec![Acl { perms: 31, id: d }])
        );
        assert_eq!(fixup(&p, &[Acl::new(31, "digest", "user:")], &[]), None);
        assert_eq!(fixup(&p, &[Acl::new(31, "digest", "a:b:c")], &[]), None);
        assert!(fixup(&p, &[Acl::new(31, "digest", "a:b")], &[]).is_some());
        assert_eq!(fixup(&p, &[Acl::new(31, "ip", "1.2.3.4/33")], &[]), None);
        assert_eq!(fixup(&p, &[Acl::new(31, "ip", "1.2.3")], &[]), None);
        assert_eq!(fixup(&p, &[Acl::new(31, "super", "x")], &[]), None);
        let two = [
            Acl::new(31, "world", "anyone"),
            Acl::new(31, "world", "anyone"),
        ];
        assert_eq!(fixup(&p, &two, &[]).map(|v| v.len()), Some(1));
    }

    #[test]
    fn redaction_and_user_names() {
        let r = redact(&[Acl::new(1, "digest", "bob:abc=")]);
        assert_eq!(r[0].id.id, "bob:x");
        assert_eq!(user_name(&id("digest", "bob:abc")), "bob");
        assert_eq!(ip_identity("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
    }
}
