//! The `--trace` file: a [`History`] as JSON Lines. The first line describes the run, then one
//! line per event, process by process, each process's events in the order they happened. The
//! header's `source` (the input's name) is optional: files without it still read.
//!
//! ```text
//! {"lamport_bank_trace":1,"clocks":"original","schedule":"sequential","processes":["B1","B2","C2"],"initial_balance":400,"source":"in.json"}
//! {"process":"B2","seq":1,"event":"deposit_request","id":2,"lamport":1,"vector":{"B2":1,"C2":1},"receive":"C2:1"}
//! {"process":"B2","seq":2,"event":"deposit_execute","id":2,"lamport":2,"vector":{"B2":2,"C2":1},"send":["B2:1"],"balance":570}
//! ```
//!
//! After the events come the faults of a simulated run, one per line, e.g.
//! `{"fault":"partition","from":"B1","to":"B3","both_ways":true,"at_ms":1200}` or
//! `{"fault":"retry","message":"B1:4","to":"B3","attempt":2,"at_ms":2210}`.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::faults::FaultRecord;
use super::history::{EventKind, History, ProcessTable, TraceEvent};
use super::records::Outcome;
use crate::model::{
    Action, BadMessageId, BadProcessName, ClockModel, EventId, MessageId, Op, Process,
    PropagationMode, Schedule, SessionGuarantees, SubEvent,
};
use crate::session::WriteId;
use crate::source::{self, SourceError};

/// The version written in the first line's `lamport_bank_trace` field.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of a trace file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    lamport_bank_trace: u32,
    clocks: String,
    schedule: String,
    processes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    initial_balance: Option<i64>,
    /// Where the run's input came from; absent in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// Whether customers went from branch to branch; absent: each went to its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    customers_roam: bool,
    /// `async` when changes were answered before they were propagated; absent: `sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    propagation: Option<String>,
    /// `none` when branches did not enforce session guarantees; absent: `enforced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_guarantees: Option<String>,
}

/// One event line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    process: String,
    seq: u64,
    event: String,
    id: u64,
    lamport: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    money: Option<i64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    vector: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receive: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    send: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    balance: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waits_for: Option<WaitsFor>,
}

/// What a `session_wait` event waits for, on its line: `{"customer":"C1","origin":"B2","write":1}`
/// (C1's first write at B2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitsFor {
    customer: Process,
    origin: Process,
    write: u64,
}

impl From<WriteId> for WaitsFor {
    fn from(write: WriteId) -> Self {
        Self {
            customer: Process::Customer(write.customer),
            origin: Process::Branch(write.origin),
            write: write.number,
        }
    }
}

impl TryFrom<&WaitsFor> for WriteId {
    type Error = Problem;

    fn try_from(waits_for: &WaitsFor) -> Result<Self, Problem> {
        match (waits_for.customer, waits_for.origin) {
            (Process::Customer(customer), Process::Branch(origin)) if waits_for.write > 0 => {
                Ok(WriteId {
                    customer,
                    origin,
                    number: waits_for.write,
                })
            }
            _ => Err(Problem::BadWait),
        }
    }
}

/// A fault line: the fault's own fields (named by `fault`), then when it happened.
fn fault_line(record: &FaultRecord) -> serde_json::Result<Value> {
    let mut line = serde_json::to_value(&record.fault)?;
    if let Value::Object(fields) = &mut line {
        fields.insert("at_ms".to_string(), Value::from(record.at_ms));
    }
    Ok(line)
}

fn read_fault_line(text: &str) -> Result<FaultRecord, Problem> {
    let malformed = |error: serde_json::Error| Problem::MalformedFault(error.to_string());
    let mut line: Value = serde_json::from_str(text).map_err(malformed)?;
    let at_ms = line
        .as_object_mut()
        .and_then(|fields| fields.remove("at_ms"))
        .and_then(|at_ms| at_ms.as_u64())
        .ok_or_else(|| Problem::MalformedFault("no whole number at_ms".to_string()))?;
    let fault = serde_json::from_value(line).map_err(malformed)?;
    Ok(FaultRecord { at_ms, fault })
}

