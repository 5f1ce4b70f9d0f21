//! Deterministic simulation of N servers' cores in one thread.
//!
//! A seeded scheduler delivers messages with random delays over FIFO links, breaks links
//! (dropping what is in flight, and telling both ends, as a broken TCP connection does),
//! duplicates messages now and then, partitions servers, crashes them (losing every durable
//! action not completed yet: the unsynced log tail) and restarts them from their simulated
//! disk. Clients propose writes to whoever leads. After every step the invariants are checked:
//!
//! * at most one leader establishes each epoch;
//! * every txn a server applies was committed by a leader, with the same content;
//! * every serving server's applied history is a prefix of the committed history (no holes,
//!   no reordering);
//! * at the end, healed and quiet, every server has applied the same history and holds the
//!   same tree, and every txn any leader committed is in it.
//!
//! A failing seed replays exactly: `ZKR_SIM_SEED=<seed> cargo test -p zkr-actors sim_ -- --nocapture`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::config::{Membership, Timing};
use super::core::{CoreConfig, DurableAction, Input, Output, PeerCore, PersistedState, RoleView};
use super::msg::{PeerMsg, Sid, SnapshotBlob};
use crate::pipeline::prep::{Prep, PrepConfig, WriteRequest};
use crate::proto::records::{CreateRequest, SetDataRequest};
use crate::proto::{Acl, Request};
use crate::tree::DataTree;
use crate::txn::{Txn, Zxid};
use crate::txnlog::snapshot;

#[derive(Debug, Clone)]
enum Event {
    Deliver {
        from: Sid,
        to: Sid,
        gen: u64,
        msg: PeerMsg,
    },
    Tick(Sid),
    DurableDone {
        id: Sid,
        token: u64,
        life: u64,
    },
    Crash(Sid),
    Restart(Sid),
    Partition(Vec<Sid>),
    Heal,
    BreakLink(Sid, Sid),
}

struct Disk {
    log: Vec<Arc<Txn>>,
    epochs: (u64, u64),
    /// A snapshot: its zxid, bytes, and (for the checks) the history it holds.
    snapshot: Option<(Zxid, Bytes, Vec<Arc<Txn>>)>,
}

struct Server {
    id: Sid,
    core: Option<PeerCore>,
    disk: Disk,
    /// Durable actions submitted, not completed (lost on crash), in order.
    pending: VecDeque<(u64, DurableAction)>,
    tree: DataTree,
    /// The whole history reflected in the tree, from the first txn.
    applied: Vec<Arc<Txn>>,
    serving: bool,
    life: u64,
    prep: Prep,
}

struct Sim {
    rng: SmallRng,
    now: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event: usize,
    servers: BTreeMap<Sid, Server>,
    voters: Vec<Sid>,
    observers: Vec<Sid>,
    gens: HashMap<(Sid, Sid), u64>,
    link_free_at: HashMap<(Sid, Sid), i64>,
    partition: Option<BTreeSet<Sid>>,
    committed: BTreeMap<Zxid, Arc<Txn>>,
    leaders: BTreeMap<u64, Sid>,
    /// The history each snapshot sent to a learner holds, by its zxid.
    snapshot_histories: HashMap<Zxid, Vec<Arc<Txn>>>,
    timing: Timing,
    writes: u64,
    trace: bool,
    /// Random link breaks and duplicates on (off while settling).
    chaos: bool,
}

fn pair(a: Sid, b: Sid) -> (Sid, Sid) {
    (a.min(b), a.max(b))
}

