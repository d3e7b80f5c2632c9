//! `check` of the course's output from fall 2023 on (the three parts of
//! [`crate::trace::parts`]): any one part, or several parts of one run together. Every logged
//! event is read with its process, request, clock and what it sends or receives; each receive
//! is paired with its send by request id, sender and receiver; the `messages` clock rules are
//! replayed exactly ([`replay`]); and the protocol is checked: a customer's requests go to its
//! own branch, a deposit is propagated once to every other branch and a withdraw to all of them
//! or (rejected) to none, the file having no balances to tell which; a message is received with
//! the interface it was sent with. Parts of one run must list the same events. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::read::{ReadError, field, positive, refuse, whole};
use super::replay::{self, ClockRule, Slot, Timeline};
use super::verdict::{Format, Options, Verdict};
use super::{Finding, Rule};
use crate::model::{BranchId, ClockModel, CustomerId, Op, Process};
use crate::trace::Course;

/// Whether `items` are a part of a 2023 output: an entry of part 3 (with `logical_clock`), or
/// a process entry of parts 1 and 2 (with `events`) that is not an input's (a branch of an input
/// has a `balance`, a customer's events no `logical_clock`).
pub fn is_parts(items: &[Value]) -> bool {
    items.iter().any(|item| {
        let events = item.get("events").and_then(Value::as_array);
        item.get("logical_clock").is_some()
            || events.is_some_and(|events| {
                events
                    .iter()
                    .any(|event| event.get("logical_clock").is_some())
                    || (item.get("type").and_then(Value::as_str) == Some("branch")
                        && item.get("balance").is_none())
            })
    })
}

/// What the `interface` of a logged event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interface {
    /// `query`.
    Query,
    /// `deposit` or `withdraw`: a customer's request.
    Change(Op),
    /// `propogate_deposit` (or `propagate_...`): a branch's propagation.
    Propagate(Op),
}

impl Interface {
    fn parse(name: &str) -> Option<Interface> {
        let op = |name: &str| match name {
            "deposit" => Some(Op::Deposit),
            "withdraw" => Some(Op::Withdraw),
            _ => None,
        };
        if name == "query" {
            return Some(Interface::Query);
        }
        if let Some(op) = op(name) {
            return Some(Interface::Change(op));
        }
        let rest = name
            .strip_prefix("propogate_")
            .or_else(|| name.strip_prefix("propagate_"))?;
        op(rest).map(Interface::Propagate)
    }
}

/// What an event does, from its comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// A customer sends a request to its branch (`event_sent from customer N`).
    Request,
    /// A branch receives a customer's request (`event_recv from customer N`).
    Serve(CustomerId),
    /// A branch sends a propagation to a peer (`event_sent to branch M`).
    Forward(BranchId),
    /// A branch receives a peer's propagation (`event_recv from branch M`).
    Apply(BranchId),
}

/// One logged event as a part prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Logged {
    process: Process,
    request: u64,
    clock: u64,
    interface: Interface,
    /// The interface as printed (its spelling is the file's).
    spelled: String,
    act: Act,
    /// The comment as printed.
    comment: String,
}

impl Logged {
    /// `#3 propogate_deposit (request 2, event_recv from branch 2)`, `#n` being its position
    /// on its process.
    fn label(&self, position: usize) -> String {
        format!(
            "#{} {} (request {}, {})",
            position + 1,
            self.spelled,
            self.request,
            self.comment
        )
    }

    /// What a part writes of the event, for telling where two parts disagree.
    fn printed(&self) -> String {
        format!(
            "request {}, clock {}, {}, {}",
            self.request, self.clock, self.spelled, self.comment
        )
    }
}

/// One file's content: its name (for the lines that compare parts) and its entries.
#[derive(Debug, Clone, Copy)]
pub struct PartFile<'a> {
    /// The file's name as the user gave it.
    pub name: &'a str,
    /// Its entries (a JSON array's items).
    pub items: &'a [Value],
}

/// The events of the processes one file lists, each process's in its order.
type Listing = BTreeMap<Process, Vec<Logged>>;

