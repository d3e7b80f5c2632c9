//! Checks a recorded [`Trace`] against the invariants of the README's "Invariants" section:
//! clocks increase on every process, every deposit/withdraw happens once at its origin and once on each other branch,
//! causes come before their effects in Lamport time, and the replicas converge to the right
//! balance. Pure: it only reads the trace and returns what it found, in a deterministic order.

use std::collections::{BTreeMap, BTreeSet};

use super::{Balances, Finding, Rule};
use crate::model::{
    Action, BranchId, ClockModel, CustomerId, EventId, Op, Process, PropagationMode, Step, SubEvent,
};
use crate::trace::{BranchRecord, CustomerRecord, Outcome, Trace};

/// Checks every invariant of the README's "Invariants" section; convergence only when `balances` is given.
/// Returns every violation found (empty when all invariants hold): clock order per branch then
/// per customer, then per event id ascending, then convergence per branch ascending.
pub fn check(trace: &Trace, balances: Option<&Balances>) -> Vec<Finding> {
    let mut out = Vec::new();
    check_branch_clocks(trace, &mut out);
    check_customer_clocks(trace, &mut out);
    check_events(trace, &mut out);
    if let Some(balances) = balances {
        check_convergence(trace, balances, &mut out);
    }
    out
}

/// A branch record together with the branch that logged it.
type Located<'a> = (BranchId, &'a BranchRecord);

fn violation(rule: Rule, process: Option<Process>, message: String) -> Finding {
    Finding {
        rule,
        process,
        message,
    }
}

fn at_branch(rule: Rule, branch: BranchId, message: String) -> Finding {
    violation(rule, Some(Process::Branch(branch)), message)
}

fn at_customer(rule: Rule, customer: CustomerId, message: String) -> Finding {
    violation(rule, Some(Process::Customer(customer)), message)
}

/// `withdraw_execute (clock 9)`.
fn describe(record: &BranchRecord) -> String {
    format!("{} (clock {})", record.sub_event.name(), record.clock)
}

fn check_branch_clocks(trace: &Trace, out: &mut Vec<Finding>) {
    for (&branch, records) in &trace.branches {
        for (prev, next) in records.iter().zip(records.iter().skip(1)) {
            if next.clock <= prev.clock {
                let message = format!(
                    "event {} {} is not after the previous record, event {} {}",
                    next.event_id,
                    describe(next),
                    prev.event_id,
                    describe(prev)
                );
                out.push(at_branch(Rule::ClockIncreases, branch, message));
            }
        }
    }
}

fn check_customer_clocks(trace: &Trace, out: &mut Vec<Finding>) {
    let strict = trace.model == ClockModel::Strict;
    for (&customer, records) in &trace.customers {
        let mut previous: Option<&CustomerRecord> = None;
        for record in records {
            let (id, what) = (record.event_id, record.action.interface());
            // In the strict model a query touches no clock at all; a customer that gave up
            // waiting (indeterminate outcome) received nothing.
            let silent = (strict && record.action == Action::Query)
                || record.outcome == Outcome::Indeterminate;
            if record.received < record.sent || (!silent && record.received == record.sent) {
                let message = format!(
                    "event {id} {what} received at clock {} is not after it was sent at clock {}",
                    record.received, record.sent
                );
                out.push(at_customer(Rule::ClockIncreases, customer, message));
            }
            if let Some(prev) = previous {
                let ticks = strict && !silent;
                if record.sent < prev.received || (ticks && record.sent == prev.received) {
                    let relation = if ticks { "is not after" } else { "is before" };
                    let message = format!(
                        "event {id} {what} sent at clock {} {relation} event {} {} received at clock {}",
                        record.sent,
                        prev.event_id,
                        prev.action.interface(),
                        prev.received
                    );
                    out.push(at_customer(Rule::ClockIncreases, customer, message));
                }
            }
            if !silent && record.received <= record.reply_stamp {
                let message = format!(
                    "event {id} {what} received at clock {} is not after the reply stamped {}",
                    record.received, record.reply_stamp
                );
                out.push(at_customer(Rule::Causality, customer, message));
            }
            previous = Some(record);
        }
    }
}

