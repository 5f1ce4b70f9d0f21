//! ZooKeeper's transaction log files (`FileTxnLog`): `log.<first zxid hex>`.
//!
//! A 16-byte [`FileHeader`] (`ZKLG`, version 2), then entries: a long holding the Adler-32 of the
//! txn bytes, the txn bytes as a jute buffer (int length, bytes), and the byte `'B'`. The txn
//! bytes are a [`TxnHeader`], the record its type calls for, and since 3.6 (with
//! `zookeeper.digest.enabled`) a [`TxnDigest`]. Files are preallocated with zeros.
//!
//! How a file ends, as ZooKeeper's `FileTxnIterator` reads it:
//! * a zero length, zeros, or the end of the file: the end of the records ([`LogEnd::Clean`]);
//! * an entry cut short (the file ends inside it, or its `'B'` is missing): a torn write, whose
//!   txn was never acknowledged; ZooKeeper stops reading the file there ([`LogEnd::Torn`]);
//! * a checksum mismatch, a negative length or an entry whose bytes do not decode: damage that
//!   makes ZooKeeper refuse to start; here a [`FileError`] naming the entry's offset.
//!
//! Two older shapes are read as ZooKeeper reads them: a create without `parentCVersion` (before
//! 3.3; `parent_cversion` -1 means "the parent's current one plus one") and a closeSession
//! without the list of ephemerals (before 3.6, or with `zookeeper.closeSessionTxn.enabled`
//! off).

use bytes::{Bytes, BytesMut};

use super::records::*;
use super::{adler32, FileError};
use crate::proto::codes::opcode;
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::Acl;

/// A decoded txn record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkTxn {
    /// createSession.
    CreateSession {
        /// Negotiated timeout, ms.
        timeout_ms: i32,
    },
    /// closeSession; `None` when the file does not list the ephemerals.
    CloseSession {
        /// The session's ephemerals.
        paths: Option<Vec<String>>,
    },
    /// create / create2 (`ephemeral`: owned by the txn's session).
    Create {
        /// Path.
        path: String,
        /// Data.
        data: Option<Bytes>,
        /// ACL.
        acl: Vec<Acl>,
        /// Ephemeral?
        ephemeral: bool,
        /// The parent's cversion after it (-1: not recorded, as before 3.3).
        parent_cversion: i32,
    },
    /// createContainer.
    CreateContainer {
        /// Path.
        path: String,
        /// Data.
        data: Option<Bytes>,
        /// ACL.
        acl: Vec<Acl>,
        /// The parent's cversion after it.
        parent_cversion: i32,
    },
    /// createTTL.
    CreateTtl {
        /// Path.
        path: String,
        /// Data.
        data: Option<Bytes>,
        /// ACL.
        acl: Vec<Acl>,
        /// The parent's cversion after it.
        parent_cversion: i32,
        /// TTL, ms.
        ttl: i64,
    },
    /// delete / deleteContainer.
    Delete {
        /// Path.
        path: String,
    },
    /// setData; `version` is the version after it.
    SetData {
        /// Path.
        path: String,
        /// Data.
        data: Option<Bytes>,
        /// Version after it.
        version: i32,
    },
    /// reconfig: the new configuration written to `/zookeeper/config`.
    Reconfig {
        /// Path (`/zookeeper/config`).
        path: String,
        /// The configuration text.
        data: Option<Bytes>,
        /// The version field (-1).
        version: i32,
    },
    /// setACL; `version` is the aversion after it.
    SetAcl {
        /// Path.
        path: String,
        /// ACL.
        acl: Vec<Acl>,
        /// aversion after it.
        version: i32,
    },
    /// check (inside a multi).
    Check {
        /// Path.
        path: String,
        /// Version checked.
        version: i32,
    },
    /// A failed write.
    Error {
        /// Its error code.
        err: i32,
    },
    /// multi: each op with its type.
    Multi(Vec<(i32, ZkTxn)>),
}

/// One entry of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the entry in the file.
    pub offset: u64,
    /// Its header.
    pub header: TxnHeader,
    /// Its record.
    pub txn: ZkTxn,
    /// The tree digest after it, if logged.
    pub digest: Option<TxnDigest>,
}

