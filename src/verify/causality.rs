//! What a history's clocks say about causality, and what Lamport clocks cannot say.
//!
//! Vector clocks give happens-before exactly: `a -> b` when `b`'s vector already counts `a`.
//! [`count_pairs`] counts, over every pair of events, how many are ordered and how many are
//! concurrent, and how many concurrent pairs still get different Lamport clocks (so that the
//! Lamport values suggest an order that is not there). It never looks at all pairs: with
//! standard vector clocks the events that happened before `b` number `sum(V(b)) - 1` (the own
//! entry counts `b` itself), and only pairs with equal Lamport values are counted one group at a
//! time; the example pair is found in the same time. [`verify_clock_condition`] checks Lamport's clock condition edge by edge.
//!
//! Pure: it reads a [`History`] and returns numbers and references into it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::clock::happened_before;
use crate::model::{ClockModel, MessageId};
use crate::trace::{History, ProcessTable, TraceEvent};

/// How the pairs of a history's events relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairCounts<'a> {
    /// How many events there are.
    pub events: u64,
    /// Pairs ordered by happens-before (one event happened before the other).
    pub ordered: u64,
    /// Pairs that are concurrent: neither happened before the other.
    pub concurrent: u64,
    /// Concurrent pairs whose Lamport clocks differ: Lamport clocks put them in an order that
    /// nothing in the run imposed.
    pub concurrent_apart: u64,
    /// A concurrent pair with different Lamport clocks, if any: two Lamport events with a wide
    /// gap when there are such (see [`count_pairs`]).
    pub example: Option<ConcurrentPair<'a>>,
}

/// Two concurrent events with different Lamport clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrentPair<'a> {
    /// The one with the smaller Lamport clock.
    pub lower: &'a TraceEvent,
    /// The one with the larger Lamport clock.
    pub higher: &'a TraceEvent,
}

/// Counts ordered and concurrent pairs of events, in time O(events × processes) plus a sort.
/// `None` when the history carries no vector clocks (or not on every event), since
/// happens-before cannot be read off without them.
pub fn count_pairs(history: &History) -> Option<PairCounts<'_>> {
    let width = history.table.len();
    if history.iter().any(|event| event.vector.len() != width) {
        return None;
    }
    let events = history.len() as u128;
    let mut ordered: u128 = 0;
    for event in history.iter() {
        let known: u128 = event.vector.iter().map(|&entry| u128::from(entry)).sum();
        ordered += known.saturating_sub(1);
    }
    let all = events * events.saturating_sub(1) / 2;
    let concurrent = all.saturating_sub(ordered);
    let concurrent_equal = count_concurrent_equal(history);
    Some(PairCounts {
        events: saturate(events),
        ordered: saturate(ordered),
        concurrent: saturate(concurrent),
        concurrent_apart: saturate(concurrent.saturating_sub(concurrent_equal)),
        example: example_pair(history),
    })
}

fn saturate(count: u128) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// The concurrent pairs whose Lamport clocks are equal. Two events with the same Lamport value
/// can only be related through events of that same value, so each group of equal values is
/// counted on its own: within a group, the events of process `p` that happened before (or are)
/// `b` are those whose own entry is at most `V(b)[p]`, found by binary search.
fn count_concurrent_equal(history: &History) -> u128 {
    // (Lamport value, process index, own vector entry, position in the process)
    let mut keyed: Vec<(u64, usize, u64, usize)> = history
        .events
        .iter()
        .enumerate()
        .flat_map(|(process, events)| {
            events.iter().enumerate().map(move |(position, event)| {
                let own = event.vector.get(process).copied().unwrap_or_default();
                (event.lamport, process, own, position)
            })
        })
        .collect();
    keyed.sort_unstable();
    let mut concurrent: u128 = 0;
    let mut own_entries: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for group in keyed.chunk_by(|a, b| a.0 == b.0) {
        if group.len() < 2 {
            continue;
        }
        // Per process of the group, its events' own entries, ascending (the sort did that).
        own_entries.clear();
        for &(_, process, own, _) in group {
            own_entries.entry(process).or_default().push(own);
        }
        let mut ordered: u128 = 0;
        for &(_, process, _, position) in group {
            let Some(event) = history.events[process].get(position) else {
                continue;
            };
            let before_or_same: usize = own_entries
                .iter()
                .map(|(other, entries)| {
                    let seen = event.vector.get(*other).copied().unwrap_or_default();
                    entries.partition_point(|&entry| entry <= seen)
                })
                .sum();
            // The event counts itself once, through its own process's list.
            ordered += (before_or_same as u128).saturating_sub(1);
        }
        let size = group.len() as u128;
        concurrent += (size * (size - 1) / 2).saturating_sub(ordered);
    }
    concurrent
}

