//! The happens-before graph of a history: each process's events in order, plus one edge per
//! message from the event that sent it to the event that received it. From it come a
//! topological order of all events (by Lamport clock where the edges allow) and every event's
//! vector clock, recomputed exactly as the recorder keeps it: own entry +1 on every event, and
//! a receive takes the component-wise maximum with the sender's clock only if it ticks (a query
//! is linked to its message but teaches no clock). For a history recorded by a run the
//! recomputed clocks equal the recorded ones; recomputing them means a picture never shows a
//! clock the edges do not justify, even from a trace file edited by hand.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::PictureError;
use crate::model::MessageId;
use crate::trace::{History, TraceEvent};

/// Where an event sits in a history: its lane (the process's index in the process table) and
/// its position in that lane, from 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    /// The process's index in the table (and in `History::events`).
    pub lane: usize,
    /// The event's position among its process's events, from 0.
    pub index: usize,
}

/// A message that was both sent and received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The message.
    pub message: MessageId,
    /// The event that sent it.
    pub from: Place,
    /// The event that received it.
    pub to: Place,
    /// Whether the receive merged the message's clocks (it ticks); a query's does not.
    pub merges: bool,
}

/// The happens-before structure of a history.
#[derive(Debug, Clone)]
pub struct Causality {
    order: Vec<Place>,
    links: Vec<Link>,
    incoming: HashMap<Place, usize>,
    vectors: Vec<Vec<Vec<u64>>>,
}

/// The event at `place`. Places come from a [`Causality`] of the same history, so they exist.
pub fn event_at(history: &History, place: Place) -> &TraceEvent {
    &history.events[place.lane][place.index]
}

/// `B2-3`: how an event is named in pictures (its process and its number there).
pub fn event_label(event: &TraceEvent) -> String {
    format!("{}-{}", event.process, event.seq)
}

impl Causality {
    /// The graph of `history`. Fails if a process's events are not numbered 1, 2, 3, … or if
    /// the links form a cycle (neither happens in a recorded run).
    pub fn of(history: &History) -> Result<Self, PictureError> {
        for events in &history.events {
            for (index, event) in events.iter().enumerate() {
                let expected = index as u64 + 1;
                if event.seq != expected {
                    return Err(PictureError::Sequence {
                        process: event.process.to_string(),
                        expected,
                        found: event.seq,
                    });
                }
            }
        }
        let places = || {
            history
                .events
                .iter()
                .enumerate()
                .flat_map(|(lane, events)| {
                    (0..events.len()).map(move |index| Place { lane, index })
                })
        };
        let mut senders = HashMap::new();
        for place in places() {
            for message in &event_at(history, place).sends {
                senders.insert(*message, place);
            }
        }
        let mut links = Vec::new();
        let mut incoming = HashMap::new();
        let mut outgoing: HashMap<Place, Vec<Place>> = HashMap::new();
        for to in places() {
            let event = event_at(history, to);
            let Some(message) = event.receives else {
                continue;
            };
            // A message whose send is not in the history (a partial trace) draws no edge.
            let Some(from) = senders.get(&message).copied() else {
                continue;
            };
            incoming.insert(to, links.len());
            outgoing.entry(from).or_default().push(to);
            links.push(Link {
                message,
                from,
                to,
                merges: event.kind.ticks(history.model),
            });
        }
        let order = topological_order(history, &incoming, &outgoing)?;
        let mut causality = Self {
            order,
            links,
            incoming,
            vectors: history
                .events
                .iter()
                .map(|events| vec![Vec::new(); events.len()])
                .collect(),
        };
        causality.compute_vectors(history.events.len());
        Ok(causality)
    }

    /// Every event, each after every event it depends on; among those free to come next, the
    /// lowest Lamport clock first (then lane, then position), so the order reads like time.
    pub fn order(&self) -> &[Place] {
        &self.order
    }

    /// Every message that was both sent and received, in the order of their receives (process
    /// by process).
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The message the event at `place` received, if its send is in the history.
    pub fn incoming(&self, place: Place) -> Option<&Link> {
        self.incoming.get(&place).map(|index| &self.links[*index])
    }

    /// The vector clock of the event at `place` (indexed by lane).
    pub fn vector(&self, place: Place) -> &[u64] {
        &self.vectors[place.lane][place.index]
    }

    fn compute_vectors(&mut self, width: usize) {
        for position in 0..self.order.len() {
            let place = self.order[position];
            let mut vector = if place.index == 0 {
                vec![0; width]
            } else {
                self.vectors[place.lane][place.index - 1].clone()
            };
            vector[place.lane] += 1;
            if let Some(link) = self.incoming(place).copied().filter(|link| link.merges) {
                for (entry, sender) in vector.iter_mut().zip(self.vector(link.from)) {
                    *entry = (*entry).max(*sender);
                }
            }
            self.vectors[place.lane][place.index] = vector;
        }
    }
}

