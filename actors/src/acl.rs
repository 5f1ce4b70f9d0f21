//! ACL checks and authentication providers (digest, ip, world, super; sasl ids come from SASL,
//! x509 ids from client certificates on the TLS port).
//!
//! Pure functions over a connection's identities ([`Id`]s) and a node's ACL list, following
//! `ZooKeeperServer.checkACL`, `PrepRequestProcessor.fixupACL`, `DigestAuthenticationProvider`,
//! `IPAuthenticationProvider`, `SASLAuthenticationProvider` and `X509AuthenticationProvider`.

use core::net::IpAddr;

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

/// Is `scheme` one this server has a provider for (auth schemes usable in ACLs)? `sasl` when SASL
/// is configured (`authProvider.N=…SASLAuthenticationProvider`); `x509` when the TLS port is
/// (ZooKeeper registers `X509AuthenticationProvider` whenever `secureClientPort` is set).
fn has_provider(scheme: &str, policy: &AclPolicy) -> bool {
    matches!(scheme, "digest" | "ip")
        || (policy.sasl_enabled && scheme == "sasl")
        || (policy.x509_enabled && scheme == "x509")
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
        "sasl" => kerberos_name_valid(id),
        "x509" => x500_name_valid(id),
        _ => false,
    }
}

/// `new KerberosName(id)` does not throw: a name with an `@` must be `service[/host]@realm`
/// (`SASLAuthenticationProvider.isValid`).
fn kerberos_name_valid(id: &str) -> bool {
    if !id.contains('@') {
        return true;
    }
    let Some((principal, realm)) = id.split_once('@') else {
        return false;
    };
    let plain = |s: &str| !s.contains(['/', '@']);
    let principal_ok = match principal.split_once('/') {
        Some((service, host)) => plain(service) && plain(host),
        None => true,
    };
    principal_ok && plain(realm)
}

/// Attribute keywords `javax.security.auth.x500.X500Principal` accepts in a name.
const X500_KEYWORDS: [&str; 21] = [
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// Would `new X500Principal(id)` accept `id` (`X509AuthenticationProvider.isValid`)? Checks the
/// shape the JDK requires: attribute=value pairs separated by `,`, `;` or `+`, each attribute a
/// known keyword or an OID, `\` escapes complete, `#` values hex. An empty name is valid.
fn x500_name_valid(id: &str) -> bool {
    if id.trim().is_empty() {
        return true;
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut escaped, mut quoted) = (false, false);
    for c in id.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == '"' {
            current.push(c);
            quoted = !quoted;
        } else if !quoted && matches!(c, ',' | ';' | '+') {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if escaped || quoted {
        return false;
    }
    parts.push(current);
    parts.iter().all(|ava| {
        let Some((typ, value)) = ava.split_once('=') else {
            return false;
        };
        let typ = typ.trim();
        let oid = typ
            .strip_prefix("OID.")
            .or_else(|| typ.strip_prefix("oid."))
            .unwrap_or(typ);
        let oid_ok = !oid.is_empty()
            && oid.split('.').count() >= 2
            && oid
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let keyword_ok = X500_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(typ));
        let value = value.trim();
        let value_ok = match value.strip_prefix('#') {
            Some(hex) => {
                !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit())
            }
            None => true,
        };
        (oid_ok || keyword_ok) && value_ok
    })
}

