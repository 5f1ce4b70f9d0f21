//! A request frame decoded by opcode, and its encoding (used by tests, the fuzzer and tools).
//!
//! Invariant: [`Request::decode`] never panics; an unknown opcode is
//! [`DecodeError::UnknownValue`], which the server answers with `Unimplemented` and a close.
//! Malformed multi bodies are reported as [`MultiDecodeError`] so the server can answer
//! `MarshallingError` as ZooKeeper does.

use bytes::{BufMut, Bytes, BytesMut};

use super::codes::opcode as op;
use super::jute::{DecodeError, Jute, Reader};
use super::records::*;

/// One op inside a multi (write ops) or multiRead (read ops).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1), create2 (15), createContainer (19): the opcode and the request.
    Create(i32, CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getData (4), multiRead only.
    GetData(PathWatchRequest),
    /// getChildren (8), multiRead only.
    GetChildren(PathWatchRequest),
}

impl MultiOp {
    /// The opcode this op carries in its `MultiHeader`.
    pub fn opcode(&self) -> i32 {
        match self {
            MultiOp::Create(code, _) => *code,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetData(_) => op::GET_DATA,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
        }
    }

    /// True for the read ops that only multiRead may carry.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    fn write(&self, out: &mut BytesMut) {
        MultiHeader {
            typ: self.opcode(),
            done: false,
            err: -1,
        }
        .write(out);
        match self {
            MultiOp::Create(_, r) => r.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::Check(r) => r.write(out),
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => r.write(out),
        }
    }
}

/// Why a multi body could not be decoded (the server answers `MarshallingError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiDecodeError {
    /// The bytes are malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An op type that multi does not allow.
    #[error("op type {0} not allowed in a multi")]
    BadOp(i32),
    /// A create op whose flags are not a create mode.
    #[error("create flags {0} are not a create mode")]
    BadCreateFlags(i32),
    /// A create, create2 or createContainer op with a TTL mode (5, 6): Apache fails the whole
    /// multi (3.8: a ClassCastException in prep, 3.9: `CreateOptions` rejects the missing TTL).
    #[error("create flags {0} name a TTL mode, which needs a createTTL op")]
    TtlModeOnCreate(i32),
}

/// A client request body, by opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1), create2 (15), createContainer (19): the opcode and the request.
    Create(i32, CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// exists (3).
    Exists(PathWatchRequest),
    /// getData (4).
    GetData(PathWatchRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(PathRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(PathWatchRequest),
    /// sync (9).
    Sync(PathRequest),
    /// ping (11).
    Ping,
    /// getChildren2 (12).
    GetChildren2(PathWatchRequest),
    /// check (13): valid only inside multi; alone it is Unimplemented.
    Check(CheckVersionRequest),
    /// multi (14); `Err` when the body could not be decoded (answered MarshallingError).
    Multi(Result<Vec<MultiOp>, MultiDecodeError>),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(WatchesRequest),
    /// removeWatches (18).
    RemoveWatches(WatchesRequest),
    /// deleteContainer (20): server-internal, but Apache accepts it from clients.
    DeleteContainer(PathRequest),
    /// multiRead (22); `Err` as for multi.
    MultiRead(Result<Vec<MultiOp>, MultiDecodeError>),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// sasl (102).
    Sasl(SaslToken),
    /// getEphemerals (103).
    GetEphemerals(PathRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(PathRequest),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107).
    WhoAmI,
    /// closeSession (-11).
    CloseSession,
}

fn decode_multi(r: &mut Reader, read_ops: bool) -> Result<Vec<MultiOp>, MultiDecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        let op = match h.typ {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER if !read_ops => {
                let c = CreateRequest::read(r)?;
                match c.flags {
                    0..=3 => MultiOp::Create(h.typ, c),
                    // Apache derives the op from the mode: a container mode is a createContainer
                    // (its result carries the Stat) whatever the opcode said.
                    4 => MultiOp::Create(op::CREATE_CONTAINER, c),
                    5 | 6 => return Err(MultiDecodeError::TtlModeOnCreate(c.flags)),
                    // 3.9 refuses the whole multi (3.8.0 failed just this op).
                    other => return Err(MultiDecodeError::BadCreateFlags(other)),
                }
            }
            op::CREATE_TTL if !read_ops => {
                let c = CreateTtlRequest::read(r)?;
                if matches!(c.flags, 5 | 6) {
                    MultiOp::CreateTtl(c)
                } else {
                    // `Op.create(path, data, acl, flags, ttl)` (3.8 and 3.9): a non-TTL mode makes a
                    // plain create of that mode, the ttl ignored; unknown flags are then refused
                    // by the create checks (BadArguments for that op).
                    let code = if c.flags == 4 {
                        op::CREATE_CONTAINER
                    } else {
                        op::CREATE
                    };
                    MultiOp::Create(
                        code,
                        CreateRequest {
                            path: c.path,
                            data: c.data,
                            acl: c.acl,
                            flags: c.flags,
                        },
                    )
                }
            }
            op::DELETE if !read_ops => MultiOp::Delete(DeleteRequest::read(r)?),
            op::SET_DATA if !read_ops => MultiOp::SetData(SetDataRequest::read(r)?),
            op::CHECK if !read_ops => MultiOp::Check(CheckVersionRequest::read(r)?),
            op::GET_DATA if read_ops => MultiOp::GetData(PathWatchRequest::read(r)?),
            op::GET_CHILDREN if read_ops => MultiOp::GetChildren(PathWatchRequest::read(r)?),
            other => return Err(MultiDecodeError::BadOp(other)),
        };
        ops.push(op);
    }
}

