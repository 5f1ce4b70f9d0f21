//! Property tests of the codec: every record and every request round-trips, and decoding
//! arbitrary bytes never panics (frame codec, request frames, ConnectRequest, multi replies).

use bytes::{BufMut, Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;
use tokio_util::codec::Decoder;

use super::codes::opcode as op;
use super::frame::{ClientCodec, Inbound};
use super::jute::{Jute, Reader};
use super::records::*;
use super::reply::{decode_multi_body, multi_body, MultiResult};
use super::request::{decode_request_frame, MultiOp, Request};

// ---------------------------------------------------------------------------------------------
// Strategies

fn s() -> impl Strategy<Value = String> {
    // any Unicode, short; plus typical paths
    prop_oneof![".{0,12}", "(/[a-z0-9]{1,5}){1,4}", Just(String::new())]
}

fn opt_s() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s())
}

fn bytes_opt() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(vec(any::<u8>(), 0..40).prop_map(Bytes::from))
}

fn id() -> impl Strategy<Value = Id> {
    (s(), s()).prop_map(|(scheme, id)| Id { scheme, id })
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(s(), 0..5)
}

prop_compose! {
    fn stat()(
        czxid in any::<i64>(), mzxid in any::<i64>(), ctime in any::<i64>(), mtime in any::<i64>(),
        version in any::<i32>(), cversion in any::<i32>(), aversion in any::<i32>(),
        ephemeral_owner in any::<i64>(), data_length in any::<i32>(), num_children in any::<i32>(),
        pzxid in any::<i64>(),
    ) -> Stat {
        Stat { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner,
               data_length, num_children, pzxid }
    }
}

fn create_req(flags: impl Strategy<Value = i32>) -> impl Strategy<Value = CreateRequest> {
    (s(), bytes_opt(), acls(), flags).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

fn create_ttl_req(flags: impl Strategy<Value = i32>) -> impl Strategy<Value = CreateTtlRequest> {
    (s(), bytes_opt(), acls(), flags, any::<i64>()).prop_map(|(path, data, acl, flags, ttl)| {
        CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl,
        }
    })
}

fn path_watch() -> impl Strategy<Value = PathWatchRequest> {
    (s(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}

fn path_req() -> impl Strategy<Value = PathRequest> {
    s().prop_map(|path| PathRequest { path })
}

fn delete_req() -> impl Strategy<Value = DeleteRequest> {
    (s(), any::<i32>()).prop_map(|(path, version)| DeleteRequest { path, version })
}

fn set_data_req() -> impl Strategy<Value = SetDataRequest> {
    (s(), bytes_opt(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

fn check_req() -> impl Strategy<Value = CheckVersionRequest> {
    (s(), any::<i32>()).prop_map(|(path, version)| CheckVersionRequest { path, version })
}

fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), strings(), strings(), strings()).prop_map(|(z, d, e, c)| SetWatches {
        relative_zxid: z,
        data_watches: d,
        exist_watches: e,
        child_watches: c,
    })
}

fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (
        any::<i64>(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    )
        .prop_map(|(z, d, e, c, p, r)| SetWatches2 {
            relative_zxid: z,
            data_watches: d,
            exist_watches: e,
            child_watches: c,
            persistent_watches: p,
            persistent_recursive_watches: r,
        })
}

fn connect_req() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        vec(any::<u8>(), 0..24),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(pv, z, t, sid, pw, ro)| ConnectRequest {
            protocol_version: pv,
            last_zxid_seen: z,
            time_out: t,
            session_id: sid,
            passwd: Bytes::from(pw),
            read_only: ro,
        })
}

fn connect_resp() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        vec(any::<u8>(), 0..24),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(pv, t, sid, pw, ro)| ConnectResponse {
            protocol_version: pv,
            time_out: t,
            session_id: sid,
            passwd: Bytes::from(pw),
            read_only: ro,
        })
}