/// An `ip` ACL id: an address and a prefix length.
fn parse_ip_acl(id: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let addr = parse_ip(addr)?;
    let max = 32;
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

/// An IPv4 address as ZooKeeper 3.8/3.9's `IPAuthenticationProvider` reads one. IPv6 `ip` ACL
/// ids are InvalidACL there (support came with 3.10, ZOOKEEPER-4240), and an IPv6 client
/// matches no `ip` ACL.
fn parse_ip(s: &str) -> Option<IpAddr> {
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
    /// Whether the `x509` scheme has a provider (a TLS port configured).
    pub x509_enabled: bool,
}

impl AclPolicy {
    /// The policy a node's configuration asks for.
    pub fn from_config(config: &crate::config::NodeConfig) -> AclPolicy {
        AclPolicy {
            skip_acl: config.auth.skip_acl,
            sasl_enabled: config.sasl.enabled(),
            x509_enabled: config.tls.enabled(),
        }
    }
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
        if !has_provider(&a.id.scheme, policy) {
            continue;
        }
        for i in ids.iter().filter(|i| i.scheme == a.id.scheme) {
            let hit = match a.id.scheme.as_str() {
                "ip" => ip_matches(&i.id, &a.id.id),
                // SASLAuthenticationProvider.matches (3.8.0): the SASL user `super` matches every
                // sasl ACL.
                "sasl" => i.id == "super" || i.id == a.id.id,
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
                if has_provider(&i.scheme, policy) && is_authenticated(&i.scheme) {
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
        } else if has_provider(&a.id.scheme, policy) && is_valid_id(&a.id.scheme, &a.id.id) {
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
        assert!(!ip_matches("0:0:0:0:0:0:0:1", "::1/128"));
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
        // IPv6 ip ACLs are InvalidACL in ZooKeeper 3.8/3.9.
        assert_eq!(fixup(&p, &[Acl::new(31, "ip", "::1")], &[]), None);
        assert_eq!(
            fixup(&p, &[Acl::new(31, "ip", "0:0:0:0:0:0:0:1/128")], &[]),
            None
        );
        assert_eq!(fixup(&p, &[Acl::new(31, "super", "x")], &[]), None);
        let two = [
            Acl::new(31, "world", "anyone"),
            Acl::new(31, "world", "anyone"),
        ];
        assert_eq!(fixup(&p, &two, &[]).map(|v| v.len()), Some(1));
    }

    #[test]
    fn sasl_scheme_needs_sasl_configured() {
        let off = AclPolicy::default();
        let on = AclPolicy {
            sasl_enabled: true,
            ..AclPolicy::default()
        };
        let acl = [Acl::new(perms::ALL, "sasl", "jaasuser")];
        let user = [id("sasl", "jaasuser")];
        // Without a provider the scheme is unknown: InvalidACL, and no sasl ACL ever matches.
        assert_eq!(fixup(&off, &acl, &user), None);
        assert!(!check(&off, &acl, perms::READ, &user));
        assert_eq!(fixup(&on, &acl, &user), Some(acl.to_vec()));
        assert!(check(&on, &acl, perms::READ, &user));
        assert!(!check(&on, &acl, perms::READ, &[id("sasl", "other")]));
        assert!(!check(&on, &acl, perms::READ, &[id("digest", "jaasuser")]));
        // The SASL user `super` matches every sasl ACL (SASLAuthenticationProvider.matches).
        assert!(check(&on, &acl, perms::READ, &[id("sasl", "super")]));
        // `auth` expands to the SASL identity.
        assert_eq!(
            fixup(&on, &[Acl::new(perms::READ, "auth", "")], &user),
            Some(vec![Acl::new(perms::READ, "sasl", "jaasuser")])
        );
        // Kerberos-style names: an '@' needs service[/host]@realm.
        for (name, ok) in [
            ("jaasuser", true),
            ("svc/host", true),
            ("a@R", true),
            ("a/h@R", true),
            ("a@b@c", false),
            ("a/b/c@R", false),
            ("@", true),
        ] {
            let r = fixup(&on, &[Acl::new(1, "sasl", name)], &[]);
            assert_eq!(r.is_some(), ok, "{name}");
        }
    }

    #[test]
    fn x509_scheme_needs_the_tls_port() {
        let off = AclPolicy::default();
        let on = AclPolicy {
            x509_enabled: true,
            ..AclPolicy::default()
        };
        let acl = [Acl::new(perms::ALL, "x509", "CN=client")];
        let cert = [id("x509", "CN=client")];
        assert_eq!(fixup(&off, &acl, &cert), None);
        assert!(check(&on, &acl, perms::WRITE, &cert));
        assert!(!check(&on, &acl, perms::WRITE, &[id("x509", "CN=other")]));
        assert_eq!(
            fixup(&on, &[Acl::new(perms::READ, "auth", "")], &cert),
            Some(vec![Acl::new(perms::READ, "x509", "CN=client")])
        );
        for (name, ok) in [
            ("CN=client", true),
            ("CN=a,O=b, C=US", true),
            ("cn=a+uid=b", true),
            ("2.5.4.3=x", true),
            ("OID.2.5.4.3=x", true),
            ("CN=#0c0161", true),
            ("", true),
            ("client", false),
            ("XX=a", false),
            ("CN=a\\", false),
            ("CN=#0", false),
            ("CN=\"a,b\"", true),
        ] {
            assert_eq!(x500_name_valid(name), ok, "{name}");
        }
    }

    #[test]
    fn redaction_and_user_names() {
        let r = redact(&[Acl::new(1, "digest", "bob:abc=")]);
        assert_eq!(r[0].id.id, "bob:x");
        assert_eq!(user_name(&id("digest", "bob:abc")), "bob");
        assert_eq!(ip_identity("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
    }
}