impl Request {
    /// Decodes the body of a request with opcode `opcode`.
    pub fn decode(opcode: i32, r: &mut Reader) -> Result<Request, DecodeError> {
        Ok(match opcode {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                Request::Create(opcode, CreateRequest::read(r)?)
            }
            op::CREATE_TTL => Request::CreateTtl(CreateTtlRequest::read(r)?),
            op::DELETE => Request::Delete(DeleteRequest::read(r)?),
            op::EXISTS => Request::Exists(PathWatchRequest::read(r)?),
            op::GET_DATA => Request::GetData(PathWatchRequest::read(r)?),
            op::SET_DATA => Request::SetData(SetDataRequest::read(r)?),
            op::GET_ACL => Request::GetAcl(PathRequest::read(r)?),
            op::SET_ACL => Request::SetAcl(SetAclRequest::read(r)?),
            op::GET_CHILDREN => Request::GetChildren(PathWatchRequest::read(r)?),
            op::SYNC => Request::Sync(PathRequest::read(r)?),
            op::PING => Request::Ping,
            op::GET_CHILDREN2 => Request::GetChildren2(PathWatchRequest::read(r)?),
            op::CHECK => Request::Check(CheckVersionRequest::read(r)?),
            op::MULTI => Request::Multi(decode_multi(r, false)),
            op::RECONFIG => Request::Reconfig(ReconfigRequest::read(r)?),
            op::CHECK_WATCHES => Request::CheckWatches(WatchesRequest::read(r)?),
            op::REMOVE_WATCHES => Request::RemoveWatches(WatchesRequest::read(r)?),
            op::DELETE_CONTAINER => Request::DeleteContainer(PathRequest::read(r)?),
            op::MULTI_READ => Request::MultiRead(decode_multi(r, true)),
            op::AUTH => Request::Auth(AuthPacket::read(r)?),
            op::SET_WATCHES => Request::SetWatches(SetWatches::read(r)?),
            op::SASL => Request::Sasl(SaslToken::read(r)?),
            op::GET_EPHEMERALS => Request::GetEphemerals(PathRequest::read(r)?),
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber(PathRequest::read(r)?),
            op::SET_WATCHES2 => Request::SetWatches2(SetWatches2::read(r)?),
            op::ADD_WATCH => Request::AddWatch(AddWatchRequest::read(r)?),
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            other => {
                return Err(DecodeError::UnknownValue {
                    what: "opcode",
                    value: other as i64,
                })
            }
        })
    }

    /// The opcode of this request.
    pub fn opcode(&self) -> i32 {
        match self {
            Request::Create(code, _) => *code,
            Request::CreateTtl(_) => op::CREATE_TTL,
            Request::Delete(_) => op::DELETE,
            Request::Exists(_) => op::EXISTS,
            Request::GetData(_) => op::GET_DATA,
            Request::SetData(_) => op::SET_DATA,
            Request::GetAcl(_) => op::GET_ACL,
            Request::SetAcl(_) => op::SET_ACL,
            Request::GetChildren(_) => op::GET_CHILDREN,
            Request::Sync(_) => op::SYNC,
            Request::Ping => op::PING,
            Request::GetChildren2(_) => op::GET_CHILDREN2,
            Request::Check(_) => op::CHECK,
            Request::Multi(_) => op::MULTI,
            Request::Reconfig(_) => op::RECONFIG,
            Request::CheckWatches(_) => op::CHECK_WATCHES,
            Request::RemoveWatches(_) => op::REMOVE_WATCHES,
            Request::DeleteContainer(_) => op::DELETE_CONTAINER,
            Request::MultiRead(_) => op::MULTI_READ,
            Request::Auth(_) => op::AUTH,
            Request::SetWatches(_) => op::SET_WATCHES,
            Request::Sasl(_) => op::SASL,
            Request::GetEphemerals(_) => op::GET_EPHEMERALS,
            Request::GetAllChildrenNumber(_) => op::GET_ALL_CHILDREN_NUMBER,
            Request::SetWatches2(_) => op::SET_WATCHES2,
            Request::AddWatch(_) => op::ADD_WATCH,
            Request::WhoAmI => op::WHO_AM_I,
            Request::CloseSession => op::CLOSE_SESSION,
        }
    }

    /// Appends the body's encoding (no header).
    pub fn write_body(&self, out: &mut BytesMut) {
        match self {
            Request::Create(_, r) => r.write(out),
            Request::CreateTtl(r) => r.write(out),
            Request::Delete(r) => r.write(out),
            Request::Exists(r)
            | Request::GetData(r)
            | Request::GetChildren(r)
            | Request::GetChildren2(r) => r.write(out),
            Request::SetData(r) => r.write(out),
            Request::GetAcl(r)
            | Request::Sync(r)
            | Request::DeleteContainer(r)
            | Request::GetEphemerals(r)
            | Request::GetAllChildrenNumber(r) => r.write(out),
            Request::SetAcl(r) => r.write(out),
            Request::Check(r) => r.write(out),
            Request::Multi(Ok(ops)) | Request::MultiRead(Ok(ops)) => {
                for o in ops {
                    o.write(out);
                }
                MultiHeader {
                    typ: -1,
                    done: true,
                    err: -1,
                }
                .write(out);
            }
            Request::Multi(Err(_)) | Request::MultiRead(Err(_)) => {}
            Request::Reconfig(r) => r.write(out),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => r.write(out),
            Request::Auth(r) => r.write(out),
            Request::SetWatches(r) => r.write(out),
            Request::Sasl(r) => r.write(out),
            Request::SetWatches2(r) => r.write(out),
            Request::AddWatch(r) => r.write(out),
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }

    /// A whole frame (length prefix, header, body) for this request with `xid`.
    pub fn to_frame(&self, xid: i32) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_i32(0);
        RequestHeader {
            xid,
            typ: self.opcode(),
        }
        .write(&mut out);
        self.write_body(&mut out);
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        out.freeze()
    }

    /// True for requests that change the tree (become transactions).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(..)
                | Request::CreateTtl(_)
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::DeleteContainer(_)
                | Request::CloseSession
        )
    }
}