/// A map keyed by message id. Traces hold a message per event or so, and the standard hasher
/// (SipHash, built to resist crafted keys) made these maps the slowest part of checking a large
/// trace; a checker reading a local file needs no such defence, so a multiply-and-rotate hash
/// does.
pub(crate) type MessageMap<V> = HashMap<MessageId, V, BuildHasherDefault<QuickHasher>>;

/// A small, fast, non-cryptographic hasher for integer keys (see [`MessageMap`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct QuickHasher(u64);

impl QuickHasher {
    fn mix(&mut self, value: u64) {
        // An odd constant from the golden ratio spreads the bits; the rotation lets every
        // input bit reach the low bits that pick the bucket.
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.mix(u64::from(byte));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.mix(value as u64);
    }
}

/// How many events past the first unknown one [`example_pair`] looks at on each process.
const LOOKAHEAD: usize = 4;

/// The example pair: preferably two Lamport events (both advance their clocks, so neither value
/// is inherited), else any two events; the widest Lamport gap of those seen wins, the first on a
/// tie. For an event `b` and another process `p`, the first event of `p` that `b` does not know
/// (position `V(b)[p]`) has the smallest Lamport value of all of `p`'s events unknown to `b`; if
/// it does not know `b` either, the two are concurrent. Every concurrent pair with different
/// clocks has such a pair with at least as wide a gap, so the fallback is the widest of all.
/// A few events past it are looked at too, to find Lamport events.
fn example_pair(history: &History) -> Option<ConcurrentPair<'_>> {
    let model = history.model;
    let (mut any, mut any_gap) = (None, 0);
    let (mut ticking, mut ticking_gap) = (None, 0);
    for (own, events) in history.events.iter().enumerate() {
        for higher in events {
            for (other, other_events) in history.events.iter().enumerate() {
                if other == own {
                    continue;
                }
                let known = higher.vector.get(other).copied().unwrap_or_default();
                let Some(unknown) = usize::try_from(known)
                    .ok()
                    .and_then(|first| other_events.get(first..))
                else {
                    continue;
                };
                for lower in unknown.iter().take(LOOKAHEAD) {
                    let gap = higher.lamport.saturating_sub(lower.lamport);
                    if gap == 0 {
                        break;
                    }
                    if happened_before(&lower.vector, other, &higher.vector)
                        || happened_before(&higher.vector, own, &lower.vector)
                    {
                        continue;
                    }
                    let pair = Some(ConcurrentPair { lower, higher });
                    if gap > any_gap {
                        (any, any_gap) = (pair, gap);
                    }
                    let both_tick = lower.kind.ticks(model) && higher.kind.ticks(model);
                    if both_tick && gap > ticking_gap {
                        (ticking, ticking_gap) = (pair, gap);
                    }
                }
            }
        }
    }
    ticking.or(any)
}

/// How an earlier event leads to a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The earlier event comes right before the later one on the same process.
    Program,
    /// The later event receives (and merges) the message the earlier one sent.
    Message(MessageId),
}

/// An edge `from -> to` whose Lamport clocks break the clock condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeViolation<'a> {
    /// What links the two events.
    pub edge: Edge,
    /// The cause.
    pub from: &'a TraceEvent,
    /// The effect, whose clock is not after the cause's (or, not ticking, is before it).
    pub to: &'a TraceEvent,
}

/// The verdict on Lamport's clock condition over a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockCondition<'a> {
    /// How many events there are.
    pub events: u64,
    /// How many of them advance their process's Lamport clock (ticks and merges).
    pub lamport_events: u64,
    /// Every edge that breaks the condition, process by process in table order.
    pub violations: Vec<EdgeViolation<'a>>,
}