fn check_events(trace: &Trace, out: &mut Vec<Finding>) {
    let mut by_event: BTreeMap<EventId, Vec<Located<'_>>> = BTreeMap::new();
    for (&branch, records) in &trace.branches {
        for record in records {
            by_event
                .entry(record.event_id)
                .or_default()
                .push((branch, record));
        }
    }
    let mut by_customer: BTreeMap<EventId, (CustomerId, &CustomerRecord)> = BTreeMap::new();
    for (&customer, records) in &trace.customers {
        for record in records {
            by_customer.insert(record.event_id, (customer, record));
        }
    }
    let changes = by_customer
        .iter()
        .filter(|(_, (_, record))| record.action.change().is_some());
    let ids: BTreeSet<EventId> = by_event
        .keys()
        .chain(changes.map(|(id, _)| id))
        .copied()
        .collect();
    for id in ids {
        let records = by_event.get(&id).map(Vec::as_slice).unwrap_or_default();
        check_event(trace, id, records, by_customer.get(&id).copied(), out);
    }
}

/// Rules 2 and 3 for one event id: its sub-events on all branches and the customer's record.
fn check_event(
    trace: &Trace,
    id: EventId,
    records: &[Located<'_>],
    customer: Option<(CustomerId, &CustomerRecord)>,
    out: &mut Vec<Finding>,
) {
    let count = Rule::EventCount;
    let of = |step: Step| {
        records
            .iter()
            .filter(move |(_, r)| r.sub_event.step == step)
    };
    let Some(&(_, first)) = of(Step::Request).next().or(records.first()) else {
        if let Some((customer, record)) = customer {
            let message = format!(
                "event {id} {} has no records on any branch",
                record.action.interface()
            );
            out.push(at_customer(count, customer, message));
        }
        return;
    };
    // The customer's request says what the event is; failing that, the branch that received it.
    let asked = customer.and_then(|(_, record)| record.action.change());
    let op = asked.map_or(first.sub_event.op, |(op, _)| op);
    let name = |step: Step| SubEvent { op, step }.name();
    for &(branch, record) in records.iter().filter(|(_, r)| r.sub_event.op != op) {
        let message = format!(
            "event {id} {} belongs to a {} event",
            record.sub_event.name(),
            op.name()
        );
        out.push(at_branch(count, branch, message));
    }
    match customer {
        Some((customer, _)) if asked.is_none() => {
            let message = format!("event {id} query has branch records ({})", describe(first));
            out.push(at_customer(count, customer, message));
            return;
        }
        Some(_) => {}
        None if !trace.customers.is_empty() => {
            let message = format!("event {id}: no customer asked for this {}", op.name());
            out.push(violation(count, None, message));
        }
        None => {}
    }

    // The origin's own steps: exactly one request and execute, at most one response.
    let strict = trace.model == ClockModel::Strict;
    for (step, required) in [
        (Step::Request, true),
        (Step::Execute, true),
        (Step::Response, strict),
    ] {
        let found = of(step).count();
        if found > 1 || (required && found == 0) {
            let expected = if required { "1" } else { "at most 1" };
            let message = format!(
                "event {id}: expected {expected} {}, found {found}",
                name(step)
            );
            out.push(violation(count, None, message));
        }
    }
    let Some(&(origin, _)) = of(Step::Request).next().or(of(Step::Execute).next()) else {
        return;
    };
    let origin_name = Process::Branch(origin);
    for &(branch, record) in records {
        let on_peer = matches!(
            record.sub_event.step,
            Step::PropagateRequest | Step::PropagateExecute
        );
        let place = match (on_peer, branch == origin) {
            (true, true) => "is on the origin branch".to_string(),
            (false, false) => format!("is not on the origin {origin_name}"),
            _ => continue,
        };
        let message = format!("event {id} {} {place}", record.sub_event.name());
        out.push(at_branch(count, branch, message));
    }
    if let Some((customer, _)) = customer.filter(|_| !trace.roaming) {
        let home = customer.home_branch();
        if home != origin {
            let message = format!(
                "event {id} {} went to {origin_name}, not to its home branch {home}",
                op.name()
            );
            out.push(at_customer(count, customer, message));
        }
    }

    // Propagation: one pair on each other branch and one response from each, or none at all.
    let peers = trace.branch_count().saturating_sub(1);
    let propagation = [
        Step::PropagateRequest,
        Step::PropagateExecute,
        Step::PropagateResponse,
    ];
    let propagated = records
        .iter()
        .any(|(_, r)| propagation.contains(&r.sub_event.step));
    if propagated {
        for step in propagation {
            check_propagation_count(id, SubEvent { op, step }, origin, peers, of(step), out);
        }
    } else if peers > 0 && op == Op::Deposit && trace.customers.is_empty() {
        let message = format!(
            "event {id}: deposit was rejected (never propagated), but only a withdraw can be"
        );
        out.push(violation(count, None, message));
    }
    if let Some((customer, record)) = customer.filter(|_| peers > 0) {
        let what = record.action.interface();
        let message = match (record.outcome, propagated) {
            (Outcome::Success, false) => {
                format!("event {id} {what} says success but was never propagated")
            }
            (Outcome::Fail, true) => format!("event {id} {what} says fail but was propagated"),
            (Outcome::Balance(balance), _) => {
                format!("event {id} {what} was answered with a balance ({balance})")
            }
            _ => String::new(),
        };
        if !message.is_empty() {
            out.push(at_customer(count, customer, message));
        }
    }
    check_causality(id, origin, records, customer, trace.propagation, out);
}

/// Counts one propagation step: `found` is the number of distinct peers it was seen for (records
/// without a peer each count once); a peer seen more than once is reported on its own.
fn check_propagation_count<'a>(
    id: EventId,
    sub_event: SubEvent,
    origin: BranchId,
    peers: usize,
    records: impl Iterator<Item = &'a Located<'a>>,
    out: &mut Vec<Finding>,
) {
    let (name, response) = (sub_event.name(), sub_event.step == Step::PropagateResponse);
    let mut per_key: BTreeMap<Option<BranchId>, usize> = BTreeMap::new();
    for &(branch, record) in records {
        let key = if response { record.peer } else { Some(branch) };
        if key != Some(origin) || response {
            *per_key.entry(key).or_default() += 1;
        }
    }
    let unnamed = per_key.get(&None).copied().unwrap_or_default();
    let found = per_key.keys().filter(|key| key.is_some()).count() + unnamed;
    if found != peers {
        let how = if response { "from" } else { "on" };
        let message = format!(
            "event {id}: expected {peers} {name} (one {how} each other branch), found {found}"
        );
        out.push(violation(Rule::EventCount, None, message));
    }
    let applied = sub_event.step == Step::PropagateExecute;
    let verb = if applied { "applied" } else { "recorded" };
    for (peer, times) in per_key.into_iter().filter_map(|(key, n)| Some((key?, n))) {
        let times = match times {
            1 => continue,
            2 => "twice".to_string(),
            n => format!("{n} times"),
        };
        let (branch, what) = match response {
            true => (origin, format!("{name} from {}", Process::Branch(peer))),
            false => (peer, name.clone()),
        };
        let message = format!("event {id} {what} {verb} {times}");
        out.push(at_branch(Rule::EventCount, branch, message));
    }
}

