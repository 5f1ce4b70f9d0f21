//! Workload: watches. A writer sets the keys `/chaos/watch/kN` over and over; each watcher
//! session keeps a persistent recursive watch on `/chaos/watch` and a one-shot data watch on
//! every key (set again each time it fires), and reads the keys every few hundred ms.
//!
//! Checked, as ZooKeeper promises, unless the watcher saw a disconnect in between:
//! * every change fires once: no (key, zxid) event twice, and every acknowledged write whose
//!   zxid lies between two reads of the key has fired the persistent watch before the second
//!   read returned;
//! * in zxid order: a session's events carry increasing zxids;
//! * a watch fires before the new data is seen: a read that returns data newer than the one a
//!   one-shot watch was set on finds that watch fired, with a newer zxid.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

use super::client::{bounded, setup, Ids, Outcome, Run, Session, Worker};

const DIR: &str = "/chaos/watch";

fn key(k: usize) -> String {
    format!("{DIR}/k{k}")
}

fn key_of(path: &str) -> Option<usize> {
    path.strip_prefix(DIR)?.strip_prefix("/k")?.parse().ok()
}

/// One watcher session's checker (pure: fed with events, reads and the acknowledged writes).
#[derive(Default)]
pub struct WatchChecker {
    /// The zxid of the latest event in the current connection window.
    last: Option<i64>,
    /// First receipt time (µs) of each (key, zxid) event.
    events: HashMap<(usize, i64), u64>,
    /// (key, zxid read before, zxid read after, time after): the events between must have come.
    intervals: Vec<(usize, i64, i64, u64)>,
    /// Violations found.
    pub violations: Vec<String>,
}

impl WatchChecker {
    /// The session was disconnected: a new window of event order begins.
    pub fn new_window(&mut self) {
        self.last = None;
    }

    /// An event for `key` with `zxid` arrived at `t` (µs).
    pub fn event(&mut self, t: u64, key: usize, zxid: i64) {
        if zxid < 0 {
            return;
        }
        if let Some(last) = self.last {
            if zxid <= last {
                self.violations.push(format!(
                    "watch events out of zxid order: 0x{zxid:x} (key {key}) after 0x{last:x} at {} ms",
                    t / 1000
                ));
            }
        }
        self.last = Some(self.last.map_or(zxid, |l| l.max(zxid)));
        if self.events.insert((key, zxid), t).is_some() {
            self.violations.push(format!(
                "the change 0x{zxid:x} of key {key} fired the persistent watch twice"
            ));
        }
    }

    /// Two reads of `key` on one connection saw mzxid `from` then `to`; the second returned at
    /// `t` (µs).
    pub fn interval(&mut self, key: usize, from: i64, to: i64, t: u64) {
        if to > from {
            self.intervals.push((key, from, to, t));
        }
    }

    /// Checks the intervals against the acknowledged writes (key, zxid).
    pub fn finish(&mut self, acked: &[(usize, i64)]) {
        let mut by_key: HashMap<usize, Vec<i64>> = HashMap::new();
        for (k, z) in acked {
            by_key.entry(*k).or_default().push(*z);
        }
        for v in by_key.values_mut() {
            v.sort_unstable();
        }
        let mut reported = HashSet::new();
        for (k, from, to, t) in &self.intervals {
            let Some(zs) = by_key.get(k) else { continue };
            let lo = zs.partition_point(|z| z <= from);
            let hi = zs.partition_point(|z| z <= to);
            for z in &zs[lo..hi] {
                let fired = self.events.get(&(*k, *z)).is_some_and(|te| te <= t);
                if !fired && reported.insert((*k, *z)) {
                    self.violations.push(format!(
                        "the change 0x{z:x} of key {k} never fired the persistent watch although \
                         a read at {} ms on the same connection saw 0x{to:x}",
                        t / 1000
                    ));
                }
            }
        }
    }
}

/// The watch workload's shared state.
pub struct Watches {
    keys: usize,
    ids: Ids,
    acked: Mutex<Vec<(usize, i64)>>,
    checkers: Mutex<Vec<WatchChecker>>,
}