/// Checks `files`, the parts of one 2023 output. A file that cannot be read is refused with
/// its index in `files`.
pub fn audit(files: &[PartFile<'_>], options: &Options) -> Result<Verdict, (usize, ReadError)> {
    if let Some(course) = options.course.filter(|&course| course != Course::Y2023) {
        let problem = format!(
            "--course {}: this is an output of the fall-2023 form (events with \
             logical_clock), which is --course 2023's",
            course.name()
        );
        return Err((0, refuse("", problem)));
    }
    if let Some(model) = options.model.filter(|&model| model != ClockModel::Messages) {
        let problem = format!(
            "--clocks {}: an output of the fall-2023 form has the messages clocks",
            model.name()
        );
        return Err((0, refuse("", problem)));
    }
    let mut listed: Vec<(usize, Listing)> = Vec::new();
    let mut all: Option<(usize, Listing)> = None;
    let mut findings = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let at = |error| (index, error);
        if file.items.is_empty() {
            return Err(at(refuse("", "the file has no entries")));
        }
        if file.items.iter().any(|item| item.get("events").is_some()) {
            let listing = read_per_process(file.items).map_err(at)?;
            for (earlier, other) in &listed {
                if let Some(process) = listing.keys().find(|p| other.contains_key(p)) {
                    let problem = format!(
                        "{} is listed here and in {}",
                        describe(*process),
                        files[*earlier].name
                    );
                    return Err(at(refuse("", problem)));
                }
            }
            listed.push((index, listing));
        } else {
            if let Some((earlier, _)) = all {
                let problem = format!(
                    "a second list of all events (the first is {})",
                    files[earlier].name
                );
                return Err(at(refuse("", problem)));
            }
            let listing = read_all(file.items, &mut findings).map_err(at)?;
            all = Some((index, listing));
        }
    }
    // Each process's events from the part that lists them per process (it gives their order),
    // else from the list of all events (by clock).
    let mut processes: Listing = BTreeMap::new();
    for (_, listing) in &listed {
        processes.extend(listing.iter().map(|(p, events)| (*p, events.clone())));
    }
    // Which kinds of process (customers: `true`) the per-process parts list.
    let listed_kinds: BTreeSet<bool> = processes.keys().map(is_customer).collect();
    if let Some((index, every)) = &all {
        for (process, events) in every {
            match listed
                .iter()
                .find(|(_, listing)| listing.contains_key(process))
            {
                Some((other, listing)) => {
                    let names = (files[*other].name, files[*index].name);
                    compare(*process, &listing[process], events, names, &mut findings);
                }
                None if listed_kinds.contains(&is_customer(process)) => {
                    let message = format!(
                        "has {} events in {} and no entry in the other parts",
                        events.len(),
                        files[*index].name
                    );
                    findings.push(at_process(Rule::EventEntries, *process, message));
                    processes.insert(*process, events.clone());
                }
                None => {
                    processes.insert(*process, events.clone());
                }
            }
        }
        for (other, listing) in &listed {
            for (process, events) in listing {
                if !events.is_empty() && !every.contains_key(process) {
                    let message = format!(
                        "has {} events in {} and none in {}",
                        events.len(),
                        files[*other].name,
                        files[*index].name
                    );
                    findings.push(at_process(Rule::EventEntries, *process, message));
                }
            }
        }
    }
    let customers_known = processes.keys().any(is_customer) || all.is_some();
    let branches_known = processes.keys().any(|p| !is_customer(p)) || all.is_some();
    let run = Run::new(&processes);
    run.check(customers_known, branches_known, &mut findings);
    let mut read = Vec::new();
    if listed_kinds.contains(&true) {
        read.push("customer events");
    }
    if listed_kinds.contains(&false) {
        read.push("branch events");
    }
    if all.is_some() {
        read.push("all events");
    }
    let mut note = format!("course 2023: {}", and_list(&read));
    if !customers_known {
        note.push_str(", without the customers' sends");
    }
    if !branches_known {
        note.push_str(", without the branches' receives");
    }
    Ok(Verdict {
        format: Format::Parts,
        course: Some(Course::Y2023),
        exact: true,
        model: ClockModel::Messages,
        propagation: crate::model::PropagationMode::Sync,
        events: processes.values().map(|events| events.len() as u64).sum(),
        processes: processes.len(),
        pairs: None,
        lamport_events: None,
        parts: Some(note),
        findings,
    })
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn is_customer(process: &Process) -> bool {
    matches!(process, Process::Customer(_))
}

/// `customer 1` or `branch 2`.
fn describe(process: Process) -> String {
    crate::trace::parts::comment_name(process)
}

fn at_process(rule: Rule, process: Process, message: String) -> Finding {
    Finding {
        rule,
        process: Some(process),
        message,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The fields an entry of parts 1 and 2 may have.
const PROCESS_FIELDS: [&str; 3] = ["id", "type", "events"];
/// The fields an event of parts 1 and 2 may have.
const EVENT_FIELDS: [&str; 4] = [
    "customer-request-id",
    "logical_clock",
    "interface",
    "comment",
];
/// The fields an entry of part 3 may have.
const ALL_FIELDS: [&str; 6] = [
    "id",
    "customer-request-id",
    "type",
    "logical_clock",
    "interface",
    "comment",
];

/// The entry at `place` as an object with no field but `allowed`.
fn object<'a>(
    item: &'a Value,
    allowed: &[&str],
    place: &str,
) -> Result<&'a Map<String, Value>, ReadError> {
    let object = item.as_object().ok_or_else(|| {
        let kind = crate::source::json_kind(item);
        refuse(place, format!("expected a JSON object, got {kind}"))
    })?;
    if let Some(name) = object.keys().find(|name| !allowed.contains(&name.as_str())) {
        let problem = format!("unknown field \"{name}\" (expected {})", allowed.join(", "));
        return Err(refuse(place, problem));
    }
    Ok(object)
}

/// The process an entry names with `id` and `type`.
fn process_of(object: &Map<String, Value>, place: &str) -> Result<Process, ReadError> {
    let id = positive(
        field(object, "id", place)?,
        "id",
        u64::from(u32::MAX),
        place,
    )?;
    let id = u32::try_from(id).unwrap_or(u32::MAX);
    match field(object, "type", place)?.as_str() {
        Some("customer") => Ok(Process::Customer(CustomerId(id))),
        Some("branch") => Ok(Process::Branch(BranchId(id))),
        _ => Err(refuse(
            place,
            "field \"type\" must be \"customer\" or \"branch\"",
        )),
    }
}

/// Reads parts 1 and 2: per process, its events in order.
fn read_per_process(items: &[Value]) -> Result<Listing, ReadError> {
    let mut listing = Listing::new();
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let object = object(item, &PROCESS_FIELDS, &place)?;
        let process = process_of(object, &place)?;
        if listing.contains_key(&process) {
            let problem = format!("{} has a second entry", describe(process));
            return Err(refuse(place, problem));
        }
        let events = field(object, "events", &place)?
            .as_array()
            .ok_or_else(|| refuse(&place, "field \"events\" must be an array"))?;
        let mut logged = Vec::with_capacity(events.len());
        for (at, event) in events.iter().enumerate() {
            let place = format!("{place}: event at index {at}");
            let object = self::object(event, &EVENT_FIELDS, &place)?;
            logged.push(read_event(process, object, &place)?);
        }
        listing.insert(process, logged);
    }
    Ok(listing)
}

