//! ZooKeeper's snapshot files (`FileSnap`): `snapshot.<zxid hex>`.
//!
//! A [`FileHeader`] (`ZKSN`, version 2, dbid -1); the session table (an int count, then id and
//! timeout pairs); the ACL table (an int count, then a long key and a vector of ACLs each); the
//! nodes, each a path and a [`DataNode`], the root under the path `""`, every parent before its
//! children, ended by the path `"/"`; then a seal: a long holding the Adler-32 of every byte
//! before it, and the string `"/"`. Since 3.6 a digest of the tree (zxid, digest version,
//! digest) and a second seal follow; a server with `serializeLastProcessedZxid` enabled adds
//! the last processed zxid and a third seal. Older readers stop after the first seal.
//!
//! A node's ACL key -1 is `world:anyone` with every permission. A node may name a key the table
//! lacks: the snapshot is fuzzy and its table is written before its nodes (see
//! [`super::fuzzy_acls`], which the conversion and the replay use to settle it). A snapshot whose
//! write did not
//! finish does not end with the seal's `"/"`: ZooKeeper skips such files, and so does
//! [`looks_complete`]'s caller.

use bytes::Bytes;

use super::records::*;
use super::txnlog::{decode_header, MAX_FIELD_LEN};
use super::{adler32, FileError};
use crate::proto::jute::{write, DecodeError, Jute, Reader};
use crate::proto::Acl;

/// The ACL key of `world:anyone` ALL, which needs no table entry.
pub const OPEN_ACL_KEY: i64 = -1;

/// The tree digest a snapshot carries (3.6+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    /// The zxid the digest is for (0: none).
    pub zxid: i64,
    /// Digest version (2 since 3.6.0).
    pub version: i32,
    /// The digest.
    pub digest: i64,
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Sessions: id and timeout.
    pub sessions: Vec<(i64, i32)>,
    /// The ACL table.
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// Nodes in file order, with their paths as written (the root's is `""`).
    pub nodes: Vec<(String, DataNode)>,
    /// The tree digest, if written.
    pub digest: Option<ZxidDigest>,
    /// The last processed zxid, if written.
    pub last_processed_zxid: Option<i64>,
}

/// Does the file end like a finished snapshot (ZooKeeper's `isValidSnapshot`: the seal's
/// `"/"`, an int 1 and the byte `/`, in the last five bytes)?
pub fn looks_complete(buf: &[u8]) -> bool {
    buf.len() >= 10 && buf[buf.len() - 5..] == [0, 0, 0, 1, b'/']
}

fn err(r: &Reader, e: DecodeError) -> FileError {
    let offset = match &e {
        DecodeError::Truncated { offset, .. } | DecodeError::BadLength { offset, .. } => *offset,
        _ => r.position(),
    };
    FileError::at(offset, e.to_string())
}

/// Reads a seal at the reader's position: the checksum of everything before it, then `"/"`.
fn seal(buf: &Bytes, r: &mut Reader) -> Result<(), FileError> {
    let at = r.position();
    let expected = i64::from(adler32(&buf[..at]));
    let found = r.i64().map_err(|e| err(r, e))?;
    let slash = r.string().map_err(|e| err(r, e))?;
    if found != expected {
        return Err(FileError::at(
            at,
            format!("checksum mismatch: the seal says {found:#x}, the bytes before it give {expected:#x}"),
        ));
    }
    if slash != "/" {
        return Err(FileError::at(
            at + 8,
            format!("seal ends with {slash:?}, not \"/\""),
        ));
    }
    Ok(())
}