/// How a log file's records end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// At `offset`, followed only by zeros (or nothing).
    Clean {
        /// Where.
        offset: u64,
    },
    /// A torn entry at `offset`; `bytes` non-zero bytes from there on are not used.
    Torn {
        /// Where.
        offset: u64,
        /// Bytes from `offset` to the last non-zero byte.
        bytes: u64,
        /// What is cut short.
        reason: String,
    },
}

/// A decoded log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Its header.
    pub header: FileHeader,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
    /// How it ends.
    pub end: LogEnd,
}

/// Field lengths accepted in log and snapshot files (bounded by the bytes present anyway; a
/// server may have run with a large `jute.maxbuffer`).
pub const MAX_FIELD_LEN: usize = i32::MAX as usize;

fn reader(b: Bytes) -> Reader {
    Reader::with_limit(b, MAX_FIELD_LEN)
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// The index of the last non-zero byte. Files are preallocated with up to 64 MiB of zeros:
/// whole blocks are compared with a block of zeros (a `memcmp`), not byte by byte.
fn last_non_zero(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64 * 1024;
    static ZEROS: [u8; BLOCK] = [0; BLOCK];
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let block = &bytes[start..end];
        if block != &ZEROS[..block.len()] {
            return block.iter().rposition(|b| *b != 0).map(|i| start + i);
        }
        end = start;
    }
    None
}

/// Reads a file header and checks its magic.
pub fn decode_header(buf: &Bytes, magic: i32, what: &str) -> Result<FileHeader, FileError> {
    let header = FileHeader::read(&mut reader(buf.clone()))
        .map_err(|_| FileError::at(0, format!("too short for a {what} header")))?;
    if header.magic != magic {
        return Err(FileError::at(
            0,
            format!(
                "not a ZooKeeper {what}: magic {:#010x}, expected {magic:#010x}",
                header.magic
            ),
        ));
    }
    Ok(header)
}

/// Decodes a whole log file.
pub fn decode(buf: Bytes) -> Result<LogFile, FileError> {
    let header = decode_header(&buf, LOG_MAGIC, "log file")?;
    let mut entries = Vec::new();
    let mut off = FILE_HEADER_LEN;
    let torn = |off: usize, reason: &str| -> LogEnd {
        match last_non_zero(&buf[off..]) {
            None => LogEnd::Clean { offset: off as u64 },
            Some(last) => LogEnd::Torn {
                offset: off as u64,
                bytes: last as u64 + 1,
                reason: reason.to_string(),
            },
        }
    };
    let end = loop {
        let rest = &buf[off..];
        if rest.len() < 12 {
            break torn(off, "the file ends inside an entry's checksum and length");
        }
        let crc = be_i64(rest);
        let len = be_i32(&rest[8..]);
        if len == 0 || len == -1 {
            break torn(off, "an entry of length 0 with data after it");
        }
        if len < 0 {
            return Err(FileError::at(off, format!("entry length {len}")));
        }
        let len = len as usize;
        if rest.len() < 12 + len + 1 {
            break torn(off, "the file ends inside an entry");
        }
        if rest[12 + len] != b'B' {
            break torn(off, "an entry without its end marker");
        }
        let bytes = buf.slice(off + 12..off + 12 + len);
        if i64::from(adler32(&bytes)) != crc {
            return Err(FileError::at(
                off,
                format!(
                    "checksum mismatch: the entry says {crc:#x}, its {len} bytes give {:#x}",
                    adler32(&bytes)
                ),
            ));
        }
        let (header, txn, digest) =
            decode_txn(bytes).map_err(|e| FileError::at(off, format!("undecodable txn: {e}")))?;
        entries.push(Entry {
            offset: off as u64,
            header,
            txn,
            digest,
        });
        off += 12 + len + 1;
    };
    Ok(LogFile {
        header,
        entries,
        end,
    })
}

/// Why txn bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// A field does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A type no ZooKeeper logs.
    #[error("unknown txn type {0}")]
    UnknownType(i32),
}