/// Kahn's algorithm over lane order and message edges, taking the lowest Lamport clock first.
fn topological_order(
    history: &History,
    incoming: &HashMap<Place, usize>,
    outgoing: &HashMap<Place, Vec<Place>>,
) -> Result<Vec<Place>, PictureError> {
    let mut waiting: HashMap<Place, usize> = HashMap::new();
    let mut ready = BinaryHeap::new();
    let key = |place: Place| Reverse((event_at(history, place).lamport, place));
    for (lane, events) in history.events.iter().enumerate() {
        for index in 0..events.len() {
            let place = Place { lane, index };
            let count = usize::from(index > 0) + usize::from(incoming.contains_key(&place));
            if count == 0 {
                ready.push(key(place));
            } else {
                waiting.insert(place, count);
            }
        }
    }
    let total = history.len();
    let mut order = Vec::with_capacity(total);
    while let Some(Reverse((_, place))) = ready.pop() {
        order.push(place);
        let next = Place {
            lane: place.lane,
            index: place.index + 1,
        };
        let successors = (next.index < history.events[place.lane].len())
            .then_some(next)
            .into_iter()
            .chain(outgoing.get(&place).into_iter().flatten().copied());
        for successor in successors {
            if let Some(count) = waiting.get_mut(&successor) {
                *count -= 1;
                if *count == 0 {
                    waiting.remove(&successor);
                    ready.push(key(successor));
                }
            }
        }
    }
    if order.len() < total {
        // Every event left waits on a cycle or on an event that does; name the first in
        // table order so the message is stable.
        let stuck = waiting.keys().min().copied().unwrap_or_default();
        return Err(PictureError::Cycle {
            event: event_label(event_at(history, stuck)),
        });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, BranchId, CustomerId, EventId, Op, Process, Step, SubEvent};
    use crate::trace::{EventKind, ProcessTable};

    fn event(process: Process, seq: u64, kind: EventKind, lamport: u64) -> TraceEvent {
        TraceEvent {
            process,
            seq,
            kind,
            event_id: EventId(1),
            lamport,
            vector: Vec::new(),
            receives: None,
            sends: Vec::new(),
            balance: None,
            outcome: None,
        }
    }

    /// C1 deposits at B1 (original model, vectors not recorded): the send does not tick, the
    /// request merges, the execute ticks.
    fn deposit() -> History {
        let b1 = Process::Branch(BranchId(1));
        let c1 = Process::Customer(CustomerId(1));
        let message = MessageId {
            sender: c1,
            number: 1,
        };
        let mut send = event(c1, 1, EventKind::Send(Action::Deposit(5)), 0);
        send.sends.push(message);
        let step = |step| {
            EventKind::Branch(SubEvent {
                op: Op::Deposit,
                step,
            })
        };
        let mut request = event(b1, 1, step(Step::Request), 1);
        request.receives = Some(message);
        let execute = event(b1, 2, step(Step::Execute), 2);
        History {
            table: ProcessTable::new([b1, c1]),
            events: vec![vec![request, execute], vec![send]],
            ..History::default()
        }
    }

    #[test]
    fn vectors_follow_the_edges_and_the_order_puts_causes_first() {
        let history = deposit();
        let causality = Causality::of(&history).expect("a consistent history");
        let c1 = Place { lane: 1, index: 0 };
        let request = Place { lane: 0, index: 0 };
        let execute = Place { lane: 0, index: 1 };
        assert_eq!(causality.order(), [c1, request, execute]);
        assert_eq!(causality.vector(c1), [0, 1]);
        assert_eq!(causality.vector(request), [1, 1]);
        assert_eq!(causality.vector(execute), [2, 1]);
        assert_eq!(causality.links().len(), 1);
        assert_eq!(causality.incoming(request).map(|link| link.from), Some(c1));
    }

    #[test]
    fn misnumbered_events_and_cycles_are_refused() {
        let mut history = deposit();
        history.events[0][1].seq = 3;
        assert_eq!(
            Causality::of(&history).map(|_| ()),
            Err(PictureError::Sequence {
                process: "B1".to_string(),
                expected: 2,
                found: 3
            })
        );
        let mut history = deposit();
        // B1's execute sends a message that C1's send (which B1 depends on) receives.
        let back = MessageId {
            sender: Process::Branch(BranchId(1)),
            number: 1,
        };
        history.events[0][1].sends.push(back);
        history.events[1][0].receives = Some(back);
        assert_eq!(
            Causality::of(&history).map(|_| ()),
            Err(PictureError::Cycle {
                event: "B1-1".to_string()
            })
        );
    }
}