/// Checks Lamport's clock condition edge by edge: for every event `v` and every direct cause
/// `u` (the previous event of `v`'s process, or the sender of the message `v` merges),
/// `L(u) <= L(v)`, and `L(u) < L(v)` when `v` advances its clock. That is the same as
/// `L(a) < L(b)` for every `a -> b` where `b` advances a Lamport clock, and it implies
/// `L(a) <= L(b)` for every `a -> b`. A receive that does not merge (a query's) is no edge:
/// neither clock learns from it. Messages with no sender in the history are skipped.
pub fn verify_clock_condition(history: &History) -> ClockCondition<'_> {
    // The first event that names a message as sent is its sender (a trace may name it twice,
    // which the checker reports on its own).
    let mut senders: MessageMap<&TraceEvent> = MessageMap::default();
    senders.reserve(history.len());
    for event in history.iter() {
        for message in &event.sends {
            senders.entry(*message).or_insert(event);
        }
    }
    let mut lamport_events = 0;
    let mut violations = Vec::new();
    for events in &history.events {
        let mut previous: Option<&TraceEvent> = None;
        for event in events {
            let ticks = event.kind.ticks(history.model);
            lamport_events += u64::from(ticks);
            let broken = |from: &TraceEvent| {
                if ticks {
                    from.lamport >= event.lamport
                } else {
                    from.lamport > event.lamport
                }
            };
            if let Some(from) = previous.filter(|from| broken(from)) {
                violations.push(EdgeViolation {
                    edge: Edge::Program,
                    from,
                    to: event,
                });
            }
            if let Some(message) = event.receives.filter(|_| ticks)
                && let Some(from) = senders.get(&message).copied().filter(|from| broken(from))
            {
                violations.push(EdgeViolation {
                    edge: Edge::Message(message),
                    from,
                    to: event,
                });
            }
            previous = Some(event);
        }
    }
    ClockCondition {
        events: history.len() as u64,
        lamport_events,
        violations,
    }
}

/// The happens-before sentence of a run's report: ordered and concurrent pairs, and the
/// concurrent pairs Lamport clocks still put in an order, with one of them as an example.
pub fn describe_pairs(counts: Option<&PairCounts<'_>>, table: &ProcessTable) -> String {
    let Some(counts) = counts else {
        return "Happens-before: not counted (the run kept no vector clocks)".to_string();
    };
    if counts.events == 0 {
        return "Happens-before: not counted (the run kept no events)".to_string();
    }
    let head = format!(
        "Happens-before: {} event pairs ordered, {} concurrent",
        counts.ordered, counts.concurrent
    );
    match counts.example {
        Some(ConcurrentPair { lower, higher }) => format!(
            "{head}; {} concurrent pairs still get different Lamport clocks (e.g. {} and {}: \
             concurrent, yet L says {} < {})",
            counts.concurrent_apart,
            label_with_clocks(lower, table),
            label_with_clocks(higher, table),
            lower.lamport,
            higher.lamport
        ),
        None => format!("{head}; no concurrent pair gets different Lamport clocks"),
    }
}

/// The clock-condition sentence of a run's report: whether it holds, and how many events are
/// Lamport events.
pub fn describe_clock_condition(condition: &ClockCondition<'_>, model: ClockModel) -> String {
    if condition.events == 0 {
        return "Clock condition: not checked (the run kept no events)".to_string();
    }
    let ticks = format!(
        "{} of {} events tick; {}",
        condition.lamport_events,
        condition.events,
        silent_events(model)
    );
    match condition.violations.first() {
        None => format!(
            "Clock condition: holds: L(a) < L(b) for every a -> b into a Lamport event ({ticks})"
        ),
        Some(first) => format!(
            "Clock condition: broken on {} edge(s), e.g. {} L={} is not after {} L={} ({ticks})",
            condition.violations.len(),
            label(first.to),
            first.to.lamport,
            label(first.from),
            first.from.lamport
        ),
    }
}

