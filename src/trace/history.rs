//! The full causal history of a run: every event of every process (customers included), each
//! with its position, Lamport clock, vector clock and the messages it sent or received. The
//! branch logs and customer records of [`Trace`] are derived from it.

use std::collections::{BTreeMap, HashMap};

use super::faults::FaultRecord;
use super::records::{BranchRecord, CustomerRecord, Outcome, Trace};
use crate::model::{
    Action, BranchId, ClockModel, EventId, MessageId, Op, Process, PropagationMode, Schedule,
    SessionGuarantees, Step, SubEvent,
};
use crate::session::WriteId;

/// The processes of a run in a fixed order (branches ascending, then customers ascending): the
/// index of a process is its entry in every vector clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTable {
    processes: Vec<Process>,
    index: HashMap<Process, usize>,
}

impl ProcessTable {
    /// A table of `processes`, sorted branches first, each once.
    pub fn new(processes: impl IntoIterator<Item = Process>) -> Self {
        let mut processes: Vec<Process> = processes.into_iter().collect();
        processes.sort();
        processes.dedup();
        let index = processes
            .iter()
            .enumerate()
            .map(|(index, process)| (*process, index))
            .collect();
        Self { processes, index }
    }

    /// The processes, in table order.
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// The processes' short names (`B1`, `C2`), in table order.
    pub fn names(&self) -> Vec<String> {
        self.processes.iter().map(ToString::to_string).collect()
    }

    /// How many processes there are (the width of every vector clock).
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// The index of `process`, if it is in the table.
    pub fn index_of(&self, process: Process) -> Option<usize> {
        self.index.get(&process).copied()
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A branch sub-event of a deposit or withdraw (Diagram B).
    Branch(SubEvent),
    /// The origin sends a deposit or withdraw to one peer: an event of its own only in the
    /// `messages` model (in the others the propagation is sent from the execute).
    Forward(Op),
    /// A branch receives a query and answers it; touches no Lamport clock but in `messages`.
    Query,
    /// A customer sends a request.
    Send(Action),
    /// A customer receives the reply to a request.
    Receive(Action),
    /// A customer gives up waiting for a reply (deadline): the outcome is indeterminate.
    Timeout(Action),
    /// A branch begins to wait for a customer's write it has not applied yet, before it serves
    /// that customer's request or applies the customer's later write (the event's id is theirs).
    /// Touches no Lamport clock.
    Wait(WriteId),
}

impl EventKind {
    /// The event's name, e.g. `deposit_propagate_execute`, `query_request`, `deposit_send`.
    pub fn name(self) -> String {
        match self {
            EventKind::Branch(sub_event) => sub_event.name(),
            EventKind::Forward(op) => format!("{}_propagate_send", op.name()),
            EventKind::Query => "query_request".to_string(),
            EventKind::Send(action) => format!("{}_send", action.interface()),
            EventKind::Receive(action) => format!("{}_receive", action.interface()),
            EventKind::Timeout(action) => format!("{}_timeout", action.interface()),
            EventKind::Wait(_) => "session_wait".to_string(),
        }
    }

    /// Whether the event advances its process's Lamport clock in `model` (a tick or a merge).
    /// Events that do not still happen, and count in vector clocks: a customer's send in the
    /// `original` model, anything to do with a query in `strict`, a branch serving a query but
    /// in `messages`, and in `messages` every event that neither sends nor receives a request
    /// or a propagation. The one place the models' rules are written.
    pub fn ticks(self, model: ClockModel) -> bool {
        let messages = model == ClockModel::Messages;
        match self {
            EventKind::Branch(sub_event) => {
                !messages || matches!(sub_event.step, Step::Request | Step::PropagateRequest)
            }
            EventKind::Forward(_) => true,
            EventKind::Query | EventKind::Send(Action::Query) => messages,
            EventKind::Send(_) => model != ClockModel::Original,
            EventKind::Receive(Action::Query) => model == ClockModel::Original,
            EventKind::Receive(_) => !messages,
            EventKind::Timeout(_) | EventKind::Wait(_) => false,
        }
    }
}

/// One event of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// The process it happened on.
    pub process: Process,
    /// Its position in that process's history, from 1.
    pub seq: u64,
    /// What it is.
    pub kind: EventKind,
    /// The customer event (query, deposit or withdraw) it belongs to.
    pub event_id: EventId,
    /// The process's Lamport clock after the event.
    pub lamport: u64,
    /// The process's vector clock after the event (indexed by the process table); empty when
    /// the run did not record vector clocks.
    pub vector: Vec<u64>,
    /// The message this event received, if it is a receive.
    pub receives: Option<MessageId>,
    /// The messages sent from this event (stamped with its clocks).
    pub sends: Vec<MessageId>,
    /// The branch's balance after the event, on execute steps.
    pub balance: Option<i64>,
    /// What the customer got back, on a customer's receive.
    pub outcome: Option<Outcome>,
}

