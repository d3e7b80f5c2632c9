//! The customers' session guarantees over a history: every query is answered by a branch that
//! had already applied every write its customer made before it (read-your-writes), and every
//! branch applies each customer's writes in the order the customer made them (monotonic
//! writes). Each violation names the request, the branch and the write. Pure; linear in the
//! number of events (times the branches a customer queries, for read-your-writes).
//!
//! A customer's write is one of its deposits or withdraws that was carried out: answered
//! `success`, or, with no answer, propagated to some branch. A branch applies it by its execute
//! (on the branch that served it) or its propagate execute (on every other branch).
//!
//! An output in the original's form shows no customer and no query: with the run's input
//! ([`check_output`]), its branch entries are checked for monotonic writes only.

use std::collections::{HashMap, HashSet};

use super::{Finding, Rule};
use crate::model::{Action, BranchId, CustomerId, EventId, Process, Step};
use crate::scenario::Scenario;
use crate::trace::{EventKind, History, Outcome, Trace, TraceEvent};

/// One request of a customer, as the customer's events tell it.
#[derive(Debug, Clone, Copy)]
struct Request {
    event: EventId,
    action: Action,
    /// The branch that answered it, if one did.
    branch: Option<BranchId>,
    outcome: Outcome,
}

/// Where each branch applied each write, and where it served each query: the position in the
/// branch's history, by event id.
#[derive(Debug, Default)]
struct Applied {
    writes: HashMap<(BranchId, EventId), usize>,
    queries: HashMap<(BranchId, EventId), usize>,
    /// Every branch on which some write was applied by a propagation.
    propagated: HashMap<EventId, usize>,
}

/// Every read-your-writes and monotonic-writes violation in `history`.
pub fn check(history: &History) -> Vec<Finding> {
    let requests = requests(history);
    let applied = applied(history);
    let mut findings = Vec::new();
    for (customer, requests) in &requests {
        for stale in read_your_writes(requests, &applied) {
            let message = format!(
                "query (event {}) at {} read {} without its own {}: {} {}",
                stale.query.event,
                stale.branch,
                stale.balance,
                describe(stale.missed),
                stale.branch,
                stale.when,
            );
            findings.push(Finding {
                rule: Rule::ReadYourWrites,
                process: Some(Process::Customer(*customer)),
                message,
            });
        }
    }
    monotonic_writes(history, &requests, &applied, &mut findings);
    findings
}

/// A query answered by a branch that had not applied one of its customer's earlier writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleRead {
    /// The branch that answered.
    pub branch: BranchId,
    /// The query.
    pub query: EventId,
    /// The customer's earlier write it missed (the first of them).
    pub missed: EventId,
    /// What that write was.
    pub write: Action,
}

/// Every read-your-writes violation in `history`, for the pictures to point at.
pub fn stale_reads(history: &History) -> Vec<StaleRead> {
    let applied = applied(history);
    requests(history)
        .iter()
        .flat_map(|(_, requests)| read_your_writes(requests, &applied))
        .map(|stale| StaleRead {
            branch: stale.branch,
            query: stale.query.event,
            missed: stale.missed.event,
            write: stale.missed.action,
        })
        .collect()
}

/// Each customer's requests, in the order it made them.
fn requests(history: &History) -> Vec<(CustomerId, Vec<Request>)> {
    let mut all = Vec::new();
    for (process, events) in history.table.processes().iter().zip(&history.events) {
        let Process::Customer(customer) = process else {
            continue;
        };
        let requests = events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::Receive(action) | EventKind::Timeout(action) => Some(Request {
                    event: event.event_id,
                    action,
                    branch: match event.receives.map(|message| message.sender) {
                        Some(Process::Branch(branch)) => Some(branch),
                        _ => None,
                    },
                    outcome: event.outcome.unwrap_or(Outcome::Indeterminate),
                }),
                _ => None,
            })
            .collect();
        all.push((*customer, requests));
    }
    all
}

/// Where every branch applied every write and served every query.
fn applied(history: &History) -> Applied {
    let mut applied = Applied::default();
    for (process, events) in history.table.processes().iter().zip(&history.events) {
        let Process::Branch(branch) = process else {
            continue;
        };
        for (position, event) in events.iter().enumerate() {
            let key = (*branch, event.event_id);
            match event.kind {
                EventKind::Branch(sub_event) if sub_event.step == Step::Execute => {
                    applied.writes.entry(key).or_insert(position);
                }
                EventKind::Branch(sub_event) if sub_event.step == Step::PropagateExecute => {
                    applied.writes.entry(key).or_insert(position);
                    *applied.propagated.entry(event.event_id).or_default() += 1;
                }
                EventKind::Query => {
                    applied.queries.entry(key).or_insert(position);
                }
                _ => {}
            }
        }
    }
    applied
}