/// Decodes one txn's bytes: header, record, digest.
pub fn decode_txn(bytes: Bytes) -> Result<(TxnHeader, ZkTxn, Option<TxnDigest>), TxnError> {
    let mut r = reader(bytes);
    let header = TxnHeader::read(&mut r)?;
    let txn = match header.typ {
        opcode::CLOSE_SESSION => close_session(&mut r)?,
        opcode::CREATE => {
            // A create without parentCVersion (before 3.3) ends where the newer one has more.
            let mut newer = r.clone();
            match CreateTxn::read(&mut newer) {
                Ok(c) if fits_digest(&newer) => {
                    r = newer;
                    create(c)
                }
                Ok(_) | Err(DecodeError::Truncated { .. }) => {
                    let v0 = CreateTxnV0::read(&mut r)?;
                    ZkTxn::Create {
                        path: v0.path,
                        data: v0.data,
                        acl: v0.acl,
                        ephemeral: v0.ephemeral,
                        parent_cversion: -1,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        typ => record(typ, &mut r)?,
    };
    let digest = if r.remaining() >= TxnDigest::MIN_SIZE {
        Some(TxnDigest::read(&mut r)?)
    } else {
        None
    };
    Ok((header, txn, digest))
}

/// What may follow a record: nothing, or a digest (and whatever a later version appends).
fn fits_digest(r: &Reader) -> bool {
    r.remaining() == 0 || r.remaining() >= TxnDigest::MIN_SIZE
}

fn close_session(r: &mut Reader) -> Result<ZkTxn, TxnError> {
    // Without the paths list, a digest (version 2, then the digest) may follow directly. A
    // paths list of 12 bytes starting with a count of 2 would need two empty paths: never.
    let rest = r.clone();
    if rest.remaining() == 0
        || (rest.remaining() == TxnDigest::MIN_SIZE && rest.clone().i32()? == DIGEST_VERSION)
    {
        return Ok(ZkTxn::CloseSession { paths: None });
    }
    let mut body = r.clone();
    match CloseSessionTxn::read(&mut body) {
        Ok(c) if fits_digest(&body) => {
            *r = body;
            Ok(ZkTxn::CloseSession {
                paths: Some(c.paths2_delete),
            })
        }
        Ok(_) | Err(DecodeError::Truncated { .. }) => Ok(ZkTxn::CloseSession { paths: None }),
        Err(e) => Err(e.into()),
    }
}

fn create(c: CreateTxn) -> ZkTxn {
    ZkTxn::Create {
        path: c.path,
        data: c.data,
        acl: c.acl,
        ephemeral: c.ephemeral,
        parent_cversion: c.parent_cversion,
    }
}

/// The record of a txn (or multi op) of type `typ`.
fn record(typ: i32, r: &mut Reader) -> Result<ZkTxn, TxnError> {
    Ok(match typ {
        opcode::CREATE_SESSION => ZkTxn::CreateSession {
            timeout_ms: CreateSessionTxn::read(r)?.time_out,
        },
        opcode::CLOSE_SESSION => close_session(r)?,
        opcode::CREATE | opcode::CREATE2 => create(CreateTxn::read(r)?),
        opcode::CREATE_CONTAINER => {
            let c = CreateContainerTxn::read(r)?;
            ZkTxn::CreateContainer {
                path: c.path,
                data: c.data,
                acl: c.acl,
                parent_cversion: c.parent_cversion,
            }
        }
        opcode::CREATE_TTL => {
            let c = CreateTtlTxn::read(r)?;
            ZkTxn::CreateTtl {
                path: c.path,
                data: c.data,
                acl: c.acl,
                parent_cversion: c.parent_cversion,
                ttl: c.ttl,
            }
        }
        opcode::DELETE | opcode::DELETE_CONTAINER => ZkTxn::Delete {
            path: DeleteTxn::read(r)?.path,
        },
        opcode::SET_DATA => {
            let s = SetDataTxn::read(r)?;
            ZkTxn::SetData {
                path: s.path,
                data: s.data,
                version: s.version,
            }
        }
        opcode::RECONFIG => {
            let s = SetDataTxn::read(r)?;
            ZkTxn::Reconfig {
                path: s.path,
                data: s.data,
                version: s.version,
            }
        }
        opcode::SET_ACL => {
            let s = SetAclTxn::read(r)?;
            ZkTxn::SetAcl {
                path: s.path,
                acl: s.acl,
                version: s.version,
            }
        }
        opcode::CHECK => {
            let c = CheckVersionTxn::read(r)?;
            ZkTxn::Check {
                path: c.path,
                version: c.version,
            }
        }
        opcode::ERROR => ZkTxn::Error {
            err: ErrorTxn::read(r)?.err,
        },
        opcode::MULTI => {
            let m = MultiTxn::read(r)?;
            let mut ops = Vec::with_capacity(m.txns.len());
            for sub in m.txns {
                let mut sr = reader(sub.data.unwrap_or_default());
                ops.push((sub.typ, record(sub.typ, &mut sr)?));
            }
            ZkTxn::Multi(ops)
        }
        other => return Err(TxnError::UnknownType(other)),
    })
}

/// Encodes a txn as ZooKeeper logs it (header, record, optional digest): what tests write.
pub fn encode_txn(header: &TxnHeader, txn: &ZkTxn, digest: Option<&TxnDigest>) -> Bytes {
    let mut out = BytesMut::new();
    header.write(&mut out);
    encode_record(txn, &mut out);
    if let Some(d) = digest {
        d.write(&mut out);
    }
    out.freeze()
}

fn encode_record(txn: &ZkTxn, out: &mut BytesMut) {
    match txn.clone() {
        ZkTxn::CreateSession { timeout_ms } => CreateSessionTxn {
            time_out: timeout_ms,
        }
        .write(out),
        ZkTxn::CloseSession { paths } => {
            if let Some(p) = paths {
                CloseSessionTxn { paths2_delete: p }.write(out)
            }
        }
        ZkTxn::Create {
            path,
            data,
            acl,
            ephemeral,
            parent_cversion: -1,
        } => CreateTxnV0 {
            path,
            data,
            acl,
            ephemeral,
        }
        .write(out),
        ZkTxn::Create {
            path,
            data,
            acl,
            ephemeral,
            parent_cversion,
        } => CreateTxn {
            path,
            data,
            acl,
            ephemeral,
            parent_cversion,
        }
        .write(out),
        ZkTxn::CreateContainer {
            path,
            data,
            acl,
            parent_cversion,
        } => CreateContainerTxn {
            path,
            data,
            acl,
            parent_cversion,
        }
        .write(out),
        ZkTxn::CreateTtl {
            path,
            data,
            acl,
            parent_cversion,
            ttl,
        } => CreateTtlTxn {
            path,
            data,
            acl,
            parent_cversion,
            ttl,
        }
        .write(out),
        ZkTxn::Delete { path } => DeleteTxn { path }.write(out),
        ZkTxn::SetData {
            path,
            data,
            version,
        }
        | ZkTxn::Reconfig {
            path,
            data,
            version,
        } => SetDataTxn {
            path,
            data,
            version,
        }
        .write(out),
        ZkTxn::SetAcl { path, acl, version } => SetAclTxn { path, acl, version }.write(out),
        ZkTxn::Check { path, version } => CheckVersionTxn { path, version }.write(out),
        ZkTxn::Error { err } => ErrorTxn { err }.write(out),
        ZkTxn::Multi(ops) => MultiTxn {
            txns: ops
                .iter()
                .map(|(typ, op)| {
                    let mut b = BytesMut::new();
                    encode_record(op, &mut b);
                    SubTxn {
                        typ: *typ,
                        data: Some(b.freeze()),
                    }
                })
                .collect(),
        }
        .write(out),
    }
}

/// Appends one log entry (checksum, length, bytes, `'B'`) holding `txn_bytes`.
pub fn encode_entry(txn_bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&i64::from(adler32(txn_bytes)).to_be_bytes());
    out.extend_from_slice(&(txn_bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(txn_bytes);
    out.push(b'B');
}

/// A log file's header.
pub fn encode_header(out: &mut Vec<u8>) {
    let h = FileHeader {
        magic: LOG_MAGIC,
        version: FILE_VERSION,
        dbid: 0,
    };
    out.extend_from_slice(&h.to_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(zxid: i64, typ: i32) -> TxnHeader {
        TxnHeader {
            client_id: 0x1234,
            cxid: 7,
            zxid,
            time: 1_700_000_000_000,
            typ,
        }
    }

    fn file(txns: &[(TxnHeader, ZkTxn, Option<TxnDigest>)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_header(&mut out);
        for (h, t, d) in txns {
            encode_entry(&encode_txn(h, t, d.as_ref()), &mut out);
        }
        out
    }

    fn set(zxid: i64) -> (TxnHeader, ZkTxn, Option<TxnDigest>) {
        (
            hdr(zxid, opcode::SET_DATA),
            ZkTxn::SetData {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"x")),
                version: zxid as i32,
            },
            Some(TxnDigest {
                version: 2,
                tree_digest: 99,
            }),
        )
    }

    #[test]
    fn preallocated_zeros_end_the_records_cleanly() {
        let mut f = file(&[set(1), set(2)]);
        let end = f.len();
        f.extend_from_slice(&[0u8; 4096]);
        let log = decode(Bytes::from(f)).unwrap();
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[1].digest.as_ref().unwrap().tree_digest, 99);
        assert_eq!(log.end, LogEnd::Clean { offset: end as u64 });
    }

    #[test]
    fn a_torn_last_entry_ends_the_file_and_a_flipped_byte_is_an_error_at_its_entry() {
        let f = file(&[set(1), set(2)]);
        let second = decode(Bytes::from(f.clone())).unwrap().entries[1].offset as usize;
        for cut in second + 1..f.len() {
            let log = decode(Bytes::from(f[..cut].to_vec())).unwrap();
            assert_eq!(log.entries.len(), 1, "cut at {cut}");
            assert!(
                // (A cut inside the checksum's zero high bytes leaves only zeros: a clean end.)
                matches!(log.end, LogEnd::Torn { offset, .. } | LogEnd::Clean { offset } if offset == second as u64),
                "cut at {cut}: {:?}",
                log.end
            );
        }
        let mut bad = f.clone();
        bad[second + 20] ^= 1;
        let e = decode(Bytes::from(bad)).unwrap_err();
        assert_eq!(e.offset, second as u64);
        assert!(e.reason.contains("checksum"), "{e}");
        let mut no_marker = f.clone();
        let last = no_marker.len() - 1;
        no_marker[last] = b'X';
        assert!(matches!(
            decode(Bytes::from(no_marker)).unwrap().end,
            LogEnd::Torn { .. }
        ));
    }

    #[test]
    fn old_creates_and_close_sessions_read_as_zookeeper_reads_them() {
        let v0 = (
            hdr(1, opcode::CREATE),
            ZkTxn::Create {
                path: "/old".into(),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral: true,
                parent_cversion: -1,
            },
            None,
        );
        let bare_close = (
            hdr(2, opcode::CLOSE_SESSION),
            ZkTxn::CloseSession { paths: None },
            None,
        );
        let close_with_digest = (
            hdr(3, opcode::CLOSE_SESSION),
            ZkTxn::CloseSession { paths: None },
            Some(TxnDigest {
                version: 2,
                tree_digest: -5,
            }),
        );
        let close_one_short_path = (
            hdr(4, opcode::CLOSE_SESSION),
            ZkTxn::CloseSession {
                paths: Some(vec!["/abc".into()]),
            },
            None,
        );
        let all = [v0, bare_close, close_with_digest, close_one_short_path];
        let log = decode(Bytes::from(file(&all))).unwrap();
        let got: Vec<_> = log
            .entries
            .into_iter()
            .map(|e| (e.header, e.txn, e.digest))
            .collect();
        assert_eq!(got, all.to_vec());
    }

    #[test]
    fn a_bad_magic_is_refused_at_offset_zero() {
        let mut f = file(&[set(1)]);
        f[0] = b'X';
        assert_eq!(decode(Bytes::from(f)).unwrap_err().offset, 0);
    }
}