/// One event line as read: strings are borrowed from the line where they can be, and the vector
/// is kept as a list of entries, so that reading a large trace allocates little per event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn<'a> {
    #[serde(borrow)]
    process: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    event: Cow<'a, str>,
    id: u64,
    lamport: u64,
    #[serde(default)]
    money: Option<i64>,
    #[serde(default, borrow)]
    vector: Entries<'a>,
    #[serde(default, borrow)]
    receive: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    send: Vec<Cow<'a, str>>,
    #[serde(default)]
    balance: Option<i64>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    waits_for: Option<WaitsFor>,
}

/// A JSON object's entries in the order written, without building a map.
#[derive(Debug, Default)]
struct Entries<'a>(Vec<(Cow<'a, str>, Value)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of vector clock entries")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<Borrowed<'a>, Value>()? {
                    entries.push((entry.0.0, entry.1));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A string borrowed from the input when it has no escapes.
#[derive(Debug, Deserialize)]
struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

/// Writes `history` as a trace file.
pub fn write(history: &History, out: &mut impl Write) -> std::io::Result<()> {
    let names: Vec<String> = history.table.names();
    let header = Header {
        lamport_bank_trace: FORMAT_VERSION,
        clocks: history.model.name().to_string(),
        schedule: history.schedule.name().to_string(),
        processes: names.clone(),
        initial_balance: history.initial_balance,
        source: history.source.clone(),
        customers_roam: history.roaming,
        propagation: (history.propagation != PropagationMode::Sync)
            .then(|| history.propagation.name().to_string()),
        session_guarantees: (history.guarantees != SessionGuarantees::Enforced)
            .then(|| history.guarantees.name().to_string()),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for event in history.iter() {
        serde_json::to_writer(&mut *out, &to_line(event, &names))?;
        out.write_all(b"\n")?;
    }
    for record in &history.faults {
        serde_json::to_writer(&mut *out, &fault_line(record)?)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One event as its line of a trace file (without the line ending); `names` are the processes of
/// the run, in table order.
pub fn event_line(event: &TraceEvent, names: &[String]) -> String {
    // A line holds strings, numbers and a map of strings to numbers: it always serializes.
    serde_json::to_string(&to_line(event, names)).unwrap_or_default()
}

/// Reads one event line of a trace file whose processes are `table`'s.
pub fn read_event_line(text: &str, table: &ProcessTable) -> Result<TraceEvent, Problem> {
    let line: LineIn<'_> =
        serde_json::from_str(text).map_err(|e| Problem::MalformedEvent(e.to_string()))?;
    if !line.vector.0.is_empty() && table.len() as u64 > MAX_VECTOR_ENTRIES {
        return Err(Problem::TooManyVectorEntries(table.len()));
    }
    from_line(&line, table)
}

fn to_line(event: &TraceEvent, names: &[String]) -> Line {
    let vector = event
        .vector
        .iter()
        .zip(names)
        .filter(|(entry, _)| **entry > 0)
        .map(|(entry, name)| (name.clone(), Value::from(*entry)))
        .collect();
    let money = match event.kind {
        EventKind::Send(action) | EventKind::Receive(action) | EventKind::Timeout(action) => {
            action.change().map(|(_, m)| m)
        }
        _ => None,
    };
    Line {
        process: event.process.to_string(),
        seq: event.seq,
        event: event.kind.name(),
        id: event.event_id.0,
        lamport: event.lamport,
        money,
        vector,
        receive: event.receives.map(|message| message.to_string()),
        send: event.sends.iter().map(ToString::to_string).collect(),
        balance: event.balance,
        result: event.outcome.map(Outcome::to_json),
        waits_for: match event.kind {
            EventKind::Wait(write) => Some(write.into()),
            _ => None,
        },
    }
}

/// Why a trace file could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    /// The line (from 1) where the problem is; 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            self.problem.fmt(f)
        } else {
            write!(f, "line {}: {}", self.line, self.problem)
        }
    }
}