/// Splits a request frame payload into its header and decoded body.
pub fn decode_request_frame(
    payload: Bytes,
    max_field_len: usize,
) -> Result<(RequestHeader, Request), (Option<RequestHeader>, DecodeError)> {
    let mut r = Reader::with_limit(payload, max_field_len);
    let header = RequestHeader::read(&mut r).map_err(|e| (None, e))?;
    let body = Request::decode(header.typ, &mut r).map_err(|e| (Some(header.clone()), e))?;
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The multi example of the protocol doc §6.2, byte for byte.
    #[test]
    fn multi_example_from_the_protocol_doc() {
        let req = Request::Multi(Ok(vec![
            MultiOp::Create(
                op::CREATE,
                CreateRequest {
                    path: "/b".into(),
                    data: Some(Bytes::new()),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                },
            ),
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 7,
            }),
        ]));
        let frame = req.to_frame(3);
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        let expected = concat!(
            "00000056",
            "00000003",
            "0000000e",
            "0000000100ffffffff",
            "000000022f62",
            "00000000",
            "00000001",
            "0000001f",
            "00000005776f726c64",
            "00000006616e796f6e65",
            "00000000",
            "0000000d00ffffffff",
            "000000022f61",
            "00000007",
            "ffffffff01ffffffff"
        );
        assert_eq!(hex, expected);
        let (h, back) = decode_request_frame(frame.slice(4..), usize::MAX).unwrap();
        assert_eq!(h.xid, 3);
        assert_eq!(back, req);
    }

    #[test]
    fn unknown_opcode_is_an_error_not_a_panic() {
        let mut r = Reader::new(Bytes::new());
        assert!(matches!(
            Request::decode(10, &mut r),
            Err(DecodeError::UnknownValue { value: 10, .. })
        ));
    }

    fn decode_multi_ops(ops: Vec<MultiOp>) -> Result<Vec<MultiOp>, MultiDecodeError> {
        let mut body = BytesMut::new();
        Request::Multi(Ok(ops)).write_body(&mut body);
        match Request::decode(op::MULTI, &mut Reader::new(body.freeze())) {
            Ok(Request::Multi(r)) => r,
            other => panic!("not a multi: {other:?}"),
        }
    }

    fn create(path: &str, flags: i32) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::new()),
            acl: Acl::open_unsafe(),
            flags,
        }
    }

    fn create_ttl(path: &str, flags: i32, ttl: i64) -> CreateTtlRequest {
        CreateTtlRequest {
            path: path.into(),
            data: Some(Bytes::new()),
            acl: Acl::open_unsafe(),
            flags,
            ttl,
        }
    }

    /// Apache 3.8.0 and 3.9 answer MarshallingError for the whole multi (differential test).
    #[test]
    fn ttl_mode_on_a_create_op_inside_multi_refuses_the_multi() {
        for code in [op::CREATE, op::CREATE2, op::CREATE_CONTAINER] {
            for flags in [5, 6] {
                assert_eq!(
                    decode_multi_ops(vec![MultiOp::Create(code, create("/a", flags))]),
                    Err(MultiDecodeError::TtlModeOnCreate(flags))
                );
            }
        }
    }

    /// `Op.create(path, data, acl, flags, ttl)`: createTTL with a non-TTL mode is a plain create.
    #[test]
    fn create_ttl_op_with_a_non_ttl_mode_is_a_plain_create() {
        let ops = decode_multi_ops(vec![
            MultiOp::CreateTtl(create_ttl("/a", 0, 100)),
            MultiOp::CreateTtl(create_ttl("/b", 4, 100)),
            MultiOp::CreateTtl(create_ttl("/c", 7, 100)),
            MultiOp::CreateTtl(create_ttl("/d", 5, 100)),
        ])
        .unwrap();
        assert_eq!(
            ops,
            vec![
                MultiOp::Create(op::CREATE, create("/a", 0)),
                MultiOp::Create(op::CREATE_CONTAINER, create("/b", 4)),
                MultiOp::Create(op::CREATE, create("/c", 7)),
                MultiOp::CreateTtl(create_ttl("/d", 5, 100)),
            ]
        );
    }

    #[test]
    fn container_mode_inside_multi_is_a_create_container() {
        let ops = decode_multi_ops(vec![
            MultiOp::Create(op::CREATE, create("/a", 4)),
            MultiOp::Create(op::CREATE2, create("/b", 4)),
            MultiOp::Create(op::CREATE2, create("/c", 0)),
        ])
        .unwrap();
        assert_eq!(
            ops,
            vec![
                MultiOp::Create(op::CREATE_CONTAINER, create("/a", 4)),
                MultiOp::Create(op::CREATE_CONTAINER, create("/b", 4)),
                MultiOp::Create(op::CREATE2, create("/c", 0)),
            ]
        );
        assert_eq!(
            decode_multi_ops(vec![MultiOp::Create(op::CREATE, create("/a", 7))]),
            Err(MultiDecodeError::BadCreateFlags(7))
        );
    }

    #[test]
    fn read_op_inside_multi_is_bad_op() {
        let req = Request::MultiRead(Ok(vec![MultiOp::GetData(PathWatchRequest {
            path: "/a".into(),
            watch: false,
        })]));
        let mut body = BytesMut::new();
        req.write_body(&mut body);
        let mut r = Reader::new(body.freeze());
        assert_eq!(
            Request::decode(op::MULTI, &mut r),
            Ok(Request::Multi(Err(MultiDecodeError::BadOp(op::GET_DATA))))
        );
    }
}
