//! The bookkeeping of a link's retransmissions, without any I/O: which messages are in flight to
//! the peer, in order, when the oldest is due, which attempt each is on, and up to which number
//! the peer may forget what it acknowledged. The link's task (see [`super::link`]) owns one and
//! drives it with what the stream does; these rules are tested here without a network, as
//! raft-rs keeps its in-flight window apart from its transport.
//!
//! The rules:
//!
//! - a message is in flight from the moment it is posted until the peer acknowledges it, or
//!   refuses it (a refusal would come again: the message is dropped, not retried);
//!   acknowledgements come in the order the messages were sent;
//! - when a stream opens, every message in flight is sent on it, due one timeout later; a
//!   message posted while the stream is open is sent at once, due one timeout later;
//! - when the stream fails (the oldest message is overdue, or the network broke it), every
//!   message in flight goes to its next attempt, and the failures since the last
//!   acknowledgement (which set the backoff) go up by one;
//! - `acknowledged_through` is just below the oldest message in flight (0 when none is): the
//!   link carries first sendings in the order of their numbers and acknowledgements come in
//!   sending order, so everything numbered below the oldest message in flight was sent before
//!   it and has been acknowledged. (A deliberate duplicate in flight has a lower number than the
//!   sendings after it, which only makes this smaller: still true.)

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Something sent on a link: it has a number among its sender's messages.
pub trait Numbered {
    /// The message's number among its sender's messages (from 1).
    fn number(&self) -> u64;
}

/// A message in flight.
#[derive(Debug)]
struct InFlight<T> {
    message: T,
    /// Which attempt the last sending was (from 1).
    attempt: u32,
    /// When the acknowledgement of the last sending is due; `None` until it is first sent.
    deadline: Option<Instant>,
}

/// The messages in flight on one link, oldest first.
#[derive(Debug)]
pub struct Outbox<T> {
    in_flight: VecDeque<InFlight<T>>,
    /// How long a sending may go unacknowledged.
    timeout: Duration,
    /// Failed streams since the last acknowledgement.
    failures: u32,
}

