//! Node storage for the data tree: every znode in a fixed-size [`Slot`] addressed by a
//! [`NodeId`], its name stored once, its children an intrusive list, and one hash index from
//! (parent, name) to the child.
//!
//! Per znode this costs one 96-byte slot (stat, links, ACL index, flags), one heap block with
//! the name and the data back to back, and one 4-byte entry in the index. No path string is
//! kept: a path is looked up one component at a time and rebuilt from the parent links when
//! needed (snapshots, watch events of deleted sessions). Slots live in chunks of [`CHUNK`], so
//! growing the tree never moves (or transiently doubles) what is already there.
//!
//! Invariants:
//! * slot [`ROOT`] is the root: it has no parent, is never freed and is not in the index;
//! * every other used slot is in the index exactly once, under (its parent, its name), and on
//!   its parent's child list exactly once;
//! * free slots hold no block, carry [`FREE`] and form a list through `next`;
//! * a child's name is non-empty and holds no `/`.
//!
//! The index hashes (parent, name) with foldhash, seeded at random per arena, so clients
//! cannot choose names that collide (ZooKeeper's own map uses `String.hashCode`, unseeded).
//!
//! The arena knows nothing of ZooKeeper's rules: the stat, the ACL index and the flags other
//! than [`FREE`] are the tree's (`super`) to keep.

use std::hash::BuildHasher;

use foldhash::quality::RandomState;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

/// Index of a slot.
pub type NodeId = u32;

/// The root's slot.
pub const ROOT: NodeId = 0;
/// No node (end of a list, no parent).
pub const NONE: NodeId = u32::MAX;
/// Flag of a slot on the free list.
pub const FREE: u32 = 1 << 31;

const CHUNK_BITS: u32 = 12;
/// Slots per chunk.
pub const CHUNK: usize = 1 << CHUNK_BITS;

/// The stat a znode stores (ZooKeeper's `StatPersisted` less the ephemeral owner, plus the
/// number of children). The client-visible `Stat` is derived from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredStat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Creation time, ms.
    pub ctime: i64,
    /// Last data change time, ms.
    pub mtime: i64,
    /// zxid of the last child create/delete.
    pub pzxid: i64,
    /// Data version.
    pub version: i32,
    /// Stored child-creation counter (ZooKeeper's persisted cversion).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Children that exist (a restore's placeholders are not counted).
    pub num_children: u32,
}

/// One znode's slot.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Its stat.
    pub stat: StoredStat,
    /// The name's length as a LEB128 varint, the name, then the data.
    block: Box<[u8]>,
    /// Index into the tree's ACL table.
    pub acl: u32,
    parent: NodeId,
    first_child: NodeId,
    next: NodeId,
    prev: NodeId,
    /// The tree's flags ([`FREE`] is the arena's).
    pub flags: u32,
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn make_block(name: &[u8], data: &[u8]) -> Box<[u8]> {
    let mut b = Vec::with_capacity(varint_len(name.len()) + name.len() + data.len());
    let mut n = name.len();
    while n >= 0x80 {
        b.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.extend_from_slice(name);
    b.extend_from_slice(data);
    b.into_boxed_slice()
}

/// A node's name and data as a slot holds them, made before the node is inserted (a restore
/// makes them on the thread that decodes the snapshot: [`Arena::insert_block_if_absent`]).
#[derive(Debug)]
pub struct Block(Box<[u8]>);

impl Block {
    /// The block of a node called `name` holding `data`.
    pub fn new(name: &str, data: &[u8]) -> Block {
        Block(make_block(name.as_bytes(), data))
    }

    /// The data bytes.
    pub fn data(&self) -> &[u8] {
        let (at, len) = name_span(&self.0);
        &self.0[at + len..]
    }

    /// The name.
    pub fn name(&self) -> &[u8] {
        let (at, len) = name_span(&self.0);
        &self.0[at..at + len]
    }
}

/// (offset of the name, its length) in a block.
fn name_span(block: &[u8]) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0u32, 0usize);
    while let Some(&b) = block.get(i) {
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (i, n)
}

impl Slot {
    fn new(name: &[u8], data: &[u8], stat: StoredStat, acl: u32, flags: u32) -> Slot {
        Slot::with_block(make_block(name, data), stat, acl, flags)
    }

    fn with_block(block: Box<[u8]>, stat: StoredStat, acl: u32, flags: u32) -> Slot {
        Slot {
            stat,
            block,
            acl,
            parent: NONE,
            first_child: NONE,
            next: NONE,
            prev: NONE,
            flags,
        }
    }

