//! A branch's link to one peer: one long-lived bidirectional stream that carries every
//! propagation to that peer, and brings the peer's acknowledgements back in the same order.
//!
//! A message on an open stream costs far less than a unary call (no new HTTP/2 stream, no
//! headers, no task per call on the server), which is what lets propagation keep up with the
//! customers (see the README's Performance section).
//!
//! The link is also where network faults are handled, by the rules of its [`Outbox`]: when the
//! oldest message goes unacknowledged past its deadline, or the stream breaks, the stream is
//! dropped and, after an exponential backoff, a new one is opened and every unacknowledged
//! message is sent again: the same messages (same stamp and id), which the peer applies at most
//! once. A refusal by the peer (not a network failure) fails only the message it refused.
//!
//! Every `select!` here is `biased` (its branches polled in the order written): an unbiased one
//! picks at random among ready branches, which would make simulations differ between runs of
//! the same seed.

use std::future::pending;

use futures_channel::mpsc;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::Status;
use tonic::transport::Channel;
use tracing::Instrument;

use super::outbox::{Numbered, Outbox};
use crate::error::Error;
use crate::model::{BranchId, MessageId, Process};
use crate::net::{self, Timeouts};
use crate::trace::{Fault, FaultLog, Stamp};
use crate::wire::pb::{self, branch_client::BranchClient};
use crate::wire::{Acknowledgement, Propagation};

/// What a link needs to know: its deadlines, where to note retries, and when to stop.
#[derive(Debug, Clone, Default)]
pub struct LinkConfig {
    /// Deadlines and backoff of propagations.
    pub timeouts: Timeouts,
    /// Where retries are noted, if anywhere.
    pub faults: Option<FaultLog>,
    /// Cancelled when the link is to stop: it closes its stream, so that the server at the other
    /// end can finish.
    pub stop: CancellationToken,
}

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
    propagation: Propagation,
    acknowledged: oneshot::Sender<Result<Stamp, Error>>,
}

impl Numbered for Delivery {
    fn number(&self) -> u64 {
        self.propagation.stamp.message.number
    }
}

impl Link {
    /// Starts the link from `origin` to `peer` over `channel`, as a task of `tasks` that ends
    /// when `config.stop` is cancelled or every clone of the link is dropped. No stream is
    /// opened before the first message. Must be called inside a tokio runtime (inside a
    /// simulated host, in a simulation).
    pub fn start(
        origin: BranchId,
        peer: BranchId,
        channel: Channel,
        config: &LinkConfig,
        tasks: &TaskTracker,
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
            outbox: Outbox::new(config.timeouts.propagation),
        };
        let span = tracing::debug_span!("link", branch = %origin, %peer);
        tasks.spawn(task.run().instrument(span));
        Self {
            origin,
            peer,
            deliveries,
        }
    }

    /// Queues `propagation` for the peer, at once and without waiting; await the returned
    /// [`Posted`] for the peer's acknowledgement.
    ///
    /// The link must carry the origin's first sendings in the order of their message numbers:
    /// that is what makes `acknowledged_through` true. The origin therefore numbers a message
    /// and posts it under the same lock of its state.
    pub fn post(&self, propagation: Propagation) -> Posted {
        let (acknowledged, acknowledgement) = oneshot::channel();
        let delivery = Delivery {
            propagation,
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

/// How a stream ended.
enum Ended {
    /// The link is to stop.
    Stopped,
    /// The stream failed with this status; the link goes on with a new one.
    Failed(Status),
}

/// The task behind a [`Link`]: owns the stream, and the outbox of messages in flight.
struct LinkTask {
    origin: BranchId,
    peer: BranchId,
    client: BranchClient<Channel>,
    timeouts: Timeouts,
    faults: Option<FaultLog>,
    stop: CancellationToken,
    queue: mpsc::UnboundedReceiver<Delivery>,
    outbox: Outbox<Delivery>,
}

impl LinkTask {
    async fn run(mut self) {
        loop {
            if self.outbox.is_empty() {
                // Nothing in flight: open no stream until there is something to send.
                let delivery = tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    delivery = self.queue.next() => delivery,
                };
                let Some(delivery) = delivery else { return };
                self.outbox.queue(delivery);
            }
            let status = match self.stream().await {
                Ended::Stopped => return,
                Ended::Failed(status) => status,
            };
            if !net::is_transient(status.code()) {
                // The peer refused the oldest message; it would refuse it again. The others go
                // on at once on a new stream.
                if let Some(refused) = self.outbox.refuse() {
                    let error = Error::Rpc {
                        from: Process::Branch(self.origin),
                        to: self.peer,
                        status,
                    };
                    // The handler waiting for it may be gone (its customer gave up): no matter.
                    let _ = refused.acknowledged.send(Err(error));
                }
                continue;
            }
            let (origin, peer) = (Process::Branch(self.origin), Process::Branch(self.peer));
            for (delivery, attempt) in self.outbox.fail() {
                if let Some(log) = &self.faults {
                    log.note(Fault::Retry {
                        message: MessageId {
                            sender: origin,
                            number: delivery.number(),
                        },
                        to: peer,
                        attempt,
                    });
                }
            }
            tracing::debug!(
                failures = self.outbox.failures(),
                %status,
                "a propagation stream failed; retrying"
            );
            // Backoff between attempts, not a wait for a condition: there is nothing to wait on
            // but time (in a simulation, simulated time).
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = sleep(self.timeouts.backoff(self.outbox.failures() + 1)) => {}
            }
        }
    }

    /// Opens a stream, sends every unacknowledged message on it, then sends each new one as it
    /// comes and matches the acknowledgements, until the stream fails or the link stops.
    async fn stream(&mut self) -> Ended {
        let (outbound, messages) = mpsc::unbounded();
        let (through, in_flight) = self.outbox.reopen(Instant::now());
        for delivery in in_flight {
            // The receiving end is held just below, so sending cannot fail.
            let _ = outbound.unbounded_send(request(delivery, through));
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
            let oldest = self.outbox.oldest_deadline();
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
                    let mut message = request(&delivery, 0);
                    message.acknowledged_through = self.outbox.post(delivery, Instant::now());
                    // The stream's request half lives as long as `outbound`, held here.
                    let _ = outbound.unbounded_send(message);
                }
                () = due(oldest) => return Ended::Failed(late()),
            }
        }
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
        let ack = match Acknowledgement::try_from(reply) {
            Ok(ack) => ack,
            Err(error) => return Some(Ended::Failed(Status::aborted(error.to_string()))),
        };
        let Some(acknowledged) = self.outbox.acknowledge() else {
            // Cannot happen with a well-behaved peer; a new stream starts again from scratch.
            return Some(Ended::Failed(Status::aborted(
                "an acknowledgement for no message in flight",
            )));
        };
        // The handler waiting for it may be gone (its customer gave up): no matter.
        let _ = acknowledged.acknowledged.send(Ok(ack.stamp));
        None
    }
}

/// The wire message of `delivery`, telling the peer it may forget up to `through`.
fn request(delivery: &Delivery, through: u64) -> pb::PropagateRequest {
    let mut request = pb::PropagateRequest::from(delivery.propagation.clone());
    request.acknowledged_through = through;
    request
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

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