/// Whether a request is a write that was carried out (see the module's documentation).
fn carried_out(request: &Request, applied: &Applied) -> bool {
    request.action.change().is_some()
        && match request.outcome {
            Outcome::Success => true,
            Outcome::Indeterminate => applied.propagated.contains_key(&request.event),
            Outcome::Fail | Outcome::Balance(_) => false,
        }
}

/// `deposit 400 (event 1, at B1)`.
fn describe(request: &Request) -> String {
    let what = match request.action {
        Action::Deposit(money) | Action::Withdraw(money) => {
            format!("{} {money}", request.action.interface())
        }
        Action::Query => "query".to_string(),
    };
    match request.branch {
        Some(branch) => format!("{what} (event {}, at {branch})", request.event),
        None => format!("{what} (event {})", request.event),
    }
}

/// A query that missed a write of its customer's, and when its branch applied that write.
struct Missed<'a> {
    query: &'a Request,
    branch: BranchId,
    balance: i64,
    missed: &'a Request,
    when: String,
}

/// For a branch a customer queried: how many of its earlier writes are folded in so far, and
/// which of them the branch applied last, with its position there (`None`: never applied, which
/// is later than all).
type Latest<'a> = (usize, Option<(&'a Request, Option<usize>)>);

/// The queries of a customer (`requests`, in its order) that came before some write the
/// customer made before them (and was told of), on the branch that answered the query: each
/// with the write it missed that its branch applied last (or one it never applied).
fn read_your_writes<'a>(requests: &'a [Request], applied: &Applied) -> Vec<Missed<'a>> {
    let mut stale = Vec::new();
    let mut before: Vec<&Request> = Vec::new();
    let mut latest: HashMap<BranchId, Latest<'a>> = HashMap::new();
    for request in requests {
        match (request.action, request.outcome, request.branch) {
            (Action::Query, Outcome::Balance(balance), Some(branch)) => {
                let Some(&served) = applied.queries.get(&(branch, request.event)) else {
                    continue;
                };
                let (folded, last) = latest.entry(branch).or_default();
                for write in &before[*folded..] {
                    let at = applied.writes.get(&(branch, write.event)).copied();
                    let later = match (*last, at) {
                        (None, _) => true,
                        (Some((_, None)), _) => false,
                        (Some(_), None) => true,
                        (Some((_, Some(seen))), Some(at)) => at > seen,
                    };
                    if later {
                        *last = Some((write, at));
                    }
                }
                *folded = before.len();
                let missed = match *last {
                    Some((write, Some(at))) if at > served => {
                        Some((write, format!("applied it only after (#{})", at + 1)))
                    }
                    Some((write, None)) => Some((write, "never applied it".to_string())),
                    _ => None,
                };
                if let Some((missed, when)) = missed {
                    stale.push(Missed {
                        query: request,
                        branch,
                        balance,
                        missed,
                        when,
                    });
                }
            }
            (_, Outcome::Success, _) if request.action.change().is_some() => before.push(request),
            _ => {}
        }
    }
    stale
}

/// On every branch, each customer's writes (those carried out, in the order the customer made
/// them) must be applied in that order: one pass over each branch's events.
fn monotonic_writes(
    history: &History,
    requests: &[(CustomerId, Vec<Request>)],
    applied: &Applied,
    out: &mut Vec<Finding>,
) {
    let writes = requests.iter().map(|(customer, requests)| {
        let carried = requests
            .iter()
            .filter(|request| carried_out(request, applied));
        (*customer, carried.copied().collect())
    });
    let branches = history
        .table
        .processes()
        .iter()
        .zip(&history.events)
        .filter_map(|(process, events)| match process {
            Process::Branch(branch) => Some((
                *branch,
                events
                    .iter()
                    .filter(|event| applies(event))
                    .map(|event| (event.event_id, event.seq))
                    .collect(),
            )),
            Process::Customer(_) => None,
        });
    out.extend(writes_in_order(writes, branches));
}