/// Write ops of a multi, in the forms the decoder gives back unchanged: plain creates with
/// modes 0-3 under any create opcode, containers as createContainer, TTL modes as createTTL.
fn write_op() -> impl Strategy<Value = MultiOp> {
    Union::new(vec![
        (
            prop_oneof![
                Just(op::CREATE),
                Just(op::CREATE2),
                Just(op::CREATE_CONTAINER)
            ],
            create_req(0..=3),
        )
            .prop_map(|(code, r)| MultiOp::Create(code, r))
            .boxed(),
        create_req(Just(4))
            .prop_map(|r| MultiOp::Create(op::CREATE_CONTAINER, r))
            .boxed(),
        create_ttl_req(5..=6).prop_map(MultiOp::CreateTtl).boxed(),
        delete_req().prop_map(MultiOp::Delete).boxed(),
        set_data_req().prop_map(MultiOp::SetData).boxed(),
        check_req().prop_map(MultiOp::Check).boxed(),
    ])
}

fn read_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        path_watch().prop_map(MultiOp::GetData),
        path_watch().prop_map(MultiOp::GetChildren),
    ]
}

/// Every request variant that has an encoding (all but a failed multi decode).
fn request() -> impl Strategy<Value = Request> {
    Union::new(vec![
        (
            prop_oneof![
                Just(op::CREATE),
                Just(op::CREATE2),
                Just(op::CREATE_CONTAINER)
            ],
            create_req(any::<i32>()),
        )
            .prop_map(|(c, r)| Request::Create(c, r))
            .boxed(),
        create_ttl_req(any::<i32>())
            .prop_map(Request::CreateTtl)
            .boxed(),
        delete_req().prop_map(Request::Delete).boxed(),
        path_watch().prop_map(Request::Exists).boxed(),
        path_watch().prop_map(Request::GetData).boxed(),
        set_data_req().prop_map(Request::SetData).boxed(),
        path_req().prop_map(Request::GetAcl).boxed(),
        (s(), acls(), any::<i32>())
            .prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest { path, acl, version }))
            .boxed(),
        path_watch().prop_map(Request::GetChildren).boxed(),
        path_req().prop_map(Request::Sync).boxed(),
        Just(Request::Ping).boxed(),
        path_watch().prop_map(Request::GetChildren2).boxed(),
        check_req().prop_map(Request::Check).boxed(),
        vec(write_op(), 0..5)
            .prop_map(|ops| Request::Multi(Ok(ops)))
            .boxed(),
        (opt_s(), opt_s(), opt_s(), any::<i64>())
            .prop_map(|(j, l, n, c)| {
                Request::Reconfig(ReconfigRequest {
                    joining_servers: j,
                    leaving_servers: l,
                    new_members: n,
                    cur_config_id: c,
                })
            })
            .boxed(),
        (s(), any::<i32>())
            .prop_map(|(path, typ)| Request::CheckWatches(WatchesRequest { path, typ }))
            .boxed(),
        (s(), any::<i32>())
            .prop_map(|(path, typ)| Request::RemoveWatches(WatchesRequest { path, typ }))
            .boxed(),
        path_req().prop_map(Request::DeleteContainer).boxed(),
        vec(read_op(), 0..5)
            .prop_map(|ops| Request::MultiRead(Ok(ops)))
            .boxed(),
        (any::<i32>(), s(), bytes_opt())
            .prop_map(|(typ, scheme, auth)| Request::Auth(AuthPacket { typ, scheme, auth }))
            .boxed(),
        set_watches().prop_map(Request::SetWatches).boxed(),
        bytes_opt()
            .prop_map(|token| Request::Sasl(SaslToken { token }))
            .boxed(),
        path_req().prop_map(Request::GetEphemerals).boxed(),
        path_req().prop_map(Request::GetAllChildrenNumber).boxed(),
        set_watches2().prop_map(Request::SetWatches2).boxed(),
        (s(), any::<i32>())
            .prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode }))
            .boxed(),
        Just(Request::WhoAmI).boxed(),
        Just(Request::CloseSession).boxed(),
    ])
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    Union::new(vec![
        s().prop_map(MultiResult::Create).boxed(),
        (s(), stat())
            .prop_map(|(p, st)| MultiResult::Create2(p, st))
            .boxed(),
        Just(MultiResult::Delete).boxed(),
        stat().prop_map(MultiResult::SetData).boxed(),
        Just(MultiResult::Check).boxed(),
        (bytes_opt(), stat())
            .prop_map(|(d, st)| MultiResult::GetData(d, st))
            .boxed(),
        strings().prop_map(MultiResult::GetChildren).boxed(),
        any::<i32>().prop_map(MultiResult::Error).boxed(),
    ])
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Encodes `v`, decodes it back, and checks the value and that every byte was consumed; then
/// checks that no strict prefix decodes to the same value.
fn roundtrip<T: Jute + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = v.to_bytes();
    let mut r = Reader::new(bytes.clone());
    let back = T::read(&mut r);
    prop_assert_eq!(back.as_ref(), Ok(v));
    prop_assert_eq!(r.remaining(), 0, "bytes left after decoding");
    for cut in 0..bytes.len() {
        let prefix = T::from_bytes(bytes.slice(..cut));
        prop_assert_ne!(prefix.as_ref(), Ok(v), "a {}-byte prefix decoded", cut);
    }
    Ok(())
}

