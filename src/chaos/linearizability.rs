//! A linearizability checker: Wing & Gong's search with Lowe's memoisation (the "WGL"
//! algorithm as described by Horn & Kroening, "Faster linearizability checking via
//! P-compositionality", and as Porcupine and Knossos implement it).
//!
//! A history is a set of operations, each with the time it was invoked and, when the client
//! learned it, the time it returned and what it returned. An operation whose outcome the
//! client never learned (connection lost, timed out) has no return: it may take effect at any
//! point after its invocation, or not at all; the search may linearize it anywhere after its
//! call, or leave it out.
//!
//! The search walks the history's events in time order, tries to linearize each pending call
//! as early as possible (applying it to the sequential model), and backtracks when it meets the
//! return of an operation it has not linearized yet. Every (set of linearized operations, model
//! state) configuration is remembered; meeting one again prunes the branch. The search is
//! bounded by a step budget: a history it cannot decide within the budget is reported as such
//! (never as linearizable).
//!
//! Models here: a ZooKeeper znode as a register with versions, read with sync + getData and
//! written with setData(expected version) (compare-and-set).
//!
//! Shared by `zkr chaos` (its register workload) and the integration tests
//! (tests/linearizability.rs).

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    /// The object's state.
    type State: Clone + Eq + Hash + Debug;
    /// An operation's input.
    type Input: Debug;
    /// An operation's output.
    type Output: Debug;

    /// The initial state.
    fn init(&self) -> Self::State;

    /// Applies `input` in `state`. With `Some(output)` (the client saw it), the new state if
    /// the operation can return exactly that there, `None` otherwise. With `None` (outcome
    /// unknown), the state the operation leaves if it takes effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client issued it (for reports only).
    pub client: usize,
    /// What it asked.
    pub input: I,
    /// When it was invoked (any monotonic unit).
    pub call: u64,
    /// When it returned and what: `None` when the outcome is unknown.
    pub ret: Option<(u64, O)>,
}

/// Why a history is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable.
    Ok,
    /// Not linearizable: no order explains the returns. `stuck` is the operation (index into
    /// the history) whose return the deepest branch of the search could not get past: the one
    /// no state reachable by `linearized` operations explains.
    Violation {
        /// The deepest branch's number of linearized operations.
        linearized: usize,
        /// The operation it could not linearize.
        stuck: usize,
    },
    /// The step budget ran out before a decision.
    Undecided,
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Call(usize),
    Ret(usize),
}

/// Checks `history` against `model` with at most `budget` search steps.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: u64,
) -> Verdict {
    let n = history.len();
    // Events in time order; at equal times calls come first (the operations are then
    // concurrent: the permissive reading).
    let mut evs: Vec<(u64, u8, Ev)> = Vec::with_capacity(2 * n);
    for (i, op) in history.iter().enumerate() {
        evs.push((op.call, 0, Ev::Call(i)));
        if let Some((t, _)) = &op.ret {
            assert!(*t >= op.call, "operation {i} returns before it is called");
            evs.push((*t, 1, Ev::Ret(i)));
        }
    }
    evs.sort_by_key(|(t, k, e)| {
        (
            *t,
            *k,
            match e {
                Ev::Call(i) | Ev::Ret(i) => *i,
            },
        )
    });
    // A doubly linked list over the events; node 0 is the head sentinel, event k is node k+1.
    let len = evs.len() + 1;
    let mut next: Vec<usize> = (1..=len).collect();
    let mut prev: Vec<usize> = (0..len).map(|k| k.wrapping_sub(1)).collect();
    let end = len; // "past the last node"
    let mut call_node = vec![0usize; n];
    let mut ret_node = vec![None; n];
    for (k, (_, _, e)) in evs.iter().enumerate() {
        match e {
            Ev::Call(i) => call_node[*i] = k + 1,
            Ev::Ret(i) => ret_node[*i] = Some(k + 1),
        }
    }
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = nx;
        if nx != end {
            prev[nx] = p;
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = node;
        if nx != end {
            prev[nx] = node;
        }
    };

    let mut remaining = history.iter().filter(|o| o.ret.is_some()).count();
    let words = n.div_ceil(64).max(1);
    let mut bits = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut state = model.init();
    // (operation, state before it)
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    // The deepest configuration at which an operation's return could not be passed.
    let mut deepest: Option<(usize, usize)> = None;
    let mut node = next[0];
    let mut steps = 0u64;
    loop {
        if remaining == 0 {
            return Verdict::Ok;
        }
        steps += 1;
        if steps > budget {
            return Verdict::Undecided;
        }
        let ev = if node == end {
            None
        } else {
            Some(evs[node - 1].2)
        };
        match ev {
            Some(Ev::Call(i)) => {
                let op = &history[i];
                let out = op.ret.as_ref().map(|(_, o)| o);
                let mut advanced = false;
                if let Some(s2) = model.step(&state, &op.input, out) {
                    bits[i / 64] |= 1 << (i % 64);
                    if cache.insert((bits.clone(), s2.clone())) {
                        stack.push((i, std::mem::replace(&mut state, s2)));
                        lift(&mut next, &mut prev, call_node[i]);
                        if let Some(r) = ret_node[i] {
                            lift(&mut next, &mut prev, r);
                            remaining -= 1;
                        }
                        node = next[0];
                        advanced = true;
                    } else {
                        bits[i / 64] &= !(1 << (i % 64));
                    }
                }
                if !advanced {
                    node = next[node];
                }
            }
            Some(Ev::Ret(_)) | None => {
                // An operation returned before we linearized it (or nothing is left to try):
                // undo the last choice and try the next candidate after it.
                if let Some(Ev::Ret(i)) = ev {
                    if deepest.is_none_or(|(d, _)| stack.len() > d) {
                        deepest = Some((stack.len(), i));
                    }
                }
                let Some((j, before)) = stack.pop() else {
                    let (linearized, stuck) = deepest.unwrap_or((0, 0));
                    return Verdict::Violation { linearized, stuck };
                };
                state = before;
                bits[j / 64] &= !(1 << (j % 64));
                if let Some(r) = ret_node[j] {
                    unlift(&mut next, &mut prev, r);
                    remaining += 1;
                }
                unlift(&mut next, &mut prev, call_node[j]);
                node = next[call_node[j]];
            }
        }
    }
}