impl Sim {
    fn new(seed: u64, voters: usize, observers: usize) -> Sim {
        let voter_ids: Vec<Sid> = (1..=voters as u64).collect();
        let observer_ids: Vec<Sid> = (voters as u64 + 1..=(voters + observers) as u64).collect();
        let mut sim = Sim {
            rng: SmallRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event: 0,
            servers: BTreeMap::new(),
            voters: voter_ids.clone(),
            observers: observer_ids.clone(),
            gens: HashMap::new(),
            link_free_at: HashMap::new(),
            partition: None,
            committed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            snapshot_histories: HashMap::new(),
            timing: Timing {
                tick_ms: 100,
                init_limit: 10,
                sync_limit: 5,
            },
            writes: 0,
            trace: std::env::var("ZKR_SIM_TRACE").is_ok(),
            chaos: true,
        };
        for id in voter_ids.iter().chain(observer_ids.iter()) {
            sim.servers.insert(
                *id,
                Server {
                    id: *id,
                    core: None,
                    disk: Disk {
                        log: Vec::new(),
                        epochs: (0, 0),
                        snapshot: None,
                    },
                    pending: VecDeque::new(),
                    tree: DataTree::new(),
                    applied: Vec::new(),
                    serving: false,
                    life: 0,
                    prep: Prep::new(PrepConfig::default()),
                },
            );
        }
        let ids: Vec<Sid> = sim.servers.keys().copied().collect();
        for id in ids {
            sim.boot(id);
            let jitter = sim.rng.random_range(0..50);
            sim.schedule(jitter, Event::Tick(id));
        }
        sim
    }

    fn schedule(&mut self, delay: i64, e: Event) {
        self.seq += 1;
        let k = self.next_event;
        self.next_event += 1;
        self.events.insert(k, e);
        self.queue.push(Reverse((self.now + delay, self.seq, k)));
    }

    fn core_config(&self, id: Sid) -> CoreConfig {
        CoreConfig {
            membership: Membership::new(id, &self.voters, &self.observers),
            timing: self.timing,
            commit_log_count: 20,
            standalone: false,
        }
    }

    /// (Re)starts a server from its disk.
    fn boot(&mut self, id: Sid) {
        let cfg = self.core_config(id);
        let now = self.now;
        let s = self.servers.get_mut(&id).expect("server");
        s.life += 1;
        s.pending.clear();
        s.serving = false;
        let (tree, applied, base) = rebuild(&s.disk);
        let last = applied.last().map_or(0, |t| t.zxid);
        let after: Vec<Arc<Txn>> = s
            .disk
            .log
            .iter()
            .filter(|t| t.zxid > base)
            .cloned()
            .collect();
        let recent = after[after.len().saturating_sub(20)..].to_vec();
        s.tree = tree;
        s.applied = applied;
        s.prep = Prep::new(PrepConfig::default());
        let persisted = PersistedState {
            accepted_epoch: s.disk.epochs.0,
            current_epoch: s.disk.epochs.1,
            last_zxid: last,
            recent,
            floor: base,
        };
        let (core, out) = PeerCore::new(cfg, persisted, now);
        s.core = Some(core);
        self.outputs(id, out);
    }

    fn linked(&self, a: Sid, b: Sid) -> bool {
        match &self.partition {
            None => true,
            Some(side) => side.contains(&a) == side.contains(&b),
        }
    }

    fn send(&mut self, from: Sid, to: Sid, msg: PeerMsg) {
        if !self.linked(from, to)
            || self.servers[&to].core.is_none()
            || self.servers[&from].core.is_none()
        {
            return;
        }
        let roll: f64 = if self.chaos { self.rng.random() } else { 0.5 };
        if roll < 0.002 {
            // The connection breaks: in-flight messages of both directions are lost.
            self.break_link(from, to);
            return;
        }
        let gen = *self.gens.entry(pair(from, to)).or_insert(0);
        let delay = self.rng.random_range(1..20);
        let at = (self.now + delay).max(*self.link_free_at.get(&(from, to)).unwrap_or(&0));
        self.link_free_at.insert((from, to), at);
        let dup = roll > 0.999;
        let ev = Event::Deliver { from, to, gen, msg };
        if dup {
            self.schedule(at - self.now, ev.clone());
        }
        self.schedule(at - self.now, ev);
    }

    fn break_link(&mut self, a: Sid, b: Sid) {
        *self.gens.entry(pair(a, b)).or_insert(0) += 1;
        for (x, y) in [(a, b), (b, a)] {
            if self.servers[&x].core.is_some() {
                self.step(x, Input::LinkReset { peer: y });
            }
        }
    }