/// Runs the client codec over `bytes` delivered in `chunks`; returns what it produced. Never
/// panics by construction of the property.
fn run_codec(mut codec: ClientCodec, bytes: &[u8], chunks: &[usize]) -> Vec<Result<Inbound, ()>> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut feed = chunks.iter().copied().chain(std::iter::repeat(7));
    while pos < bytes.len() {
        let n = feed.next().unwrap_or(1).clamp(1, bytes.len() - pos);
        buf.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => out.push(Ok(item)),
                Ok(None) => break,
                Err(_) => {
                    out.push(Err(()));
                    return out;
                }
            }
        }
    }
    if codec.decode_eof(&mut buf).is_err() {
        out.push(Err(()));
    }
    out
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn shared_records_roundtrip(
        i in id(), a in acl(), st in stat(), ci in (s(), s()), ev in (any::<i32>(), any::<i32>(), s()),
        rh in (any::<i32>(), any::<i32>()), ph in (any::<i32>(), any::<i64>(), any::<i32>()),
        mh in (any::<i32>(), any::<bool>(), any::<i32>()),
    ) {
        roundtrip(&i)?;
        roundtrip(&a)?;
        roundtrip(&st)?;
        roundtrip(&ClientInfo { auth_scheme: ci.0, user: ci.1 })?;
        roundtrip(&WatcherEvent { typ: ev.0, state: ev.1, path: ev.2 })?;
        roundtrip(&RequestHeader { xid: rh.0, typ: rh.1 })?;
        roundtrip(&ReplyHeader { xid: ph.0, zxid: ph.1, err: ph.2 })?;
        roundtrip(&MultiHeader { typ: mh.0, done: mh.1, err: mh.2 })?;
    }

    #[test]
    fn request_records_roundtrip(
        c in create_req(any::<i32>()), t in create_ttl_req(any::<i32>()), d in delete_req(),
        pw in path_watch(), sd in set_data_req(), p in path_req(),
        sa in (s(), acls(), any::<i32>()), cv in check_req(),
        rc in (opt_s(), opt_s(), opt_s(), any::<i64>()), w in (s(), any::<i32>()),
        au in (any::<i32>(), s(), bytes_opt()), sw in set_watches(), sw2 in set_watches2(),
        tok in bytes_opt(), aw in (s(), any::<i32>()),
    ) {
        roundtrip(&c)?;
        roundtrip(&t)?;
        roundtrip(&d)?;
        roundtrip(&pw)?;
        roundtrip(&sd)?;
        roundtrip(&p)?;
        roundtrip(&SetAclRequest { path: sa.0, acl: sa.1, version: sa.2 })?;
        roundtrip(&cv)?;
        roundtrip(&ReconfigRequest {
            joining_servers: rc.0, leaving_servers: rc.1, new_members: rc.2, cur_config_id: rc.3,
        })?;
        roundtrip(&WatchesRequest { path: w.0, typ: w.1 })?;
        roundtrip(&AuthPacket { typ: au.0, scheme: au.1, auth: au.2 })?;
        roundtrip(&sw)?;
        roundtrip(&sw2)?;
        roundtrip(&SaslToken { token: tok })?;
        roundtrip(&AddWatchRequest { path: aw.0, mode: aw.1 })?;
    }

    #[test]
    fn reply_records_roundtrip(
        p in s(), st in stat(), data in bytes_opt(), a in acls(), kids in strings(),
        n in any::<i32>(), infos in vec((s(), s()), 0..4),
    ) {
        roundtrip(&CreateResponse { path: p.clone() })?;
        roundtrip(&Create2Response { path: p.clone(), stat: st.clone() })?;
        roundtrip(&StatResponse { stat: st.clone() })?;
        roundtrip(&GetDataResponse { data, stat: st.clone() })?;
        roundtrip(&GetAclResponse { acl: a, stat: st.clone() })?;
        roundtrip(&GetChildrenResponse { children: kids.clone() })?;
        roundtrip(&GetChildren2Response { children: kids.clone(), stat: st })?;
        roundtrip(&GetEphemeralsResponse { ephemerals: kids })?;
        roundtrip(&GetAllChildrenNumberResponse { total_number: n })?;
        roundtrip(&ErrorResponse { err: n })?;
        roundtrip(&WhoAmIResponse {
            client_info: infos.into_iter().map(|(a, u)| ClientInfo { auth_scheme: a, user: u }).collect(),
        })?;
        roundtrip(&SyncResponse { path: p })?;
    }

    #[test]
    fn connect_records_roundtrip_with_and_without_read_only(req in connect_req(), resp in connect_resp()) {
        let bytes = req.to_bytes();
        let expected_len = 28 + req.passwd.len() + usize::from(req.read_only.is_some());
        prop_assert_eq!(bytes.len(), expected_len);
        prop_assert_eq!(ConnectRequest::from_bytes(bytes.clone()), Ok(req.clone()));
        if req.read_only.is_some() {
            // without its last byte it is an "old client" request
            let old = ConnectRequest::from_bytes(bytes.slice(..bytes.len() - 1));
            prop_assert_eq!(old, Ok(ConnectRequest { read_only: None, ..req.clone() }));
        }
        let rb = resp.to_bytes();
        prop_assert_eq!(rb.len(), 20 + resp.passwd.len() + usize::from(resp.read_only.is_some()));
        prop_assert_eq!(ConnectResponse::from_bytes(rb), Ok(resp));
    }

    #[test]
    fn every_request_roundtrips_through_a_frame(req in request(), xid in any::<i32>()) {
        let frame = req.to_frame(xid);
        let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        prop_assert_eq!(len as usize, frame.len() - 4);
        let (h, back) = decode_request_frame(frame.slice(4..), usize::MAX)
            .map_err(|(_, e)| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(h, RequestHeader { xid, typ: req.opcode() });
        prop_assert_eq!(back, req.clone());
        // and through the socket codec, delivered in odd pieces
        let items = run_codec(ClientCodec::framed_only(1 << 20), &frame, &[1, 3, 5]);
        prop_assert_eq!(items, vec![Ok(Inbound::Frame(frame.slice(4..)))]);
        // a strict prefix of the body never decodes to the same request
        let payload = frame.slice(4..);
        for cut in 8..payload.len() {
            if let Ok((_, r)) = decode_request_frame(payload.slice(..cut), usize::MAX) {
                prop_assert_ne!(r, req.clone(), "a {}-byte prefix decoded", cut);
            }
        }
    }

    #[test]
    fn multi_reply_bodies_roundtrip(results in vec(multi_result(), 0..6)) {
        let body = multi_body(&results);
        prop_assert_eq!(decode_multi_body(body), Ok(results));
    }

    #[test]
    fn codec_splits_concatenated_frames_back(
        payloads in vec(vec(any::<u8>(), 0..64), 0..6),
        chunks in vec(1usize..50, 0..20),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            stream.extend_from_slice(&frame(p));
        }
        let items = run_codec(ClientCodec::framed_only(64), &stream, &chunks);
        let expected: Vec<Result<Inbound, ()>> = payloads
            .iter()
            .map(|p| Ok(Inbound::Frame(Bytes::copy_from_slice(p))))
            .collect();
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn codec_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..512),
        chunks in vec(1usize..64, 0..16),
        max in prop_oneof![Just(0usize), 1usize..300, Just(0xfffff)],
    ) {
        let items = run_codec(ClientCodec::new(max), &bytes, &chunks);
        // at most one four-letter word, and only as the first item
        for (i, it) in items.iter().enumerate() {
            if let Ok(Inbound::FourLetterWord(_)) = it {
                prop_assert_eq!(i, 0);
            }
            if let Ok(Inbound::Frame(f)) = it {
                prop_assert!(f.len() <= max);
            }
        }
        run_codec(ClientCodec::framed_only(max), &bytes, &chunks);
    }

    #[test]
    fn request_frame_decoding_never_panics(bytes in vec(any::<u8>(), 0..256), limit in 0usize..64) {
        let _ = decode_request_frame(Bytes::from(bytes.clone()), usize::MAX);
        let _ = decode_request_frame(Bytes::from(bytes), limit);
    }

    #[test]
    fn known_opcode_with_arbitrary_body_never_panics(
        opcode in prop_oneof![
            -11i32..=22,
            100i32..=107,
            Just(i32::MIN),
            Just(i32::MAX),
        ],
        xid in any::<i32>(),
        body in vec(any::<u8>(), 0..256),
    ) {
        let mut p = BytesMut::new();
        p.put_i32(xid);
        p.put_i32(opcode);
        p.put_slice(&body);
        if let Ok((h, req)) = decode_request_frame(p.freeze(), 0xfffff) {
            prop_assert_eq!(h.xid, xid);
            prop_assert_eq!(req.opcode(), opcode);
        }
    }

    #[test]
    fn multi_body_made_of_headers_and_noise_never_panics(
        parts in vec((prop_oneof![-1i32..=22, Just(999)], any::<bool>(), vec(any::<u8>(), 0..24)), 0..6),
        read in any::<bool>(),
    ) {
        let mut p = BytesMut::new();
        p.put_i32(1);
        p.put_i32(if read { op::MULTI_READ } else { op::MULTI });
        for (typ, done, noise) in &parts {
            MultiHeader { typ: *typ, done: *done, err: -1 }.write(&mut p);
            p.put_slice(noise);
        }
        let _ = decode_request_frame(p.freeze(), 0xfffff);
    }

    #[test]
    fn connect_request_decoding_never_panics(bytes in vec(any::<u8>(), 0..96)) {
        let _ = ConnectRequest::from_bytes(Bytes::from(bytes.clone()));
        let _ = ConnectResponse::from_bytes(Bytes::from(bytes));
    }

    #[test]
    fn multi_reply_decoding_never_panics(
        bytes in vec(any::<u8>(), 0..256),
        parts in vec((prop_oneof![-1i32..=15, Just(999)], any::<bool>(), vec(any::<u8>(), 0..80)), 0..6),
    ) {
        let _ = decode_multi_body(Bytes::from(bytes));
        let mut b = BytesMut::new();
        for (typ, done, noise) in &parts {
            MultiHeader { typ: *typ, done: *done, err: 0 }.write(&mut b);
            b.put_slice(noise);
        }
        let _ = decode_multi_body(b.freeze());
    }
}