/// What is wrong with a trace file; one variant per kind of problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file could not be read (a bound passed, the OS refused).
    #[error("{0}")]
    Unreadable(String),
    /// The file has no line at all.
    #[error("the file is empty")]
    Empty,
    /// The first line is not a trace header (serde_json's reason).
    #[error("not a trace header: {0}")]
    NotAHeader(String),
    /// A format version this build does not read.
    #[error("trace format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u32),
    /// The header's clock model is unknown.
    #[error("unknown clocks {0:?}")]
    UnknownClocks(String),
    /// The header's schedule is unknown.
    #[error("unknown schedule {0:?}")]
    UnknownSchedule(String),
    /// The header's propagation is neither `sync` nor `async`.
    #[error("unknown propagation {0:?} (expected sync or async)")]
    UnknownPropagation(String),
    /// The header's session guarantees are neither `enforced` nor `none`.
    #[error("unknown session_guarantees {0:?} (expected enforced or none)")]
    UnknownGuarantees(String),
    /// A process name that is not `B<id>` or `C<id>`.
    #[error(transparent)]
    BadProcess(#[from] BadProcessName),
    /// The header lists a process twice.
    #[error("a process is listed twice")]
    ListedTwice,
    /// The vector clocks would take more memory than a trace may.
    #[error(
        "the vector clocks of {0} processes on every event need more memory than the \
         {MAX_VECTOR_ENTRIES} entries this build reads"
    )]
    TooManyVectorEntries(usize),
    /// An event line that is not one (serde_json's reason).
    #[error("malformed event: {0}")]
    MalformedEvent(String),
    /// A fault line that is not one.
    #[error("malformed fault: {0}")]
    MalformedFault(String),
    /// An event name this build does not know.
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// A customer's deposit or withdraw event without its amount.
    #[error("event {0:?} has no money")]
    NoMoney(String),
    /// A vector entry naming no process of the header.
    #[error("vector entry {0:?} is not a process of the header")]
    NotInVector(String),
    /// A vector entry that is not a whole number.
    #[error("vector entry {name:?} is not a whole number: {value}")]
    BadVectorEntry {
        /// The entry's process name.
        name: String,
        /// Its value, as written.
        value: String,
    },
    /// A message id that is not `<sender>:<n>`.
    #[error(transparent)]
    BadMessage(#[from] BadMessageId),
    /// A customer's result that is neither success, fail, indeterminate nor a balance.
    #[error("result must be success, fail or a balance, got {0}")]
    BadResult(String),
    /// A `session_wait` without what it waits for, or another event with it.
    #[error(
        "a session_wait event, and only it, has waits_for: {{\"customer\": \"C1\", \"origin\": \"B2\", \"write\": 1}}, the write a positive number"
    )]
    BadWait,
    /// An event of a process the header does not list.
    #[error("process {0} is not in the header")]
    NotInHeader(String),
}

fn error_at(line: usize, problem: Problem) -> ReadError {
    ReadError { line, problem }
}

/// Whether `first_line` is the header of a trace file.
pub fn is_trace_header(first_line: &str) -> bool {
    serde_json::from_str::<Value>(first_line)
        .ok()
        .and_then(|value| value.get("lamport_bank_trace").cloned())
        .is_some()
}

/// The most vector clock entries a trace read into memory may hold (2 GiB of them): every event
/// with a vector takes one entry per process of the header, however few its line names, so a
/// header of many processes and many short event lines could otherwise ask for far more memory
/// than the file's size suggests.
pub const MAX_VECTOR_ENTRIES: u64 = 1 << 28;