    fn step(&mut self, id: Sid, input: Input) {
        let now = self.now;
        let Some(core) = self.servers.get_mut(&id).and_then(|s| s.core.as_mut()) else {
            return;
        };
        let out = core.step(now, input);
        self.outputs(id, out);
    }

    fn outputs(&mut self, id: Sid, out: Vec<Output>) {
        for o in out {
            if self.trace {
                eprintln!("{:>6} s{id} {:?}", self.now, short(&o));
            }
            match o {
                Output::Send(to, msg) => self.send(id, to, msg),
                Output::Durably { token, action } => {
                    let s = self.servers.get_mut(&id).expect("server");
                    s.pending.push_back((token, action));
                    let life = s.life;
                    let delay = self.rng.random_range(1..30);
                    self.schedule(delay, Event::DurableDone { id, token, life });
                }
                Output::Apply(txns) => self.apply(id, txns),
                Output::TakeSnapshot { learner } => {
                    let s = &self.servers[&id];
                    let blob = Arc::new(SnapshotBlob {
                        zxid: s.tree.last_zxid(),
                        data: snapshot::encode_tree(&s.tree),
                    });
                    assert_eq!(s.applied.last().map_or(0, |t| t.zxid), blob.zxid);
                    let history = s.applied.clone();
                    if let Some(h) = self.snapshot_histories.insert(blob.zxid, history.clone()) {
                        assert_eq!(
                            h, history,
                            "two snapshots at {:#x} with different histories",
                            blob.zxid
                        );
                    }
                    self.step(id, Input::SnapshotTaken { learner, blob });
                }
                Output::Role(r) => {
                    if r == RoleView::Looking {
                        self.servers.get_mut(&id).expect("server").prep =
                            Prep::new(PrepConfig::default());
                    }
                }
                Output::Serving(on) => {
                    self.servers.get_mut(&id).expect("server").serving = on;
                    if on {
                        if let Some(RoleView::Leading { epoch }) =
                            self.servers[&id].core.as_ref().map(|c| c.role())
                        {
                            if let Some(prev) = self.leaders.insert(epoch, id) {
                                assert_eq!(prev, id, "two leaders established epoch {epoch}");
                            }
                            // An established leader's whole history is committed.
                            let history: Vec<Arc<Txn>> = self.servers[&id].applied.clone();
                            for t in history {
                                self.commit(&t);
                            }
                        }
                        self.check_prefix(id);
                    }
                }
                Output::TouchSessions(_) => {}
            }
        }
    }

    fn apply(&mut self, id: Sid, txns: Vec<Arc<Txn>>) {
        let is_leader = matches!(
            self.servers[&id].core.as_ref().map(|c| c.role()),
            Some(RoleView::Leading { .. })
        );
        if is_leader {
            // A leader commits its whole history before anything new.
            let history: Vec<Arc<Txn>> = self.servers[&id].applied.clone();
            for t in history {
                self.commit(&t);
            }
        }
        for t in txns {
            if is_leader {
                self.commit(&t);
            } else {
                let c = self.committed.get(&t.zxid);
                assert_eq!(
                    c,
                    Some(&t),
                    "s{id} applied {:#x}, which no leader committed (or different)",
                    t.zxid
                );
            }
            let s = self.servers.get_mut(&id).expect("server");
            s.tree.apply(&t);
            s.applied.push(t);
        }
        if self.servers[&id].serving {
            self.check_prefix(id);
        }
    }

    fn commit(&mut self, t: &Arc<Txn>) {
        if let Some(prev) = self.committed.get(&t.zxid) {
            assert_eq!(prev, t, "zxid {:#x} committed with two contents", t.zxid);
        } else {
            if let Some((last, _)) = self.committed.last_key_value() {
                assert!(
                    t.zxid > *last,
                    "commit {:#x} after {:#x}: a committed txn was skipped",
                    t.zxid,
                    last
                );
            }
            self.committed.insert(t.zxid, t.clone());
        }
    }