/// Reads part 3, every event naming its process; each process's events are taken in the order
/// of their clocks (ties in the file's order). An entry out of the part's order (request id,
/// then clock) is a finding.
fn read_all(items: &[Value], findings: &mut Vec<Finding>) -> Result<Listing, ReadError> {
    let mut listing = Listing::new();
    let mut previous: Option<(u64, u64)> = None;
    let mut out_of_order = None;
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let object = object(item, &ALL_FIELDS, &place)?;
        let process = process_of(object, &place)?;
        let event = read_event(process, object, &place)?;
        let key = (event.request, event.clock);
        if out_of_order.is_none() && previous.is_some_and(|before| key < before) {
            out_of_order = Some((index, key, previous));
        }
        previous = Some(key);
        listing.entry(process).or_default().push(event);
    }
    if let Some((index, (request, clock), Some((before, before_clock)))) = out_of_order {
        findings.push(Finding {
            rule: Rule::EventEntries,
            process: None,
            message: format!(
                "the entry at index {index} (request {request}, clock {clock}) comes after \
                 request {before}, clock {before_clock}: all events must be ordered by \
                 request id, then by clock"
            ),
        });
    }
    for events in listing.values_mut() {
        events.sort_by_key(|event| event.clock);
    }
    Ok(listing)
}