/// Reads a trace file. Events may come in any order of processes, but each process's events
/// must come in the order they happened (their `seq` is checked by the checker, not here).
/// Lines are read with a bound on their length, and vectors with a bound on their total size
/// ([`MAX_VECTOR_ENTRIES`]).
pub fn read(mut input: impl BufRead) -> Result<History, ReadError> {
    let mut text = String::new();
    let unreadable = |error: SourceError| match error {
        SourceError::LineTooLong { line } => error_at(line, Problem::Unreadable(error.to_string())),
        _ => error_at(0, Problem::Unreadable(error.to_string())),
    };
    if !source::read_line(&mut input, &mut text, 1).map_err(unreadable)? {
        return Err(error_at(0, Problem::Empty));
    }
    let header: Header =
        serde_json::from_str(&text).map_err(|e| error_at(1, Problem::NotAHeader(e.to_string())))?;
    if header.lamport_bank_trace != FORMAT_VERSION {
        return Err(error_at(1, Problem::Version(header.lamport_bank_trace)));
    }
    let Some(model) = ClockModel::parse(&header.clocks) else {
        return Err(error_at(1, Problem::UnknownClocks(header.clocks)));
    };
    let propagation = match header.propagation.as_deref() {
        None => PropagationMode::Sync,
        Some(name) => PropagationMode::parse(name)
            .ok_or_else(|| error_at(1, Problem::UnknownPropagation(name.to_string())))?,
    };
    let guarantees = match header.session_guarantees.as_deref() {
        None => SessionGuarantees::Enforced,
        Some(name) => SessionGuarantees::parse(name)
            .ok_or_else(|| error_at(1, Problem::UnknownGuarantees(name.to_string())))?,
    };
    let schedule = match header.schedule.as_str() {
        "sequential" => Schedule::Sequential,
        "concurrent" => Schedule::Concurrent,
        other => return Err(error_at(1, Problem::UnknownSchedule(other.to_string()))),
    };
    let mut processes = Vec::with_capacity(header.processes.len());
    for name in &header.processes {
        let process: Process = name
            .parse()
            .map_err(|e: BadProcessName| error_at(1, e.into()))?;
        processes.push(process);
    }
    let table = ProcessTable::new(processes);
    if table.len() != header.processes.len() {
        return Err(error_at(1, Problem::ListedTwice));
    }
    let mut events = vec![Vec::new(); table.len()];
    let mut faults = Vec::new();
    let mut vector_entries: u64 = 0;
    let mut number = 1;
    loop {
        number += 1;
        if !source::read_line(&mut input, &mut text, number).map_err(unreadable)? {
            break;
        }
        if text.trim().is_empty() {
            continue;
        }
        // Event lines never hold a "fault" key; fault lines always start with it.
        if text.trim_start().starts_with("{\"fault\"") {
            faults.push(read_fault_line(&text).map_err(|problem| error_at(number, problem))?);
            continue;
        }
        let line: LineIn<'_> = serde_json::from_str(&text)
            .map_err(|e| error_at(number, Problem::MalformedEvent(e.to_string())))?;
        if !line.vector.0.is_empty() {
            vector_entries += table.len() as u64;
            if vector_entries > MAX_VECTOR_ENTRIES {
                return Err(error_at(number, Problem::TooManyVectorEntries(table.len())));
            }
        }
        let event = from_line(&line, &table).map_err(|problem| error_at(number, problem))?;
        let slot = table
            .index_of(event.process)
            .ok_or_else(|| error_at(number, Problem::NotInHeader(line.process.to_string())))?;
        events[slot].push(event);
    }
    Ok(History {
        model,
        schedule,
        table,
        initial_balance: header.initial_balance,
        events,
        faults,
        source: header.source,
        roaming: header.customers_roam,
        propagation,
        guarantees,
    })
}

