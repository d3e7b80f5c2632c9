//! One process's clocks and history: every event goes through a [`Recorder`], which updates the
//! Lamport and vector clocks and records the event in one step, and stamps outgoing messages.
//! Pure; the branch keeps its recorder behind its lock, a customer owns its own.

use super::history::{EventKind, ProcessTable, TraceEvent};
use super::records::Outcome;
use crate::clock::{LamportClock, VectorClock};
use crate::model::{EventId, MessageId, Process};

/// What travels with every message: the sender's clocks at sending, and the message's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The sender's Lamport clock at sending (after the send's own tick, where it has one).
    pub lamport: u64,
    /// The sender's vector clock at sending; empty when vector clocks are off.
    pub vector: Vec<u64>,
    /// The message's id.
    pub message: MessageId,
}

/// A process's clocks and the events recorded so far.
#[derive(Debug, Clone)]
pub struct Recorder {
    process: Process,
    index: usize,
    lamport: LamportClock,
    vector: Option<VectorClock>,
    events: Vec<TraceEvent>,
    keep: bool,
    count: u64,
    sent: u64,
}

/// What a [`Recorder`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    /// Keep a vector clock (on every event and message).
    pub vectors: bool,
    /// Keep the events themselves; without, only their number (for benchmarks, whose runs
    /// would otherwise hold millions of events).
    pub events: bool,
}

impl Recording {
    /// Everything: what every run keeps unless a benchmark asks for less.
    pub const FULL: Recording = Recording {
        vectors: true,
        events: true,
    };
}

impl Recorder {
    /// A recorder for `process`, entry `index` of a table of `width` processes, keeping what
    /// `recording` says.
    pub fn new(process: Process, index: usize, width: usize, recording: Recording) -> Self {
        Self {
            process,
            index,
            lamport: LamportClock::new(),
            vector: recording.vectors.then(|| VectorClock::new(width)),
            events: Vec::new(),
            keep: recording.events,
            count: 0,
            sent: 0,
        }
    }

    /// A recorder for `process`, one of `table`'s, keeping what `recording` says.
    pub fn in_table(table: &ProcessTable, process: Process, recording: Recording) -> Self {
        // A process not in the table takes entry 0: every caller builds the table from the
        // same scenario as its processes, so it does not happen.
        let index = table.index_of(process).unwrap_or_default();
        Self::new(process, index, table.len(), recording)
    }

    /// How many events happened so far (kept or not).
    pub fn event_count(&self) -> u64 {
        self.count
    }

    /// The current Lamport clock.
    pub fn lamport(&self) -> u64 {
        self.lamport.now()
    }

