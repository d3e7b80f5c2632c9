//! The course's output from fall 2023 on, in three parts, made of the `messages` model's events
//! (only sends and receives of requests and propagations are events):
//!
//! 1. per customer, its sends: `{"id": 1, "type": "customer", "events": [{"customer-request-id":
//!    1, "logical_clock": 1, "interface": "deposit", "comment": "event_sent from customer 1"}]}`;
//! 2. per branch, its receives and sends: `{"customer-request-id": 1, "logical_clock": 3,
//!    "interface": "propogate_deposit", "comment": "event_sent to branch 2"}`;
//! 3. every event of both, ordered by request id, then by clock (ties: customers first, then
//!    branches in ascending id, each in its own order), each naming its process: `{"id": 2,
//!    "customer-request-id": 1, "type": "branch", "logical_clock": 4, "interface":
//!    "propogate_deposit", "comment": "event_recv from branch 1"}`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::course::Spelling;
use super::history::{EventKind, History, TraceEvent};
use crate::json;
use crate::model::{MessageId, Op, Process, Step};

/// The names the three parts are written under by `--output-dir`, in order.
pub const FILE_NAMES: [&str; 3] = [
    "customer_events.json",
    "branch_events.json",
    "all_events.json",
];

/// The three parts of one run's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Part 1: per customer, its sends.
    pub customers: Value,
    /// Part 2: per branch, its receives and sends.
    pub branches: Value,
    /// Part 3: every event, by request id and clock.
    pub all: Value,
}

impl Parts {
    /// The parts as texts, in the order of [`FILE_NAMES`]: JSON indented by two spaces, each
    /// ending with a newline.
    pub fn texts(&self) -> [String; 3] {
        [&self.customers, &self.branches, &self.all].map(json::pretty)
    }
}

/// The interface a propagation of `op` is written with: `propogate_deposit` (or, asked,
/// `propagate_deposit`).
pub fn propagation_interface(op: Op, spelling: Spelling) -> String {
    let propagate = match spelling {
        Spelling::Propogate => "propogate",
        Spelling::Propagate => "propagate",
    };
    format!("{propagate}_{}", op.name())
}

/// `customer 1` or `branch 2`: a process as the comments name it.
pub fn comment_name(process: Process) -> String {
    match process {
        Process::Branch(id) => format!("branch {}", id.0),
        Process::Customer(id) => format!("customer {}", id.0),
    }
}

/// One event as the parts write it.
struct Entry {
    process: Process,
    request: u64,
    clock: u64,
    interface: String,
    comment: String,
}

impl Entry {
    fn local(&self) -> Value {
        json!({
            "customer-request-id": self.request,
            "logical_clock": self.clock,
            "interface": self.interface,
            "comment": self.comment,
        })
    }

    fn named(&self) -> Value {
        let (id, kind) = match self.process {
            Process::Branch(id) => (id.0, "branch"),
            Process::Customer(id) => (id.0, "customer"),
        };
        json!({
            "id": id,
            "customer-request-id": self.request,
            "type": kind,
            "logical_clock": self.clock,
            "interface": self.interface,
            "comment": self.comment,
        })
    }
}

impl History {
    /// The run's output in the three parts of the course's fall-2023 format. The run must have
    /// used the `messages` clocks (where these are its only Lamport events).
    pub fn parts(&self, spelling: Spelling) -> Parts {
        let receivers: HashMap<MessageId, Process> = self
            .iter()
            .filter_map(|event| Some((event.receives?, event.process)))
            .collect();
        let entry = |event: &TraceEvent| -> Option<Entry> {
            let from = event.receives.map(|message| message.sender);
            let to = || {
                event
                    .sends
                    .first()
                    .and_then(|message| receivers.get(message))
                    .map_or_else(|| "an unknown process".to_string(), |p| comment_name(*p))
            };
            let (interface, comment) = match event.kind {
                EventKind::Send(action) => (
                    action.interface().to_string(),
                    format!("event_sent from {}", comment_name(event.process)),
                ),
                EventKind::Query => (
                    "query".to_string(),
                    format!("event_recv from {}", name(from)),
                ),
                EventKind::Branch(sub_event) if sub_event.step == Step::Request => (
                    sub_event.op.name().to_string(),
                    format!("event_recv from {}", name(from)),
                ),
                EventKind::Branch(sub_event) if sub_event.step == Step::PropagateRequest => (
                    propagation_interface(sub_event.op, spelling),
                    format!("event_recv from {}", name(from)),
                ),
                EventKind::Forward(op) => (
                    propagation_interface(op, spelling),
                    format!("event_sent to {}", to()),
                ),
                _ => return None,
            };
            Some(Entry {
                process: event.process,
                request: event.event_id.0,
                clock: event.lamport,
                interface,
                comment,
            })
        };
        let mut customers = Vec::new();
        let mut branches = Vec::new();
        let mut all = Vec::new();
        for (process, events) in self.table.processes().iter().zip(&self.events) {
            let entries: Vec<Entry> = events.iter().filter_map(entry).collect();
            let (id, kind, part) = match process {
                Process::Customer(id) => (id.0, "customer", &mut customers),
                Process::Branch(id) => (id.0, "branch", &mut branches),
            };
            let local: Vec<Value> = entries.iter().map(Entry::local).collect();
            part.push(json!({ "id": id, "type": kind, "events": local }));
            all.extend(entries);
        }
        // Customers before branches, each in ascending id, each in its own order: the order
        // of ties, kept by a stable sort.
        all.sort_by_key(|entry| match entry.process {
            Process::Customer(id) => (0, id.0),
            Process::Branch(id) => (1, id.0),
        });
        all.sort_by_key(|entry| (entry.request, entry.clock));
        Parts {
            customers: Value::Array(customers),
            branches: Value::Array(branches),
            all: Value::Array(all.iter().map(Entry::named).collect()),
        }
    }
}

/// The sender of a received message as the comments name it.
fn name(from: Option<Process>) -> String {
    from.map_or_else(|| "an unknown process".to_string(), comment_name)
}
