//! The jute records of ZooKeeper's persistence formats (`zookeeper.jute`: the
//! `server.persistence` and `txn` modules and `StatPersisted`), encoded like the client
//! protocol's records (see [`crate::proto::jute`]).

use bytes::Bytes;

use crate::jute_record;
use crate::proto::Acl;

/// `"ZKSN"`: the magic of a snapshot.
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// `"ZKLG"`: the magic of a log file.
pub const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
/// The file format version every ZooKeeper since 3.0 writes.
pub const FILE_VERSION: i32 = 2;
/// Bytes of a [`FileHeader`].
pub const FILE_HEADER_LEN: usize = 16;
/// The tree-digest version of ZooKeeper 3.6+ (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

jute_record!(
    /// The first 16 bytes of a snapshot or log file.
    FileHeader { magic: i32, version: i32, dbid: i64 }
);

jute_record!(
    /// A node's stat as persisted (the client's `Stat` less `dataLength` and `numChildren`;
    /// `cversion` counts child creations, `ephemeral_owner` holds the container/TTL markers).
    StatPersisted {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        pzxid: i64,
    }
);

jute_record!(
    /// A node in a snapshot (`DataNode`): data, the ACL table key, the stat.
    DataNode {
        data: Option<Bytes>,
        acl: i64,
        stat: StatPersisted,
    }
);

jute_record!(
    /// The header of every logged txn.
    TxnHeader {
        client_id: i64,
        cxid: i32,
        zxid: i64,
        time: i64,
        typ: i32,
    }
);

jute_record!(
    /// The tree digest after a txn (3.6+, when `zookeeper.digest.enabled`).
    TxnDigest { version: i32, tree_digest: i64 }
);

jute_record!(
    /// create / create2 (3.3+).
    CreateTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        ephemeral: bool,
        parent_cversion: i32,
    }
);

jute_record!(
    /// create before 3.3 (no parent cversion).
    CreateTxnV0 {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        ephemeral: bool,
    }
);

jute_record!(
    /// createTTL.
    CreateTtlTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        parent_cversion: i32,
        ttl: i64,
    }
);

jute_record!(
    /// createContainer.
    CreateContainerTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        parent_cversion: i32,
    }
);

jute_record!(
    /// delete / deleteContainer.
    DeleteTxn { path: String }
);

jute_record!(
    /// setData (and reconfig, on `/zookeeper/config`); `version` is the version after it.
    SetDataTxn {
        path: String,
        data: Option<Bytes>,
        version: i32,
    }
);

jute_record!(
    /// check (inside a multi).
    CheckVersionTxn { path: String, version: i32 }
);

jute_record!(
    /// setACL; `version` is the aversion after it.
    SetAclTxn {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    }
);

jute_record!(
    /// createSession.
    CreateSessionTxn { time_out: i32 }
);

jute_record!(
    /// closeSession with the session's ephemerals (3.6+, `zookeeper.closeSessionTxn.enabled`).
    CloseSessionTxn { paths2_delete: Vec<String> }
);

jute_record!(
    /// A write that failed (its error code).
    ErrorTxn { err: i32 }
);

jute_record!(
    /// One op of a multi: its type and its record's bytes.
    SubTxn { typ: i32, data: Option<Bytes> }
);

jute_record!(
    /// multi.
    MultiTxn { txns: Vec<SubTxn> }
);
