//! `lamport-bank check FILE [FILE...]`: reads a run's output (the JSON array of the README's
//! "Output", ours, the original Python program's or a course year's; the parts of a fall-2023
//! output go to [`parts`]), Project 1 results ([`recv`]) or a `--trace` file, tells which from
//! the content, and verifies every rule the content allows.
//!
//! - **Output files** carry only the branches' sub-events and clocks: the invariants through
//!   [`check::check`] (no peers, no customers, no balances), and the per-event entries must list
//!   exactly the branches' sub-events, sorted by clock. The clock model is `strict` when an
//!   `X_response` appears, `original` otherwise.
//! - **Trace files** carry everything: events numbered 1, 2, 3, ... on each process; Lamport
//!   clocks that tick (or stay) by the model's rules; vector clocks that match a recomputation
//!   from each event's predecessor and, for a merging receive, the sender's vector; messages that
//!   link one send to one receive, never received before they are sent; Lamport's clock
//!   condition on every message; and the invariants over the derived trace, with the balances the
//!   trace carries.
//!
//! Checks overlap on purpose (a clock that goes backwards breaks both the Lamport rule and
//! invariant 1): each line names what its rule sees. Pure: it reads text and returns a [`Verdict`];
//! the work is linear in events × processes, never in pairs of events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read};

use serde_json::{Map, Value};

use super::causality::{self, MessageMap, format_vector, label};
use super::parts::{self, PartFile};
pub use super::read::ReadError;
use super::read::{field, positive, refuse, whole};
use super::replay::{self, ClockRule, Slot, Timeline};
pub use super::verdict::{Format, Options, Pairs, Verdict};
use super::{Balances, Finding, Rule, money, recv, sessions, spec};
use crate::model::{BranchId, ClockModel, EventId, Process, PropagationMode, Step, SubEvent};
use crate::source::{self, SourceError, json_kind, split_json_error};
use crate::trace::{
    BranchRecord, Course, EventKind, History, Trace, TraceEvent, file as tracefile,
};

/// Reads a file's content, tells an output from a trace by its first line, and checks it.
pub fn audit(mut input: impl BufRead, options: &Options) -> Result<Verdict, ReadError> {
    let mut first = String::new();
    let unreadable = |error: SourceError| refuse("", error.to_string());
    source::read_line_with_ending(&mut input, &mut first, 1).map_err(unreadable)?;
    if tracefile::is_trace_header(first.trim_end()) {
        let history = tracefile::read(first.as_bytes().chain(input)).map_err(|error| {
            let place = match error.line {
                0 => String::new(),
                line => format!("line {line}"),
            };
            refuse(place, error.problem.to_string())
        })?;
        return Ok(audit_history(&history));
    }
    let mut text = first;
    source::read_rest(&mut input, &mut text, source::MAX_FILE_BYTES).map_err(unreadable)?;
    audit_output(&text, options)
}

/// Checks several files together, `(name, text)` each: the parts of one 2023 output, the only
/// files that are checked together. A refusal names its file.
pub fn audit_together(files: &[(&str, String)], options: &Options) -> Result<Verdict, ReadError> {
    let named = |name: &str, error: ReadError| match error.place.as_str() {
        "" => refuse(name, error.problem),
        place => refuse(format!("{name}: {place}"), error.problem),
    };
    let mut roots = Vec::with_capacity(files.len());
    for (name, text) in files {
        let root = parse_json(text).map_err(|error| named(name, error))?;
        let is_part = root.as_array().is_some_and(|items| parts::is_parts(items));
        if !is_part {
            let problem = "not a part of a fall-2023 output (events with \"logical_clock\"): \
                           only those parts of one run are checked together";
            return Err(refuse(*name, problem));
        }
        roots.push(root);
    }
    let parts: Vec<PartFile<'_>> = files
        .iter()
        .zip(&roots)
        .map(|((name, _), root)| PartFile {
            name,
            items: root.as_array().map_or(&[], Vec::as_slice),
        })
        .collect();
    parts::audit(&parts, options).map_err(|(index, error)| named(files[index].0, error))
}

/// Parses `text` as JSON, with the line and column of what is malformed.
fn parse_json(text: &str) -> Result<Value, ReadError> {
    serde_json::from_str(text).map_err(|error| {
        let (place, message) = split_json_error(&error);
        refuse(place, format!("malformed JSON: {message}"))
    })
}

// ---------------------------------------------------------------------------------------------
// Output files

/// The sub-events an output's per-event entry lists, in its order.
type EventEntries = BTreeMap<EventId, Vec<(SubEvent, u64)>>;