/// Reads one event of `process`, refusing an interface or comment this form does not have.
fn read_event(
    process: Process,
    object: &Map<String, Value>,
    place: &str,
) -> Result<Logged, ReadError> {
    let request = positive(
        field(object, "customer-request-id", place)?,
        "customer-request-id",
        u64::MAX,
        place,
    )?;
    let clock = field(object, "logical_clock", place)?;
    let clock = whole(clock).ok_or_else(|| {
        let problem = format!("logical_clock must be a whole number of at least 0, got {clock}");
        refuse(place, problem)
    })?;
    let text = |name: &str| -> Result<String, ReadError> {
        let value = field(object, name, place)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| refuse(place, format!("{name} must be a string, got {value}")))
    };
    let spelled = text("interface")?;
    let interface = Interface::parse(&spelled).ok_or_else(|| {
        let problem = format!(
            "unknown interface {spelled:?} (expected query, deposit, withdraw, \
             propogate_deposit or propogate_withdraw)"
        );
        refuse(place, problem)
    })?;
    let comment = text("comment")?;
    let act = read_act(process, interface, &comment).map_err(|problem| refuse(place, problem))?;
    Ok(Logged {
        process,
        request,
        clock,
        interface,
        spelled,
        act,
        comment,
    })
}

/// What a comment says `process` did, if it is one this form has for that interface.
fn read_act(process: Process, interface: Interface, comment: &str) -> Result<Act, String> {
    let unknown = || {
        format!(
            "unknown comment {comment:?} (expected \"event_sent from customer N\", \
             \"event_recv from customer N\", \"event_recv from branch N\" or \
             \"event_sent to branch N\")"
        )
    };
    let (verb, other) = [
        ("event_sent from ", "sent from"),
        ("event_recv from ", "recv from"),
        ("event_sent to ", "sent to"),
    ]
    .into_iter()
    .find_map(|(prefix, verb)| Some((verb, comment.strip_prefix(prefix)?)))
    .ok_or_else(unknown)?;
    let id = |rest: &str| rest.parse::<u32>().ok().filter(|&id| id > 0);
    let other = if let Some(id) = other.strip_prefix("customer ").and_then(id) {
        Process::Customer(CustomerId(id))
    } else if let Some(id) = other.strip_prefix("branch ").and_then(id) {
        Process::Branch(BranchId(id))
    } else {
        return Err(unknown());
    };
    let propagates = matches!(interface, Interface::Propagate(_));
    let act = match (process, verb, other) {
        (Process::Customer(me), "sent from", Process::Customer(named)) if me == named => {
            Act::Request
        }
        (Process::Customer(_), _, _) => {
            return Err(format!(
                "a customer logs only its own sends (\"event_sent from {}\"), not {comment:?}",
                describe(process)
            ));
        }
        (Process::Branch(_), "recv from", Process::Customer(id)) => Act::Serve(id),
        (Process::Branch(_), "recv from", Process::Branch(id)) => Act::Apply(id),
        (Process::Branch(_), "sent to", Process::Branch(id)) => Act::Forward(id),
        (Process::Branch(_), _, _) => {
            return Err(format!(
                "a branch logs receives from customers and branches and sends to branches, \
                 not {comment:?}"
            ));
        }
    };
    let from_customer = matches!(act, Act::Request | Act::Serve(_));
    if from_customer == propagates {
        let expected = if from_customer {
            "query, deposit or withdraw"
        } else {
            "propogate_deposit or propogate_withdraw"
        };
        let interface = match interface {
            Interface::Query => "query".to_string(),
            Interface::Change(op) => op.name().to_string(),
            Interface::Propagate(op) => format!("propogate_{}", op.name()),
        };
        return Err(format!(
            "interface {interface} with comment {comment:?}: that comment goes with {expected}"
        ));
    }
    Ok(act)
}

/// Tells where two parts list a process's events differently: one line, at the first event
/// that differs.
fn compare(
    process: Process,
    listed: &[Logged],
    all: &[Logged],
    (listed_name, all_name): (&str, &str),
    out: &mut Vec<Finding>,
) {
    let first = listed.iter().zip(all).position(|(a, b)| a != b);
    let message = match first {
        Some(at) => format!(
            "#{} is {} in {listed_name} but {} in {all_name}",
            at + 1,
            listed[at].printed(),
            all[at].printed()
        ),
        None if listed.len() != all.len() => format!(
            "has {} events in {listed_name} but {} in {all_name}",
            listed.len(),
            all.len()
        ),
        None => return,
    };
    out.push(at_process(Rule::EventEntries, process, message));
}