type Fired = Pin<Box<dyn Future<Output = zk::WatchedEvent> + Send>>;

impl Watches {
    /// `keys` keys.
    pub async fn setup(run: &Arc<Run>, keys: usize) -> Result<Arc<Watches>, String> {
        let paths: Vec<(String, &[u8])> = (0..keys).map(|k| (key(k), &b"0"[..])).collect();
        setup(run, "watch", &paths).await?;
        Ok(Arc::new(Watches {
            keys,
            ids: Ids::default(),
            acked: Mutex::new(Vec::new()),
            checkers: Mutex::new(Vec::new()),
        }))
    }

    /// The writer until the deadline.
    pub async fn writer(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut w = Worker::new(&run, id, seed);
        while let Some((s, rng)) = w.next(10..60).await {
            let k = rng.random_range(0..self.keys);
            let v = self.ids.next().to_string();
            if let Outcome::Ok(st) = s
                .op(&run, s.client.set_data(&key(k), v.as_bytes(), None))
                .await
            {
                run.write_ok();
                self.acked.lock().push((k, st.mzxid));
            }
        }
    }

    /// One watcher until the deadline; each session gets its own checker.
    pub async fn watcher(self: Arc<Self>, run: Arc<Run>, id: usize, seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        while !run.over() {
            let Some(s) = Session::connect(&run, &run.hosts_for(id)).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut ch = WatchChecker::default();
            self.watch_session(&run, &s, &mut ch, &mut rng).await;
            super::session::finish(&run, &s);
            self.checkers.lock().push(ch);
        }
    }

    /// Watches with session `s` until the deadline or its end. The persistent watch is set
    /// again after every reconnect: zookeeper-client 0.11 does not send persistent watches in
    /// the SetWatches of a reconnect (its `resend_watches` keeps `index = index.max(index)`,
    /// so it always sends the three-list SetWatches), and a watch the client does not have
    /// cannot be checked.
    async fn watch_session(
        &self,
        run: &Arc<Run>,
        s: &Session,
        ch: &mut WatchChecker,
        rng: &mut SmallRng,
    ) {
        // The session's events come in order with the answers, so a session event (a
        // disconnect, a reconnect) starts a new connection epoch: the checks below compare
        // only what one connection saw.
        let mut epoch = 0u64;
        while !run.over() && !s.is_over() {
            epoch += 1;
            ch.new_window();
            if !self.watch_connection(run, s, ch, rng, &mut epoch).await {
                return;
            }
        }
    }

