//! Apache ZooKeeper's data files (3.4 to 3.9), for `zkr import` and `zkr export`.
//!
//! A ZooKeeper server keeps, under `dataDir/version-2/` (logs under `dataLogDir/version-2/` when
//! that is set):
//! * `snapshot.<zxid hex>`: a fuzzy snapshot: a file header, the session table, the ACL table,
//!   every node in parent-before-child order and a seal (Adler-32 of everything before it); since
//!   3.6 a digest of the tree and a second seal follow (and, when enabled, the last processed
//!   zxid and a third seal);
//! * `log.<first zxid hex>`: a file header, then entries `checksum | length | txn bytes | 'B'`,
//!   preallocated with zeros;
//! * `acceptedEpoch`, `currentEpoch` (ensemble members): decimal numbers.
//!
//! [`records`], [`snapshot`] and [`txnlog`] decode (and, for export and tests, encode) these
//! bytes; [`convert`] turns them into zkr's tree and txns and back; [`replay`] rebuilds what a
//! server would load from its snapshot and logs, with [`fuzzy_acls`] settling the nodes of a
//! fuzzy snapshot that name an ACL its table lacks. All of it is pure (bytes in,
//! values out); [`layout`] is the one part that looks at directories.
//!
//! Invariants: decoding never panics on any input; every error names the byte offset where the
//! input stops making sense; what decodes is exactly what ZooKeeper would have loaded.

pub mod compression;
pub mod convert;
pub mod fuzzy_acls;
pub mod layout;
pub mod records;
pub mod replay;
pub mod snapshot;
pub mod txnlog;

#[cfg(test)]
mod proptests;

/// Why bytes are not a valid ZooKeeper file: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at offset {offset}: {reason}")]
pub struct FileError {
    /// Byte offset in the file (of the record or field that is wrong).
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

impl FileError {
    /// An error at `offset`.
    pub fn at(offset: usize, reason: impl Into<String>) -> FileError {
        FileError {
            offset: offset as u64,
            reason: reason.into(),
        }
    }
}

/// The Adler-32 checksum ZooKeeper uses for log entries and snapshot seals.
pub fn adler32(bytes: &[u8]) -> u32 {
    let mut a = adler2::Adler32::new();
    a.write_slice(bytes);
    a.checksum()
}