    /// The server's applied history must be exactly the committed history up to its last zxid.
    fn check_prefix(&self, id: Sid) {
        let s = &self.servers[&id];
        let last = s.applied.last().map_or(0, |t| t.zxid);
        let expected: Vec<&Arc<Txn>> = self.committed.range(..=last).map(|(_, t)| t).collect();
        let mine: Vec<&Arc<Txn>> = s.applied.iter().collect();
        if mine != expected {
            let z = |v: &[&Arc<Txn>]| {
                v.iter()
                    .map(|t| format!("{:#x}", t.zxid))
                    .collect::<Vec<_>>()
            };
            panic!(
                "s{id} (serving) applied history differs from the committed one:\n mine: {:?}\n committed: {:?}",
                z(&mine),
                z(&expected)
            );
        }
    }

    fn durable_done(&mut self, id: Sid, token: u64, life: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.life != life || s.core.is_none() {
            return;
        }
        // Actions complete in order: the head must be this token.
        let Some((t, action)) = s.pending.front().cloned() else {
            return;
        };
        if t != token {
            // An earlier one is still pending: retry this one later.
            self.schedule(5, Event::DurableDone { id, token, life });
            return;
        }
        s.pending.pop_front();
        match action {
            DurableAction::Append(txns) => {
                for t in txns {
                    let last = s
                        .disk
                        .log
                        .last()
                        .map_or(s.disk.snapshot.as_ref().map_or(0, |x| x.0), |l| l.zxid);
                    assert!(
                        crate::txnlog::recovery::follows(last, t.zxid),
                        "s{id}: log append {:#x} does not follow {:#x}",
                        t.zxid,
                        last
                    );
                    s.disk.log.push(t);
                }
            }
            DurableAction::SaveEpochs { accepted, current } => s.disk.epochs = (accepted, current),
            DurableAction::Truncate { to } => {
                s.disk.log.retain(|t| t.zxid <= to);
                if s.disk.snapshot.as_ref().is_some_and(|(z, _, _)| *z > to) {
                    s.disk.snapshot = None;
                }
                // Reload the tree from disk.
                let (tree, applied, _) = rebuild(&s.disk);
                let rebuilt = applied.last().map_or(0, |t| t.zxid);
                assert_eq!(rebuilt, to, "s{id}: truncation below the floor");
                s.tree = tree;
                s.applied = applied;
                self.step(id, Input::Reloaded { zxid: rebuilt });
            }
            DurableAction::InstallSnapshot(blob) => {
                let history = self.snapshot_histories[&blob.zxid].clone();
                let s = self.servers.get_mut(&id).expect("server");
                s.disk.snapshot = Some((blob.zxid, blob.data.clone(), history.clone()));
                s.disk.log.clear();
                s.tree = snapshot::decode_tree(&blob.data).expect("snapshot");
                s.applied = history;
                self.step(id, Input::Floor(blob.zxid));
            }
        }
        self.step(id, Input::Durable(token));
    }

    fn client_write(&mut self) {
        let leaders: Vec<Sid> = self
            .servers
            .values()
            .filter(|s| {
                s.serving
                    && matches!(
                        s.core.as_ref().map(|c| c.role()),
                        Some(RoleView::Leading { .. })
                    )
            })
            .map(|s| s.id)
            .collect();
        let Some(&id) = leaders.first() else { return };
        let k = self.rng.random_range(0..8);
        let path = format!("/k{k}");
        let request = if self.rng.random_bool(0.5) {
            Request::Create(
                1,
                CreateRequest {
                    path,
                    data: Some(Bytes::from(format!("v{}", self.writes))),
                    acl: Acl::open_unsafe(),
                    flags: if self.rng.random_bool(0.3) { 2 } else { 0 },
                },
            )
        } else {
            Request::SetData(SetDataRequest {
                path,
                data: Some(Bytes::from(format!("v{}", self.writes))),
                version: -1,
            })
        };
        self.writes += 1;
        let now = self.now;
        let s = self.servers.get_mut(&id).expect("server");
        let mut out = Vec::new();
        let core = s.core.as_mut().expect("core");
        let Some(zxid) = core.allocate_zxid(now, &mut out) else {
            self.outputs(id, out);
            return;
        };
        let op = s.prep.prep(
            &s.tree,
            &WriteRequest {
                session_id: 0,
                ids: Vec::new(),
                request,
            },
            zxid,
            now,
        );
        let txn = Arc::new(Txn {
            zxid,
            time_ms: now,
            session_id: 0,
            cxid: self.writes as i32,
            op,
        });
        s.core.as_mut().expect("core").propose(now, txn, &mut out);
        self.outputs(id, out);
    }