    /// (offset of the name, its length) in the block.
    fn name_span(&self) -> (usize, usize) {
        name_span(&self.block)
    }

    /// The name (the last path segment; empty for the root).
    pub fn name(&self) -> &str {
        let (at, len) = self.name_span();
        // Names are stored from `&str` only; a failure here is impossible, and "" is harmless.
        std::str::from_utf8(&self.block[at..at + len]).unwrap_or("")
    }

    /// The data bytes (the tree decides, by a flag, whether they stand for null).
    pub fn data(&self) -> &[u8] {
        let (at, len) = self.name_span();
        &self.block[at + len..]
    }

    /// Replaces the data, in place when the length is unchanged.
    pub fn set_data(&mut self, data: &[u8]) {
        let (at, len) = self.name_span();
        if self.block.len() - at - len == data.len() {
            self.block[at + len..].copy_from_slice(data);
        } else {
            self.block = make_block(&self.block[at..at + len], data);
        }
    }

    /// The parent, [`NONE`] for the root.
    pub fn parent(&self) -> NodeId {
        self.parent
    }

    /// Bytes this slot owns on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.block.len()
    }
}

/// The slots, the free list and the (parent, name) index.
#[derive(Clone)]
pub struct Arena {
    chunks: Vec<Vec<Slot>>,
    free_head: NodeId,
    used: usize,
    index: HashTable<NodeId>,
    /// Seeded at random per arena: names are the clients' to choose.
    hasher: RandomState,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("used", &self.used)
            .field("slots", &self.bound())
            .finish()
    }
}

fn key_hash(hasher: &RandomState, parent: NodeId, name: &[u8]) -> u64 {
    hasher.hash_one((parent, name))
}

impl Arena {
    /// An arena holding only the root, with `stat`, `data`, `acl` and `flags`.
    pub fn new(stat: StoredStat, data: &[u8], acl: u32, flags: u32) -> Arena {
        let mut first = Vec::with_capacity(CHUNK);
        first.push(Slot::new(b"", data, stat, acl, flags));
        Arena {
            chunks: vec![first],
            free_head: NONE,
            used: 1,
            index: HashTable::new(),
            hasher: RandomState::default(),
        }
    }

    /// Makes room for `more` nodes in the index (a restore knows how many come).
    pub fn reserve(&mut self, more: usize) {
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.reserve(more, |&id| {
            let s = slot_in(chunks, id);
            key_hash(hasher, s.parent, s.name().as_bytes())
        });
    }

    /// Used slots (the root included).
    pub fn len(&self) -> usize {
        self.used
    }

    /// Every id ever handed out is below this.
    pub fn bound(&self) -> NodeId {
        bound_of(&self.chunks)
    }

    /// The slot `id`, if it is in use.
    pub fn slot(&self, id: NodeId) -> Option<&Slot> {
        let s = self
            .chunks
            .get((id >> CHUNK_BITS) as usize)?
            .get(id as usize & (CHUNK - 1))?;
        (s.flags & FREE == 0).then_some(s)
    }

    /// The slot `id` (an id this arena handed out and did not free).
    pub fn get(&self, id: NodeId) -> &Slot {
        slot_in(&self.chunks, id)
    }

    /// The slot `id`, mutably.
    pub fn get_mut(&mut self, id: NodeId) -> &mut Slot {
        slot_in_mut(&mut self.chunks, id)
    }

    /// The child of `parent` called `name`.
    pub fn child(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        let hash = key_hash(&self.hasher, parent, name.as_bytes());
        self.index
            .find(hash, |&id| {
                let s = slot_in(&self.chunks, id);
                s.parent == parent && s.name() == name
            })
            .copied()
    }