fn from_line(line: &LineIn<'_>, table: &ProcessTable) -> Result<TraceEvent, Problem> {
    let process: Process = line.process.parse()?;
    let kind = match &line.waits_for {
        Some(waits_for) if line.event == "session_wait" => EventKind::Wait(waits_for.try_into()?),
        Some(_) => return Err(Problem::BadWait),
        None => parse_kind(&line.event, line.money)?,
    };
    let mut vector = if line.vector.0.is_empty() {
        Vec::new()
    } else {
        vec![0; table.len()]
    };
    for (name, value) in &line.vector.0 {
        let index = name
            .parse()
            .ok()
            .and_then(|process| table.index_of(process))
            .ok_or_else(|| Problem::NotInVector(name.to_string()))?;
        vector[index] = value.as_u64().ok_or_else(|| Problem::BadVectorEntry {
            name: name.to_string(),
            value: value.to_string(),
        })?;
    }
    let message = |text: &Cow<'_, str>| text.parse::<MessageId>().map_err(Problem::from);
    let outcome = match &line.result {
        None => None,
        Some(Value::String(text)) if text == "success" => Some(Outcome::Success),
        Some(Value::String(text)) if text == "fail" => Some(Outcome::Fail),
        Some(Value::String(text)) if text == "indeterminate" => Some(Outcome::Indeterminate),
        Some(value) => Some(Outcome::Balance(
            value
                .as_i64()
                .ok_or_else(|| Problem::BadResult(value.to_string()))?,
        )),
    };
    Ok(TraceEvent {
        process,
        seq: line.seq,
        kind,
        event_id: EventId(line.id),
        lamport: line.lamport,
        vector,
        receives: line.receive.as_ref().map(message).transpose()?,
        sends: line.send.iter().map(message).collect::<Result<_, _>>()?,
        balance: line.balance,
        outcome,
    })
}

