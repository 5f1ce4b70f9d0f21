//! The watch manager (`WatchManager` + `DataTree` watch tables of ZooKeeper).
//!
//! Two tables, data and child. Each (watcher, path) entry in a table holds a set of modes:
//! standard (one-shot), persistent, persistent-recursive. Recursive watches live only in the data
//! table and also match every descendant of their path.
//!
//! Invariants:
//! * per trigger, a watcher gets at most one event (several matching watches collapse);
//! * matched standard watches are removed, persistent ones stay;
//! * `by_watcher` and `by_path` always describe the same set of entries.
//!
//! Memory: a watched path is stored once per table (an `Arc<str>` shared by both directions),
//! and a path with a single watcher keeps it inline, with no map of its own (docs/benchmarks.md,
//! "Memory model").
//!
//! Generic over the watcher key `W` (the server uses a connection id), so it is a pure core.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use super::path;
use crate::proto::codes::{event_type, watcher_type};

/// How a watch fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// One-shot.
    Standard,
    /// Stays after firing; exact path.
    Persistent,
    /// Stays after firing; the path and every descendant (data table only).
    PersistentRecursive,
}

impl WatchMode {
    fn bit(self) -> u8 {
        match self {
            WatchMode::Standard => 1,
            WatchMode::Persistent => 2,
            WatchMode::PersistentRecursive => 4,
        }
    }
}

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Data watches (exists, getData, persistent, recursive).
    Data,
    /// Child watches (getChildren, persistent).
    Child,
}

/// The watchers of one path: one inline (the usual case: no map allocated), or a map.
#[derive(Debug)]
enum Watchers<W> {
    One(W, u8),
    // Boxed on purpose: the enum, one per watched path, stays 16 bytes (with a u64 watcher) instead of 56.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<W, u8>>),
}

impl<W: Clone + Eq + Hash> Watchers<W> {
    fn get(&self, w: &W) -> Option<u8> {
        match self {
            Watchers::One(x, m) => (x == w).then_some(*m),
            Watchers::Many(map) => map.get(w).copied(),
        }
    }

    fn get_mut(&mut self, w: &W) -> Option<&mut u8> {
        match self {
            Watchers::One(x, m) => (x == w).then_some(m),
            Watchers::Many(map) => map.get_mut(w),
        }
    }

    /// The modes of `w`, added with none if absent.
    fn entry(&mut self, w: &W) -> &mut u8 {
        if let Watchers::One(x, m) = self {
            if x != w {
                let mut map = HashMap::with_capacity(2);
                map.insert(x.clone(), *m);
                *self = Watchers::Many(Box::new(map));
            }
        }
        match self {
            Watchers::One(_, m) => m,
            Watchers::Many(map) => map.entry(w.clone()).or_insert(0),
        }
    }

    /// Removes `w`; returns its modes and whether no watcher is left.
    fn remove(&mut self, w: &W) -> (Option<u8>, bool) {
        match self {
            Watchers::One(x, m) if x == w => (Some(*m), true),
            Watchers::One(..) => (None, false),
            Watchers::Many(map) => {
                let m = map.remove(w);
                (m, map.is_empty())
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&W, u8)> + '_> {
        match self {
            Watchers::One(x, m) => Box::new(std::iter::once((x, *m))),
            Watchers::Many(map) => Box::new(map.iter().map(|(w, m)| (w, *m))),
        }
    }

    fn len(&self) -> usize {
        match self {
            Watchers::One(..) => 1,
            Watchers::Many(map) => map.len(),
        }
    }
}

/// One table. A watched path is stored once, shared by both directions.
#[derive(Debug)]
struct WatchTable<W> {
    by_path: HashMap<Arc<str>, Watchers<W>>,
    by_watcher: HashMap<W, HashSet<Arc<str>>>,
    recursive: usize,
}

impl<W: Clone + Eq + Hash> WatchTable<W> {
    fn new() -> Self {
        WatchTable {
            by_path: HashMap::new(),
            by_watcher: HashMap::new(),
            recursive: 0,
        }
    }

    fn add(&mut self, path: &str, w: &W, mode: WatchMode) {
        let key: Arc<str> = match self.by_path.get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => Arc::from(path),
        };
        let modes = match self.by_path.get_mut(path) {
            Some(ws) => ws.entry(w),
            None => match self
                .by_path
                .entry(key.clone())
                .or_insert(Watchers::One(w.clone(), 0))
            {
                Watchers::One(_, m) => m,
                Watchers::Many(_) => unreachable!("a new entry holds one watcher"),
            },
        };
        if *modes & mode.bit() == 0 && mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        *modes |= mode.bit();
        self.by_watcher.entry(w.clone()).or_default().insert(key);
    }