/// Checks an output in the format of the README's "Output", or of a course year's, or
/// Project 1 results (with the run's input).
pub fn audit_output(text: &str, options: &Options) -> Result<Verdict, ReadError> {
    let root = parse_json(text)?;
    if let Some(items) = root.as_array().filter(|items| recv::is_recv(items)) {
        return audit_recv(items, options);
    }
    if let Some(items) = root
        .as_array()
        .filter(|items| recv::is_last_balances(items))
    {
        return audit_last_balances(items, options);
    }
    if let Some(items) = root.as_array().filter(|items| parts::is_parts(items)) {
        let file = PartFile {
            name: "the file",
            items,
        };
        return parts::audit(&[file], options).map_err(|(_, error)| error);
    }
    if options.course == Some(Course::Y2023) {
        let problem = "--course 2023: this is not an output of the fall-2023 form (its parts \
                       list events with \"logical_clock\")";
        return Err(refuse("", problem));
    }
    let (
        mut trace,
        entries,
        Seen {
            course: seen,
            spelled,
        },
    ) = parse_output(&root)?;
    let course = options.course.or(seen);
    if let Some(model) = options.model.or(course.map(|_| ClockModel::Strict)) {
        trace.model = model;
    }

    let found = trace.branches.len();
    if let Some(wanted) = options.branches {
        if wanted < found {
            let problem =
                format!("--branches {wanted} is fewer than the {found} branch entries in the file");
            return Err(refuse("", problem));
        }
        // Branches with no events are absent from some outputs: they count as other branches
        // all the same, though nothing else is known of them.
        trace.silent_branches = wanted - found;
    }
    let exact = course.is_none_or(Course::exact);
    let rules = |trace: &Trace| {
        if exact {
            let mut findings = replay_output(trace);
            findings.extend(without_clock_order(spec::check(trace, None)));
            findings
        } else {
            // Rules not known exactly: the clocks' order only (the invariants' rules 1 and 3).
            spec::check(trace, None)
        }
    };
    // Unless told, the file is read both ways (answered after its propagation or right after
    // its execute, which only moves the reply), and the reading that breaks fewer rules kept.
    trace.propagation = options.propagation.unwrap_or_default();
    let mut findings = rules(&trace);
    if options.propagation.is_none() && !findings.is_empty() && course.is_none() {
        let mut answered_first = trace.clone();
        answered_first.propagation = PropagationMode::Async;
        let other = rules(&answered_first);
        if other.len() < findings.len() {
            (trace, findings) = (answered_first, other);
        }
    }
    // The two parts of the file must agree as printed, whatever the rules say of the clocks.
    check_event_entries(&trace, &entries, &mut findings);
    // With the input, whose customers the events are: their writes applied in their order.
    if let Some(scenario) = &options.scenario {
        findings.extend(sessions::check_output(&trace, scenario));
    }
    // The lines name the propagation steps as the file spells them.
    let word = match spelled {
        Some(Course::Y2021) => Some("_broadcast_"),
        Some(Course::Y2022) => Some("_propogate_"),
        _ => None,
    };
    if let Some(word) = word {
        for finding in &mut findings {
            finding.message = finding.message.replace("_propagate_", word);
        }
    }
    Ok(Verdict {
        format: Format::Output,
        course,
        exact,
        model: trace.model,
        propagation: trace.propagation,
        events: trace
            .branches
            .values()
            .map(|records| records.len() as u64)
            .sum(),
        processes: trace.branch_count(),
        pairs: None,
        lamport_events: None,
        parts: None,
        findings,
    })
}

/// What an output's names and keys tell of its year.
struct Seen {
    /// The year its format is of (2022 for `pid` keys with no year's spelling).
    course: Option<Course>,
    /// The year whose spelling of the propagation steps it uses, if not ours.
    spelled: Option<Course>,
}

fn parse_output(root: &Value) -> Result<(Trace, EventEntries, Seen), ReadError> {
    let Value::Array(items) = root else {
        let problem = format!(
            "expected a JSON array (a run's output) or a trace header line, got {}",
            json_kind(root)
        );
        return Err(refuse("", problem));
    };
    let is_process = |item: &Value| {
        let kind = item.get("type").and_then(Value::as_str);
        item.get("data").is_none() && matches!(kind, Some("customer" | "branch"))
    };
    if items.iter().any(is_process) {
        let problem = "this is an input file (branch and customer processes), not a run's \
                       output or trace: `lamport-bank run FILE` runs it";
        return Err(refuse("", problem));
    }
    let mut trace = Trace::default();
    let mut spelled = None;
    let mut keyed_pid = false;
    let mut entries = EventEntries::new();
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let object = item.as_object().ok_or_else(|| {
            refuse(
                &place,
                format!("expected a JSON object, got {}", json_kind(item)),
            )
        })?;
        let data = field(object, "data", &place)?
            .as_array()
            .ok_or_else(|| refuse(&place, "field \"data\" must be an array"))?;
        let branch_key = ["id", "pid"]
            .into_iter()
            .find_map(|key| Some((key, object.get(key)?)));
        if let Some((key, id)) = branch_key {
            if key == "pid" {
                keyed_pid = true;
            }
            let id = positive(id, key, u64::from(u32::MAX), &place)?;
            let branch = BranchId(u32::try_from(id).unwrap_or(u32::MAX));
            if trace.branches.contains_key(&branch) {
                return Err(refuse(place, format!("branch {id} has a second entry")));
            }
            let mut records = Vec::with_capacity(data.len());
            for (at, item) in data.iter().enumerate() {
                let place = format!("{place}: data at index {at}");
                let object = data_object(item, &place)?;
                let event_id = positive(field(object, "id", &place)?, "id", u64::MAX, &place)?;
                let (sub_event, clock) = sub_event_and_clock(object, &place, &mut spelled)?;
                records.push(BranchRecord {
                    event_id: EventId(event_id),
                    sub_event,
                    clock,
                    peer: None,
                });
            }
            trace.branches.insert(branch, records);
        } else if let Some(id) = object.get("eventid") {
            let id = EventId(positive(id, "eventid", u64::MAX, &place)?);
            if entries.contains_key(&id) {
                return Err(refuse(place, format!("event {id} has a second entry")));
            }
            let mut listed = Vec::with_capacity(data.len());
            for (at, item) in data.iter().enumerate() {
                let place = format!("{place}: data at index {at}");
                let object = data_object(item, &place)?;
                listed.push(sub_event_and_clock(object, &place, &mut spelled)?);
            }
            entries.insert(id, listed);
        } else {
            let problem = "expected a branch entry (\"id\", \"data\") or an event entry \
                           (\"eventid\", \"data\")";
            return Err(refuse(place, problem));
        }
    }
    if trace.branches.is_empty() {
        return Err(refuse("", "the file has no branch entries"));
    }
    let responds = trace
        .branches
        .values()
        .flatten()
        .any(|record| record.sub_event.step == Step::Response);
    // Only the strict model logs the reply tick as `X_response`; the course's years use it.
    let seen = Seen {
        course: spelled.or(keyed_pid.then_some(Course::Y2022)),
        spelled,
    };
    trace.model = if responds || seen.course.is_some() {
        ClockModel::Strict
    } else {
        ClockModel::Original
    };
    Ok((trace, entries, seen))
}