/// A znode's data and version, as compare-and-set writes and synced reads see it.
/// Values are write ids (0 = the initial value).
#[derive(Debug, Clone, Copy, Default)]
pub struct VersionedRegister {
    /// The initial value.
    pub init_value: u64,
    /// The initial version.
    pub init_version: i32,
}

/// An operation on a [`VersionedRegister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    /// sync + getData.
    Read,
    /// setData(value, expected version).
    Cas {
        /// The version the client last read.
        expected: i32,
        /// The value written (unique per write).
        value: u64,
    },
}

/// What a [`RegisterOp`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterRet {
    /// The value and version read.
    Read {
        /// Value.
        value: u64,
        /// Version.
        version: i32,
    },
    /// setData succeeded; the node's new version.
    Written {
        /// New version.
        version: i32,
    },
    /// setData failed with BadVersion.
    BadVersion,
}

impl Model for VersionedRegister {
    type State = (u64, i32);
    type Input = RegisterOp;
    type Output = RegisterRet;

    fn init(&self) -> (u64, i32) {
        (self.init_value, self.init_version)
    }

    fn step(
        &self,
        s: &(u64, i32),
        op: &RegisterOp,
        out: Option<&RegisterRet>,
    ) -> Option<(u64, i32)> {
        let (value, version) = *s;
        match (op, out) {
            (RegisterOp::Read, None) => Some(*s),
            (
                RegisterOp::Read,
                Some(RegisterRet::Read {
                    value: v,
                    version: n,
                }),
            ) => (*v == value && *n == version).then_some(*s),
            (RegisterOp::Cas { expected, value: x }, None) => Some(if *expected == version {
                (*x, version + 1)
            } else {
                *s
            }),
            (RegisterOp::Cas { expected, value: x }, Some(RegisterRet::Written { version: n })) => {
                (*expected == version && *n == version + 1).then_some((*x, version + 1))
            }
            (RegisterOp::Cas { expected, .. }, Some(RegisterRet::BadVersion)) => {
                (*expected != version).then_some(*s)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Op = Operation<RegisterOp, RegisterRet>;

    const BUDGET: u64 = 10_000_000;

    fn read(client: usize, call: u64, ret: u64, value: u64, version: i32) -> Op {
        Operation {
            client,
            input: RegisterOp::Read,
            call,
            ret: Some((ret, RegisterRet::Read { value, version })),
        }
    }

    fn cas(client: usize, call: u64, ret: u64, expected: i32, value: u64, ok: bool) -> Op {
        Operation {
            client,
            input: RegisterOp::Cas { expected, value },
            call,
            ret: Some((
                ret,
                if ok {
                    RegisterRet::Written {
                        version: expected + 1,
                    }
                } else {
                    RegisterRet::BadVersion
                },
            )),
        }
    }

    fn cas_unknown(client: usize, call: u64, expected: i32, value: u64) -> Op {
        Operation {
            client,
            input: RegisterOp::Cas { expected, value },
            call,
            ret: None,
        }
    }

    fn verdict(h: &[Op]) -> Verdict {
        check(&VersionedRegister::default(), h, BUDGET)
    }

    fn linearizable(h: &[Op]) -> bool {
        match verdict(h) {
            Verdict::Ok => true,
            Verdict::Violation { .. } => false,
            Verdict::Undecided => panic!("undecided"),
        }
    }

    #[test]
    fn empty_and_sequential_histories_are_linearizable() {
        assert!(linearizable(&[]));
        assert!(linearizable(&[
            read(0, 0, 1, 0, 0),
            cas(0, 2, 3, 0, 7, true),
            read(1, 4, 5, 7, 1),
            cas(1, 6, 7, 0, 8, false),
            cas(1, 8, 9, 1, 9, true),
            read(0, 10, 11, 9, 2),
        ]));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_a_violation() {
        let h = [cas(0, 0, 10, 0, 1, true), read(1, 20, 30, 0, 0)];
        assert!(matches!(verdict(&h), Verdict::Violation { stuck: 1, .. }));
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        assert!(linearizable(&[
            cas(0, 0, 10, 0, 1, true),
            read(1, 5, 15, 0, 0)
        ]));
        assert!(linearizable(&[
            cas(0, 0, 10, 0, 1, true),
            read(1, 5, 15, 1, 1)
        ]));
        // ... but not a value that was never written.
        assert!(!linearizable(&[
            cas(0, 0, 10, 0, 1, true),
            read(1, 5, 15, 2, 1)
        ]));
    }

    #[test]
    fn two_reads_may_not_disagree_on_the_order() {
        // Once a read saw the new value, a read that starts after it ends must see it too.
        let h = [
            cas(0, 0, 100, 0, 1, true),
            read(1, 10, 20, 1, 1),
            read(2, 30, 40, 0, 0),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn two_successful_cas_on_the_same_version_are_a_violation() {
        let h = [cas(0, 0, 10, 0, 1, true), cas(1, 5, 15, 0, 2, true)];
        assert!(!linearizable(&h));
        // One of them failing with BadVersion is fine, whichever it is.
        assert!(linearizable(&[
            cas(0, 0, 10, 0, 1, true),
            cas(1, 5, 15, 0, 2, false)
        ]));
        assert!(linearizable(&[
            cas(0, 0, 10, 0, 1, false),
            cas(1, 5, 15, 0, 2, true)
        ]));
    }

    #[test]
    fn bad_version_without_a_competing_write_is_a_violation() {
        let h = [read(0, 0, 1, 0, 0), cas(0, 2, 3, 0, 1, false)];
        assert!(!linearizable(&h));
    }

    #[test]
    fn a_lost_acknowledged_write_is_a_violation() {
        let h = [
            cas(0, 0, 10, 0, 1, true),
            cas(0, 20, 30, 1, 2, true),
            read(1, 40, 50, 1, 1),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn an_unknown_write_may_have_taken_effect_or_not() {
        // Seen by a later read: it took effect.
        assert!(linearizable(&[
            cas_unknown(0, 0, 0, 5),
            read(1, 100, 110, 5, 1)
        ]));
        // Never seen: it did not (or not yet).
        assert!(linearizable(&[
            cas_unknown(0, 0, 0, 5),
            read(1, 100, 110, 0, 0)
        ]));
        // It may take effect long after the client gave up on it.
        assert!(linearizable(&[
            cas_unknown(0, 0, 0, 5),
            read(1, 100, 110, 0, 0),
            read(1, 200, 210, 5, 1),
        ]));
        // A competing write that saw version 0 fails: the unknown one took effect first.
        assert!(linearizable(&[
            cas_unknown(0, 0, 0, 5),
            cas(1, 100, 110, 0, 6, false),
            read(1, 200, 210, 5, 1),
        ]));
    }

    #[test]
    fn an_unknown_write_cannot_take_effect_before_its_call_or_twice() {
        // Read before the write was even invoked.
        assert!(!linearizable(&[
            read(1, 0, 10, 5, 1),
            cas_unknown(0, 20, 0, 5)
        ]));
        // Seen, then unseen again.
        assert!(!linearizable(&[
            cas_unknown(0, 0, 0, 5),
            read(1, 100, 110, 5, 1),
            read(1, 200, 210, 0, 0),
        ]));
    }

    #[test]
    fn an_unknown_write_does_not_excuse_a_wrong_version() {
        // The unknown write took effect (value 5, version 1); a read claiming value 5 at
        // version 2 is impossible.
        assert!(!linearizable(&[
            cas_unknown(0, 0, 0, 5),
            read(1, 100, 110, 5, 2)
        ]));
    }

    #[test]
    fn equal_timestamps_count_as_concurrent() {
        // The write returns at 10, the read is called at 10: either order is allowed.
        assert!(linearizable(&[
            cas(0, 0, 10, 0, 1, true),
            read(1, 10, 20, 0, 0)
        ]));
    }

    /// A tiny deterministic generator (no external crate needed for the unit tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Histories generated from a real atomic register: each operation takes effect at a
    /// point inside its interval; some writes lose their answer. All must be accepted.
    #[test]
    fn generated_linearizable_histories_are_accepted() {
        for seed in 0..300u64 {
            let mut r = Lcg(seed * 7919 + 1);
            let clients = 1 + r.below(5) as usize;
            let n = 5 + r.below(40) as usize;
            // Pick distinct linearization points, then intervals around them.
            let mut points: Vec<u64> = (0..n).map(|k| k as u64 * 10 + 5).collect();
            // Shuffle which client/op lands where.
            let mut state = (0u64, 0i32);
            let mut known_version = vec![0i32; clients];
            let mut h = Vec::new();
            for (k, p) in points.iter_mut().enumerate() {
                let client = r.below(clients as u64) as usize;
                let call = p.saturating_sub(1 + r.below(30));
                let ret = *p + 1 + r.below(30);
                if r.below(2) == 0 {
                    h.push(read(client, call, ret, state.0, state.1));
                    known_version[client] = state.1;
                } else {
                    let expected = if r.below(4) == 0 {
                        known_version[client]
                    } else {
                        state.1
                    };
                    let value = 1000 + k as u64;
                    let ok = expected == state.1;
                    if ok {
                        state = (value, state.1 + 1);
                    }
                    if r.below(8) == 0 {
                        h.push(cas_unknown(client, call, expected, value));
                    } else {
                        h.push(cas(client, call, ret, expected, value, ok));
                    }
                }
            }
            // An unknown write that did not take effect is also fine: add some.
            if r.below(3) == 0 {
                h.push(cas_unknown(0, r.below(200), -5, 99_999));
            }
            assert_eq!(verdict(&h), Verdict::Ok, "seed {seed}: {h:?}");
        }
    }

    /// Brute force: is there an order of all known operations, plus any subset of unknown
    /// ones, consistent with real time and the model?
    fn brute(h: &[Op]) -> bool {
        fn go(h: &[Op], used: &mut Vec<bool>, state: (u64, i32), m: &VersionedRegister) -> bool {
            if h.iter()
                .zip(used.iter())
                .all(|(o, u)| *u || o.ret.is_none())
            {
                return true;
            }
            for i in 0..h.len() {
                if used[i] {
                    continue;
                }
                // i may go next only if no unused operation returned before i was called.
                let blocked = h.iter().enumerate().any(|(j, o)| {
                    !used[j] && j != i && o.ret.as_ref().is_some_and(|(t, _)| *t < h[i].call)
                });
                if blocked {
                    continue;
                }
                if let Some(s2) = m.step(&state, &h[i].input, h[i].ret.as_ref().map(|(_, o)| o)) {
                    used[i] = true;
                    if go(h, used, s2, m) {
                        return true;
                    }
                    used[i] = false;
                }
            }
            false
        }
        let m = VersionedRegister::default();
        go(h, &mut vec![false; h.len()], m.init(), &m)
    }

    /// Random small histories (linearizable or not): WGL agrees with brute force.
    #[test]
    fn agrees_with_brute_force_on_small_random_histories() {
        let mut violations = 0;
        for seed in 0..3000u64 {
            let mut r = Lcg(seed + 17);
            let n = 1 + r.below(6) as usize;
            let mut h = Vec::new();
            for k in 0..n {
                let call = r.below(50);
                let ret = call + r.below(30);
                let client = k;
                match r.below(5) {
                    0 | 1 => h.push(read(
                        client,
                        call,
                        ret,
                        if r.below(2) == 0 { 0 } else { 1 + r.below(3) },
                        r.below(3) as i32,
                    )),
                    2 | 3 => h.push(cas(
                        client,
                        call,
                        ret,
                        r.below(3) as i32,
                        1 + r.below(3),
                        r.below(3) != 0,
                    )),
                    _ => h.push(cas_unknown(client, call, r.below(3) as i32, 1 + r.below(3))),
                }
            }
            let b = brute(&h);
            if !b {
                violations += 1;
            }
            assert_eq!(linearizable(&h), b, "seed {seed}: {h:?}");
        }
        // The generator produces both kinds.
        assert!(violations > 100 && violations < 2900, "{violations}");
    }

    #[test]
    fn a_budget_that_runs_out_says_so() {
        let h = [cas(0, 0, 10, 0, 1, true), read(1, 20, 30, 0, 0)];
        assert_eq!(
            check(&VersionedRegister::default(), &h, 1),
            Verdict::Undecided
        );
    }
}