    fn modes(&self, path: &str, w: &W) -> u8 {
        self.by_path.get(path).and_then(|m| m.get(w)).unwrap_or(0)
    }

    /// Clears `bits` of (path, w); returns whether any were set.
    fn clear(&mut self, path: &str, w: &W, bits: u8) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(modes) = watchers.get_mut(w) else {
            return false;
        };
        let had = *modes & bits;
        if had & WatchMode::PersistentRecursive.bit() != 0 {
            self.recursive -= 1;
        }
        *modes &= !bits;
        if *modes == 0 {
            if watchers.remove(w).1 {
                self.by_path.remove(path);
            }
            if let Some(paths) = self.by_watcher.get_mut(w) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_watcher.remove(w);
                }
            }
        }
        had != 0
    }

    fn remove_watcher(&mut self, w: &W) {
        if let Some(paths) = self.by_watcher.remove(w) {
            for p in paths {
                if let Some(watchers) = self.by_path.get_mut(&p) {
                    let (m, empty) = watchers.remove(w);
                    if m.is_some_and(|m| m & WatchMode::PersistentRecursive.bit() != 0) {
                        self.recursive -= 1;
                    }
                    if empty {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    /// Fires `path`: every watcher on the path, plus recursive watchers on its ancestors, once
    /// each, skipping `skip`. Standard watches on the path are consumed.
    fn trigger(&mut self, path: &str, skip: &HashSet<W>) -> Vec<W> {
        let mut fired: Vec<W> = Vec::new();
        let mut seen: HashSet<W> = HashSet::new();
        let mut consumed: Vec<W> = Vec::new();
        if let Some(watchers) = self.by_path.get(path) {
            for (w, modes) in watchers.iter() {
                if modes & WatchMode::Standard.bit() != 0 {
                    consumed.push(w.clone());
                }
                if !skip.contains(w) && seen.insert(w.clone()) {
                    fired.push(w.clone());
                }
            }
        }
        if self.recursive > 0 {
            for ancestor in path::ancestors(path) {
                if let Some(watchers) = self.by_path.get(ancestor) {
                    for (w, modes) in watchers.iter() {
                        if modes & WatchMode::PersistentRecursive.bit() != 0
                            && !skip.contains(w)
                            && seen.insert(w.clone())
                        {
                            fired.push(w.clone());
                        }
                    }
                }
            }
        }
        for w in consumed {
            self.clear(path, &w, WatchMode::Standard.bit());
        }
        fired
    }

    fn count(&self) -> usize {
        self.by_path.values().map(Watchers::len).sum()
    }
}

/// A watch event for one watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired<W> {
    /// Who gets it.
    pub watcher: W,
    /// `event_type::*`.
    pub event: i32,
    /// The path of the node that changed (or whose children changed): one allocation shared
    /// by every watcher it fires for.
    pub path: std::sync::Arc<str>,
}

/// Data and child watch tables.
#[derive(Debug)]
pub struct WatchManager<W> {
    data: WatchTable<W>,
    child: WatchTable<W>,
}

impl<W: Clone + Eq + Hash> Default for WatchManager<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: Clone + Eq + Hash> WatchManager<W> {
    /// No watches.
    pub fn new() -> Self {
        WatchManager {
            data: WatchTable::new(),
            child: WatchTable::new(),
        }
    }

    fn table(&mut self, t: Table) -> &mut WatchTable<W> {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Registers a watch.
    pub fn add(&mut self, table: Table, path: &str, w: &W, mode: WatchMode) {
        self.table(table).add(path, w, mode)
    }

    /// addWatch: persistent goes in both tables, recursive in the data table only.
    pub fn add_persistent(&mut self, path: &str, w: &W, recursive: bool) {
        if recursive {
            self.data.add(path, w, WatchMode::PersistentRecursive);
        } else {
            self.data.add(path, w, WatchMode::Persistent);
            self.child.add(path, w, WatchMode::Persistent);
        }
    }

    /// Forgets every watch of `w` (its connection closed).
    pub fn remove_watcher(&mut self, w: &W) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// The events `change` fires, in ZooKeeper's order (`DataTree.createNode/deleteNode/setData`).
    /// `event` is an `event_type` and `path` the node the change is about.
    pub fn trigger(&mut self, path: &str, event: i32) -> Vec<Fired<W>> {
        let none = HashSet::new();
        let shared: std::sync::Arc<str> = std::sync::Arc::from(path);
        let mk = |ws: Vec<W>| {
            ws.into_iter()
                .map(|watcher| Fired {
                    watcher,
                    event,
                    path: shared.clone(),
                })
                .collect::<Vec<_>>()
        };
        match event {
            event_type::NODE_CREATED | event_type::NODE_DATA_CHANGED => {
                mk(self.data.trigger(path, &none))
            }
            event_type::NODE_CHILDREN_CHANGED => mk(self.child.trigger(path, &none)),
            event_type::NODE_DELETED => {
                let first = self.data.trigger(path, &none);
                let skip: HashSet<W> = first.iter().cloned().collect();
                let second = self.child.trigger(path, &skip);
                let mut all = mk(first);
                all.extend(mk(second));
                all
            }
            _ => Vec::new(),
        }
    }

    /// checkWatches: does `w` hold a watch of `typ` (`watcher_type`) on `path`?
    /// `None` for an unknown type.
    pub fn contains(&self, path: &str, w: &W, typ: i32) -> Option<bool> {
        let (d, c) = (self.data.modes(path, w), self.child.modes(path, w));
        let std = WatchMode::Standard.bit();
        Some(match typ {
            watcher_type::CHILDREN => c & std != 0,
            watcher_type::DATA => d & std != 0,
            watcher_type::PERSISTENT => d & WatchMode::Persistent.bit() != 0,
            watcher_type::PERSISTENT_RECURSIVE => d & WatchMode::PersistentRecursive.bit() != 0,
            watcher_type::ANY => d != 0 || c != 0,
            _ => return None,
        })
    }

    /// removeWatches: removes the watches of `typ` that `w` holds on `path`; whether any were
    /// removed, or `None` for an unknown type.
    pub fn remove(&mut self, path: &str, w: &W, typ: i32) -> Option<bool> {
        let std = WatchMode::Standard.bit();
        let pers = WatchMode::Persistent.bit();
        let rec = WatchMode::PersistentRecursive.bit();
        Some(match typ {
            watcher_type::CHILDREN => self.child.clear(path, w, std),
            watcher_type::DATA => self.data.clear(path, w, std),
            watcher_type::PERSISTENT => {
                let a = self.data.clear(path, w, pers);
                let b = self.child.clear(path, w, pers);
                a || b
            }
            watcher_type::PERSISTENT_RECURSIVE => self.data.clear(path, w, rec),
            watcher_type::ANY => {
                let a = self.data.clear(path, w, 0xff);
                let b = self.child.clear(path, w, 0xff);
                a || b
            }
            _ => return None,
        })
    }

    /// Number of (watcher, path) entries in both tables (`zk_watch_count`).
    pub fn count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    /// `wchs`: (watchers, paths, watches) of the data table, as ZooKeeper reports them.
    pub fn summary(&self) -> (usize, usize, usize) {
        (
            self.data.by_watcher.len(),
            self.data.by_path.len(),
            self.data.count(),
        )
    }

    /// Paths watched by each watcher, for `wchc`: the data table only, as ZooKeeper reports
    /// it (`DataTree.dumpWatches` lists `dataWatches`; child watches never appear).
    pub fn by_watcher(&self) -> HashMap<W, Vec<String>> {
        let mut out: HashMap<W, Vec<String>> = HashMap::new();
        for (w, paths) in &self.data.by_watcher {
            let mut v: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            v.sort();
            out.insert(w.clone(), v);
        }
        out
    }

    /// Watchers of each path, for `wchp`: the data table only, like `by_watcher`.
    pub fn by_path(&self) -> HashMap<String, Vec<W>> {
        self.data
            .by_path
            .iter()
            .map(|(p, ws)| (p.to_string(), ws.iter().map(|(w, _)| w.clone()).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wchc_and_wchp_tables_list_data_watches_only() {
        let mut m = WatchManager::new();
        m.add(Table::Data, "/a", &1u64, WatchMode::Standard);
        m.add(Table::Child, "/a", &1u64, WatchMode::Standard);
        m.add(Table::Child, "/b", &1u64, WatchMode::Standard);
        m.add(Table::Data, "/c", &2u64, WatchMode::Standard);
        m.add(Table::Child, "/d", &3u64, WatchMode::Standard);
        let by_watcher = m.by_watcher();
        assert_eq!(by_watcher.len(), 2);
        assert_eq!(by_watcher[&1], vec!["/a".to_string()]);
        assert_eq!(by_watcher[&2], vec!["/c".to_string()]);
        let by_path = m.by_path();
        assert_eq!(by_path.len(), 2);
        assert_eq!(by_path["/a"], vec![1u64]);
        assert_eq!(by_path["/c"], vec![2u64]);
        assert_eq!(m.summary(), (2, 2, 2));
    }

    #[test]
    fn standard_watch_fires_once() {
        let mut m = WatchManager::new();
        m.add(Table::Data, "/a", &1u64, WatchMode::Standard);
        assert_eq!(m.trigger("/a", event_type::NODE_DATA_CHANGED).len(), 1);
        assert!(m.trigger("/a", event_type::NODE_DATA_CHANGED).is_empty());
    }

    #[test]
    fn persistent_watch_stays_and_sees_children() {
        let mut m = WatchManager::new();
        m.add_persistent("/a", &1u64, false);
        assert_eq!(m.trigger("/a", event_type::NODE_DATA_CHANGED).len(), 1);
        assert_eq!(m.trigger("/a", event_type::NODE_CHILDREN_CHANGED).len(), 1);
        assert_eq!(
            m.trigger("/a", event_type::NODE_DELETED).len(),
            1,
            "deduplicated"
        );
        assert_eq!(m.trigger("/a", event_type::NODE_DATA_CHANGED).len(), 1);
        assert!(m.trigger("/a/b", event_type::NODE_CREATED).is_empty());
    }

    #[test]
    fn recursive_watch_sees_descendants_but_not_child_events() {
        let mut m = WatchManager::new();
        m.add_persistent("/a", &1u64, true);
        let f = m.trigger("/a/b/c", event_type::NODE_CREATED);
        assert_eq!(&*f[0].path, "/a/b/c");
        assert!(m
            .trigger("/a", event_type::NODE_CHILDREN_CHANGED)
            .is_empty());
        assert_eq!(m.trigger("/a", event_type::NODE_DELETED).len(), 1);
        assert!(m.trigger("/b", event_type::NODE_CREATED).is_empty());
    }

    #[test]
    fn delete_notifies_a_watcher_once_for_data_and_child_watches() {
        let mut m = WatchManager::new();
        m.add(Table::Data, "/a", &1u64, WatchMode::Standard);
        m.add(Table::Child, "/a", &1u64, WatchMode::Standard);
        m.add(Table::Child, "/a", &2u64, WatchMode::Standard);
        let f = m.trigger("/a", event_type::NODE_DELETED);
        assert_eq!(f.len(), 2);
        assert_eq!(m.count(), 0, "standard watches consumed in both tables");
    }

    #[test]
    fn remove_and_contains_by_type() {
        let mut m = WatchManager::new();
        m.add(Table::Child, "/a", &1u64, WatchMode::Standard);
        assert_eq!(m.contains("/a", &1, watcher_type::DATA), Some(false));
        assert_eq!(m.contains("/a", &1, watcher_type::CHILDREN), Some(true));
        assert_eq!(m.remove("/a", &1, watcher_type::ANY), Some(true));
        assert_eq!(m.remove("/a", &1, watcher_type::ANY), Some(false));
        assert_eq!(m.contains("/a", &1, 9), None);
    }

    #[test]
    fn a_watched_path_costs_16_bytes_besides_its_name() {
        assert_eq!(std::mem::size_of::<Watchers<u64>>(), 16);
    }

    #[test]
    fn a_path_goes_from_one_watcher_to_many_and_back() {
        let mut m = WatchManager::new();
        m.add(Table::Data, "/a", &1u64, WatchMode::Standard);
        m.add(Table::Data, "/a", &2u64, WatchMode::Standard);
        m.add(Table::Data, "/a", &3u64, WatchMode::Persistent);
        assert_eq!(m.count(), 3);
        assert_eq!(m.remove("/a", &1, watcher_type::DATA), Some(true));
        m.remove_watcher(&3);
        let fired = m.trigger("/a", event_type::NODE_DATA_CHANGED);
        assert_eq!(fired.iter().map(|f| f.watcher).collect::<Vec<_>>(), vec![2]);
        assert_eq!(m.count(), 0);
        assert_eq!(m.summary(), (0, 0, 0));
        m.add(Table::Data, "/a", &4u64, WatchMode::Standard);
        assert_eq!(m.by_path()["/a"], vec![4]);
    }

    #[test]
    fn closing_a_watcher_forgets_everything() {
        let mut m = WatchManager::new();
        m.add_persistent("/", &1u64, true);
        m.add(Table::Data, "/x", &1u64, WatchMode::Standard);
        m.remove_watcher(&1);
        assert_eq!(m.count(), 0);
        assert!(m.trigger("/x", event_type::NODE_CREATED).is_empty());
    }
}
