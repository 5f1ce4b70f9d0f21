//! Tests of SASL DIGEST-MD5 (`sasl.rs`): the exchange against the JDK's, the parsing and
//! quoting of the challenge and response fields.

use super::*;

fn users() -> BTreeMap<String, String> {
    [("super", "super_secret"), ("jaasuser", "jaas_password")]
        .into_iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect()
}

fn challenged(nonce: &str) -> DigestMd5Server {
    let mut s = DigestMd5Server::new(nonce.as_bytes().to_vec());
    let Step::Challenge(c) = s.step(b"", &users()).unwrap() else {
        panic!("no challenge")
    };
    assert_eq!(
        String::from_utf8(c).unwrap(),
        format!("realm=\"zk-sasl-md5\",nonce=\"{nonce}\",charset=utf-8,algorithm=md5-sess")
    );
    s
}

/// An exchange recorded between pure-sasl 0.6.2 (kazoo's SASL library) and Apache
/// ZooKeeper 3.8.0 on Java 17: the server's nonce, the client's response and Apache's
/// rspauth.
#[test]
fn recorded_pure_sasl_exchange_against_apache() {
    let nonce = "RZqyUPKhVdKOjA9VrYcMec/yC27yfYw6fhtNLtg5";
    let mut s = challenged(nonce);
    let response = format!(
        "qop=auth,realm=\"zk-sasl-md5\",username=\"jaasuser\",nonce=\"{nonce}\",\
         cnonce=\"03848398714070156\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
         response=8dca5efe35d7147c0181c77241971d75"
    );
    assert_eq!(
        s.step(response.as_bytes(), &users()),
        Ok(Step::Complete {
            token: b"rspauth=f642309c32e6d7119d5de1335cc3dfb4".to_vec(),
            authorization_id: "jaasuser".into()
        })
    );
    assert!(s.is_over());
    // Anything after completion fails (Apache: AuthFailed, connection closed).
    assert!(matches!(s.step(b"", &users()), Err(SaslError::Rejected(_))));
}

#[test]
fn recorded_super_exchange() {
    let nonce = "R3eB61lCe+GjXwGmhD0R3Ij3CWDUg+9e1AFyzrXm";
    let mut s = challenged(nonce);
    let response = format!(
        "qop=auth,realm=\"zk-sasl-md5\",username=\"super\",nonce=\"{nonce}\",\
         cnonce=\"6465199470974613\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
         response=98946b32b226ee99607165e3c895613b"
    );
    assert_eq!(
        s.step(response.as_bytes(), &users()),
        Ok(Step::Complete {
            token: b"rspauth=d1abf4170f1f8f4dc76e4ddfa2bb2190".to_vec(),
            authorization_id: "super".into()
        })
    );
}

/// Recorded against Apache 3.8.0: authzid "super" while authenticating as jaasuser (the
/// authzid enters A1, but the authorization id stays the user name), and a cnonce with a NUL
/// byte in it (the Rust zookeeper-client crate's cnonce may hold NULs).
#[test]
fn recorded_authzid_exchange_keeps_the_user_name() {
    let nonce = "hMKuBYK8cDJG819fgvymzcyIjClrTsxc8gN1Plme";
    let mut s = challenged(nonce);
    let response = format!(
        "username=\"jaasuser\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",cnonce=\"abc\0def\",\
         nc=00000001,qop=auth,digest-uri=\"zookeeper/zk-sasl-md5\",\
         response=8bebaf74f3699812819a5257a2be1e15,authzid=\"super\""
    );
    assert_eq!(
        s.step(response.as_bytes(), &users()),
        Ok(Step::Complete {
            token: b"rspauth=1bed603583842ae6217d28362ee5c69a".to_vec(),
            authorization_id: "jaasuser".into()
        })
    );
}

/// RFC 2831 §4's example (IMAP): username chris, password secret.
#[test]
fn rfc_2831_example() {
    let nonce = b"OA6MG9tEQGm2hh".to_vec();
    let mut s = DigestMd5Server::with_names("imap", "elwood.innosoft.com", nonce);
    let users: BTreeMap<String, String> = [("chris".to_string(), "secret".to_string())].into();
    assert!(matches!(s.step(b"", &users), Ok(Step::Challenge(_))));
    let response = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
        nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
        digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,\
        qop=auth";
    assert_eq!(
        s.step(response, &users),
        Ok(Step::Complete {
            token: b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec(),
            authorization_id: "chris".into()
        })
    );
}