// ---------------------------------------------------------------------------------------------
// Checking

/// Where an event is: its process's index, and its position on that process.
type At = (usize, usize);

/// Who sent a message, about which request, to whom (`None`: a customer's request, whose
/// comment does not name its branch).
type Key = (u64, Process, Option<Process>);

/// The events of a run, by process, and the messages between them.
struct Run<'a> {
    processes: Vec<(Process, &'a [Logged])>,
    branches: BTreeSet<BranchId>,
}

impl<'a> Run<'a> {
    fn new(listing: &'a Listing) -> Self {
        let processes: Vec<(Process, &[Logged])> = listing
            .iter()
            .map(|(process, events)| (*process, events.as_slice()))
            .collect();
        let branches = listing
            .keys()
            .filter_map(|process| match process {
                Process::Branch(id) => Some(*id),
                Process::Customer(_) => None,
            })
            .collect();
        Self {
            processes,
            branches,
        }
    }

    fn event(&self, (process, position): At) -> &Logged {
        &self.processes[process].1[position]
    }

    /// `B2 #3 propogate_deposit (request 2, event_sent to branch 1)`.
    fn label(&self, at: At) -> String {
        format!("{} {}", self.processes[at.0].0, self.event(at).label(at.1))
    }

    fn finding(&self, rule: Rule, at: At, what: &str) -> Finding {
        let event = self.event(at);
        at_process(rule, event.process, format!("{} {what}", event.label(at.1)))
    }

    fn located(&self) -> impl Iterator<Item = (At, &Logged)> {
        self.processes
            .iter()
            .enumerate()
            .flat_map(|(p, (_, events))| {
                events
                    .iter()
                    .enumerate()
                    .map(move |(i, event)| ((p, i), event))
            })
    }

    /// Every rule, in a fixed order: messages paired, requests at their branch, propagation,
    /// then the clocks replayed.
    fn check(&self, customers_known: bool, branches_known: bool, out: &mut Vec<Finding>) {
        let senders = self.pair(customers_known, branches_known, out);
        self.check_propagation(out);
        self.replay(&senders, out);
    }

    /// Pairs every receive with its send; returns the send each receive merged.
    fn pair(
        &self,
        customers_known: bool,
        branches_known: bool,
        out: &mut Vec<Finding>,
    ) -> HashMap<At, At> {
        let mut sends: HashMap<Key, At> = HashMap::new();
        for (at, event) in self.located() {
            let key = match event.act {
                Act::Request => (event.request, event.process, None),
                Act::Forward(to) => {
                    let to = Process::Branch(to);
                    if to == event.process {
                        out.push(self.finding(Rule::Messages, at, "sends to its own process"));
                        continue;
                    }
                    (event.request, event.process, Some(to))
                }
                Act::Serve(_) | Act::Apply(_) => continue,
            };
            if let Some(&first) = sends.get(&key) {
                let (rule, what) = match event.act {
                    Act::Request => (Rule::Messages, "sends this request a second time"),
                    _ => (
                        Rule::EventCount,
                        "propagates this request to it a second time",
                    ),
                };
                let text = format!("{what} (first as {})", self.label(first));
                out.push(self.finding(rule, at, &text));
            } else {
                sends.insert(key, at);
            }
        }
        let mut received: HashMap<At, At> = HashMap::new();
        let mut senders: HashMap<At, At> = HashMap::new();
        for (at, event) in self.located() {
            let (key, known) = match event.act {
                Act::Serve(customer) => {
                    let key = (event.request, Process::Customer(customer), None);
                    let home = customer.home_branch();
                    if event.process != Process::Branch(home) {
                        let text = format!("is a request of {customer}, whose branch is {home}");
                        out.push(self.finding(Rule::Messages, at, &text));
                    }
                    (key, customers_known)
                }
                Act::Apply(from) => {
                    let from = Process::Branch(from);
                    if from == event.process {
                        out.push(self.finding(Rule::Messages, at, "receives from its own process"));
                        continue;
                    }
                    ((event.request, from, Some(event.process)), branches_known)
                }
                Act::Request | Act::Forward(_) => continue,
            };
            let Some(&send) = sends.get(&key) else {
                if known {
                    let what = format!("receives a message that {} never sends", key.1);
                    out.push(self.finding(Rule::Messages, at, &what));
                }
                continue;
            };
            if let Some(&first) = received.get(&send) {
                let what = format!(
                    "receives the message of {}, already received by {}",
                    self.label(send),
                    self.label(first)
                );
                out.push(self.finding(Rule::Messages, at, &what));
                continue;
            }
            received.insert(send, at);
            senders.insert(at, send);
            let sent = self.event(send).interface;
            let same = match (sent, event.interface) {
                (Interface::Propagate(a), Interface::Propagate(b)) => a == b,
                (a, b) => a == b,
            };
            if !same {
                let what = format!(
                    "receives as {} what {} sent as {}",
                    event.spelled,
                    self.label(send),
                    self.event(send).spelled
                );
                out.push(self.finding(Rule::Messages, at, &what));
            }
        }
        let mut unreceived: Vec<At> = sends
            .iter()
            .filter(|(key, send)| {
                // A customer's request goes to a branch, which the file may not list.
                (key.2.is_some() || branches_known) && !received.contains_key(*send)
            })
            .map(|(_, &send)| send)
            .collect();
        unreceived.sort_unstable();
        for send in unreceived {
            out.push(self.finding(Rule::Messages, send, "is never received"));
        }
        senders
    }