/// Checks Project 1 results (or the client-centric project's) against the run's input, which
/// `options` must hold.
fn audit_recv(items: &[Value], options: &Options) -> Result<Verdict, ReadError> {
    let Some(scenario) = &options.scenario else {
        let problem = "these are Project 1 results (each customer's \"recv\"): give the run's \
                       input with --input FILE to check them";
        return Err(refuse("", problem));
    };
    let results = recv::read(items).map_err(|(place, problem)| refuse(place, problem))?;
    let findings = recv::check(&results, scenario);
    let format = match recv::names_branches(&results) {
        true => Format::Visits,
        false => Format::Recv,
    };
    Ok(Verdict {
        format,
        course: None,
        exact: true,
        model: ClockModel::default(),
        propagation: PropagationMode::Sync,
        events: results
            .iter()
            .map(|(_, answers)| answers.len() as u64)
            .sum(),
        processes: results.len(),
        pairs: None,
        lamport_events: None,
        parts: None,
        findings,
    })
}

/// Checks each customer's last balance (the client-centric project's `dest` form) against the
/// run's input, which `options` must hold.
fn audit_last_balances(items: &[Value], options: &Options) -> Result<Verdict, ReadError> {
    let Some(scenario) = &options.scenario else {
        let problem = "these are each customer's last balance (the client-centric project's \
                       output): give the run's input with --input FILE to check them";
        return Err(refuse("", problem));
    };
    let balances =
        recv::read_last_balances(items).map_err(|(place, problem)| refuse(place, problem))?;
    let findings = recv::check_last_balances(&balances, scenario);
    Ok(Verdict {
        format: Format::LastBalances,
        course: None,
        exact: true,
        model: ClockModel::default(),
        propagation: PropagationMode::Sync,
        events: balances.len() as u64,
        processes: balances.len(),
        pairs: None,
        lamport_events: None,
        parts: None,
        findings,
    })
}

/// A record's sub-event (in any year's spelling, noting in `spelled` a year's own) and clock.
fn sub_event_and_clock(
    object: &Map<String, Value>,
    place: &str,
    spelled: &mut Option<Course>,
) -> Result<(SubEvent, u64), ReadError> {
    let name = field(object, "name", place)?;
    let (sub_event, course) = name
        .as_str()
        .and_then(Course::parse)
        .ok_or_else(|| refuse(place, format!("unknown sub-event {name}")))?;
    // 2021's spelling is its own; 2022's may be ours, so it gives way to 2021's.
    if course == Some(Course::Y2021) || spelled.is_none() {
        *spelled = course.or(*spelled);
    }
    let clock = field(object, "clock", place)?;
    let clock = whole(clock).ok_or_else(|| {
        refuse(
            place,
            format!("clock must be a whole number of at least 0, got {clock}"),
        )
    })?;
    Ok((sub_event, clock))
}

/// An entry of a `data` list, which must be an object.
fn data_object<'a>(item: &'a Value, place: &str) -> Result<&'a Map<String, Value>, ReadError> {
    item.as_object().ok_or_else(|| {
        refuse(
            place,
            format!("expected a JSON object, got {}", json_kind(item)),
        )
    })
}