/// With the run's input, the monotonic writes of an output's branch entries (which show no
/// customer: the input says whose each event is, and in which order). A deposit or withdraw
/// counts as carried out if some branch applied it by a propagation (or, with one branch, if it
/// was executed), as no outcome is in the file.
pub fn check_output(trace: &Trace, scenario: &Scenario) -> Vec<Finding> {
    let propagated: HashSet<EventId> = trace
        .branches
        .values()
        .flatten()
        .filter(|record| match record.sub_event.step {
            Step::PropagateExecute => true,
            Step::Execute => trace.branch_count() == 1,
            _ => false,
        })
        .map(|record| record.event_id)
        .collect();
    let writes = scenario.customers.iter().map(|customer| {
        let carried = customer
            .events
            .iter()
            .filter(|event| event.action.change().is_some() && propagated.contains(&event.id))
            .map(|event| Request {
                event: event.id,
                action: event.action,
                branch: Some(customer.branch_of(event)),
                outcome: Outcome::Success,
            });
        (customer.id, carried.collect())
    });
    let branches = trace.branches.iter().map(|(branch, records)| {
        let applied = records.iter().enumerate().filter(|(_, record)| {
            matches!(
                record.sub_event.step,
                Step::Execute | Step::PropagateExecute
            )
        });
        (
            *branch,
            applied
                .map(|(position, record)| (record.event_id, position as u64 + 1))
                .collect(),
        )
    });
    writes_in_order(writes, branches)
}

/// Every branch (each with the writes it applied, in order, as event ids and their numbers
/// there) must apply each customer's `writes` (carried out, in the customer's order) in that
/// order.
fn writes_in_order(
    writes: impl Iterator<Item = (CustomerId, Vec<Request>)>,
    branches: impl Iterator<Item = (BranchId, Vec<(EventId, u64)>)>,
) -> Vec<Finding> {
    // Each write's customer, its place among that customer's writes, and what it was.
    let mut order: HashMap<EventId, (CustomerId, usize, Request)> = HashMap::new();
    for (customer, writes) in writes {
        for (index, write) in writes.into_iter().enumerate() {
            order.entry(write.event).or_insert((customer, index, write));
        }
    }
    let mut out = Vec::new();
    for (branch, applied) in branches {
        // For each customer, its latest write (in its order) applied so far on this branch.
        let mut latest: HashMap<CustomerId, (usize, &Request, u64)> = HashMap::new();
        for (event, number) in applied {
            let Some((customer, index, write)) = order.get(&event) else {
                continue;
            };
            let (customer, index) = (*customer, *index);
            match latest.get(&customer) {
                Some(&(seen, later, after)) if seen > index => {
                    let message = format!(
                        "applied {customer}'s {} (#{number}) after its {} (#{after}), which \
                         {customer} made later",
                        describe(write),
                        describe(later),
                    );
                    out.push(Finding {
                        rule: Rule::MonotonicWrites,
                        process: Some(Process::Branch(branch)),
                        message,
                    });
                }
                Some(&(seen, _, _)) if seen == index => {}
                _ => {
                    latest.insert(customer, (index, write, number));
                }
            }
        }
    }
    out
}

