//! The records of `zookeeper.jute` that travel between clients and servers.
//!
//! Field order is the wire order. Names follow the jute schema (snake_case). The connect
//! handshake records are written by hand because of the optional trailing `readOnly` byte.

use bytes::{BufMut, Bytes, BytesMut};

use super::jute::{write, DecodeError, Jute, Reader};
use crate::jute_record;

impl Jute for Option<String> {
    const MIN_SIZE: usize = 4;
    fn write(&self, out: &mut BytesMut) {
        write::opt_string(out, self.as_deref())
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.opt_string()
    }
}

jute_record!(
    /// An identity: `scheme:id` (e.g. `world:anyone`, `digest:alice:<hash>`, `ip:10.0.0.0/8`).
    Id { scheme: String, id: String }
);

jute_record!(
    /// One ACL entry: permission bits for an identity.
    Acl { perms: i32, id: Id }
);

impl Acl {
    /// An entry from its parts.
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.to_string(),
                id: id.to_string(),
            },
        }
    }

    /// `world:anyone` with every permission (`ZooDefs.Ids.OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::codes::perms::ALL, "world", "anyone")]
    }

    /// `world:anyone` READ (`ZooDefs.Ids.READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::codes::perms::READ, "world", "anyone")]
    }
}

jute_record!(
    /// Client-visible node metadata (68 bytes).
    Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }
);

jute_record!(
    /// One identity of a connection, as whoAmI reports it.
    ClientInfo { auth_scheme: String, user: String }
);

jute_record!(
    /// A watch notification body (after a `ReplyHeader` with xid -1).
    WatcherEvent { typ: i32, state: i32, path: String }
);

jute_record!(
    /// Header of every request after the handshake.
    RequestHeader { xid: i32, typ: i32 }
);

jute_record!(
    /// Header of every reply after the handshake.
    ReplyHeader { xid: i32, zxid: i64, err: i32 }
);

jute_record!(
    /// Header of each op (and of the terminator) inside a multi request or response.
    MultiHeader { typ: i32, done: bool, err: i32 }
);

/// The first frame of a connection. `read_only` is `None` when the client did not send the byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Clients send 0; ignored.
    pub protocol_version: i32,
    /// Highest zxid the client has seen.
    pub last_zxid_seen: i64,
    /// Requested session timeout, ms.
    pub time_out: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password (16 bytes from every known client).
    pub passwd: Bytes,
    /// "I accept a read-only server"; absent in old clients.
    pub read_only: Option<bool>,
}

impl Jute for ConnectRequest {
    const MIN_SIZE: usize = 28;
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(self.protocol_version);
        out.put_i64(self.last_zxid_seen);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        write::buffer(out, Some(&self.passwd));
        if let Some(ro) = self.read_only {
            write::bool(out, ro);
        }
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let protocol_version = r.i32()?;
        let last_zxid_seen = r.i64()?;
        let time_out = r.i32()?;
        let session_id = r.i64()?;
        let passwd = r.buffer()?.unwrap_or_default();
        let read_only = if r.remaining() > 0 {
            Some(r.bool()?)
        } else {
            None
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// The handshake reply. `read_only` is written only when it is `Some` (the request had the byte).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout, ms; 0 = invalid session.
    pub time_out: i32,
    /// The session id; 0 = invalid session.
    pub session_id: i64,
    /// The session password; 16 zero bytes when invalid.
    pub passwd: Bytes,
    /// True iff the server is read-only; `None` for clients that did not send the byte.
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The reply that tells a client its session is expired or its password wrong.
    pub fn invalid(read_only: Option<bool>) -> ConnectResponse {
        ConnectResponse {
            protocol_version: 0,
            time_out: 0,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: read_only.map(|_| false),
        }
    }
}

impl Jute for ConnectResponse {
    const MIN_SIZE: usize = 20;
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(self.protocol_version);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        write::buffer(out, Some(&self.passwd));
        if let Some(ro) = self.read_only {
            write::bool(out, ro);
        }
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let protocol_version = r.i32()?;
        let time_out = r.i32()?;
        let session_id = r.i64()?;
        let passwd = r.buffer()?.unwrap_or_default();
        let read_only = if r.remaining() > 0 {
            Some(r.bool()?)
        } else {
            None
        };
        Ok(ConnectResponse {
            protocol_version,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

jute_record!(
    /// create (1), create2 (15), createContainer (19).
    CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 }
);
jute_record!(
    /// createTTL (21).
    CreateTtlRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32, ttl: i64 }
);
jute_record!(
    /// delete (2); also deleteContainer (20) without the version.
    DeleteRequest { path: String, version: i32 }
);
jute_record!(
    /// exists (3), getData (4), getChildren (8), getChildren2 (12).
    PathWatchRequest { path: String, watch: bool }
);
jute_record!(
    /// setData (5).
    SetDataRequest { path: String, data: Option<Bytes>, version: i32 }
);
jute_record!(
    /// getACL (6), sync (9), getAllChildrenNumber (104), getEphemerals (103), deleteContainer (20).
    PathRequest { path: String }
);
jute_record!(
    /// setACL (7).
    SetAclRequest { path: String, acl: Vec<Acl>, version: i32 }
);
jute_record!(
    /// check (13), only inside multi.
    CheckVersionRequest { path: String, version: i32 }
);
jute_record!(
    /// reconfig (16). Unused strings are null.
    ReconfigRequest {
        joining_servers: Option<String>,
        leaving_servers: Option<String>,
        new_members: Option<String>,
        cur_config_id: i64,
    }
);
jute_record!(
    /// checkWatches (17), removeWatches (18).
    WatchesRequest { path: String, typ: i32 }
);
jute_record!(
    /// auth (100), xid -4.
    AuthPacket { typ: i32, scheme: String, auth: Option<Bytes> }
);
jute_record!(
    /// setWatches (101), xid -8.
    SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }
);
jute_record!(
    /// setWatches2 (105), xid -8.
    SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
);
jute_record!(
    /// sasl (102) request and reply (`GetSASLRequest`, `SetSASLResponse`).
    SaslToken { token: Option<Bytes> }
);
jute_record!(
    /// addWatch (106).
    AddWatchRequest { path: String, mode: i32 }
);

jute_record!(
    /// create (1) reply.
    CreateResponse { path: String }
);
jute_record!(
    /// create2 / createContainer / createTTL reply.
    Create2Response { path: String, stat: Stat }
);
jute_record!(
    /// exists / setData / setACL reply.
    StatResponse { stat: Stat }
);
jute_record!(
    /// getData reply; also the reconfig reply.
    GetDataResponse { data: Option<Bytes>, stat: Stat }
);
jute_record!(
    /// getACL reply.
    GetAclResponse { acl: Vec<Acl>, stat: Stat }
);
jute_record!(
    /// getChildren reply.
    GetChildrenResponse { children: Vec<String> }
);
jute_record!(
    /// getChildren2 reply.
    GetChildren2Response { children: Vec<String>, stat: Stat }
);
jute_record!(
    /// getEphemerals reply.
    GetEphemeralsResponse { ephemerals: Vec<String> }
);
jute_record!(
    /// getAllChildrenNumber reply.
    GetAllChildrenNumberResponse { total_number: i32 }
);
jute_record!(
    /// addWatch reply, and the body of a failed op inside a multi reply.
    ErrorResponse { err: i32 }
);
jute_record!(
    /// whoAmI reply.
    WhoAmIResponse { client_info: Vec<ClientInfo> }
);
jute_record!(
    /// sync reply.
    SyncResponse { path: String }
);