/// Decodes a whole snapshot, checking its seals, that every node's parent comes before it and
/// that every ACL key is in the table.
pub fn decode(buf: Bytes) -> Result<Snapshot, FileError> {
    decode_header(&buf, SNAP_MAGIC, "snapshot")?;
    let mut r = Reader::with_limit(buf.clone(), MAX_FIELD_LEN);
    r.i32()
        .and_then(|_| r.i32())
        .and_then(|_| r.i64())
        .map_err(|e| err(&r, e))?;
    let mut snap = Snapshot::default();
    let count = r.i32().map_err(|e| err(&r, e))?;
    for _ in 0..count.max(0) {
        let id = r.i64().map_err(|e| err(&r, e))?;
        let timeout = r.i32().map_err(|e| err(&r, e))?;
        snap.sessions.push((id, timeout));
    }
    let acl_count = r.i32().map_err(|e| err(&r, e))?;
    for _ in 0..acl_count.max(0) {
        let key = r.i64().map_err(|e| err(&r, e))?;
        let at = r.position();
        if r.clone().i32().map_err(|e| err(&r, e))? == -1 {
            return Err(FileError::at(at, format!("ACL table entry {key} is null")));
        }
        let list: Vec<Acl> = r.vec().map_err(|e| err(&r, e))?;
        snap.acls.push((key, list));
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let at = r.position();
        let path = r.string().map_err(|e| err(&r, e))?;
        if path == "/" {
            break;
        }
        let node = DataNode::read(&mut r).map_err(|e| err(&r, e))?;
        if let Some(slash) = path.rfind('/') {
            if !seen.contains(&path[..slash]) {
                return Err(FileError::at(
                    at,
                    format!("node {path:?} comes before its parent {:?}", &path[..slash]),
                ));
            }
        } else if !path.is_empty() {
            return Err(FileError::at(
                at,
                format!("node path {path:?} is not absolute"),
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(FileError::at(at, format!("node {path:?} appears twice")));
        }
        snap.nodes.push((path, node));
    }
    if !seen.contains("") {
        return Err(FileError::at(r.position(), "no root node"));
    }
    seal(&buf, &mut r)?;
    // 3.6+: the digest and a second seal. An older snapshot ends here.
    if r.remaining() > 0 {
        let zxid = r.i64().map_err(|e| err(&r, e))?;
        let version = r.i32().map_err(|e| err(&r, e))?;
        let digest = if version < 2 {
            // Digest version 1 wrote a hex string.
            let at = r.position();
            let s = r.string().map_err(|e| err(&r, e))?;
            u64::from_str_radix(&s, 16)
                .map_err(|_| FileError::at(at, format!("digest {s:?} is not hex")))?
                as i64
        } else {
            r.i64().map_err(|e| err(&r, e))?
        };
        seal(&buf, &mut r)?;
        snap.digest = (zxid > 0).then_some(ZxidDigest {
            zxid,
            version,
            digest,
        });
        if r.remaining() > 0 {
            snap.last_processed_zxid = Some(r.i64().map_err(|e| err(&r, e))?);
            seal(&buf, &mut r)?;
        }
    }
    Ok(snap)
}

fn put_seal(out: &mut bytes::BytesMut) {
    let sum = i64::from(adler32(out));
    sum.write(out);
    write::string(out, "/");
}

/// Encodes a snapshot as ZooKeeper 3.6+ writes one (with the digest and its seal; the last
/// processed zxid is written only if set).
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    let mut out = bytes::BytesMut::with_capacity(1 << 16);
    FileHeader {
        magic: SNAP_MAGIC,
        version: FILE_VERSION,
        dbid: -1,
    }
    .write(&mut out);
    (snap.sessions.len() as i32).write(&mut out);
    for (id, t) in &snap.sessions {
        id.write(&mut out);
        t.write(&mut out);
    }
    (snap.acls.len() as i32).write(&mut out);
    for (key, list) in &snap.acls {
        key.write(&mut out);
        write::vec(&mut out, list);
    }
    for (path, node) in &snap.nodes {
        write::string(&mut out, path);
        node.write(&mut out);
    }
    write::string(&mut out, "/");
    put_seal(&mut out);
    let d = snap.digest.unwrap_or(ZxidDigest {
        zxid: 0,
        version: DIGEST_VERSION,
        digest: 0,
    });
    d.zxid.write(&mut out);
    d.version.write(&mut out);
    d.digest.write(&mut out);
    put_seal(&mut out);
    if let Some(z) = snap.last_processed_zxid {
        z.write(&mut out);
        put_seal(&mut out);
    }
    out.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(czxid: i64, acl: i64) -> DataNode {
        DataNode {
            data: Some(Bytes::from_static(b"hello")),
            acl,
            stat: StatPersisted {
                czxid,
                mzxid: czxid,
                pzxid: czxid,
                ..Default::default()
            },
        }
    }

    fn sample() -> Snapshot {
        Snapshot {
            sessions: vec![(0x100, 30000)],
            acls: vec![(1, Acl::read_unsafe())],
            nodes: vec![
                ("".into(), node(0, OPEN_ACL_KEY)),
                ("/a".into(), node(1, 1)),
                ("/a/b".into(), node(2, OPEN_ACL_KEY)),
            ],
            digest: Some(ZxidDigest {
                zxid: 2,
                version: 2,
                digest: 12345,
            }),
            last_processed_zxid: None,
        }
    }

    #[test]
    fn round_trips_and_looks_complete() {
        let bytes = encode(&sample());
        assert!(looks_complete(&bytes));
        assert_eq!(decode(Bytes::from(bytes)).unwrap(), sample());
    }

    #[test]
    fn a_snapshot_without_the_digest_reads_as_before_3_6() {
        let bytes = encode(&sample());
        // Cut after the first seal: 8 + 5 bytes after the end marker.
        let first_seal_end = bytes.len() - (8 + 4 + 8 + 8 + 5);
        let old = decode(Bytes::from(bytes[..first_seal_end].to_vec())).unwrap();
        assert_eq!(old.digest, None);
        assert_eq!(old.nodes, sample().nodes);
    }

    #[test]
    fn damage_is_named_with_its_offset() {
        let bytes = encode(&sample());
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x01;
        assert!(decode(Bytes::from(flipped)).is_err());
        let cut = decode(Bytes::from(bytes[..bytes.len() / 2].to_vec())).unwrap_err();
        assert!(cut.offset as usize <= bytes.len() / 2, "{cut}");
        let mut orphan = sample();
        orphan.nodes.remove(1);
        let e = decode(Bytes::from(encode(&orphan))).unwrap_err();
        assert!(e.reason.contains("before its parent"), "{e}");
        // Not damage in itself: a fuzzy snapshot's node can name a key its table lacks
        // (`super::fuzzy_acls` settles it against the txns after the snapshot).
        let mut unknown_acl = sample();
        unknown_acl.nodes[1].1.acl = 7;
        assert_eq!(
            decode(Bytes::from(encode(&unknown_acl))).unwrap(),
            unknown_acl
        );
    }
}