    /// The node at `path` (absolute, `/`-separated; `/` is the root).
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let rest = path.strip_prefix('/')?;
        if rest.is_empty() {
            return Some(ROOT);
        }
        rest.split('/')
            .try_fold(ROOT, |id, name| self.child(id, name))
    }

    /// Adds a child called `name` under `parent`, first on its list, unless there is one:
    /// `Ok(new id)` or `Err(the existing child)`. One probe of the index either way.
    pub fn insert_if_absent(
        &mut self,
        parent: NodeId,
        name: &str,
        data: &[u8],
        stat: StoredStat,
        acl: u32,
        flags: u32,
    ) -> Result<NodeId, NodeId> {
        let make = || Slot::new(name.as_bytes(), data, stat, acl, flags & !FREE);
        self.insert_with(parent, name, make)
    }

    /// [`Arena::insert_if_absent`] of a node whose block is made already (its name `name`):
    /// `Err` gives back the existing child and the unused block.
    pub fn insert_block_if_absent(
        &mut self,
        parent: NodeId,
        name: &str,
        block: Block,
        stat: StoredStat,
        acl: u32,
        flags: u32,
    ) -> Result<NodeId, (NodeId, Block)> {
        debug_assert_eq!(block.name(), name.as_bytes());
        let mut block = Some(block);
        let make = || {
            Slot::with_block(
                block.take().map_or_else(Box::default, |b| b.0),
                stat,
                acl,
                flags & !FREE,
            )
        };
        match self.insert_with(parent, name, make) {
            Ok(id) => Ok(id),
            Err(existing) => Err((existing, block.unwrap_or(Block(Box::default())))),
        }
    }

    /// Adds the slot `make` gives as the child `name` of `parent` unless there is one (see
    /// [`Arena::insert_if_absent`]); `make` runs only when the child is new.
    fn insert_with(
        &mut self,
        parent: NodeId,
        name: &str,
        make: impl FnOnce() -> Slot,
    ) -> Result<NodeId, NodeId> {
        let hash = key_hash(&self.hasher, parent, name.as_bytes());
        let Arena {
            chunks,
            index,
            hasher,
            free_head,
            used,
        } = self;
        let vacant = match index.entry(
            hash,
            |&id| {
                let s = slot_in(chunks, id);
                s.parent == parent && s.name() == name
            },
            |&id| {
                let s = slot_in(chunks, id);
                key_hash(hasher, s.parent, s.name().as_bytes())
            },
        ) {
            Entry::Occupied(o) => return Err(*o.get()),
            Entry::Vacant(v) => v,
        };
        let mut slot = make();
        slot.parent = parent;
        slot.next = slot_in(chunks, parent).first_child;
        let id = if *free_head != NONE {
            let id = *free_head;
            *free_head = slot_in(chunks, id).next;
            *slot_in_mut(chunks, id) = slot;
            id
        } else {
            let id = bound_of(chunks);
            if chunks.last().is_some_and(|c| c.len() == CHUNK) {
                chunks.push(Vec::with_capacity(CHUNK));
            }
            chunks.last_mut().expect("one chunk at least").push(slot);
            id
        };
        vacant.insert(id);
        let old_first = slot_in(chunks, parent).first_child;
        if old_first != NONE {
            slot_in_mut(chunks, old_first).prev = id;
        }
        slot_in_mut(chunks, parent).first_child = id;
        *used += 1;
        Ok(id)
    }

    /// Removes `id` (not the root, and with no children left) and frees its slot.
    pub fn remove(&mut self, id: NodeId) {
        debug_assert!(id != ROOT && self.get(id).first_child == NONE);
        let (parent, prev, next) = {
            let s = self.get(id);
            (s.parent, s.prev, s.next)
        };
        let hash = key_hash(&self.hasher, parent, self.get(id).name().as_bytes());
        if let Ok(entry) = self.index.find_entry(hash, |&x| x == id) {
            entry.remove();
        }
        if prev != NONE {
            self.get_mut(prev).next = next;
        } else {
            self.get_mut(parent).first_child = next;
        }
        if next != NONE {
            self.get_mut(next).prev = prev;
        }
        let free_head = self.free_head;
        let s = self.get_mut(id);
        s.block = Box::default();
        s.flags = FREE;
        s.parent = NONE;
        s.prev = NONE;
        s.next = free_head;
        self.free_head = id;
        self.used -= 1;
    }

    /// The children of `id`, newest first.
    pub fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut cur = self.get(id).first_child;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let c = cur;
            cur = self.get(c).next;
            Some(c)
        })
    }

    /// Does `id` have any child on its list?
    pub fn has_children(&self, id: NodeId) -> bool {
        self.get(id).first_child != NONE
    }

    /// The absolute path of `id`.
    pub fn path(&self, id: NodeId) -> String {
        if id == ROOT {
            return "/".to_string();
        }
        let mut names: Vec<&str> = Vec::new();
        let mut cur = id;
        while cur != ROOT && cur != NONE {
            let s = self.get(cur);
            names.push(s.name());
            cur = s.parent;
        }
        let mut out = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for n in names.iter().rev() {
            out.push('/');
            out.push_str(n);
        }
        out
    }

    /// Heap bytes held by the arena: slots, blocks and the index (for the memory model).
    pub fn heap_bytes(&self) -> usize {
        let slots = self.chunks.len() * CHUNK * std::mem::size_of::<Slot>();
        let blocks: usize = self
            .chunks
            .iter()
            .flat_map(|c| c.iter())
            .map(Slot::heap_bytes)
            .sum();
        slots + blocks + self.index.allocation_size()
    }
}

