//! `zkr export --to-zookeeper <dataDir> --data-dir <zkr data dir>`: the way back. Recovers a
//! (stopped) zkr node's state from its data directory and writes it as an Apache ZooKeeper
//! snapshot, with the tree digest ZooKeeper 3.6+ checks at load, plus `acceptedEpoch` and
//! `currentEpoch`, under `<dataDir>/version-2/`.
//!
//! Older ZooKeeper files there are left alone when they are older than the export (ZooKeeper
//! loads the newest snapshot and replays only later txns); a snapshot or log at or after the
//! exported zxid would win over it, so the export refuses to write next to one.

use std::path::{Path, PathBuf};

use zkr_actors::txnlog::epochs;
use zkr_actors::txnlog::recovery::{self, Layout};
use zkr_actors::zkfiles::{convert, layout, snapshot as zk_snapshot};

/// What `zkr export` was asked to do.
pub struct ExportOptions {
    /// ZooKeeper's dataDir to write into.
    pub to: PathBuf,
    /// The zkr data directory to read.
    pub data_dir: PathBuf,
}

fn err(p: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", p.display())
}

/// Runs the export.
pub fn run(o: &ExportOptions) -> Result<(), String> {
    if !crate::zk_import::holds_zkr_data(&o.data_dir)? {
        return Err(format!("{}: no zkr data to export", o.data_dir.display()));
    }
    let rec = recovery::recover(&Layout::new(&o.data_dir)).map_err(|e| err(&o.data_dir, e))?;
    if let Some(end) = rec.short_of {
        return Err(format!(
            "{}: the server died with its log short of what its newest snapshot holds (a \
             leader's snapshot it was catching up from, or its own, scanned while txns up to \
             {end:#x} were applied): a valid state only once the log reaches {end:#x} (it stops \
             at {:#x}); start it in its ensemble to finish the sync, then export",
            o.data_dir.display(),
            rec.tree.last_zxid()
        ));
    }
    let tree = rec.tree;
    let zxid = tree.last_zxid();
    let e = epochs::load(&o.data_dir).map_err(|e| err(&o.data_dir, e))?;
    let zxid_epoch = (zxid as u64) >> 32;
    let current = e.current.max(zxid_epoch);
    let accepted = e.accepted.max(current);
    let dir = o.to.join(layout::VERSION_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
    for prefix in ["snapshot", "log"] {
        let files = layout::list(&dir, prefix).map_err(|e| err(&dir, e))?;
        if let Some((z, p)) = files.iter().rev().find(|(z, _)| *z >= zxid) {
            return Err(format!(
                "{} (zxid {z:#x}) is not older than the export (zxid {zxid:#x}): ZooKeeper would \
                 use it instead; export into an empty dataDir",
                p.display()
            ));
        }
    }
    let snap = convert::snapshot_from_tree(&tree);
    let foreign = tree
        .sessions()
        .iter()
        .filter(|(id, r)| r.password != convert::zookeeper_password(**id))
        .count();
    let bytes = zk_snapshot::encode(&snap);
    let name = format!("snapshot.{:x}", zxid as u64);
    let path = layout::write_durably(&dir, &name, &bytes).map_err(|e| err(&dir, e))?;
    layout::write_durably(
        &dir,
        layout::ACCEPTED_EPOCH,
        accepted.to_string().as_bytes(),
    )
    .map_err(|e| err(&dir, e))?;
    layout::write_durably(&dir, layout::CURRENT_EPOCH, current.to_string().as_bytes())
        .map_err(|e| err(&dir, e))?;
    println!(
        "zkr export: {} nodes, {} sessions, zxid {zxid:#x} (from {}, {} txns replayed after snapshot {})",
        snap.nodes.len(),
        snap.sessions.len(),
        o.data_dir.display(),
        rec.replayed,
        rec.snapshot.map_or("none".into(), |z| format!("{z:#x}"))
    );
    println!(
        "wrote {} ({} bytes, tree digest {:#x}) and acceptedEpoch {accepted}, currentEpoch {current}",
        path.display(),
        bytes.len(),
        snap.digest.map_or(0, |d| d.digest)
    );
    if foreign > 0 {
        println!(
            "note: {foreign} of the sessions were created on zkr, whose session passwords ZooKeeper \
             cannot derive: their clients get SESSION_EXPIRED on ZooKeeper and their ephemerals \
             go when the sessions time out"
        );
    }
    if !o.to.join("myid").exists() {
        println!(
            "note: {} has no myid file; an ensemble member needs one",
            o.to.display()
        );
    }
    Ok(())
}
