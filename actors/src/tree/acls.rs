//! The tree's ACL table (ZooKeeper's `ReferenceCountedACLCache`): each distinct ACL list is
//! stored once and nodes hold a 4-byte index into the table.
//!
//! Invariants:
//! * an index is live while at least one node refers to it: `refs` counts those nodes, and a
//!   list whose count drops to 0 leaves the table (its index is reused);
//! * `by_list` maps each live list to its index, and to nothing else.

use std::collections::HashMap;
use std::sync::Arc;

use crate::proto::Acl;

/// An ACL list shared by every node that has it.
pub type AclList = Arc<Vec<Acl>>;

/// No ACL: the index a restore's placeholder nodes carry (they are never read).
pub const NO_ACL: u32 = u32::MAX;

/// The table: lists by index, with their reference counts.
#[derive(Debug, Clone, Default)]
pub struct AclTable {
    lists: Vec<Option<(AclList, u32)>>,
    by_list: HashMap<Vec<Acl>, u32>,
    free: Vec<u32>,
}

impl AclTable {
    /// The index of `acl`, counting one more reference to it.
    pub fn acquire(&mut self, acl: &[Acl]) -> u32 {
        if let Some(&i) = self.by_list.get(acl) {
            self.retain(i);
            return i;
        }
        let list: AclList = Arc::new(acl.to_vec());
        let i = match self.free.pop() {
            Some(i) => {
                self.lists[i as usize] = Some((list.clone(), 1));
                i
            }
            None => {
                self.lists.push(Some((list.clone(), 1)));
                (self.lists.len() - 1) as u32
            }
        };
        self.by_list.insert(acl.to_vec(), i);
        i
    }

    /// One more reference to live index `i`.
    pub fn retain(&mut self, i: u32) {
        if let Some(Some((_, refs))) = self.lists.get_mut(i as usize) {
            *refs += 1;
        }
    }

    /// One reference fewer to `i`; the list leaves the table with its last one.
    pub fn release(&mut self, i: u32) {
        let Some(entry) = self.lists.get_mut(i as usize) else {
            return;
        };
        let gone = match entry {
            Some((_, refs)) => {
                *refs -= 1;
                *refs == 0
            }
            None => false,
        };
        if gone {
            if let Some((list, _)) = entry.take() {
                self.by_list.remove(list.as_slice());
            }
            self.free.push(i);
        }
    }

    /// The list at live index `i` (an empty list for [`NO_ACL`] or a dead index).
    pub fn get(&self, i: u32) -> &AclList {
        static NONE: std::sync::OnceLock<AclList> = std::sync::OnceLock::new();
        match self.lists.get(i as usize) {
            Some(Some((list, _))) => list,
            _ => NONE.get_or_init(|| Arc::new(Vec::new())),
        }
    }

    /// Distinct lists in use.
    pub fn len(&self) -> usize {
        self.by_list.len()
    }

    /// Every list in use with its reference count, sorted (tests compare two trees' tables).
    #[cfg(test)]
    pub fn refs(&self) -> Vec<(Vec<Acl>, u32)> {
        let mut v: Vec<(Vec<Acl>, u32)> = self
            .lists
            .iter()
            .flatten()
            .map(|(l, n)| (l.as_ref().clone(), *n))
            .collect();
        v.sort_by_cached_key(|e| format!("{e:?}"));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_shared_counted_and_dropped_with_their_last_node() {
        let mut t = AclTable::default();
        let open = t.acquire(&Acl::open_unsafe());
        let read = t.acquire(&Acl::read_unsafe());
        assert_eq!(t.acquire(&Acl::open_unsafe()), open);
        assert!(Arc::ptr_eq(t.get(open), t.get(open)));
        assert_eq!(t.len(), 2);
        t.release(read);
        assert_eq!(t.len(), 1, "no node has the read-only list any more");
        t.release(open);
        assert_eq!(t.len(), 1, "one node still has the open list");
        t.release(open);
        assert_eq!(t.len(), 0);
        let again = t.acquire(&Acl::read_unsafe());
        assert!(again == open || again == read, "indexes are reused");
        assert_eq!(t.get(again).as_ref(), &Acl::read_unsafe());
        assert!(t.get(NO_ACL).is_empty());
    }
}