fn bound_of(chunks: &[Vec<Slot>]) -> NodeId {
    ((chunks.len() - 1) * CHUNK + chunks.last().map_or(0, Vec::len)) as NodeId
}

fn slot_in(chunks: &[Vec<Slot>], id: NodeId) -> &Slot {
    &chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
}

fn slot_in_mut(chunks: &mut [Vec<Slot>], id: NodeId) -> &mut Slot {
    &mut chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena() -> Arena {
        Arena::new(StoredStat::default(), b"", 0, 0)
    }

    fn add(a: &mut Arena, path: &str, data: &[u8]) -> NodeId {
        let parent = a.lookup(super::super::path::parent(path).unwrap()).unwrap();
        a.insert_if_absent(
            parent,
            super::super::path::name(path),
            data,
            StoredStat::default(),
            0,
            0,
        )
        .expect("a new node")
    }

    #[test]
    fn a_slot_is_96_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 96);
    }

    #[test]
    fn paths_are_looked_up_by_component_and_rebuilt_from_parents() {
        let mut a = arena();
        let x = add(&mut a, "/x", b"1");
        let y = add(&mut a, "/x/y", b"22");
        assert_eq!(a.lookup("/"), Some(ROOT));
        assert_eq!(a.lookup("/x"), Some(x));
        assert_eq!(a.lookup("/x/y"), Some(y));
        for missing in ["/y", "/x/", "/x//y", "x", "", "/x/y/z"] {
            assert_eq!(a.lookup(missing), None, "{missing:?}");
        }
        assert_eq!(a.path(y), "/x/y");
        assert_eq!(a.path(ROOT), "/");
        assert_eq!(a.get(y).name(), "y");
        assert_eq!(a.get(y).data(), b"22");
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn removing_frees_the_slot_for_reuse_and_keeps_siblings_linked() {
        let mut a = arena();
        let ids: Vec<NodeId> = (0..5)
            .map(|i| add(&mut a, &format!("/n{i}"), b""))
            .collect();
        a.remove(ids[2]);
        a.remove(ids[4]);
        a.remove(ids[0]);
        let mut left: Vec<&str> = a.children(ROOT).map(|c| a.get(c).name()).collect();
        left.sort();
        assert_eq!(left, ["n1", "n3"]);
        assert_eq!(a.lookup("/n2"), None);
        assert!(a.slot(ids[2]).is_none());
        let again = add(&mut a, "/again", b"z");
        assert!(ids.contains(&again), "a freed slot is reused");
        assert_eq!(a.lookup("/again"), Some(again));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn data_is_replaced_in_place_or_reallocated_and_long_names_survive() {
        let mut a = arena();
        let long = "n".repeat(300);
        let id = add(&mut a, &format!("/{long}"), b"abc");
        a.get_mut(id).set_data(b"xyz");
        assert_eq!(a.get(id).data(), b"xyz");
        a.get_mut(id).set_data(b"longer data");
        assert_eq!(a.get(id).data(), b"longer data");
        a.get_mut(id).set_data(b"");
        assert_eq!(a.get(id).data(), b"");
        assert_eq!(a.get(id).name(), long);
        assert_eq!(a.lookup(&format!("/{long}")), Some(id));
    }

    #[test]
    fn many_nodes_span_chunks_and_the_index_grows() {
        let mut a = arena();
        let p = add(&mut a, "/p", b"");
        for i in 0..(CHUNK * 2 + 10) {
            let added = a.insert_if_absent(p, &format!("c{i}"), b"d", StoredStat::default(), 0, 0);
            assert!(added.is_ok());
        }
        assert_eq!(
            a.insert_if_absent(p, "c7", b"", StoredStat::default(), 0, 0),
            Err(a.lookup("/p/c7").unwrap())
        );
        {}
        assert_eq!(a.children(p).count(), CHUNK * 2 + 10);
        let id = a.lookup(&format!("/p/c{}", CHUNK + 3)).unwrap();
        assert_eq!(a.path(id), format!("/p/c{}", CHUNK + 3));
        assert!(a.heap_bytes() > 3 * CHUNK * std::mem::size_of::<Slot>());
    }
}
