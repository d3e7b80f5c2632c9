//! A branch's link to one peer: one long-lived bidirectional stream that carries every
//! propagation to that peer, and brings the peer's acknowledgements back in the same order.
//!
//! A message on an open stream costs far less than a unary call (no new HTTP/2 stream, no
//! headers, no task per call on the server), which is what lets propagation keep up with the
//! customers (see the README's Performance section).
//!
//! The link is also where network faults are handled. Every message not yet acknowledged is
//! kept, in order. When the oldest one goes unacknowledged past its deadline, or the stream
//! breaks, the stream is dropped and, after an exponential backoff, a new one is opened and every
//! unacknowledged message is sent again: the same messages (same stamp and id), which the peer
//! applies at most once. A refusal by the peer (not a network failure) fails only the message it
//! refused: it would be refused again.
//!
//! Every `select!` here is `biased` (its branches polled in the order written): an unbiased one
//! picks at random among ready branches, which would make simulations differ between runs of
//! the same seed.

use std::collections::VecDeque;
use std::future::pending;

use futures_channel::mpsc;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::transport::Channel;

use crate::branch::service::BranchConfig;
use crate::error::Error;
use crate::faults::FaultLog;
use crate::history::{Fault, MessageId};
use crate::model::{BranchId, Process};
use crate::net::{self, Timeouts};
use crate::recorder::Stamp;
use crate::wire::pb::{self, branch_client::BranchClient};
use crate::wire::stamp;

/// The sending end of a link: cheap to clone, shared by every handler of the origin branch.
#[derive(Debug, Clone)]
pub struct Link {
    origin: BranchId,
    peer: BranchId,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// A message to deliver, and where to say that the peer has applied it.
#[derive(Debug)]
struct Delivery {
    request: pb::PropagateRequest,
    acknowledged: oneshot::Sender<Result<Stamp, Error>>,
}

impl Link {
    /// Starts the link from `origin` to `peer` over `channel`, as a task of its own that ends
    /// when `config.stop` is cancelled or every clone of the link is dropped. No stream is
    /// opened before the first message. Must be called inside a tokio runtime (inside a
    /// simulated host, in a simulation).
    pub fn start(
        origin: BranchId,
        peer: BranchId,
        channel: Channel,
        config: &BranchConfig,
    ) -> Self {
        // futures' unbounded channel rather than tokio's: tokio's allocates a block of 32 slots
        // up front, which for the 16,256 links of 128 branches is tens of MiB of empty slots.
        let (deliveries, queue) = mpsc::unbounded();
        let task = LinkTask {
            origin,
            peer,
            client: BranchClient::new(channel),
            timeouts: config.timeouts,
            faults: config.faults.clone(),
            stop: config.stop.clone(),
            queue,
            unacknowledged: VecDeque::new(),
            failures: 0,
        };
        tokio::spawn(task.run());
        Self {
            origin,
            peer,
            deliveries,
        }
    }