/// Replays the clock rules of an output's model on its branch entries. What the file does not
/// show is rebuilt where the model allows: in `strict`, each customer's clock from its branch's
/// log (it ticks on each deposit or withdraw it sends, and merges each `X_response`); in
/// `original`, the reply tick the output leaves out, right after the event's last step on its
/// origin (the step that replies). A customer's stamp in `original` is not known (it merges
/// query replies the output does not show): an `X_request` is then only checked to come after
/// what precedes it. A propagation may have left its origin at any of the origin's events from
/// its execute until the peer's acknowledgement came back; an acknowledgement names no peer, and
/// is paired with the peer execute whose clock it merged, if one fits.
fn replay_output(trace: &Trace) -> Vec<Finding> {
    let strict = trace.model == ClockModel::Strict;
    let branches: Vec<&Vec<BranchRecord>> = trace.branches.values().collect();
    let ids: Vec<BranchId> = trace.branches.keys().copied().collect();
    // Where each event's steps are, by event id and step: (branch index, record position).
    let mut steps: HashMap<(EventId, Step), Vec<At>> = HashMap::new();
    for (index, records) in branches.iter().enumerate() {
        for (position, record) in records.iter().enumerate() {
            let key = (record.event_id, record.sub_event.step);
            steps.entry(key).or_default().push((index, position));
        }
    }
    let first = |event: EventId, step: Step| steps.get(&(event, step)).and_then(|at| at.first());
    // Each record's slot: in `original`, the unlogged reply tick follows the last of an
    // event's execute and acknowledgements on its origin (its execute, when changes were
    // answered before they were propagated).
    let replied_after: &[Step] = match trace.propagation {
        PropagationMode::Sync => &[Step::Execute, Step::PropagateResponse],
        PropagationMode::Async => &[Step::Execute],
    };
    let mut slot_of: Vec<Vec<usize>> = Vec::with_capacity(branches.len());
    let mut unlogged_after: Vec<Vec<bool>> = Vec::with_capacity(branches.len());
    for records in &branches {
        let mut last = vec![false; records.len()];
        if !strict {
            let mut seen = HashSet::new();
            for (position, record) in records.iter().enumerate().rev() {
                if replied_after.contains(&record.sub_event.step) && seen.insert(record.event_id) {
                    last[position] = true;
                }
            }
        }
        let mut slots = Vec::with_capacity(records.len());
        let mut next = 0;
        for &unlogged in &last {
            slots.push(next);
            next += 1 + usize::from(unlogged);
        }
        slot_of.push(slots);
        unlogged_after.push(last);
    }
    let slot = |(index, position): At| (index, slot_of[index][position]);
    // Each acknowledgement names no peer: it is paired with a peer execute of its event, not
    // paired yet, whose clock it may have merged (the one it equals plus one first).
    let pair = |clock: &dyn Fn(At) -> u64| {
        let mut acknowledged: HashMap<At, At> = HashMap::new();
        let mut response_of: HashMap<(EventId, usize), usize> = HashMap::new();
        for (index, records) in branches.iter().enumerate() {
            let mut before = 0;
            for (position, record) in records.iter().enumerate() {
                if record.sub_event.step == Step::PropagateResponse {
                    let key = (record.event_id, Step::PropagateExecute);
                    let free: Vec<&At> = steps
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .filter(|&&(peer, _)| !response_of.contains_key(&(record.event_id, peer)))
                        .collect();
                    // Merged exactly (it is that clock plus one), or merged without effect
                    // (it is the clock before it plus one): any will do; else none fits, and
                    // the latest is taken, leaving the earlier ones for the acknowledgements to
                    // come (which may merge them without effect).
                    let fits = |at: &&&At| before.max(clock(***at)) + 1 == record.clock;
                    let exact = free.iter().find(|at| fits(at) && clock(***at) >= before);
                    let earlier = free.iter().find(fits);
                    let latest = free
                        .iter()
                        .max_by_key(|at| (clock(***at), std::cmp::Reverse(***at)));
                    if let Some(&&peer_execute) = exact.or(earlier).or(latest) {
                        acknowledged.insert((index, position), peer_execute);
                        response_of.insert((record.event_id, peer_execute.0), position);
                    }
                }
                before = clock((index, position));
            }
        }
        (acknowledged, response_of)
    };
    let build = |acknowledged: &HashMap<At, At>, response_of: &HashMap<(EventId, usize), usize>| {
        let mut timelines: Vec<Timeline> = Vec::with_capacity(branches.len() * 2);
        // In `strict`, customer Cn's timeline (after the branches'): a send and a receive per
        // request on Bn, in that branch's order.
        let mut customers: Vec<Timeline> = Vec::new();
        for (index, records) in branches.iter().enumerate() {
            let mut timeline = Timeline::with_capacity(records.len() * 2);
            let mut customer = Timeline::new();
            let customer_index = branches.len() + index;
            for (position, record) in records.iter().enumerate() {
                let event = record.event_id;
                let rule = match record.sub_event.step {
                    Step::Request if strict => {
                        customer.push(Slot::unshown(ClockRule::Tick));
                        let send = (customer_index, customer.len() - 1);
                        if let Some(&response) =
                            first(event, Step::Response).filter(|&&(branch, _)| branch == index)
                        {
                            customer.push(Slot::unshown(ClockRule::Merge(slot(response))));
                        }
                        ClockRule::Merge(send)
                    }
                    Step::Request => ClockRule::MergeUnseen,
                    Step::Execute | Step::PropagateExecute | Step::Response => ClockRule::Tick,
                    Step::PropagateRequest => match first(event, Step::Execute) {
                        // Sent after the origin's execute, before the origin merged this peer's
                        // acknowledgement.
                        Some(&(origin, execute)) => {
                            let end = response_of
                                .get(&(event, index))
                                .map_or(branches[origin].len(), |&response| response);
                            let first = slot_of[origin][execute];
                            let last = match end.checked_sub(1) {
                                Some(before) if end > execute => {
                                    slot_of[origin][before]
                                        + usize::from(unlogged_after[origin][before])
                                }
                                _ => first,
                            };
                            // A window too wide to weigh (a hostile file could make every
                            // merge cost its whole sender) is only checked for order.
                            if last - first > MAX_WINDOW {
                                ClockRule::MergeUnseen
                            } else {
                                ClockRule::MergeAny {
                                    timeline: origin,
                                    first,
                                    last,
                                }
                            }
                        }
                        None => ClockRule::MergeUnseen,
                    },
                    Step::PropagateResponse => acknowledged
                        .get(&(index, position))
                        .map_or(ClockRule::MergeUnseen, |&from| ClockRule::Merge(slot(from))),
                };
                timeline.push(Slot::new(record.clock, rule));
                if unlogged_after[index][position] {
                    timeline.push(Slot::unshown(ClockRule::Tick));
                }
            }
            timelines.push(timeline);
            customers.push(customer);
        }
        timelines.extend(customers);
        timelines
    };
    let (mut acknowledged, mut response_of) = pair(&|(b, p)| branches[b][p].clock);
    let mut timelines = build(&acknowledged, &response_of);
    let mut replay = replay::replay_resolving(&timelines);
    // A wrong clock can mislead the pairing: paired again on the clocks as the replay put
    // them right, the file is replayed again, and the replay with fewer wrong clocks kept.
    if !replay.mismatches.is_empty() {
        let right = &replay.corrected;
        let (again, again_of) = pair(&|(b, p)| right[b][slot_of[b][p]]);
        if again != acknowledged {
            let retimed = build(&again, &again_of);
            let second = replay::replay_resolving(&retimed);
            if second.mismatches.len() < replay.mismatches.len() {
                (timelines, replay) = (retimed, second);
                (acknowledged, response_of) = (again, again_of);
            }
        }
    }
    // Then each wrong acknowledgement is tried with the peer of each other acknowledgement of
    // its event, swapped, and the pairing with fewer wrong clocks kept. A swap with as many
    // makes the other acknowledgement the wrong one: the file cannot tell which.
    let mut ties: HashMap<At, (At, u64)> = HashMap::new();
    let mut tried = 0;
    let mut index = 0;
    let allowed = replay::replays_allowed(&timelines, MAX_SWAPS);
    while index < replay.mismatches.len() && tried < allowed {
        let (branch, at) = replay.mismatches[index].at;
        index += 1;
        let Some(position) = slot_of
            .get(branch)
            .and_then(|slots| slots.binary_search(&at).ok())
        else {
            continue;
        };
        let ack = (branch, position);
        let Some(&peer) = acknowledged.get(&ack) else {
            continue;
        };
        let event = branches[branch][position].event_id;
        let others: Vec<(At, At)> = acknowledged
            .iter()
            .filter(|(other, _)| {
                **other != ack && other.0 == branch && branches[branch][other.1].event_id == event
            })
            .map(|(other, their)| (*other, *their))
            .collect();
        for (other, their) in others {
            tried += 1;
            let mut swapped = acknowledged.clone();
            swapped.insert(ack, their);
            swapped.insert(other, peer);
            let mut swapped_of = response_of.clone();
            swapped_of.insert((event, their.0), position);
            swapped_of.insert((event, peer.0), other.1);
            let retimed = build(&swapped, &swapped_of);
            let second = replay::replay_resolving(&retimed);
            if second.mismatches.len() < replay.mismatches.len() {
                (timelines, replay) = (retimed, second);
                (acknowledged, response_of) = (swapped, swapped_of);
                ties.clear();
                index = 0;
                break;
            }
            let other_slot = (branch, slot_of[branch][other.1]);
            let flagged = |replay: &replay::Replay, slot: At| {
                replay
                    .mismatches
                    .iter()
                    .find(|m| m.at == slot)
                    .map(|m| m.expected)
            };
            if second.mismatches.len() == replay.mismatches.len()
                && flagged(&second, (branch, at)).is_none()
                && let Some(expected) = flagged(&second, other_slot)
            {
                ties.insert((branch, at), (other_slot, expected));
            }
        }
    }
    // A timeline's slot back to its record (the unlogged ticks and customers have none).
    let record_at = |(index, at): At| -> Option<(usize, &BranchRecord)> {
        let position = slot_of.get(index)?.binary_search(&at).ok()?;
        Some((position, branches[index].get(position)?))
    };
    let mut findings = Vec::new();
    for mismatch in &replay.mismatches {
        let Some((position, record)) = record_at(mismatch.at) else {
            continue;
        };
        let merged = match timelines[mismatch.at.0][mismatch.at.1].rule {
            ClockRule::Merge(from) => match record_at(from) {
                Some((at, sent)) => format!(
                    ", merging {} #{} {} (clock {})",
                    ids[from.0],
                    at + 1,
                    sent.sub_event.name(),
                    sent.clock
                ),
                None => ", merging the customer's request".to_string(),
            },
            ClockRule::MergeAny { timeline, .. } => format!(
                ", merging {}'s clock when it sent the propagation",
                ids[timeline]
            ),
            ClockRule::MergeUnseen if record.sub_event.step == Step::Request => {
                " (the customer's stamp is not in the file)".to_string()
            }
            ClockRule::MergeUnseen => " (its send is not in the file)".to_string(),
            _ => String::new(),
        };
        let other = mismatch
            .or_instead
            .or_else(|| ties.get(&mismatch.at).copied());
        let instead = other.and_then(|(at, clock)| {
            let (position, record) = record_at(at)?;
            Some(format!(
                "; or #{} {} (event {}) is wrong instead, and should be {clock}: the file \
                 cannot tell which",
                position + 1,
                record.sub_event.name(),
                record.event_id
            ))
        });
        findings.push(Finding {
            rule: Rule::Lamport,
            process: Some(Process::Branch(ids[mismatch.at.0])),
            message: format!(
                "#{} {} (event {}) has clock {}, but the rule gives {}{merged}{}{}",
                position + 1,
                record.sub_event.name(),
                record.event_id,
                mismatch.printed,
                mismatch.why,
                mismatch.also_broken(),
                instead.unwrap_or_default()
            ),
        });
    }
    findings
}