    fn run_event(&mut self, e: Event) {
        match e {
            Event::Deliver { from, to, gen, msg } => {
                if self.gens.get(&pair(from, to)).copied().unwrap_or(0) != gen
                    || !self.linked(from, to)
                {
                    return;
                }
                self.step(to, Input::Message { from, msg });
            }
            Event::Tick(id) => {
                self.step(id, Input::Tick);
                self.schedule(self.timing.tick_ms / 4, Event::Tick(id));
            }
            Event::DurableDone { id, token, life } => self.durable_done(id, token, life),
            Event::Crash(id) => {
                let s = self.servers.get_mut(&id).expect("server");
                if s.core.take().is_some() {
                    s.pending.clear();
                    s.serving = false;
                    s.life += 1;
                    let peers: Vec<Sid> =
                        self.servers.keys().copied().filter(|p| *p != id).collect();
                    for p in peers {
                        self.break_link(id, p);
                    }
                }
            }
            Event::Restart(id) => {
                if self.servers[&id].core.is_none() {
                    self.boot(id);
                }
            }
            Event::Partition(side) => {
                let all: Vec<Sid> = self.servers.keys().copied().collect();
                self.partition = Some(side.into_iter().collect());
                for a in &all {
                    for b in &all {
                        if a < b && !self.linked(*a, *b) {
                            self.break_link(*a, *b);
                        }
                    }
                }
            }
            Event::Heal => {
                if let Some(side) = self.partition.take() {
                    let all: Vec<Sid> = self.servers.keys().copied().collect();
                    for a in &all {
                        for b in &all {
                            if a < b && side.contains(a) != side.contains(b) {
                                self.break_link(*a, *b);
                            }
                        }
                    }
                }
            }
            Event::BreakLink(a, b) => self.break_link(a, b),
        }
    }

    /// Runs `duration_ms` of simulated time, with faults when `faults`.
    fn run(&mut self, duration_ms: i64, faults: bool) {
        let end = self.now + duration_ms;
        let mut next_fault = self.now + 500;
        let mut next_write = self.now + 10;
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            if faults && at >= next_fault {
                self.now = next_fault;
                self.inject_fault();
                next_fault = self.now + self.rng.random_range(200..1500);
                continue;
            }
            if at >= next_write {
                self.now = next_write;
                self.client_write();
                next_write = self.now + self.rng.random_range(2..25);
                continue;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
        self.now = end;
    }

    fn inject_fault(&mut self) {
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        let pick = ids[self.rng.random_range(0..ids.len())];
        match self.rng.random_range(0..10) {
            0..=2 => {
                self.run_event(Event::Crash(pick));
                let back = self.rng.random_range(100..2000);
                self.schedule(back, Event::Restart(pick));
            }
            3..=4 => {
                let mut side: Vec<Sid> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.random_bool(0.4))
                    .collect();
                if side.is_empty() {
                    side.push(pick);
                }
                self.run_event(Event::Partition(side));
                let heal = self.rng.random_range(200..2500);
                self.schedule(heal, Event::Heal);
            }
            5..=6 => {
                let other = ids[self.rng.random_range(0..ids.len())];
                if other != pick {
                    self.run_event(Event::BreakLink(pick, other));
                }
            }
            _ => {}
        }
    }