/// A vector clock as `{B1:3,B2:5,C2:1}`: entries named by process, zeros left out.
pub fn format_vector(vector: &[u64], table: &ProcessTable) -> String {
    let entries: Vec<String> = vector
        .iter()
        .zip(table.processes())
        .filter(|(entry, _)| **entry > 0)
        .map(|(entry, process)| format!("{process}:{entry}"))
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// An event as `B1 #3 deposit_propagate_request (event 2)`.
pub fn label(event: &TraceEvent) -> String {
    format!(
        "{} #{} {} (event {})",
        event.process,
        event.seq,
        event.kind.name(),
        event.event_id
    )
}

/// An event with its clocks: `B1 #3 deposit_propagate_request (event 2) L=3 V={B1:3,B2:2}`.
pub fn label_with_clocks(event: &TraceEvent, table: &ProcessTable) -> String {
    format!(
        "{} L={} V={}",
        label(event),
        event.lamport,
        format_vector(&event.vector, table)
    )
}

/// Which events of `model` do not advance a Lamport clock, in words.
pub fn silent_events(model: ClockModel) -> &'static str {
    match model {
        ClockModel::Original => "customer sends and a branch serving a query do not",
        ClockModel::Strict => "nothing about a query does",
        ClockModel::Messages => "only sends and the receives of requests and propagations do",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, BranchId, CustomerId, EventId, Op, Process, Step, SubEvent};
    use crate::trace::{EventKind, ProcessTable};

    const B1: Process = Process::Branch(BranchId(1));
    const B2: Process = Process::Branch(BranchId(2));

    fn step(step: Step) -> EventKind {
        EventKind::Branch(SubEvent {
            op: Op::Deposit,
            step,
        })
    }

    fn event(
        process: Process,
        seq: u64,
        kind: EventKind,
        lamport: u64,
        vector: [u64; 2],
    ) -> TraceEvent {
        TraceEvent {
            process,
            seq,
            kind,
            event_id: EventId(seq),
            lamport,
            vector: vector.to_vec(),
            receives: None,
            sends: Vec::new(),
            balance: None,
            outcome: None,
        }
    }

    fn message(sender: Process, number: u64) -> MessageId {
        MessageId { sender, number }
    }

    /// Two branches and one message: B1 ticks three times and sends from its second event; B2
    /// ticks, merges the message, ticks.
    ///
    /// ```text
    /// B1:  e1 (L1) -- e2 (L2, sends) -- e3 (L3)
    ///                   \
    /// B2:  f1 (L1) ----- f2 (L3, merges) -- f3 (L4)
    /// ```
    fn two_branches() -> History {
        let mut e2 = event(B1, 2, step(Step::Execute), 2, [2, 0]);
        e2.sends.push(message(B1, 1));
        let mut f2 = event(B2, 2, step(Step::PropagateRequest), 3, [2, 2]);
        f2.receives = Some(message(B1, 1));
        History {
            table: ProcessTable::new([B1, B2]),
            events: vec![
                vec![
                    event(B1, 1, step(Step::Execute), 1, [1, 0]),
                    e2,
                    event(B1, 3, step(Step::Execute), 3, [3, 0]),
                ],
                vec![
                    event(B2, 1, step(Step::Execute), 1, [0, 1]),
                    f2,
                    event(B2, 3, step(Step::PropagateExecute), 4, [2, 3]),
                ],
            ],
            ..History::default()
        }
    }

    /// Brute force over all pairs, to compare the counting method with.
    fn brute_force(history: &History) -> (u64, u64, u64) {
        let located: Vec<(usize, &TraceEvent)> = history
            .events
            .iter()
            .enumerate()
            .flat_map(|(p, events)| events.iter().map(move |e| (p, e)))
            .collect();
        let (mut ordered, mut concurrent, mut apart) = (0, 0, 0);
        for (i, &(p, a)) in located.iter().enumerate() {
            for &(q, b) in &located[i + 1..] {
                if happened_before(&a.vector, p, &b.vector)
                    || happened_before(&b.vector, q, &a.vector)
                {
                    ordered += 1;
                } else {
                    concurrent += 1;
                    apart += u64::from(a.lamport != b.lamport);
                }
            }
        }
        (ordered, concurrent, apart)
    }

    #[test]
    fn two_branches_one_message_counts_exactly() {
        let history = two_branches();
        let counts = count_pairs(&history).expect("vectors recorded");
        // e2 knows e1; e3 knows e1, e2; f2 knows e1, e2, f1; f3 knows those and f2: 0+1+2+0+3+4.
        assert_eq!(counts.events, 6);
        assert_eq!(counts.ordered, 10);
        // Concurrent: e1|f1, e2|f1, e3|f1, e3|f2, e3|f3. Equal clocks: e1|f1 (1), e3|f2 (3).
        assert_eq!(counts.concurrent, 5);
        assert_eq!(counts.concurrent_apart, 3);
        assert_eq!(brute_force(&history), (10, 5, 3));
        let example = counts.example.expect("a pair");
        assert_eq!(
            label_with_clocks(example.lower, &history.table),
            "B2 #1 deposit_execute (event 1) L=1 V={B2:1}"
        );
        assert_eq!(
            label_with_clocks(example.higher, &history.table),
            "B1 #3 deposit_execute (event 3) L=3 V={B1:3}"
        );
    }

    #[test]
    fn a_receive_that_does_not_merge_leaves_its_send_concurrent() {
        // A customer's send in the original model keeps the clock of the start (0), and so does
        // the branch serving the query. The serving does not merge: linked, yet concurrent.
        let c1 = Process::Customer(CustomerId(1));
        let mut send = event(c1, 1, EventKind::Send(Action::Query), 0, [0, 1]);
        send.sends.push(message(c1, 1));
        let mut serve = event(B1, 1, EventKind::Query, 0, [1, 0]);
        serve.receives = Some(message(c1, 1));
        let mut history = History {
            table: ProcessTable::new([B1, c1]),
            events: vec![vec![serve], vec![send]],
            ..History::default()
        };
        let counts = count_pairs(&history).expect("vectors");
        assert_eq!(
            (counts.ordered, counts.concurrent, counts.concurrent_apart),
            (0, 1, 0)
        );
        assert_eq!(counts.example, None);
        // Had it merged, the branch would know the send: one ordered pair inside the group of
        // Lamport value 0, so no concurrent pair at all.
        history.events[0][0].vector = vec![1, 1];
        let counts = count_pairs(&history).expect("vectors");
        assert_eq!(
            (counts.ordered, counts.concurrent, counts.concurrent_apart),
            (1, 0, 0)
        );
    }

    #[test]
    fn counts_agree_with_brute_force_on_a_busier_history() {
        // Three processes exchanging messages in a ring, with non-ticking events mixed in.
        let table = ProcessTable::new([B1, B2, Process::Branch(BranchId(3))]);
        let mut events: Vec<Vec<TraceEvent>> = vec![Vec::new(); 3];
        let mut vectors = [[0_u64; 3]; 3];
        let mut lamports = [0_u64; 3];
        for round in 0..12_usize {
            let p = round % 3;
            let q = (p + 1) % 3;
            // p: a silent event, then a tick that sends to q.
            for ticks in [false, true] {
                vectors[p][p] += 1;
                lamports[p] += u64::from(ticks);
                let process = table.processes()[p];
                let kind = if ticks {
                    step(Step::Execute)
                } else {
                    EventKind::Query
                };
                events[p].push(TraceEvent {
                    process,
                    seq: vectors[p][p],
                    kind,
                    event_id: EventId(round as u64),
                    lamport: lamports[p],
                    vector: vectors[p].to_vec(),
                    receives: None,
                    sends: Vec::new(),
                    balance: None,
                    outcome: None,
                });
            }
            if round % 2 == 0 {
                let sent = vectors[p];
                for (entry, other) in vectors[q].iter_mut().zip(sent) {
                    *entry = (*entry).max(other);
                }
                vectors[q][q] += 1;
                lamports[q] = lamports[q].max(lamports[p]) + 1;
                events[q].push(TraceEvent {
                    process: table.processes()[q],
                    seq: vectors[q][q],
                    kind: step(Step::PropagateRequest),
                    event_id: EventId(round as u64),
                    lamport: lamports[q],
                    vector: vectors[q].to_vec(),
                    receives: None,
                    sends: Vec::new(),
                    balance: None,
                    outcome: None,
                });
            }
        }
        let history = History {
            table,
            events,
            ..History::default()
        };
        let counts = count_pairs(&history).expect("vectors");
        let (ordered, concurrent, apart) = brute_force(&history);
        assert_eq!(counts.ordered, ordered);
        assert_eq!(counts.concurrent, concurrent);
        assert_eq!(counts.concurrent_apart, apart);
        assert!(
            apart > 0 && concurrent > apart,
            "{ordered} {concurrent} {apart}"
        );
        let example = counts.example.expect("a pair");
        assert!(example.lower.lamport < example.higher.lamport);
    }

    #[test]
    fn no_vectors_no_counts() {
        let mut history = two_branches();
        history.events[1][2].vector.clear();
        assert_eq!(count_pairs(&history), None);
    }

    #[test]
    fn the_report_sentences() {
        let history = two_branches();
        let counts = count_pairs(&history);
        assert_eq!(
            describe_pairs(counts.as_ref(), &history.table),
            "Happens-before: 10 event pairs ordered, 5 concurrent; 3 concurrent pairs still get \
             different Lamport clocks (e.g. B2 #1 deposit_execute (event 1) L=1 V={B2:1} and B1 #3 \
             deposit_execute (event 3) L=3 V={B1:3}: concurrent, yet L says 1 < 3)"
        );
        assert_eq!(
            describe_clock_condition(&verify_clock_condition(&history), history.model),
            "Clock condition: holds: L(a) < L(b) for every a -> b into a Lamport event (6 of 6 \
             events tick; customer sends and a branch serving a query do not)"
        );
        let empty = History::default();
        assert_eq!(
            describe_pairs(count_pairs(&empty).as_ref(), &empty.table),
            "Happens-before: not counted (the run kept no events)"
        );
        assert_eq!(
            describe_clock_condition(&verify_clock_condition(&empty), empty.model),
            "Clock condition: not checked (the run kept no events)"
        );
        assert_eq!(
            describe_pairs(None, &empty.table),
            "Happens-before: not counted (the run kept no vector clocks)"
        );
    }

    #[test]
    fn the_clock_condition_holds_and_counts_lamport_events() {
        let history = two_branches();
        let condition = verify_clock_condition(&history);
        assert_eq!(condition.events, 6);
        assert_eq!(condition.lamport_events, 6);
        assert_eq!(condition.violations, vec![]);
    }

    #[test]
    fn a_merge_not_after_its_send_and_a_tick_not_after_its_predecessor_break_it() {
        let mut history = two_branches();
        history.events[1][1].lamport = 2; // f2 merges e2 (L2): must be above 2
        history.events[1][2].lamport = 2; // f3 ticks after f2: must be above 2
        let condition = verify_clock_condition(&history);
        let found: Vec<(Edge, String, String)> = condition
            .violations
            .iter()
            .map(|v| (v.edge, label(v.from), label(v.to)))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    Edge::Message(message(B1, 1)),
                    "B1 #2 deposit_execute (event 2)".to_string(),
                    "B2 #2 deposit_propagate_request (event 2)".to_string()
                ),
                (
                    Edge::Program,
                    "B2 #2 deposit_propagate_request (event 2)".to_string(),
                    "B2 #3 deposit_propagate_execute (event 3)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_silent_event_may_keep_but_not_lower_the_clock() {
        let c1 = Process::Customer(CustomerId(1));
        let mut history = History {
            table: ProcessTable::new([B1, c1]),
            events: vec![
                vec![],
                vec![
                    event(c1, 1, EventKind::Receive(Action::Deposit(5)), 4, [0, 1]),
                    event(c1, 2, EventKind::Send(Action::Deposit(5)), 4, [0, 2]),
                ],
            ],
            ..History::default()
        };
        let condition = verify_clock_condition(&history);
        assert_eq!(
            (condition.lamport_events, condition.violations.len()),
            (1, 0)
        );
        history.events[1][1].lamport = 3;
        assert_eq!(verify_clock_condition(&history).violations.len(), 1);
        history.model = ClockModel::Strict;
        history.events[1][1].lamport = 4;
        let strict = verify_clock_condition(&history);
        assert_eq!(
            (strict.lamport_events, strict.violations.len()),
            (2, 1),
            "a strict send ticks"
        );
    }
}