impl<T: Numbered> Outbox<T> {
    /// An empty outbox whose sendings are due `timeout` after they are sent.
    pub fn new(timeout: Duration) -> Self {
        Self {
            in_flight: VecDeque::new(),
            timeout,
            failures: 0,
        }
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Failed streams since the last acknowledgement.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Just below the oldest message in flight; 0 when none is (see the module documentation).
    pub fn acknowledged_through(&self) -> u64 {
        self.in_flight
            .front()
            .map_or(0, |oldest| oldest.message.number().saturating_sub(1))
    }

    /// When the oldest message sent is due, if one is.
    pub fn oldest_deadline(&self) -> Option<Instant> {
        self.in_flight.front().and_then(|oldest| oldest.deadline)
    }

    /// Queues `message` while no stream is open: it is sent when the next one opens.
    pub fn queue(&mut self, message: T) {
        self.in_flight.push_back(InFlight {
            message,
            attempt: 1,
            deadline: None,
        });
    }

    /// Posts `message` on the open stream at `now`, where it is sent at once; returns the
    /// `acknowledged_through` to send it with.
    pub fn post(&mut self, message: T, now: Instant) -> u64 {
        self.in_flight.push_back(InFlight {
            message,
            attempt: 1,
            deadline: Some(now + self.timeout),
        });
        self.acknowledged_through()
    }

    /// A stream opens at `now`: every message in flight is sent on it, oldest first, due one
    /// timeout later. Returns the `acknowledged_through` to send them with, and the messages.
    pub fn reopen(&mut self, now: Instant) -> (u64, impl Iterator<Item = &T>) {
        let deadline = now + self.timeout;
        for in_flight in &mut self.in_flight {
            in_flight.deadline = Some(deadline);
        }
        (
            self.acknowledged_through(),
            self.in_flight.iter().map(|in_flight| &in_flight.message),
        )
    }

    /// The peer acknowledged the oldest message: it leaves the outbox, and the failures are
    /// forgotten. `None` if nothing was in flight (a peer that acknowledges what it was not sent).
    pub fn acknowledge(&mut self) -> Option<T> {
        let acknowledged = self.in_flight.pop_front()?;
        self.failures = 0;
        Some(acknowledged.message)
    }

    /// The peer refused the oldest message: it leaves the outbox, and is not sent again.
    pub fn refuse(&mut self) -> Option<T> {
        self.in_flight.pop_front().map(|refused| refused.message)
    }

    /// The stream failed: every message in flight goes to its next attempt. Returns each
    /// message with the number of that attempt, oldest first.
    pub fn fail(&mut self) -> impl Iterator<Item = (&T, u32)> {
        self.failures += 1;
        self.in_flight.iter_mut().map(|in_flight| {
            in_flight.attempt += 1;
            (&in_flight.message, in_flight.attempt)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Numbered for u64 {
        fn number(&self) -> u64 {
            *self
        }
    }

    const TIMEOUT: Duration = Duration::from_millis(500);

    /// What a link's stream can do to its outbox, as the table rows below script it.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// A handler posts message N while no stream is open.
        Queue(u64),
        /// A stream opens, `ms` after the start.
        Open(u64),
        /// A handler posts message N on the open stream, `ms` after the start.
        Post(u64, u64),
        /// The peer acknowledges the oldest message.
        Ack,
        /// The peer refuses the oldest message.
        Refuse,
        /// The stream fails.
        Fail,
    }

    /// What the outbox shows after a step: `acknowledged_through`, failures, when the oldest
    /// is due (ms after the start), and what was sent or handed back by the step.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        through: u64,
        failures: u32,
        due_ms: Option<u64>,
        out: Vec<(u64, u32)>,
    }

    fn play(steps: &[Step]) -> Vec<Seen> {
        let start = Instant::now();
        let mut outbox = Outbox::new(TIMEOUT);
        let mut seen = Vec::new();
        for step in steps {
            let out = match *step {
                Step::Queue(n) => {
                    outbox.queue(n);
                    vec![]
                }
                Step::Open(ms) => {
                    let (through, sent) = outbox.reopen(start + Duration::from_millis(ms));
                    sent.map(|n| (*n, u32::try_from(through).unwrap_or(0)))
                        .collect()
                }
                Step::Post(n, ms) => {
                    let through = outbox.post(n, start + Duration::from_millis(ms));
                    vec![(n, u32::try_from(through).unwrap_or(0))]
                }
                Step::Ack => outbox.acknowledge().map(|n| (n, 0)).into_iter().collect(),
                Step::Refuse => outbox.refuse().map(|n| (n, 0)).into_iter().collect(),
                Step::Fail => outbox.fail().map(|(n, attempt)| (*n, attempt)).collect(),
            };
            let due_ms = outbox
                .oldest_deadline()
                .map(|due| u64::try_from((due - start).as_millis()).unwrap_or(u64::MAX));
            seen.push(Seen {
                through: outbox.acknowledged_through(),
                failures: outbox.failures(),
                due_ms,
                out,
            });
        }
        seen
    }

    fn seen(through: u64, failures: u32, due_ms: Option<u64>, out: &[(u64, u32)]) -> Seen {
        Seen {
            through,
            failures,
            due_ms,
            out: out.to_vec(),
        }
    }

    /// Sent on a stream: (message, acknowledged_through sent with it). Handed back by an
    /// acknowledgement or a refusal: (message, 0). After a failure: (message, next attempt).
    #[test]
    fn the_outbox_follows_its_rules_step_by_step() {
        use Step::*;
        let table: [(&str, Vec<Step>, Vec<Seen>); 5] = [
            (
                "a message queued before a stream opens is sent when it opens, due a timeout later",
                vec![Queue(1), Open(10), Ack],
                vec![
                    seen(0, 0, None, &[]),
                    seen(0, 0, Some(510), &[(1, 0)]),
                    seen(0, 0, None, &[(1, 0)]),
                ],
            ),
            (
                "messages posted on an open stream carry the number below the oldest in flight",
                vec![Queue(3), Open(0), Post(4, 100), Ack, Post(5, 200)],
                vec![
                    seen(2, 0, None, &[]),
                    seen(2, 0, Some(500), &[(3, 2)]),
                    seen(2, 0, Some(500), &[(4, 2)]),
                    seen(3, 0, Some(600), &[(3, 0)]),
                    seen(3, 0, Some(600), &[(5, 3)]),
                ],
            ),
            (
                "a failure sends every message again on the next stream, a new attempt each",
                vec![Queue(1), Open(0), Post(2, 50), Fail, Fail, Open(3000), Ack],
                vec![
                    seen(0, 0, None, &[]),
                    seen(0, 0, Some(500), &[(1, 0)]),
                    seen(0, 0, Some(500), &[(2, 0)]),
                    seen(0, 1, Some(500), &[(1, 2), (2, 2)]),
                    seen(0, 2, Some(500), &[(1, 3), (2, 3)]),
                    seen(0, 2, Some(3500), &[(1, 0), (2, 0)]),
                    seen(1, 0, Some(3500), &[(1, 0)]),
                ],
            ),
            (
                "a refusal drops only the oldest message and keeps the failures",
                vec![Queue(7), Queue(8), Open(0), Fail, Refuse, Open(20)],
                vec![
                    seen(6, 0, None, &[]),
                    seen(6, 0, None, &[]),
                    seen(6, 0, Some(500), &[(7, 6), (8, 6)]),
                    seen(6, 1, Some(500), &[(7, 2), (8, 2)]),
                    seen(7, 1, Some(500), &[(7, 0)]),
                    seen(7, 1, Some(520), &[(8, 7)]),
                ],
            ),
            (
                "an acknowledgement of nothing in flight hands nothing back",
                vec![Ack, Refuse],
                vec![seen(0, 0, None, &[]), seen(0, 0, None, &[])],
            ),
        ];
        for (what, steps, expected) in table {
            assert_eq!(play(&steps), expected, "{what}");
        }
    }
}