    /// Heals everything, restarts crashed servers, lets the ensemble settle, and checks that
    /// everyone converged on the committed history.
    fn settle_and_check(&mut self) {
        self.chaos = false;
        self.run_event(Event::Heal);
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        for id in &ids {
            self.run_event(Event::Restart(*id));
        }
        // Quiet period: no faults, writes continue briefly, then stop.
        self.run(4000, false);
        let end = self.now + 8000;
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
        let serving: Vec<Sid> = self
            .servers
            .values()
            .filter(|s| s.serving)
            .map(|s| s.id)
            .collect();
        assert_eq!(
            serving.len(),
            ids.len(),
            "not everyone serves after settling: {serving:?}"
        );
        let last = self.committed.keys().next_back().copied().unwrap_or(0);
        for id in &ids {
            self.check_prefix(*id);
            let s = &self.servers[id];
            let mine = s.applied.last().map_or(0, |t| t.zxid);
            assert_eq!(mine, last, "s{id} has not applied every committed txn");
        }
        let digest = |t: &DataTree| {
            let mut v: Vec<(String, Option<Bytes>, i32)> = t
                .paths()
                .map(|(p, n)| (p.clone(), n.data.clone(), n.version))
                .collect();
            v.sort();
            v
        };
        let first = digest(&self.servers[&ids[0]].tree);
        for id in &ids[1..] {
            assert!(
                digest(&self.servers[id].tree) == first,
                "s{id}'s tree differs"
            );
        }
    }
}

/// The tree and history a disk holds: its snapshot, then its log after it.
fn rebuild(disk: &Disk) -> (DataTree, Vec<Arc<Txn>>, Zxid) {
    let (mut tree, mut history, base) = match &disk.snapshot {
        Some((z, bytes, h)) => (
            snapshot::decode_tree(bytes).expect("snapshot decodes"),
            h.clone(),
            *z,
        ),
        None => (DataTree::new(), Vec::new(), 0),
    };
    for t in disk.log.iter().filter(|t| t.zxid > base) {
        tree.apply(t);
        history.push(t.clone());
    }
    (tree, history, base)
}

fn short(o: &Output) -> String {
    match o {
        Output::Send(to, m) => format!("-> s{to} {}", short_msg(m)),
        Output::Durably { token, action } => match action {
            DurableAction::Append(t) => format!("durably#{token} append {:#x}", t[0].zxid),
            other => format!("durably#{token} {other:?}"),
        },
        Output::Apply(t) => format!(
            "apply {:?}",
            t.iter()
                .map(|t| format!("{:#x}", t.zxid))
                .collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

fn short_msg(m: &PeerMsg) -> String {
    match m {
        PeerMsg::Proposal(t) => format!("Proposal({:#x})", t.zxid),
        PeerMsg::Inform(t) => format!("Inform({:#x})", t.zxid),
        PeerMsg::Snap(b) => format!("Snap({:#x})", b.zxid),
        other => format!("{other:?}"),
    }
}

fn run_seed(seed: u64, voters: usize, observers: usize) -> u64 {
    let mut sim = Sim::new(seed, voters, observers);
    sim.run(6000, true);
    sim.settle_and_check();
    sim.committed.len() as u64
}

fn seeds(default: u64) -> Vec<u64> {
    match std::env::var("ZKR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("ZKR_SIM_SEED is a number")],
        Err(_) => {
            let n = std::env::var("ZKR_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default);
            (0..n).collect()
        }
    }
}

#[test]
fn sim_three_servers() {
    let mut total = 0;
    for seed in seeds(1500) {
        let r = std::panic::catch_unwind(|| run_seed(seed, 3, 0));
        match r {
            Ok(n) => total += n,
            Err(e) => panic!("seed {seed} failed (replay: ZKR_SIM_SEED={seed}): {e:?}"),
        }
    }
    assert!(total > 0, "nothing was ever committed");
}

#[test]
fn sim_five_servers_and_an_observer() {
    for seed in seeds(600) {
        let r = std::panic::catch_unwind(|| run_seed(10_000 + seed, 5, 1));
        if let Err(e) = r {
            panic!(
                "seed {} failed (replay: ZKR_SIM_SEED={}): {e:?}",
                10_000 + seed,
                seed
            );
        }
    }
}