    /// Watches until the session's connection changes (true) or the session or run ends
    /// (false).
    async fn watch_connection(
        &self,
        run: &Arc<Run>,
        s: &Session,
        ch: &mut WatchChecker,
        rng: &mut SmallRng,
        epoch: &mut u64,
    ) -> bool {
        let limit = run.session_timeout;
        let c = &s.client;
        run.op();
        let mut pw = match bounded(limit, c.watch(DIR, zk::AddWatchMode::PersistentRecursive)).await
        {
            Outcome::Ok(w) => w,
            _ => return !s.is_over(),
        };
        let first = *epoch;
        // Per key: (mzxid, epoch) of the last read; the one-shot watch: (mzxid it was set on,
        // epoch, its event).
        let mut base: Vec<Option<(i64, u64)>> = vec![None; self.keys];
        let mut oneshot: Vec<Option<(i64, u64, Fired)>> = (0..self.keys).map(|_| None).collect();
        // Takes the events already delivered; false once the session is over.
        let drain = |ch: &mut WatchChecker, pw: &mut zk::PersistentWatcher, epoch: &mut u64| {
            while let Some(ev) = pw.changed().now_or_never() {
                if ev.event_type == zk::EventType::Session {
                    *epoch += 1;
                    ch.new_window();
                    if ev.session_state.is_terminated() {
                        return false;
                    }
                } else if ev.event_type == zk::EventType::NodeDataChanged {
                    if let Some(k) = key_of(&ev.path) {
                        ch.event(run.now(), k, ev.zxid);
                    }
                }
            }
            true
        };
        while !run.over() && !s.is_over() {
            tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
            for k in 0..self.keys {
                if !drain(ch, &mut pw, epoch) {
                    return false;
                }
                if *epoch != first {
                    return true;
                }
                run.op();
                let call = run.now();
                let e0 = *epoch;
                let Outcome::Ok((_, st)) = bounded(limit, c.get_data(&key(k))).await else {
                    continue;
                };
                s.confirm(call);
                if !drain(ch, &mut pw, epoch) {
                    return false;
                }
                let t = run.now();
                if let Some((from, e)) = base[k] {
                    if e == *epoch {
                        ch.interval(k, from, st.mzxid, t);
                    }
                }
                // A read whose connection may have changed under it starts no interval.
                base[k] = (e0 == *epoch).then_some((st.mzxid, *epoch));
                if let Some((m0, e, mut fired)) = oneshot[k].take() {
                    match (&mut fired).now_or_never() {
                        Some(ev)
                            if ev.event_type == zk::EventType::NodeDataChanged
                                && ev.zxid >= 0
                                && ev.zxid <= m0 =>
                        {
                            ch.violations.push(format!(
                                "a data watch set on {} at mzxid 0x{m0:x} fired for 0x{:x}",
                                key(k),
                                ev.zxid
                            ));
                        }
                        Some(_) => {}
                        None if st.mzxid > m0 && e == *epoch => {
                            ch.violations.push(format!(
                                "{} changed (mzxid 0x{m0:x} -> 0x{:x}, read at {} ms) before the \
                                 data watch set on it fired",
                                key(k),
                                st.mzxid,
                                t / 1000
                            ));
                        }
                        None if e == *epoch => oneshot[k] = Some((m0, e, fired)),
                        // Set on an earlier connection: the client resets it on reconnecting;
                        // set a new one to keep the check exact.
                        None => {}
                    }
                }
                if oneshot[k].is_none() {
                    run.op();
                    let e0 = *epoch;
                    if let Outcome::Ok((_, st, w)) =
                        bounded(limit, c.get_and_watch_data(&key(k))).await
                    {
                        if !drain(ch, &mut pw, epoch) {
                            return false;
                        }
                        if e0 == *epoch {
                            oneshot[k] = Some((st.mzxid, *epoch, Box::pin(w.changed())));
                        }
                    }
                }
            }
        }
        false
    }

    /// Checks every watcher session against the acknowledged writes.
    pub fn check(&self, run: &Run) {
        let acked = self.acked.lock().clone();
        for ch in self.checkers.lock().iter_mut() {
            ch.finish(&acked);
            for v in ch.violations.drain(..) {
                run.violation(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_once_in_order_is_fine() {
        let mut c = WatchChecker::default();
        c.event(10, 0, 5);
        c.event(20, 1, 6);
        c.event(30, 0, 8);
        c.interval(0, 4, 8, 40);
        c.finish(&[(0, 5), (1, 6), (0, 8)]);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    #[test]
    fn a_missed_duplicated_or_reordered_event_is_a_violation() {
        // Missed: the change 0x6 lies between two reads but never fired.
        let mut c = WatchChecker::default();
        c.event(10, 0, 5);
        c.interval(0, 4, 6, 40);
        c.finish(&[(0, 5), (0, 6)]);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        // Fired only after the read that saw it.
        let mut c = WatchChecker::default();
        c.event(50, 0, 6);
        c.interval(0, 5, 6, 40);
        c.finish(&[(0, 6)]);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        // Twice.
        let mut c = WatchChecker::default();
        c.event(10, 0, 5);
        c.new_window();
        c.event(20, 0, 5);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        // Out of order within one connection (but not across a reconnect).
        let mut c = WatchChecker::default();
        c.event(10, 0, 7);
        c.event(20, 1, 6);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        let mut c = WatchChecker::default();
        c.event(10, 0, 7);
        c.new_window();
        c.event(20, 1, 6);
        assert!(c.violations.is_empty());
    }
}