    /// A branch propagates a deposit it received from a customer once to every other branch,
    /// a withdraw to every other branch or to none, and nothing else.
    fn check_propagation(&self, out: &mut Vec<Finding>) {
        for (index, (process, events)) in self.processes.iter().enumerate() {
            let Process::Branch(me) = *process else {
                continue;
            };
            let mut served: HashMap<u64, (usize, Interface)> = HashMap::new();
            let mut peers: HashMap<u64, BTreeSet<BranchId>> = HashMap::new();
            for (position, event) in events.iter().enumerate() {
                let at = (index, position);
                match event.act {
                    Act::Serve(_) => {
                        served
                            .entry(event.request)
                            .or_insert((position, event.interface));
                    }
                    Act::Forward(to) => {
                        let what = match served.get(&event.request) {
                            None => "propagates a request it has not received from a customer",
                            Some((_, Interface::Change(op)))
                                if event.interface != Interface::Propagate(*op) =>
                            {
                                // It still reaches the peer: the one wrong thing is its name.
                                peers.entry(event.request).or_default().insert(to);
                                "propagates a request with another interface than it came with"
                            }
                            Some((_, Interface::Query)) => "propagates a query",
                            Some(_) => {
                                peers.entry(event.request).or_default().insert(to);
                                continue;
                            }
                        };
                        out.push(self.finding(Rule::EventCount, at, what));
                    }
                    Act::Request | Act::Apply(_) => {}
                }
            }
            let mut served: Vec<(u64, (usize, Interface))> = served.into_iter().collect();
            served.sort_by_key(|(_, (position, _))| *position);
            for (request, (position, interface)) in served {
                let Interface::Change(op) = interface else {
                    continue;
                };
                let reached = peers.remove(&request).unwrap_or_default();
                let others = self.branches.len().saturating_sub(1);
                let known = |id: &&BranchId| **id != me && self.branches.contains(*id);
                // Counted first: a run of many requests and branches names no peer twice.
                let complete = reached.iter().filter(known).count() == others;
                if complete || (op == Op::Withdraw && reached.is_empty()) {
                    continue;
                }
                let missing: Vec<String> = self
                    .branches
                    .iter()
                    .filter(|&&id| id != me && !reached.contains(&id))
                    .map(ToString::to_string)
                    .collect();
                let what = match op {
                    Op::Deposit => format!("is not propagated to {}", missing.join(", ")),
                    Op::Withdraw => format!(
                        "is propagated to some branches but not to {} (an accepted withdraw \
                         goes to every other branch, a rejected one to none)",
                        missing.join(", ")
                    ),
                };
                out.push(self.finding(Rule::EventCount, (index, position), &what));
            }
        }
    }