impl TraceEvent {
    /// The event on its own process: `#5 deposit_propagate_execute (event 2)`.
    pub fn local_label(&self) -> String {
        format!(
            "#{} {} (event {})",
            self.seq,
            self.kind.name(),
            self.event_id
        )
    }
}

/// The full history of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The clock model of the run.
    pub model: ClockModel,
    /// The schedule of the run.
    pub schedule: Schedule,
    /// The processes; their order gives the vector clocks' entries.
    pub table: ProcessTable,
    /// The balance every branch started with, if known.
    pub initial_balance: Option<i64>,
    /// Every process's events in the order they happened, in table order.
    pub events: Vec<Vec<TraceEvent>>,
    /// The faults of the run, in the order they happened (none outside simulations).
    pub faults: Vec<FaultRecord>,
    /// Where the run's input came from (a file name, or `<built-in sample>`), if known: the
    /// pictures name it in their title.
    pub source: Option<String>,
    /// Whether customers went from branch to branch (the client-centric project's inputs),
    /// rather than each to its own.
    pub roaming: bool,
    /// Whether origins answered after propagating or before.
    pub propagation: PropagationMode,
    /// Whether branches enforced their customers' session guarantees.
    pub guarantees: SessionGuarantees,
}

impl History {
    /// How many events there are in all.
    pub fn len(&self) -> usize {
        self.events.iter().map(Vec::len).sum()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every event, process by process.
    pub fn iter(&self) -> impl Iterator<Item = &TraceEvent> {
        self.events.iter().flatten()
    }

    /// The event that sent each message.
    pub fn senders(&self) -> HashMap<MessageId, &TraceEvent> {
        let mut senders = HashMap::new();
        for event in self.iter() {
            for message in &event.sends {
                senders.insert(*message, event);
            }
        }
        senders
    }

    /// The branch logs and customer records of the invariants (the README's "Invariants"), derived from the events.
    pub fn to_trace(&self) -> Trace {
        let senders = self.senders();
        let mut trace = Trace {
            model: self.model,
            roaming: self.roaming,
            propagation: self.propagation,
            ..Trace::default()
        };
        for events in &self.events {
            let mut last_sender = None;
            let mut pending_send: Option<&TraceEvent> = None;
            for event in events {
                let received_from = event.receives.map(|message| message.sender);
                match (event.process, event.kind) {
                    (Process::Branch(branch), EventKind::Branch(sub_event)) => {
                        if received_from.is_some() {
                            last_sender = received_from;
                        }
                        let peer = match sub_event.step {
                            Step::PropagateRequest | Step::PropagateResponse => received_from,
                            Step::PropagateExecute => last_sender,
                            _ => None,
                        };
                        let peer = peer.and_then(|process| match process {
                            Process::Branch(id) => Some(id),
                            Process::Customer(_) => None,
                        });
                        trace
                            .branches
                            .entry(branch)
                            .or_default()
                            .push(BranchRecord {
                                event_id: event.event_id,
                                sub_event,
                                clock: event.lamport,
                                peer,
                            });
                    }
                    (Process::Branch(branch), EventKind::Query) => {
                        trace.branches.entry(branch).or_default();
                    }
                    (Process::Customer(_), EventKind::Send(_)) => pending_send = Some(event),
                    (
                        Process::Customer(customer),
                        EventKind::Receive(action) | EventKind::Timeout(action),
                    ) => {
                        let reply_stamp = event
                            .receives
                            .and_then(|message| senders.get(&message))
                            .map_or(0, |sender| sender.lamport);
                        let sent = pending_send
                            .take()
                            .filter(|send| send.event_id == event.event_id)
                            .map_or(0, |send| send.lamport);
                        trace
                            .customers
                            .entry(customer)
                            .or_default()
                            .push(CustomerRecord {
                                event_id: event.event_id,
                                action,
                                sent,
                                reply_stamp,
                                received: event.lamport,
                                outcome: event.outcome.unwrap_or(Outcome::Indeterminate),
                                branch: match event.receives.map(|message| message.sender) {
                                    Some(Process::Branch(branch)) => Some(branch),
                                    _ => None,
                                },
                            });
                    }
                    _ => {}
                }
            }
        }
        for process in self.table.processes() {
            if let Process::Branch(branch) = process {
                trace.branches.entry(*branch).or_default();
            }
        }
        trace
    }

    /// Each branch's balance after its last event that carries one (or the initial balance).
    pub fn final_balances(&self) -> Option<BTreeMap<BranchId, i64>> {
        let initial = self.initial_balance?;
        let mut finals = BTreeMap::new();
        for (process, events) in self.table.processes().iter().zip(&self.events) {
            if let Process::Branch(branch) = process {
                let last = events.iter().rev().find_map(|event| event.balance);
                finals.insert(*branch, last.unwrap_or(initial));
            }
        }
        Some(finals)
    }
}