/// A response computed here (the same formula as pure-sasl's), for variations.
fn client_response(user: &str, password: &str, nonce: &str, extra: &str) -> String {
    let parts = ResponseParts {
        digest_uri: "zookeeper/zk-sasl-md5",
        username: user,
        realm: ZK_REALM,
        password,
        nonce: nonce.as_bytes(),
        cnonce: b"c1",
        authzid: None,
    };
    let r = String::from_utf8(parts.value("AUTHENTICATE")).unwrap();
    format!(
        "username=\"{user}\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",cnonce=\"c1\",\
         nc=00000001,qop=auth,digest-uri=\"zookeeper/zk-sasl-md5\",response={r}{extra}"
    )
}

fn outcome(token: &str) -> Result<Step, SaslError> {
    challenged("N").step(token.as_bytes(), &users())
}

#[test]
fn wrong_password_and_unknown_user_are_rejected() {
    let bad = client_response("jaasuser", "wrong", "N", "");
    assert_eq!(
        outcome(&bad),
        Err(reject(
            "digest response format violation. Mismatched response."
        ))
    );
    let unknown = client_response("nobody", "x", "N", "");
    assert!(
        matches!(outcome(&unknown), Err(SaslError::Rejected(m)) if m.contains("cannot acquire password"))
    );
}

#[test]
fn what_the_jdk_accepts() {
    // The Rust zookeeper-client crate quotes the charset.
    let ok = client_response("jaasuser", "jaas_password", "N", ",charset=\"utf-8\"");
    assert!(matches!(outcome(&ok), Ok(Step::Complete { .. })));
    // `nc` is not a directive the JDK knows: ignored.
    let nc = client_response("jaasuser", "jaas_password", "N", "").replace("nc=00000001", "nc=zz");
    assert!(matches!(outcome(&nc), Ok(Step::Complete { .. })));
    // Unknown directives, even repeated, are ignored; directive names ignore case.
    let unknown = client_response("jaasuser", "jaas_password", "N", ",foo=1,foo=2");
    assert!(matches!(outcome(&unknown), Ok(Step::Complete { .. })));
    let upper =
        client_response("jaasuser", "jaas_password", "N", "").replace("username=", "UserName=");
    assert!(matches!(outcome(&upper), Ok(Step::Complete { .. })));
    // The digest-uri compares ignoring case; the client's spelling enters the hash.
    let parts = ResponseParts {
        digest_uri: "ZooKeeper/ZK-SASL-MD5",
        username: "jaasuser",
        realm: ZK_REALM,
        password: "jaas_password",
        nonce: b"N",
        cnonce: b"c1",
        authzid: None,
    };
    let r = String::from_utf8(parts.value("AUTHENTICATE")).unwrap();
    let t = format!(
        "username=\"jaasuser\",realm=\"zk-sasl-md5\",nonce=\"N\",cnonce=\"c1\",\
         digest-uri=\"ZooKeeper/ZK-SASL-MD5\",response={r}"
    );
    assert!(matches!(outcome(&t), Ok(Step::Complete { .. })));
    // A non-empty initial token is ignored (a challenge all the same).
    let mut s = DigestMd5Server::new(b"N".to_vec());
    assert!(matches!(s.step(b"junk", &users()), Ok(Step::Challenge(_))));
}