    /// The events recorded so far, in order.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Takes the recorded events out, leaving the recorder empty of them.
    pub fn take_events(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.events)
    }

    /// A local event that ticks the Lamport clock. Returns the new Lamport value.
    pub fn tick(&mut self, kind: EventKind, event_id: EventId) -> u64 {
        self.lamport.tick();
        self.record(kind, event_id, None, false)
    }

    /// An event that leaves the Lamport clock as it is (it still counts in the vector clock).
    pub fn silent(&mut self, kind: EventKind, event_id: EventId) -> u64 {
        self.record(kind, event_id, None, false)
    }

    /// A receive of a message stamped `stamp`. With `merge`, the Lamport and vector clocks take
    /// the sender's into account; without (a query, which touches no clock), the message is
    /// linked but neither clock learns from it: happens-before follows exactly the messages the
    /// Lamport rules honour, so that the clock condition can hold. Returns the new Lamport value.
    pub fn receive(
        &mut self,
        kind: EventKind,
        event_id: EventId,
        stamp: &Stamp,
        merge: bool,
    ) -> u64 {
        if merge {
            self.lamport.merge(stamp.lamport);
        }
        self.record(kind, event_id, Some(stamp), merge)
    }

    /// Sends a message from the latest event: the stamp carries the clocks as they are now.
    /// A process always records an event before it sends, so there is one to attach to.
    pub fn send(&mut self) -> Stamp {
        self.sent += 1;
        let message = MessageId {
            sender: self.process,
            number: self.sent,
        };
        if let Some(last) = self.events.last_mut() {
            last.sends.push(message);
        }
        Stamp {
            lamport: self.lamport.now(),
            vector: self.vector_entries(),
            message,
        }
    }

    /// Notes the branch's balance after the latest event.
    pub fn note_balance(&mut self, balance: i64) {
        if let Some(last) = self.events.last_mut() {
            last.balance = Some(balance);
        }
    }

    /// Notes what the customer got back, on the latest event.
    pub fn note_outcome(&mut self, outcome: Outcome) {
        if let Some(last) = self.events.last_mut() {
            last.outcome = Some(outcome);
        }
    }

    fn vector_entries(&self) -> Vec<u64> {
        self.vector
            .as_ref()
            .map(|vector| vector.entries().to_vec())
            .unwrap_or_default()
    }

    fn record(
        &mut self,
        kind: EventKind,
        event_id: EventId,
        received: Option<&Stamp>,
        merge: bool,
    ) -> u64 {
        if let Some(vector) = &mut self.vector {
            match received {
                Some(stamp) if merge => vector.merge(self.index, &stamp.vector),
                _ => vector.tick(self.index),
            }
        }
        self.count += 1;
        if !self.keep {
            return self.lamport.now();
        }
        self.events.push(TraceEvent {
            process: self.process,
            seq: self.count,
            kind,
            event_id,
            lamport: self.lamport.now(),
            vector: self.vector_entries(),
            receives: received.map(|stamp| stamp.message),
            sends: Vec::new(),
            balance: None,
            outcome: None,
        });
        self.lamport.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, BranchId, CustomerId, Op, Step, SubEvent};

    fn sub(op: Op, step: Step) -> EventKind {
        EventKind::Branch(SubEvent { op, step })
    }

    #[test]
    fn a_send_and_receive_link_the_clocks() {
        let customer = Process::Customer(CustomerId(2));
        let branch = Process::Branch(BranchId(2));
        let mut c = Recorder::new(customer, 1, 2, Recording::FULL);
        let mut b = Recorder::new(branch, 0, 2, Recording::FULL);
        c.silent(EventKind::Send(Action::Deposit(5)), EventId(7));
        let stamp = c.send();
        assert_eq!(stamp.lamport, 0);
        assert_eq!(stamp.vector, [0, 1]);
        assert_eq!(
            b.receive(sub(Op::Deposit, Step::Request), EventId(7), &stamp, true),
            1
        );
        assert_eq!(b.tick(sub(Op::Deposit, Step::Execute), EventId(7)), 2);
        let events = b.events();
        assert_eq!(events[0].vector, [1, 1]);
        assert_eq!(events[1].vector, [2, 1]);
        assert_eq!(events[1].seq, 2);
        assert_eq!(events[0].receives, Some(stamp.message));
        assert_eq!(c.events()[0].sends, [stamp.message]);
    }

    #[test]
    fn a_silent_receive_learns_nothing_from_the_message() {
        let mut c = Recorder::new(Process::Customer(CustomerId(1)), 0, 2, Recording::FULL);
        let stamp = Stamp {
            lamport: 9,
            vector: vec![0, 4],
            message: MessageId {
                sender: Process::Branch(BranchId(1)),
                number: 1,
            },
        };
        assert_eq!(
            c.receive(EventKind::Receive(Action::Query), EventId(1), &stamp, false),
            0
        );
        assert_eq!(c.events()[0].vector, [1, 0]);
        assert_eq!(c.events()[0].receives, Some(stamp.message), "still linked");
    }

    #[test]
    fn without_vectors_nothing_is_kept_but_lamport() {
        let lamport_only = Recording {
            vectors: false,
            events: true,
        };
        let mut b = Recorder::new(Process::Branch(BranchId(1)), 0, 4, lamport_only);
        b.tick(sub(Op::Withdraw, Step::Execute), EventId(3));
        assert!(b.events()[0].vector.is_empty());
        assert!(b.send().vector.is_empty());
    }

    #[test]
    fn without_events_only_their_number_is_kept() {
        let counts = Recording {
            vectors: false,
            events: false,
        };
        let mut b = Recorder::new(Process::Branch(BranchId(1)), 0, 4, counts);
        assert_eq!(b.tick(sub(Op::Withdraw, Step::Execute), EventId(3)), 1);
        assert_eq!(b.tick(sub(Op::Withdraw, Step::Response), EventId(3)), 2);
        assert!(b.events().is_empty());
        assert_eq!(b.event_count(), 2);
    }
}
