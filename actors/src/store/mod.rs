//! The znode store: the data tree and the watch manager, shared by the store actor (which
//! applies committed txns) and the connections (which serve reads).
//!
//! Reads run on the connection's thread under the tree's read lock; applies run in the store
//! actor under the write lock. One lock for the whole tree is ZooKeeper's model too (its
//! CommitProcessor runs no read while a write is applied): a multi is atomic to readers, and a
//! watch registered by a read cannot slip between a change and its notification. The tree and
//! watch locks are always taken in that order (tree, then watches, then an outbox's queue, then
//! its deferred notifications). A watch storm's notifications are handed out in slices
//! ([`fanout`]).

pub mod actor;
pub mod fanout;
pub mod read;
pub mod replies;

use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::acl::AclPolicy;
use crate::outbox::{ConnId, Outbox};
use crate::tree::watches::WatchManager;
use crate::tree::DataTree;

/// The shared store.
#[derive(Debug)]
pub struct Store {
    tree: RwLock<DataTree>,
    watches: Mutex<WatchManager<ConnId>>,
    conns: DashMap<ConnId, Arc<Outbox>>,
    policy: AclPolicy,
    /// Trees replaced so far (the log writer waits for a truncation or snapshot install to
    /// reach the store before it snapshots the tree again).
    replaced: std::sync::atomic::AtomicU64,
}

impl Store {
    /// A store over `tree`.
    pub fn new(tree: DataTree, policy: AclPolicy) -> Store {
        Store {
            tree: RwLock::new(tree),
            watches: Mutex::new(WatchManager::new()),
            conns: DashMap::new(),
            policy,
            replaced: Default::default(),
        }
    }

    /// The tree, read-locked.
    pub fn tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.tree.read()
    }

    /// Replaces the whole tree (a follower synced by snapshot). Watches are kept.
    pub fn replace_tree(&self, tree: DataTree) {
        let mut held = self.tree.write();
        *held = tree;
        // Counted under the write lock: a reader holding the read lock sees the count of the
        // tree it reads (a fuzzy snapshot stops if the tree changed under it).
        self.replaced
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many times the tree was replaced (read it with the tree's lock held to know the
    /// count of the tree you read).
    pub fn trees_replaced(&self) -> u64 {
        self.replaced.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The ACL policy.
    pub fn policy(&self) -> &AclPolicy {
        &self.policy
    }

    /// Makes a connection reachable for watch notifications.
    pub fn register(&self, outbox: Arc<Outbox>) {
        self.conns.insert(outbox.id(), outbox);
    }

    /// Forgets a closed connection and its watches.
    pub fn unregister(&self, id: ConnId) {
        self.conns.remove(&id);
        self.watches.lock().remove_watcher(&id);
    }

    /// Live connections.
    pub fn connections(&self) -> Vec<Arc<Outbox>> {
        self.conns.iter().map(|e| e.value().clone()).collect()
    }

    /// Watch statistics and tables for the 4lw.
    pub fn with_watches<R>(&self, f: impl FnOnce(&WatchManager<ConnId>) -> R) -> R {
        f(&self.watches.lock())
    }

    /// Executes a read for `outbox` now (its queue is empty) and queues the reply while the tree
    /// lock is held. Returns whether the connection must close after it.
    pub fn serve_read(&self, outbox: &Outbox, xid: i32, request: crate::proto::Request) -> bool {
        let tree = self.tree.read();
        let mut watches = read::Watches::Lazy(&self.watches);
        let (frame, close) = read::execute(&tree, &mut watches, &self.policy, outbox, xid, request);
        outbox.send_reply(xid, frame);
        close
    }
}