#[test]
fn what_the_jdk_rejects() {
    let good = client_response("jaasuser", "jaas_password", "N", "");
    let cases = [
        good.replace("realm=\"zk-sasl-md5\",", ""),
        good.replace("zookeeper/zk-sasl-md5", "zookeeper/other"),
        good.replace("nonce=\"N\"", "nonce=\"M\""),
        good.replace("cnonce=\"c1\",", ""),
        good.replace("qop=auth", "qop=auth-int"),
        good.replace("qop=auth", "qop=bogus"),
        good.replace(",digest-uri=\"zookeeper/zk-sasl-md5\"", ""),
        format!("{good},username=\"x\""),
        format!("{good},charset=iso-8859-1"),
        format!("{good},nonce-count=00000002"),
        good.to_uppercase()
            .replace("USERNAME=\"JAASUSER\"", "username=\"jaasuser\""),
        "\u{0}\u{1}garbage===,,,".to_string(),
        "a=\"unterminated".into(),
        "=x".into(),
        "a b".into(),
        "a=\"x\"y".into(),
        "a=".into(),
        String::new(),
    ];
    for t in cases {
        assert!(
            matches!(outcome(&t), Err(SaslError::Rejected(_))),
            "{t:?} gave {:?}",
            outcome(&t)
        );
    }
    // Numbers the JDK cannot parse: a runtime exception, the connection just closes.
    for (extra, what) in [
        (",maxbuf=abc", "maxbuf"),
        (",nonce-count=zz", "nonce-count"),
    ] {
        let t = client_response("jaasuser", "jaas_password", "N", extra);
        assert_eq!(outcome(&t), Err(SaslError::Malformed(what)));
    }
    // A response of the right form but uppercase hex does not match.
    let upper = good.replace(
        good.rsplit("response=").next().unwrap(),
        &good.rsplit("response=").next().unwrap().to_uppercase(),
    );
    assert!(matches!(outcome(&upper), Err(SaslError::Rejected(_))));
}

#[test]
fn tokens_over_4096_bytes_fail_at_any_step() {
    let big = vec![b'a'; MAX_RESPONSE_BYTES + 1];
    let mut s = DigestMd5Server::new(b"N".to_vec());
    assert!(matches!(
        s.step(&big, &users()),
        Err(SaslError::Rejected(_))
    ));
    assert!(s.is_over());
    let mut s = challenged("N");
    assert!(matches!(
        s.step(&big, &users()),
        Err(SaslError::Rejected(_))
    ));
    // Exactly 4096 bytes is parsed (and fails as the garbage it is).
    let mut s = challenged("N");
    let limit = vec![b'a'; MAX_RESPONSE_BYTES];
    assert!(
        matches!(s.step(&limit, &users()), Err(SaslError::Rejected(m)) if m.contains("username"))
    );
}

#[test]
fn one_failure_ends_the_exchange() {
    let mut s = challenged("N");
    let bad = client_response("jaasuser", "wrong", "N", "");
    assert!(s.step(bad.as_bytes(), &users()).is_err());
    let good = client_response("jaasuser", "jaas_password", "N", "");
    assert!(s.step(good.as_bytes(), &users()).is_err());
}

#[test]
fn parsing_follows_the_jdk() {
    // Separators, empty elements, LWS around '=', escapes in quoted values.
    let d = parse_directives(
        b"  username=u1 , realm=\"x\\\"y\\\\z\",,nonce = \"q\" ,  cnonce=\"\", qop",
    )
    .unwrap();
    assert_eq!(d.get(Key::Username), Some(&b"u1"[..]));
    assert_eq!(d.get(Key::Realm), Some(&b"x\"y\\z"[..]));
    assert_eq!(d.get(Key::Nonce), Some(&b"q"[..]));
    assert_eq!(d.get(Key::Cnonce), Some(&b""[..]));
    // A trailing key without '=' gets an empty value.
    assert_eq!(d.get(Key::Qop), Some(&b""[..]));
    assert_eq!(d.get(Key::Response), None);
}

#[test]
fn nonces_are_40_base64_characters_and_differ() {
    let (a, b) = (random_nonce(), random_nonce());
    assert_eq!(a.len(), 40);
    assert_ne!(a, b);
    assert!(a
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/'));
}

#[test]
fn helpers_match_java() {
    assert_eq!(java_parse_int("+10", 10), Some(10));
    assert_eq!(java_parse_int("-1", 16), Some(-1));
    assert_eq!(java_parse_int("ffffffff", 16), None);
    assert_eq!(java_parse_int("7fffffff", 16), Some(i32::MAX));
    assert_eq!(java_parse_int("", 10), None);
    assert_eq!(java_parse_int("-", 10), None);
    assert!(java_equals_ignore_case("ZooKeeper/x", "zookeeper/X"));
    assert!(java_equals_ignore_case("\u{212a}", "k")); // Kelvin sign, as in Java
    assert!(!java_equals_ignore_case("ab", "abc"));
    assert_eq!(latin1_or_utf8("é"), vec![0xe9]);
    assert_eq!(latin1_or_utf8("é€"), "é€".as_bytes().to_vec());
    let mut q = Vec::new();
    write_quoted(&mut q, b"a\"b\\c\x01\t");
    assert_eq!(q, b"a\\\"b\\\\c\\\x01\t".to_vec());
}