    /// Queues `request` for the peer, at once and without waiting; await the returned
    /// [`Posted`] for the peer's acknowledgement.
    ///
    /// The link must carry the origin's first sendings in the order of their message numbers:
    /// that is what makes `acknowledged_through` true. The origin therefore numbers a message
    /// and posts it under the same lock of its state.
    pub fn post(&self, request: pb::PropagateRequest) -> Posted {
        let (acknowledged, acknowledgement) = oneshot::channel();
        let delivery = Delivery {
            request,
            acknowledged,
        };
        // If the task has stopped, the delivery is dropped with its sender: `Posted` says so.
        let _ = self.deliveries.unbounded_send(delivery);
        Posted {
            origin: self.origin,
            peer: self.peer,
            acknowledgement,
        }
    }
}

/// A message posted on a [`Link`], waiting for the peer's acknowledgement.
#[derive(Debug)]
pub struct Posted {
    origin: BranchId,
    peer: BranchId,
    acknowledgement: oneshot::Receiver<Result<Stamp, Error>>,
}

impl Posted {
    /// Waits until the peer has applied the message; returns the stamp of its acknowledgement.
    /// Fails only if the peer refuses the message or the branch stops.
    pub async fn acknowledged(self) -> Result<Stamp, Error> {
        self.acknowledgement.await.unwrap_or_else(|_| {
            Err(Error::Rpc {
                from: Process::Branch(self.origin),
                to: self.peer,
                status: Status::cancelled("the branch is shutting down"),
            })
        })
    }
}

/// A message sent and not yet acknowledged.
#[derive(Debug)]
struct Unacknowledged {
    delivery: Delivery,
    /// Which attempt the last sending was (from 1).
    attempt: u32,
    /// When the acknowledgement of the last sending is due.
    deadline: Instant,
}

/// How a stream ended.
enum Ended {
    /// The link is to stop.
    Stopped,
    /// The stream failed with this status; the link goes on with a new one.
    Failed(Status),
}

/// The task behind a [`Link`]: owns the stream and the messages in flight.
struct LinkTask {
    origin: BranchId,
    peer: BranchId,
    client: BranchClient<Channel>,
    timeouts: Timeouts,
    faults: Option<FaultLog>,
    stop: CancellationToken,
    queue: mpsc::UnboundedReceiver<Delivery>,
    unacknowledged: VecDeque<Unacknowledged>,
    /// Failed streams since the last acknowledgement: how long to back off.
    failures: u32,
}

impl LinkTask {
    async fn run(mut self) {
        loop {
            if self.unacknowledged.is_empty() {
                // Nothing in flight: open no stream until there is something to send.
                let delivery = tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    delivery = self.queue.next() => delivery,
                };
                let Some(delivery) = delivery else { return };
                self.unacknowledged.push_back(Unacknowledged {
                    delivery,
                    attempt: 1,
                    deadline: Instant::now(),
                });
            }
            let status = match self.stream().await {
                Ended::Stopped => return,
                Ended::Failed(status) => status,
            };
            if !net::is_transient(status.code()) {
                // The peer refused the oldest message; it would refuse it again. The others go
                // on at once on a new stream.
                if let Some(refused) = self.unacknowledged.pop_front() {
                    let error = Error::Rpc {
                        from: Process::Branch(self.origin),
                        to: self.peer,
                        status,
                    };
                    // The handler waiting for it may be gone (its customer gave up): no matter.
                    let _ = refused.delivery.acknowledged.send(Err(error));
                }
                continue;
            }
            self.failures += 1;
            tracing::debug!(
                branch = self.origin.0,
                peer = self.peer.0,
                failures = self.failures,
                in_flight = self.unacknowledged.len(),
                %status,
                "a propagation stream failed; retrying"
            );
            for unacknowledged in &mut self.unacknowledged {
                unacknowledged.attempt += 1;
                if let Some(log) = &self.faults {
                    log.note(Fault::Retry {
                        message: MessageId {
                            sender: Process::Branch(self.origin),
                            number: unacknowledged.delivery.request.message,
                        },
                        to: Process::Branch(self.peer),
                        attempt: unacknowledged.attempt,
                    });
                }
            }
            // Backoff between attempts, not a wait for a condition: there is nothing to wait on
            // but time (in a simulation, simulated time).
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = sleep(self.timeouts.backoff(self.failures + 1)) => {}
            }
        }
    }

    /// Opens a stream, sends every unacknowledged message on it, then sends each new one as it
    /// comes and matches the acknowledgements, until the stream fails or the link stops.
    async fn stream(&mut self) -> Ended {
        let (outbound, messages) = mpsc::unbounded();
        let deadline = Instant::now() + self.timeouts.propagation;
        let through = self.acknowledged_through();
        for unacknowledged in &mut self.unacknowledged {
            unacknowledged.deadline = deadline;
            let mut request = unacknowledged.delivery.request.clone();
            request.acknowledged_through = through;
            // The receiving end is held just below, so sending cannot fail.
            let _ = outbound.unbounded_send(request);
        }
        let call = self.client.propagate(messages);
        let opened = tokio::select! {
            biased;
            () = self.stop.cancelled() => return Ended::Stopped,
            opened = timeout(self.timeouts.propagation, call) => opened,
        };
        let mut acknowledgements = match opened {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Ended::Failed(status),
            Err(_) => return Ended::Failed(late()),
        };
        loop {
            let oldest = self.unacknowledged.front().map(|oldest| oldest.deadline);
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Ended::Stopped,
                acknowledgement = acknowledgements.message() => {
                    if let Some(ended) = self.acknowledged(acknowledgement) {
                        return ended;
                    }
                }
                delivery = self.queue.next() => {
                    let Some(delivery) = delivery else { return Ended::Stopped };
                    let mut request = delivery.request.clone();
                    self.unacknowledged.push_back(Unacknowledged {
                        delivery,
                        attempt: 1,
                        deadline: Instant::now() + self.timeouts.propagation,
                    });
                    request.acknowledged_through = self.acknowledged_through();
                    // The stream's request half lives as long as `outbound`, held here.
                    let _ = outbound.unbounded_send(request);
                }
                () = due(oldest) => return Ended::Failed(late()),
            }
        }
    }

    /// The number up to which every message of the origin to the peer has been acknowledged:
    /// just below the oldest message in flight. The link carries first sendings in number
    /// order (see [`Link::post`]) and acknowledgements come in sending order, so everything
    /// numbered below the oldest message in flight was sent before it and has been
    /// acknowledged. (A deliberate duplicate in flight has a lower number than the sendings
    /// after it, which only makes this smaller: still true.)
    fn acknowledged_through(&self) -> u64 {
        self.unacknowledged.front().map_or(0, |oldest| {
            oldest.delivery.request.message.saturating_sub(1)
        })
    }

    /// Hands an acknowledgement to the oldest message in flight; says how the stream ended if
    /// it did.
    fn acknowledged(
        &mut self,
        acknowledgement: Result<Option<pb::PropagateReply>, Status>,
    ) -> Option<Ended> {
        let reply = match acknowledgement {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                return Some(Ended::Failed(Status::unavailable(
                    "the peer ended the stream",
                )));
            }
            Err(status) => return Some(Ended::Failed(status)),
        };
        let Some(acknowledged) = self.unacknowledged.pop_front() else {
            // Cannot happen with a well-behaved peer; a new stream starts again from scratch.
            return Some(Ended::Failed(Status::aborted(
                "an acknowledgement for no message in flight",
            )));
        };
        self.failures = 0;
        let from = Process::Branch(self.peer);
        let ack = stamp(from, reply.clock, reply.vector, reply.message);
        // The handler waiting for it may be gone (its customer gave up): no matter.
        let _ = acknowledged.delivery.acknowledged.send(Ok(ack));
        None
    }
}

/// The status of a stream whose oldest message was not acknowledged in time.
fn late() -> Status {
    Status::deadline_exceeded("no acknowledgement before the deadline")
}

/// Waits until `deadline`, or forever if there is none.
async fn due(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}