/// Whether the event applies a change on its branch (its origin's execute, or a peer's).
fn applies(event: &TraceEvent) -> bool {
    matches!(event.kind, EventKind::Branch(sub_event)
        if matches!(sub_event.step, Step::Execute | Step::PropagateExecute))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageId, Op, SubEvent};
    use crate::trace::ProcessTable;

    const B1: Process = Process::Branch(BranchId(1));
    const B2: Process = Process::Branch(BranchId(2));
    const C1: Process = Process::Customer(CustomerId(1));

    /// An event of `process` (the `seq`-th), of event `id`.
    fn event(process: Process, seq: u64, kind: EventKind, id: u64) -> TraceEvent {
        TraceEvent {
            process,
            seq,
            kind,
            event_id: EventId(id),
            lamport: seq,
            vector: Vec::new(),
            receives: None,
            sends: Vec::new(),
            balance: None,
            outcome: None,
        }
    }

    fn step(op: Op, step: Step) -> EventKind {
        EventKind::Branch(SubEvent { op, step })
    }

    /// C1's answer to event `id` from `branch`, with `outcome`.
    fn answer(seq: u64, action: Action, id: u64, branch: Process, outcome: Outcome) -> TraceEvent {
        TraceEvent {
            receives: Some(MessageId {
                sender: branch,
                number: seq,
            }),
            outcome: Some(outcome),
            ..event(C1, seq, EventKind::Receive(action), id)
        }
    }

    /// C1 deposits 400 at B1 (event 1), withdraws 400 at B2 (event 2), then queries B2 (event
    /// 3): B2's own events are given, B1 applies both in order.
    fn history(b2: Vec<TraceEvent>, read: i64) -> History {
        let b1 = vec![
            event(B1, 1, step(Op::Deposit, Step::Request), 1),
            event(B1, 2, step(Op::Deposit, Step::Execute), 1),
            event(B1, 3, step(Op::Withdraw, Step::PropagateRequest), 2),
            event(B1, 4, step(Op::Withdraw, Step::PropagateExecute), 2),
        ];
        let c1 = vec![
            answer(1, Action::Deposit(400), 1, B1, Outcome::Success),
            answer(2, Action::Withdraw(400), 2, B2, Outcome::Success),
            answer(3, Action::Query, 3, B2, Outcome::Balance(read)),
        ];
        History {
            table: ProcessTable::new([B1, B2, C1]),
            events: vec![b1, b2, c1],
            ..History::default()
        }
    }

    #[test]
    fn a_branch_that_waited_keeps_both_guarantees() {
        let b2 = vec![
            event(B2, 1, step(Op::Deposit, Step::PropagateRequest), 1),
            event(B2, 2, step(Op::Deposit, Step::PropagateExecute), 1),
            event(B2, 3, step(Op::Withdraw, Step::Request), 2),
            event(B2, 4, step(Op::Withdraw, Step::Execute), 2),
            event(B2, 5, EventKind::Query, 3),
        ];
        assert_eq!(check(&history(b2, 0)), []);
    }

    #[test]
    fn a_write_applied_late_is_named_where_it_was_missed() {
        // B2 withdraws before the deposit arrives, and answers the query before it too.
        let b2 = vec![
            event(B2, 1, step(Op::Withdraw, Step::Request), 2),
            event(B2, 2, step(Op::Withdraw, Step::Execute), 2),
            event(B2, 3, EventKind::Query, 3),
            event(B2, 4, step(Op::Deposit, Step::PropagateRequest), 1),
            event(B2, 5, step(Op::Deposit, Step::PropagateExecute), 1),
        ];
        let lines: Vec<String> = check(&history(b2, -400))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "C1: query (event 3) at B2 read -400 without its own deposit 400 (event 1, at B1): B2 applied it only after (#5)",
                "B2: applied C1's deposit 400 (event 1, at B1) (#5) after its withdraw 400 (event 2, at B2) (#2), which C1 made later",
            ]
        );
    }

    #[test]
    fn a_write_never_applied_is_named_too() {
        let b2 = vec![event(B2, 1, EventKind::Query, 3)];
        let mut history = history(b2, 0);
        // C1's withdraw failed, so that only the deposit is its write before the query.
        history.events[2][1].outcome = Some(Outcome::Fail);
        let lines: Vec<String> = check(&history).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "C1: query (event 3) at B2 read 0 without its own deposit 400 (event 1, at B1): B2 never applied it"
            ]
        );
    }

    /// An output's branch entries, with the input that says whose each event is: B2 applied
    /// C1's deposit (made at B1) after its withdraw (made at B2 later).
    #[test]
    fn an_output_with_its_input_is_checked_for_monotonic_writes() {
        use crate::trace::BranchRecord;
        let record = |id: u64, op: Op, step: Step, clock: u64| BranchRecord {
            event_id: EventId(id),
            sub_event: SubEvent { op, step },
            clock,
            peer: None,
        };
        let mut trace = Trace::default();
        trace.branches.insert(
            BranchId(1),
            vec![
                record(1, Op::Deposit, Step::Request, 1),
                record(1, Op::Deposit, Step::Execute, 2),
                record(2, Op::Withdraw, Step::PropagateRequest, 5),
                record(2, Op::Withdraw, Step::PropagateExecute, 6),
            ],
        );
        trace.branches.insert(
            BranchId(2),
            vec![
                record(2, Op::Withdraw, Step::Request, 3),
                record(2, Op::Withdraw, Step::Execute, 4),
                record(1, Op::Deposit, Step::PropagateRequest, 5),
                record(1, Op::Deposit, Step::PropagateExecute, 6),
            ],
        );
        let input = r#"[
            {"id": 1, "type": "customer", "events": [
                {"id": 1, "interface": "deposit", "money": 400, "branch": 1},
                {"id": 2, "interface": "withdraw", "money": 400, "branch": 2}]},
            {"id": 1, "type": "branch", "balance": 0},
            {"id": 2, "type": "branch", "balance": 0}
        ]"#;
        let scenario = crate::scenario::input::parse("in.json", input).expect("an input");
        let lines: Vec<String> = check_output(&trace, &scenario)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "B2: applied C1's deposit 400 (event 1, at B1) (#4) after its withdraw 400 (event 2, at B2) (#2), which C1 made later"
            ]
        );
    }
}