fn parse_kind(name: &str, money: Option<i64>) -> Result<EventKind, Problem> {
    if let Some(sub_event) = SubEvent::parse(name) {
        return Ok(EventKind::Branch(sub_event));
    }
    if name == "query_request" {
        return Ok(EventKind::Query);
    }
    if name == "session_wait" {
        return Err(Problem::BadWait);
    }
    for op in [Op::Deposit, Op::Withdraw] {
        if name == EventKind::Forward(op).name() {
            return Ok(EventKind::Forward(op));
        }
    }
    let (interface, wrap): (&str, fn(Action) -> EventKind) =
        if let Some(interface) = name.strip_suffix("_send") {
            (interface, EventKind::Send)
        } else if let Some(interface) = name.strip_suffix("_receive") {
            (interface, EventKind::Receive)
        } else if let Some(interface) = name.strip_suffix("_timeout") {
            (interface, EventKind::Timeout)
        } else {
            return Err(Problem::UnknownEvent(name.to_string()));
        };
    let amount = || money.ok_or_else(|| Problem::NoMoney(name.to_string()));
    let action = match interface {
        "query" => Action::Query,
        "deposit" => Action::Deposit(amount()?),
        "withdraw" => Action::Withdraw(amount()?),
        _ => return Err(Problem::UnknownEvent(name.to_string())),
    };
    Ok(wrap(action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BranchId, CustomerId, Op, Process, Step};
    use crate::trace::faults::Fault;

    fn sample() -> History {
        let b1 = Process::Branch(BranchId(1));
        let c1 = Process::Customer(CustomerId(1));
        let send = TraceEvent {
            process: c1,
            seq: 1,
            kind: EventKind::Send(Action::Withdraw(70)),
            event_id: EventId(4),
            lamport: 0,
            vector: vec![0, 1],
            receives: None,
            sends: vec![MessageId {
                sender: c1,
                number: 1,
            }],
            balance: None,
            outcome: None,
        };
        let request = TraceEvent {
            process: b1,
            seq: 1,
            kind: EventKind::Branch(SubEvent {
                op: Op::Withdraw,
                step: Step::Request,
            }),
            event_id: EventId(4),
            lamport: 1,
            vector: vec![1, 1],
            receives: Some(MessageId {
                sender: c1,
                number: 1,
            }),
            sends: Vec::new(),
            balance: Some(330),
            outcome: None,
        };
        let receive = TraceEvent {
            process: c1,
            seq: 2,
            kind: EventKind::Receive(Action::Query),
            event_id: EventId(5),
            lamport: 3,
            vector: vec![1, 2],
            receives: None,
            sends: Vec::new(),
            balance: None,
            outcome: Some(Outcome::Balance(330)),
        };
        History {
            model: ClockModel::Strict,
            schedule: Schedule::Concurrent,
            table: ProcessTable::new([b1, c1]),
            initial_balance: Some(400),
            events: vec![vec![request], vec![send, receive]],
            faults: vec![
                FaultRecord {
                    at_ms: 5,
                    fault: Fault::Partition {
                        from: b1,
                        to: c1,
                        both_ways: false,
                    },
                },
                FaultRecord {
                    at_ms: 9,
                    fault: Fault::Retry {
                        message: MessageId {
                            sender: c1,
                            number: 1,
                        },
                        to: b1,
                        attempt: 2,
                    },
                },
                FaultRecord {
                    at_ms: 12,
                    fault: Fault::Pause {
                        branch: BranchId(1),
                    },
                },
                FaultRecord {
                    at_ms: 14,
                    fault: Fault::Crash {
                        branch: BranchId(1),
                        events: 3,
                    },
                },
                FaultRecord {
                    at_ms: 20,
                    fault: Fault::Restart {
                        branch: BranchId(1),
                        events: 2,
                        clock: 2,
                    },
                },
            ],
            source: Some("in.json".to_string()),
            roaming: false,
            ..History::default()
        }
    }

    #[test]
    fn a_history_survives_a_round_trip() {
        let history = sample();
        let mut bytes = Vec::new();
        write(&history, &mut bytes).expect("written to memory");
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(is_trace_header(text.lines().next().expect("a header")));
        assert_eq!(read(bytes.as_slice()), Ok(history));
    }

    #[test]
    fn lines_are_compact_and_name_processes() {
        let mut bytes = Vec::new();
        write(&sample(), &mut bytes).expect("written to memory");
        let text = String::from_utf8(bytes).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"lamport_bank_trace":1,"clocks":"strict","schedule":"concurrent","processes":["B1","C1"],"initial_balance":400,"source":"in.json"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"process":"B1","seq":1,"event":"withdraw_request","id":4,"lamport":1,"vector":{"B1":1,"C1":1},"receive":"C1:1","balance":330}"#
        );
        assert_eq!(
            lines[2],
            r#"{"process":"C1","seq":1,"event":"withdraw_send","id":4,"lamport":0,"money":70,"vector":{"C1":1},"send":["C1:1"]}"#
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let header = r#"{"lamport_bank_trace":1,"clocks":"original","schedule":"sequential","processes":["B1"]}"#;
        let bad = format!(
            "{header}\n{{\"process\":\"B9\",\"seq\":1,\"event\":\"deposit_execute\",\"id\":1,\"lamport\":1}}\n"
        );
        assert_eq!(
            read(bad.as_bytes()).map_err(|e| e.to_string()),
            Err("line 2: process B9 is not in the header".to_string())
        );
        let unknown = format!(
            "{header}\n{{\"process\":\"B1\",\"seq\":1,\"event\":\"jump\",\"id\":1,\"lamport\":1}}\n"
        );
        assert_eq!(
            read(unknown.as_bytes()).map_err(|e| e.to_string()),
            Err("line 2: unknown event \"jump\"".to_string())
        );
        assert_eq!(
            read(&b""[..]).map_err(|e| e.to_string()),
            Err("the file is empty".to_string())
        );
    }
}