    /// Replays the `messages` rules: a customer's send and a branch's send to a peer tick, a
    /// branch's receive merges the stamp of its send.
    fn replay(&self, senders: &HashMap<At, At>, out: &mut Vec<Finding>) {
        let timelines: Vec<Timeline> = self
            .processes
            .iter()
            .enumerate()
            .map(|(index, (_, events))| {
                events
                    .iter()
                    .enumerate()
                    .map(|(position, event)| {
                        let rule = match (event.act, senders.get(&(index, position))) {
                            (Act::Request | Act::Forward(_), _) => ClockRule::Tick,
                            (_, Some(&send)) => ClockRule::Merge(send),
                            (_, None) => ClockRule::MergeUnseen,
                        };
                        Slot::new(event.clock, rule)
                    })
                    .collect()
            })
            .collect();
        let replay = replay::replay(&timelines);
        for mismatch in &replay.mismatches {
            let merged = match timelines[mismatch.at.0][mismatch.at.1].rule {
                ClockRule::Merge(from) => format!(", merging the stamp of {}", self.label(from)),
                _ => String::new(),
            };
            let what = format!(
                "has logical_clock {}, but the rule gives {}{merged}{}",
                mismatch.printed,
                mismatch.why,
                mismatch.also_broken()
            );
            out.push(self.finding(Rule::Lamport, mismatch.at, &what));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(files: &[(&str, Value)]) -> Verdict {
        let items: Vec<(&str, Vec<Value>)> = files
            .iter()
            .map(|(name, value)| (*name, value.as_array().cloned().unwrap_or_default()))
            .collect();
        let files: Vec<PartFile<'_>> = items
            .iter()
            .map(|(name, items)| PartFile { name, items })
            .collect();
        audit(&files, &Options::default()).unwrap_or_else(|(_, error)| panic!("{error}"))
    }

    fn lines(verdict: &Verdict) -> Vec<String> {
        verdict.findings.iter().map(ToString::to_string).collect()
    }

    fn event(request: u64, clock: u64, interface: &str, comment: &str) -> Value {
        json!({"customer-request-id": request, "logical_clock": clock,
               "interface": interface, "comment": comment})
    }

    /// One customer depositing at branch 1 of two.
    fn deposit(peer_clock: u64) -> (Value, Value) {
        let customers = json!([{"id": 1, "type": "customer", "events": [
            event(1, 1, "deposit", "event_sent from customer 1")]}]);
        let branches = json!([
            {"id": 1, "type": "branch", "events": [
                event(1, 2, "deposit", "event_recv from customer 1"),
                event(1, 3, "propogate_deposit", "event_sent to branch 2")]},
            {"id": 2, "type": "branch", "events": [
                event(1, peer_clock, "propogate_deposit", "event_recv from branch 1")]}]);
        (customers, branches)
    }

    #[test]
    fn a_deposit_by_the_rules_passes() {
        let (customers, branches) = deposit(4);
        let verdict = check(&[("c", customers), ("b", branches)]);
        assert_eq!(lines(&verdict), Vec::<String>::new());
        assert_eq!(verdict.events, 4);
        assert_eq!(verdict.processes, 3);
    }

    #[test]
    fn a_receive_at_its_send_s_clock_is_named_with_the_rule() {
        let (customers, branches) = deposit(3);
        let verdict = check(&[("c", customers), ("b", branches)]);
        assert_eq!(
            lines(&verdict),
            [
                "B2: #1 propogate_deposit (request 1, event_recv from branch 1) has logical_clock \
              3, but the rule gives max(0, 3) + 1 = 4, merging the stamp of B1 #2 \
              propogate_deposit (request 1, event_sent to branch 2): not after its send"
            ]
        );
    }

    #[test]
    fn a_missing_propagation_is_named_at_the_request() {
        let (customers, _) = deposit(4);
        let branches = json!([
            {"id": 1, "type": "branch", "events": [
                event(1, 2, "deposit", "event_recv from customer 1")]},
            {"id": 2, "type": "branch", "events": []}]);
        let verdict = check(&[("c", customers), ("b", branches)]);
        assert_eq!(
            lines(&verdict),
            ["B1: #1 deposit (request 1, event_recv from customer 1) is not propagated to B2"]
        );
    }
}