/// Pushes a causality violation unless `later` has a larger clock than `earlier`.
fn require_after(id: EventId, later: Located<'_>, earlier: Located<'_>, out: &mut Vec<Finding>) {
    if later.1.clock > earlier.1.clock {
        return;
    }
    let place = if later.0 == earlier.0 {
        String::new()
    } else {
        format!(" on {}", Process::Branch(earlier.0))
    };
    let message = format!(
        "event {id} {} is not after {}{place}",
        describe(later.1),
        describe(earlier.1)
    );
    out.push(at_branch(Rule::Causality, later.0, message));
}

/// Rule 3 for one event whose origin is known; `customer` is who asked, if recorded; `propagation`
/// says whether the reply waited for the acknowledgements.
fn check_causality(
    id: EventId,
    origin: BranchId,
    records: &[Located<'_>],
    customer: Option<(CustomerId, &CustomerRecord)>,
    propagation: PropagationMode,
    out: &mut Vec<Finding>,
) {
    let of = |step: Step| {
        records
            .iter()
            .copied()
            .filter(move |(_, r)| r.sub_event.step == step)
    };
    let at_origin = |step: Step| of(step).find(|&(branch, _)| branch == origin);
    let first_on = |step: Step, branch: BranchId| of(step).find(|&(b, _)| b == branch);
    let (request, execute, response) = (
        at_origin(Step::Request),
        at_origin(Step::Execute),
        at_origin(Step::Response),
    );
    if let (Some(request), Some(execute)) = (request, execute) {
        require_after(id, execute, request, out);
    }
    for propagate in of(Step::PropagateRequest).filter(|&(branch, _)| branch != origin) {
        if let Some(execute) = execute {
            require_after(id, propagate, execute, out);
        }
    }
    for applied in of(Step::PropagateExecute).filter(|&(branch, _)| branch != origin) {
        if let Some(received) = first_on(Step::PropagateRequest, applied.0) {
            require_after(id, applied, received, out);
        }
    }
    // Each acknowledgement comes after the peer first applied the change.
    let answers: Vec<Located<'_>> = of(Step::PropagateResponse)
        .filter(|&(b, _)| b == origin)
        .collect();
    let mut applied: Vec<Located<'_>> = of(Step::PropagateExecute)
        .filter(|&(branch, record)| {
            branch != origin && first_on(Step::PropagateExecute, branch) == Some((branch, record))
        })
        .collect();
    if answers.iter().all(|(_, r)| r.peer.is_some()) {
        for &answer in &answers {
            if let Some(&done) = applied
                .iter()
                .find(|(branch, _)| Some(*branch) == answer.1.peer)
            {
                require_after(id, answer, done, out);
            }
        }
    } else {
        let mut sorted = answers.clone();
        sorted.sort_by_key(|(_, r)| r.clock);
        applied.sort_by_key(|(_, r)| r.clock);
        for (&answer, &done) in sorted.iter().zip(&applied) {
            require_after(id, answer, done, out);
        }
    }
    // The reply comes after the execute; after every acknowledgement too, unless the change
    // was answered before it was propagated.
    let acknowledged_first = propagation == PropagationMode::Sync;
    if let Some(response) = response {
        let answers = answers.iter().filter(|_| acknowledged_first);
        for &answer in execute.iter().chain(answers) {
            require_after(id, response, answer, out);
        }
    }
    let Some((customer, record)) = customer else {
        return;
    };
    let (sent, reply_stamp, op) = (record.sent, record.reply_stamp, record.action.interface());
    if let Some(request) = request.filter(|(_, r)| sent >= r.clock) {
        let message = format!(
            "event {id} {op} sent at clock {sent} is not before {} on {}",
            describe(request.1),
            Process::Branch(origin)
        );
        out.push(at_customer(Rule::Causality, customer, message));
    }
    if let Some(response) = response.filter(|(_, r)| r.clock != reply_stamp) {
        let message = format!(
            "event {id} {op} reply stamped {reply_stamp} differs from {} on {}",
            describe(response.1),
            Process::Branch(origin)
        );
        out.push(at_customer(Rule::Causality, customer, message));
    }
}

fn check_convergence(trace: &Trace, balances: &Balances, out: &mut Vec<Finding>) {
    let rule = Rule::Convergence;
    for &branch in trace
        .branches
        .keys()
        .filter(|b| !balances.finals.contains_key(b))
    {
        out.push(at_branch(rule, branch, "no final balance".to_string()));
    }
    if trace.customers.is_empty() {
        let Some((&first, &reference)) = balances.finals.iter().next() else {
            return;
        };
        for (&branch, &balance) in balances.finals.iter().filter(|&(_, &b)| b != reference) {
            let message = format!(
                "final balance {balance} differs from {}'s {reference}",
                Process::Branch(first)
            );
            out.push(at_branch(rule, branch, message));
        }
        return;
    }
    let (mut deposits, mut withdrawals) = (0_i128, 0_i128);
    // An indeterminate change counts if its origin carried it out (it executed it and
    // propagated it, or there is no one to propagate to).
    let carried_out = |record: &CustomerRecord| match record.outcome {
        Outcome::Success => true,
        Outcome::Indeterminate => trace.branches.values().flatten().any(|branch_record| {
            branch_record.event_id == record.event_id
                && branch_record.sub_event.step == Step::PropagateExecute
        }),
        Outcome::Fail | Outcome::Balance(_) => false,
    };
    let records = trace.customers.values().flatten();
    for record in records.filter(|r| carried_out(r)) {
        match record.action.change() {
            Some((Op::Deposit, amount)) => deposits += i128::from(amount),
            Some((Op::Withdraw, amount)) => withdrawals += i128::from(amount),
            None => {}
        }
    }
    let initial = balances.initial;
    let expected = i128::from(initial) + deposits - withdrawals;
    for (&branch, &balance) in balances
        .finals
        .iter()
        .filter(|&(_, &b)| i128::from(b) != expected)
    {
        let message = format!(
            "final balance {balance} differs from the expected {expected} \
             (initial {initial} + deposits {deposits} - withdrawals {withdrawals})"
        );
        out.push(at_branch(rule, branch, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Op = Op::Deposit;
    const W: Op = Op::Withdraw;
    use Step::{
        Execute as Ex, PropagateExecute as PEx, PropagateRequest as PReq,
        PropagateResponse as PResp, Request as Req, Response as Resp,
    };

    fn rec(id: u64, op: Op, step: Step, clock: u64, peer: Option<u32>) -> BranchRecord {
        let sub_event = SubEvent { op, step };
        let peer = peer.map(BranchId);
        BranchRecord {
            event_id: EventId(id),
            sub_event,
            clock,
            peer,
        }
    }

    fn cust(id: u64, action: Action, times: [u64; 3], outcome: Outcome) -> CustomerRecord {
        let [sent, reply_stamp, received] = times;
        CustomerRecord {
            event_id: EventId(id),
            action,
            sent,
            reply_stamp,
            received,
            outcome,
            branch: None,
        }
    }

    /// The original sample: C2 deposits 170 (event 2) at B2, C3 withdraws 70 (event 4) at B3.
    fn sample() -> Trace {
        let branches = BTreeMap::from([
            (
                BranchId(1),
                vec![
                    rec(2, D, PReq, 3, Some(2)),
                    rec(2, D, PEx, 4, Some(2)),
                    rec(4, W, PReq, 10, Some(3)),
                    rec(4, W, PEx, 11, Some(3)),
                ],
            ),
            (
                BranchId(2),
                vec![
                    rec(2, D, Req, 1, None),
                    rec(2, D, Ex, 2, None),
                    rec(2, D, PResp, 5, Some(1)),
                    rec(2, D, PResp, 8, Some(3)),
                    rec(2, D, Resp, 9, None),
                    rec(4, W, PReq, 13, Some(3)),
                    rec(4, W, PEx, 14, Some(3)),
                ],
            ),
            (
                BranchId(3),
                vec![
                    rec(2, D, PReq, 6, Some(2)),
                    rec(2, D, PEx, 7, Some(2)),
                    rec(4, W, Req, 8, None),
                    rec(4, W, Ex, 9, None),
                    rec(4, W, PResp, 12, Some(1)),
                    rec(4, W, PResp, 15, Some(2)),
                    rec(4, W, Resp, 16, None),
                ],
            ),
        ]);
        let customers = BTreeMap::from([
            (
                CustomerId(1),
                vec![cust(1, Action::Query, [0, 0, 1], Outcome::Balance(400))],
            ),
            (
                CustomerId(2),
                vec![
                    cust(2, Action::Deposit(170), [0, 9, 10], Outcome::Success),
                    cust(3, Action::Query, [10, 9, 11], Outcome::Balance(570)),
                ],
            ),
            (
                CustomerId(3),
                vec![
                    cust(4, Action::Withdraw(70), [0, 16, 17], Outcome::Success),
                    cust(5, Action::Query, [17, 16, 18], Outcome::Balance(500)),
                ],
            ),
        ]);
        Trace {
            model: ClockModel::Original,
            branches,
            customers,
            silent_branches: 0,
            roaming: false,
            propagation: PropagationMode::Sync,
        }
    }

    /// The sample without the (unlogged) reply ticks.
    fn without_responses(mut trace: Trace) -> Trace {
        for records in trace.branches.values_mut() {
            records.retain(|r| r.sub_event.step != Resp);
        }
        trace
    }

    /// The sample as read back from an output file: no reply ticks, no peers, no customers.
    fn as_output_file(trace: Trace) -> Trace {
        let mut trace = without_responses(trace);
        trace
            .branches
            .values_mut()
            .flatten()
            .for_each(|r| r.peer = None);
        trace.customers.clear();
        trace
    }

    fn balances(finals: [i64; 3]) -> Balances {
        let finals = (1..).map(BranchId).zip(finals).collect();
        Balances {
            initial: 400,
            finals,
        }
    }

    fn branch(trace: &mut Trace, id: u32) -> &mut Vec<BranchRecord> {
        trace
            .branches
            .get_mut(&BranchId(id))
            .expect("branch in sample")
    }

    fn customer(trace: &mut Trace, id: u32) -> &mut Vec<CustomerRecord> {
        trace
            .customers
            .get_mut(&CustomerId(id))
            .expect("customer in sample")
    }

    fn remove(trace: &mut Trace, branch_id: u32, id: u64, step: Step) {
        branch(trace, branch_id).retain(|r| (r.event_id, r.sub_event.step) != (EventId(id), step));
    }

    fn lines(trace: &Trace, finals: Option<[i64; 3]>) -> Vec<(Rule, String)> {
        let balances = finals.map(balances);
        check(trace, balances.as_ref())
            .iter()
            .map(|v| (v.rule, v.to_string()))
            .collect()
    }

    /// Asserts the trace (checked with the sample's finals) breaks exactly one rule, as `line`.
    fn assert_only(trace: &Trace, rule: Rule, line: &str) {
        assert_eq!(lines(trace, Some([500; 3])), vec![(rule, line.to_string())]);
    }

    #[test]
    fn the_sample_holds_in_every_form() {
        assert_eq!(lines(&sample(), Some([500; 3])), vec![]);
        assert_eq!(lines(&without_responses(sample()), Some([500; 3])), vec![]);
        assert_eq!(lines(&as_output_file(sample()), Some([500; 3])), vec![]);
        assert_eq!(lines(&as_output_file(sample()), None), vec![]);
    }

    #[test]
    fn branch_clock_going_backwards() {
        let mut trace = without_responses(sample());
        branch(&mut trace, 2)[3].clock = 14; // deposit_propagate_response from B3
        assert_only(
            &trace,
            Rule::ClockIncreases,
            "B2: event 4 withdraw_propagate_request (clock 13) is not after the previous \
             record, event 2 deposit_propagate_response (clock 14)",
        );
    }

    #[test]
    fn customer_clock_going_backwards() {
        let mut trace = sample();
        customer(&mut trace, 2)[1].sent = 9;
        assert_only(
            &trace,
            Rule::ClockIncreases,
            "C2: event 3 query sent at clock 9 is before event 2 deposit received at clock 10",
        );
    }

    #[test]
    fn customer_receiving_before_sending() {
        let mut trace = sample();
        customer(&mut trace, 1)[0] = cust(1, Action::Query, [3, 0, 3], Outcome::Balance(400));
        assert_only(
            &trace,
            Rule::ClockIncreases,
            "C1: event 1 query received at clock 3 is not after it was sent at clock 3",
        );
    }

    #[test]
    fn missing_propagation() {
        let mut trace = sample();
        remove(&mut trace, 1, 4, PEx);
        assert_only(
            &trace,
            Rule::EventCount,
            "event 4: expected 2 withdraw_propagate_execute (one on each other branch), found 1",
        );
    }

    #[test]
    fn missing_propagate_response() {
        let mut trace = as_output_file(sample());
        remove(&mut trace, 2, 2, PResp);
        assert_eq!(
            lines(&trace, None),
            vec![(
                Rule::EventCount,
                "event 2: expected 2 deposit_propagate_response (one from each other branch), found 0"
                    .to_string()
            )]
        );
    }

    #[test]
    fn event_applied_twice() {
        let mut trace = sample();
        branch(&mut trace, 2).push(rec(4, W, PEx, 20, Some(3)));
        assert_only(
            &trace,
            Rule::EventCount,
            "B2: event 4 withdraw_propagate_execute applied twice",
        );
    }

    #[test]
    fn propagate_request_not_after_execute() {
        let mut trace = sample();
        branch(&mut trace, 1)[2].clock = 9;
        assert_only(
            &trace,
            Rule::Causality,
            "B1: event 4 withdraw_propagate_request (clock 9) is not after withdraw_execute \
             (clock 9) on B3",
        );
    }

    #[test]
    fn propagate_response_not_after_peer_execute() {
        let line = "B3: event 4 withdraw_propagate_response (clock 14) is not after \
                    withdraw_propagate_execute (clock 14) on B2";
        let mut trace = sample();
        branch(&mut trace, 3)[5].clock = 14;
        assert_only(&trace, Rule::Causality, line);
        // Without peers the responses are matched to the executes by clock order.
        let mut trace = as_output_file(trace);
        assert_only(&trace, Rule::Causality, line);
        // The first response then lands on the fastest execute.
        branch(&mut trace, 3)[4].clock = 10;
        let found = lines(&trace, Some([500; 3]));
        assert!(
            found.contains(&(
                Rule::Causality,
                "B3: event 4 withdraw_propagate_response (clock 10) is not after \
             withdraw_propagate_execute (clock 11) on B1"
                    .to_string()
            ))
        );
    }

    #[test]
    fn response_before_a_propagate_response() {
        let mut trace = sample();
        let b3 = branch(&mut trace, 3);
        b3.truncate(5);
        b3.extend([rec(4, W, Resp, 15, None), rec(4, W, PResp, 16, Some(2))]);
        customer(&mut trace, 3)[0].reply_stamp = 15;
        assert_only(
            &trace,
            Rule::Causality,
            "B3: event 4 withdraw_response (clock 15) is not after \
             withdraw_propagate_response (clock 16)",
        );
    }

    #[test]
    fn customer_sent_not_before_request() {
        let mut trace = sample();
        customer(&mut trace, 2)[0].sent = 1;
        assert_only(
            &trace,
            Rule::Causality,
            "C2: event 2 deposit sent at clock 1 is not before deposit_request (clock 1) \
             on B2",
        );
    }

    #[test]
    fn reply_stamp_differs_from_response() {
        let mut trace = sample();
        customer(&mut trace, 3)[0].reply_stamp = 15;
        assert_only(
            &trace,
            Rule::Causality,
            "C3: event 4 withdraw reply stamped 15 differs from withdraw_response \
             (clock 16) on B3",
        );
    }

    #[test]
    fn received_not_after_reply() {
        let mut trace = sample();
        customer(&mut trace, 3)[0].received = 16;
        assert_only(
            &trace,
            Rule::Causality,
            "C3: event 4 withdraw received at clock 16 is not after the reply stamped 16",
        );
    }

    #[test]
    fn rejected_deposit() {
        let mut trace = as_output_file(sample());
        for b in 1..=3 {
            for step in [PReq, PEx, PResp] {
                remove(&mut trace, b, 2, step);
            }
        }
        assert_only(
            &trace,
            Rule::EventCount,
            "event 2: deposit was rejected (never propagated), but only a withdraw can be",
        );
    }

    #[test]
    fn rejected_withdraw_and_overflowing_deposit_are_fine() {
        let mut trace = sample();
        for b in 1..=3 {
            for step in [PReq, PEx, PResp] {
                remove(&mut trace, b, 4, step);
                remove(&mut trace, b, 2, step);
            }
        }
        customer(&mut trace, 2)[0].outcome = Outcome::Fail;
        customer(&mut trace, 3)[0].outcome = Outcome::Fail;
        assert_eq!(lines(&trace, Some([400; 3])), vec![]);
    }

    #[test]
    fn success_without_propagation() {
        let mut trace = sample();
        for b in 1..=3 {
            for step in [PReq, PEx, PResp] {
                remove(&mut trace, b, 4, step);
            }
        }
        assert_only(
            &trace,
            Rule::EventCount,
            "C3: event 4 withdraw says success but was never propagated",
        );
    }

    #[test]
    fn fail_with_propagation() {
        let mut trace = sample();
        customer(&mut trace, 3)[0].outcome = Outcome::Fail;
        let found = lines(&trace, Some([570; 3]));
        let line = "C3: event 4 withdraw says fail but was propagated".to_string();
        assert_eq!(found, vec![(Rule::EventCount, line)]);
    }

    #[test]
    fn replicas_that_disagree() {
        let trace = as_output_file(sample());
        let line = "B3: final balance 430 differs from B1's 500".to_string();
        assert_eq!(
            lines(&trace, Some([500, 500, 430])),
            vec![(Rule::Convergence, line)]
        );
    }

    #[test]
    fn final_balance_off_from_the_operations() {
        let found = lines(&sample(), Some([500, 470, 500]));
        let line = "B2: final balance 470 differs from the expected 500 \
                    (initial 400 + deposits 170 - withdrawals 70)";
        assert_eq!(found, vec![(Rule::Convergence, line.to_string())]);
    }

    #[test]
    fn mixed_operations_within_one_event() {
        let mut trace = sample();
        branch(&mut trace, 1)[2].sub_event.op = D;
        assert_only(
            &trace,
            Rule::EventCount,
            "B1: event 4 deposit_propagate_request belongs to a withdraw event",
        );
    }

    #[test]
    fn origin_not_the_home_branch() {
        let mut trace = sample();
        let records = trace.customers.remove(&CustomerId(3)).expect("C3");
        trace.customers.insert(CustomerId(4), records);
        assert_only(
            &trace,
            Rule::EventCount,
            "C4: event 4 withdraw went to B3, not to its home branch B4",
        );
    }

    #[test]
    fn customer_request_without_branch_records() {
        let mut trace = sample();
        trace
            .branches
            .values_mut()
            .for_each(|records| records.retain(|r| r.event_id != EventId(2)));
        let found = lines(&trace, None);
        let line = "C2: event 2 deposit has no records on any branch".to_string();
        assert_eq!(found, vec![(Rule::EventCount, line)]);
    }

    #[test]
    fn every_violation_is_reported_in_order() {
        let mut trace = sample();
        remove(&mut trace, 2, 2, Req);
        customer(&mut trace, 3)[0].received = 16;
        let found = lines(&trace, Some([500, 500, 1]));
        let rules: Vec<Rule> = found.iter().map(|(rule, _)| *rule).collect();
        assert_eq!(
            rules,
            [Rule::Causality, Rule::EventCount, Rule::Convergence]
        );
        assert_eq!(found[1].1, "event 2: expected 1 deposit_request, found 0");
    }

    /// A strict two-branch run: C1 deposits 50 at B1 then queries.
    fn strict() -> Trace {
        let branches = BTreeMap::from([
            (
                BranchId(1),
                vec![
                    rec(1, D, Req, 2, None),
                    rec(1, D, Ex, 3, None),
                    rec(1, D, PResp, 6, Some(2)),
                    rec(1, D, Resp, 7, None),
                ],
            ),
            (
                BranchId(2),
                vec![rec(1, D, PReq, 4, Some(1)), rec(1, D, PEx, 5, Some(1))],
            ),
        ]);
        let customers = BTreeMap::from([(
            CustomerId(1),
            vec![
                cust(1, Action::Deposit(50), [1, 7, 8], Outcome::Success),
                cust(2, Action::Query, [8, 7, 8], Outcome::Balance(150)),
            ],
        )]);
        Trace {
            model: ClockModel::Strict,
            branches,
            customers,
            silent_branches: 0,
            roaming: false,
            propagation: PropagationMode::Sync,
        }
    }

    #[test]
    fn strict_model() {
        let finals = BTreeMap::from([(BranchId(1), 150), (BranchId(2), 150)]);
        let balances = Balances {
            initial: 100,
            finals,
        };
        assert_eq!(check(&strict(), Some(&balances)), vec![]);

        let mut trace = strict();
        remove(&mut trace, 1, 1, Resp);
        let found: Vec<String> = check(&trace, None)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, ["event 1: expected 1 deposit_response, found 0"]);

        // A strict send ticks: a deposit may not be stamped with the previous receive's clock.
        let mut trace = strict();
        customer(&mut trace, 1)[1] = cust(2, Action::Deposit(1), [8, 9, 10], Outcome::Success);
        let found = check(&trace, None);
        assert_eq!(found.first().map(|v| v.rule), Some(Rule::ClockIncreases));
        assert_eq!(
            found.first().map(ToString::to_string).as_deref(),
            Some(
                "C1: event 2 deposit sent at clock 8 is not after event 1 deposit received at clock 8"
            )
        );
    }

    #[test]
    fn single_branch_has_nothing_to_propagate() {
        let branches = BTreeMap::from([(
            BranchId(1),
            vec![rec(1, D, Req, 1, None), rec(1, D, Ex, 2, None)],
        )]);
        let customers = BTreeMap::from([(
            CustomerId(1),
            vec![cust(1, Action::Deposit(5), [0, 2, 3], Outcome::Success)],
        )]);
        let trace = Trace {
            model: ClockModel::Original,
            branches,
            customers,
            silent_branches: 0,
            roaming: false,
            propagation: PropagationMode::Sync,
        };
        let balances = Balances {
            initial: 0,
            finals: BTreeMap::from([(BranchId(1), 5)]),
        };
        assert_eq!(check(&trace, Some(&balances)), vec![]);
    }
}