/// How many swaps of two acknowledgements' peers [`replay_output`] tries at most.
const MAX_SWAPS: usize = 64;

/// How many of its origin's events a propagation may have left at, at most, for its receive to
/// be replayed exactly (more, and it is only checked to come after the event before it).
const MAX_WINDOW: usize = 4096;

/// Per (clock, sub-event name): how often the branch entries list it, and the event entry.
type Tally = BTreeMap<(u64, String), (usize, usize)>;

/// The per-event entries list the branch entries' sub-events exactly (as many times each, with
/// the same clocks), sorted by clock. Ties may come in any order: implementations differ there.
fn check_event_entries(trace: &Trace, entries: &EventEntries, out: &mut Vec<Finding>) {
    let mut tally: BTreeMap<EventId, Tally> = BTreeMap::new();
    for record in trace.branches.values().flatten() {
        let key = (record.clock, record.sub_event.name());
        tally
            .entry(record.event_id)
            .or_default()
            .entry(key)
            .or_default()
            .0 += 1;
    }
    for (id, listed) in entries {
        for (sub_event, clock) in listed {
            let key = (*clock, sub_event.name());
            tally.entry(*id).or_default().entry(key).or_default().1 += 1;
        }
    }
    let finding = |message: String| Finding {
        rule: Rule::EventEntries,
        process: None,
        message,
    };
    for (id, counts) in &tally {
        let Some(listed) = entries.get(id) else {
            let recorded: usize = counts.values().map(|(branches, _)| branches).sum();
            let message = format!(
                "event {id}: no event entry, though the branch entries have {recorded} of its sub-events"
            );
            out.push(finding(message));
            continue;
        };
        for ((clock, name), &(branches, entry)) in counts {
            let what = format!("event {id}: {name} (clock {clock})");
            let message = match (branches, entry) {
                (b, e) if b == e => continue,
                (_, 0) => {
                    format!("{what} is in the branch entries but missing from the event entry")
                }
                (0, _) => format!("{what} is listed in the event entry but in no branch entry"),
                (b, e) => format!(
                    "{what} appears {b} times in the branch entries but {e} in the event entry"
                ),
            };
            out.push(finding(message));
        }
        if let Some(pair) = listed.windows(2).find(|pair| pair[1].1 < pair[0].1) {
            let message = format!(
                "event {id}: the event entry is not sorted by clock: {} (clock {}) comes after {} (clock {})",
                pair[1].0.name(),
                pair[1].1,
                pair[0].0.name(),
                pair[0].1
            );
            out.push(finding(message));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trace files

/// Where an event is: its process's index in the table, and its position in that process.
type At = (usize, usize);

/// Checks a history read from a trace file, with the final balances its events carry.
pub fn audit_history(history: &History) -> Verdict {
    let findings = history_findings(history, &history.to_trace(), None);
    let pairs = causality::count_pairs(history).map(|counts| Pairs {
        ordered: counts.ordered,
        concurrent: counts.concurrent,
        concurrent_apart: counts.concurrent_apart,
    });
    Verdict {
        format: Format::Trace,
        course: None,
        exact: true,
        model: history.model,
        propagation: history.propagation,
        events: history.len() as u64,
        processes: history.table.len(),
        pairs,
        lamport_events: Some(causality::verify_clock_condition(history).lamport_events),
        parts: None,
        findings,
    }
}

/// Every rule a trace file is checked against, over `history` (whose derived records are
/// `trace`): numbering, messages, the Lamport clocks replayed exactly, vector clocks, the clock
/// condition, the invariants, then the money. Convergence is to `balances` if given (a run's
/// own), else to the balances the money replay gives from the trace's initial balance. What
/// `check` applies to a trace file, and what a run applies to itself.
pub fn history_findings(
    history: &History,
    trace: &Trace,
    balances: Option<&Balances>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    check_numbering(history, &mut findings);
    let senders = check_messages(history, &mut findings);
    check_lamport(history, &senders, &mut findings);
    check_vectors(history, &senders, &mut findings);
    // The clock condition, the clocks' order and causes before effects follow from the clocks
    // the replay found right: a clock that breaks them is the replay's to name, once.
    let money = money::replay(history);
    let replayed = history
        .initial_balance
        .zip(money.as_ref())
        .map(|(initial, money)| Balances {
            initial,
            finals: money.finals.clone(),
        });
    let balances = balances.or(replayed.as_ref());
    findings.extend(without_clock_order(spec::check(trace, balances)));
    findings.extend(sessions::check(history));
    findings.extend(money.into_iter().flat_map(|money| money.findings));
    findings
}

fn at(rule: Rule, event: &TraceEvent, message: String) -> Finding {
    Finding {
        rule,
        process: Some(event.process),
        message,
    }
}

fn check_numbering(history: &History, out: &mut Vec<Finding>) {
    for events in &history.events {
        let mut previous = 0;
        for event in events {
            if event.seq != previous + 1 {
                let after = match previous {
                    0 => "comes first".to_string(),
                    seq => format!("comes right after #{seq}"),
                };
                let message = format!(
                    "{} {after} (expected #{})",
                    event.local_label(),
                    previous + 1
                );
                out.push(at(Rule::Numbering, event, message));
            }
            previous = event.seq;
        }
    }
}

/// The invariants' findings but those on the order of clocks (invariants 1 and 3), for a file
/// whose clocks were replayed exactly: a clock out of order breaks its rule, and is named there.
fn without_clock_order(findings: Vec<Finding>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|finding| !matches!(finding.rule, Rule::ClockIncreases | Rule::Causality))
        .collect()
}

/// Replays the Lamport rules exactly on every event: a tick is its predecessor's clock plus
/// one, a merging receive the maximum of that and its send's clock, plus one, any other event
/// keeps its predecessor's clock. Each clock that differs is reported with the value the rule
/// gives and why.
fn check_lamport(history: &History, senders: &MessageMap<At>, out: &mut Vec<Finding>) {
    let model = history.model;
    let timelines: Vec<Timeline> = history
        .events
        .iter()
        .map(|events| {
            events
                .iter()
                .map(|event| {
                    let sent = event.receives.and_then(|message| senders.get(&message));
                    let rule = match (event.kind.ticks(model), sent) {
                        (false, _) => ClockRule::Keep,
                        (true, Some(&from)) if event.receives.is_some() => ClockRule::Merge(from),
                        // A receive of a message no event sends: reported as such elsewhere.
                        (true, None) if event.receives.is_some() => ClockRule::MergeUnseen,
                        (true, _) => ClockRule::Tick,
                    };
                    Slot::new(event.lamport, rule)
                })
                .collect()
        })
        .collect();
    let replay = replay::replay(&timelines);
    for mismatch in &replay.mismatches {
        let Some(event) = event_at(history, mismatch.at) else {
            continue;
        };
        let merged = match timelines[mismatch.at.0][mismatch.at.1].rule {
            ClockRule::Merge(from) => event_at(history, from)
                .zip(event.receives)
                .map(|(sender, message)| format!(", merging {message} from {}", label(sender))),
            ClockRule::Keep => Some(format!(" in the {} model", model.name())),
            _ => None,
        };
        let message = format!(
            "{} has lamport {}, but the rule gives {}{}{}",
            event.local_label(),
            mismatch.printed,
            mismatch.why,
            merged.unwrap_or_default(),
            mismatch.also_broken()
        );
        out.push(at(Rule::Lamport, event, message));
    }
}

/// Whether events of this kind receive a message (the customer's request, a propagation, an
/// acknowledgement, a reply).
fn receives_a_message(kind: EventKind) -> bool {
    match kind {
        EventKind::Branch(sub_event) => matches!(
            sub_event.step,
            Step::Request | Step::PropagateRequest | Step::PropagateResponse
        ),
        EventKind::Query | EventKind::Receive(_) => true,
        EventKind::Send(_) | EventKind::Forward(_) | EventKind::Timeout(_) | EventKind::Wait(_) => {
            false
        }
    }
}

fn event_at(history: &History, (process, position): At) -> Option<&TraceEvent> {
    history.events.get(process)?.get(position)
}

/// Every message is sent by one event of its own process and received by exactly one event
/// that is a receive. Returns where each message was (first) sent.
fn check_messages(history: &History, out: &mut Vec<Finding>) -> MessageMap<At> {
    let rule = Rule::Messages;
    let located = || {
        history
            .events
            .iter()
            .enumerate()
            .flat_map(|(p, events)| events.iter().enumerate().map(move |(i, e)| ((p, i), e)))
    };
    let mut senders: MessageMap<At> = MessageMap::default();
    senders.reserve(history.len());
    for (place, event) in located() {
        for &message in &event.sends {
            if message.sender != event.process {
                let text = format!(
                    "{} sends {message}, a message id of another process",
                    event.local_label()
                );
                out.push(at(rule, event, text));
            }
            if let Some(first) = senders
                .get(&message)
                .and_then(|&first| event_at(history, first))
            {
                let text = format!(
                    "{} sends {message}, already sent by {}",
                    event.local_label(),
                    label(first)
                );
                out.push(at(rule, event, text));
            } else {
                senders.insert(message, place);
            }
        }
    }
    let mut receivers: MessageMap<At> = MessageMap::default();
    receivers.reserve(history.len());
    for (place, event) in located() {
        let text = match (receives_a_message(event.kind), event.receives) {
            (true, None) => format!("{} receives no message", event.local_label()),
            (false, Some(message)) => {
                format!(
                    "{} is not a receive, yet receives {message}",
                    event.local_label()
                )
            }
            (false, None) => continue,
            (true, Some(message)) => {
                if !senders.contains_key(&message) {
                    format!(
                        "{} receives {message}, which no event sends",
                        event.local_label()
                    )
                } else if let Some(first) = receivers
                    .get(&message)
                    .and_then(|&first| event_at(history, first))
                {
                    format!(
                        "{} receives {message}, already received by {}",
                        event.local_label(),
                        label(first)
                    )
                } else {
                    receivers.insert(message, place);
                    continue;
                }
            }
        };
        out.push(at(rule, event, text));
    }
    for (place, event) in located() {
        for message in &event.sends {
            if senders.get(message) == Some(&place) && !receivers.contains_key(message) {
                let text = format!(
                    "{} sends {message}, which no event receives",
                    event.local_label()
                );
                out.push(at(rule, event, text));
            }
        }
    }
    senders
}

/// Recomputes every vector clock from its event's predecessor and, for a merging receive, the
/// sender's, visiting events in causal order (a receive waits for its send). A vector that
/// matches neither the recomputation from the recorded neighbours nor the one from the corrected
/// neighbours is reported once and corrected, so that one forged vector (or one missing line)
/// gives one finding, not one on everything after it. A receive that waits, through other
/// waits, for itself was received before it was sent: reported, and then taken as it is.
fn check_vectors(history: &History, senders: &MessageMap<At>, out: &mut Vec<Finding>) {
    let with_vectors = history.iter().any(|event| !event.vector.is_empty());
    let width = history.table.len();
    let events = &history.events;
    let mut done = vec![0_usize; events.len()];
    let mut blocked_on: Vec<Option<At>> = vec![None; events.len()];
    let mut waiting: HashMap<At, Vec<usize>> = HashMap::new();
    let mut unlinked: HashSet<At> = HashSet::new();
    let mut corrected: HashMap<At, Vec<u64>> = HashMap::new();
    let (mut expected, mut from_recorded) = (Vec::new(), Vec::new());
    let mut runnable: Vec<usize> = (0..events.len()).rev().collect();
    loop {
        while let Some(process) = runnable.pop() {
            while let Some(event) = events[process].get(done[process]) {
                let place = (process, done[process]);
                let merges = event.kind.ticks(history.model) && !unlinked.contains(&place);
                let sender = event
                    .receives
                    .filter(|_| merges)
                    .and_then(|message| senders.get(&message).copied());
                if let Some(sender) = sender.filter(|&(p, i)| done[p] <= i) {
                    blocked_on[process] = Some(sender);
                    waiting.entry(sender).or_default().push(process);
                    break;
                }
                // A merging receive of a message nobody sent was reported with the messages;
                // its vector is taken as it is.
                let dangling = merges && event.receives.is_some() && sender.is_none();
                if with_vectors && !dangling && !unlinked.contains(&place) {
                    let previous = done[process].checked_sub(1).map(|i| (process, i));
                    let effective = |at: At| {
                        corrected
                            .get(&at)
                            .map(Vec::as_slice)
                            .or_else(|| event_at(history, at).map(|e| e.vector.as_slice()))
                    };
                    let recorded = |at: At| event_at(history, at).map(|e| e.vector.as_slice());
                    recompute(
                        &mut expected,
                        width,
                        process,
                        previous.and_then(effective),
                        sender.and_then(effective),
                    );
                    let mut matches = event.vector == expected;
                    let neighbours_corrected = previous
                        .iter()
                        .chain(&sender)
                        .any(|at| corrected.contains_key(at));
                    if !matches && neighbours_corrected {
                        recompute(
                            &mut from_recorded,
                            width,
                            process,
                            previous.and_then(recorded),
                            sender.and_then(recorded),
                        );
                        matches = event.vector == from_recorded;
                    }
                    if !matches {
                        let table = &history.table;
                        let message = if event.vector.is_empty() {
                            format!(
                                "{} has no vector clock (expected {})",
                                event.local_label(),
                                format_vector(&expected, table)
                            )
                        } else {
                            format!(
                                "{}: vector {} differs from the recomputed {}",
                                event.local_label(),
                                format_vector(&event.vector, table),
                                format_vector(&expected, table)
                            )
                        };
                        out.push(at(Rule::Vector, event, message));
                        corrected.insert(place, expected.clone());
                    }
                }
                done[process] += 1;
                if let Some(woken) = waiting.remove(&place) {
                    runnable.extend(woken);
                }
            }
        }
        // Everything left waits for something that waits in turn: follow the waits from the
        // first unfinished process until they come round, and report the receive of that cycle
        // on the process that comes first in the table.
        let Some(start) = (0..events.len()).find(|&p| done[p] < events[p].len()) else {
            break;
        };
        let mut seen = vec![usize::MAX; events.len()];
        let mut path = Vec::new();
        let mut process = start;
        while seen[process] == usize::MAX {
            seen[process] = path.len();
            path.push(process);
            process = blocked_on[process].map_or(start, |(p, _)| p);
        }
        let cycle = &path[seen[process]..];
        let first = cycle.iter().copied().min().unwrap_or(start);
        let place = (first, done[first]);
        if let (Some(event), Some(sender)) = (
            event_at(history, place),
            blocked_on[first].and_then(|at| event_at(history, at)),
        ) {
            let message = event.receives.map_or_else(String::new, |m| m.to_string());
            let text = format!(
                "{} receives {message} before it is sent: its sender {} depends on this receive",
                event.local_label(),
                label(sender)
            );
            out.push(at(Rule::Messages, event, text));
        }
        unlinked.insert(place);
        runnable.push(first);
    }
}

/// The vector an event must have: its predecessor's (zeros for a first event), merged with the
/// sender's on a merging receive, plus one in the own entry.
fn recompute(
    out: &mut Vec<u64>,
    width: usize,
    own: usize,
    previous: Option<&[u64]>,
    sender: Option<&[u64]>,
) {
    out.clear();
    out.resize(width, 0);
    if let Some(previous) = previous {
        for (entry, value) in out.iter_mut().zip(previous) {
            *entry = *value;
        }
    }
    if let Some(sender) = sender {
        for (entry, value) in out.iter_mut().zip(sender) {
            *entry = (*entry).max(*value);
        }
    }
    if let Some(entry) = out.get_mut(own) {
        *entry = entry.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"lamport_bank_trace":1,"clocks":"original","schedule":"sequential","processes":["B1","C1"],"initial_balance":400}"#;
    const SEND: &str = r#"{"process":"C1","seq":1,"event":"query_send","id":1,"lamport":0,"vector":{"C1":1},"send":["C1:1"]}"#;
    const SERVE: &str = r#"{"process":"B1","seq":1,"event":"query_request","id":1,"lamport":0,"vector":{"B1":1},"receive":"C1:1","send":["B1:1"]}"#;
    const REPLY: &str = r#"{"process":"C1","seq":2,"event":"query_receive","id":1,"lamport":1,"vector":{"B1":1,"C1":2},"receive":"B1:1","result":400}"#;

    /// Checks a trace of `lines` after the header; the verdict's lines.
    fn lines(lines: [&str; 3]) -> Vec<String> {
        let text = format!("{HEADER}\n{}\n", lines.join("\n"));
        let verdict = audit(text.as_bytes(), &Options::default()).expect("reads");
        verdict.text().lines().map(str::to_string).collect()
    }

    #[test]
    fn a_query_round_trip_holds() {
        assert_eq!(
            lines([SEND, SERVE, REPLY]),
            ["check: trace, 3 events of 2 processes, original clocks: all invariants hold"]
        );
    }

    #[test]
    fn a_gap_in_the_numbering() {
        let reply = REPLY.replace(r#""seq":2"#, r#""seq":3"#);
        assert_eq!(
            lines([SEND, SERVE, &reply])[0],
            "C1: #3 query_receive (event 1) comes right after #1 (expected #2)"
        );
    }

    #[test]
    fn a_send_that_moves_the_clock_in_the_original_model() {
        let send = SEND.replace(r#""lamport":0"#, r#""lamport":2"#);
        // One line, on the send: the receive after it is judged by the send's right clock.
        assert_eq!(
            lines([&send, SERVE, REPLY]),
            [
                "C1: #1 query_send (event 1) has lamport 2, but the rule gives 0, as it does \
                 not tick in the original model",
                "check: trace, 3 events of 2 processes, original clocks: 1 violation",
            ]
        );
    }

    #[test]
    fn message_ids_used_wrongly() {
        let reply = REPLY.replace(r#""result""#, r#""send":["B1:1"],"result""#);
        let send = SEND.replace(r#""send""#, r#""receive":"B1:1","send""#);
        assert_eq!(
            lines([&send, SERVE, &reply]),
            [
                "C1: #2 query_receive (event 1) sends B1:1, a message id of another process",
                "C1: #2 query_receive (event 1) sends B1:1, already sent by B1 #1 \
                 query_request (event 1)",
                // Naming a message does not make a send a receive: the reply still receives it.
                "C1: #1 query_send (event 1) is not a receive, yet receives B1:1",
                "check: trace, 3 events of 2 processes, original clocks: 3 violations",
            ]
        );
    }

    #[test]
    fn a_receive_of_its_own_message_is_a_cycle_and_checking_ends() {
        let reply = REPLY.replace(r#""receive":"B1:1""#, r#""receive":"C1:2","send":["C1:2"]"#);
        let found = lines([SEND, SERVE, &reply]);
        assert_eq!(
            found[..3],
            [
                "B1: #1 query_request (event 1) sends B1:1, which no event receives",
                // The replay takes the send as printed: the receive is not after it.
                "C1: #2 query_receive (event 1) has lamport 1, but the rule gives max(0, 1) \
                 + 1 = 2, merging C1:2 from C1 #2 query_receive (event 1): not after its send",
                "C1: #2 query_receive (event 1) receives C1:2 before it is sent: its \
                 sender C1 #2 query_receive (event 1) depends on this receive",
            ]
        );
    }
}
