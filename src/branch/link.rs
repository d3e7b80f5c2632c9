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

use super::journal::Commit;
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

/// A message to deliver once its sending is committed, and where to say that the peer has
/// applied it.
#[derive(Debug)]
struct Delivery {
    propagation: Propagation,
    commit: Option<Commit>,
    acknowledged: oneshot::Sender<Result<Stamp, Error>>,
}

impl Numbered for Delivery {
    fn number(&self) -> u64 {
        self.propagation.sequence
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
            forgettable: 0,
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
    /// The link must carry the origin's first sendings in the order of their sequence numbers
    /// ([`BranchState::next_sequence`](super::state::BranchState::next_sequence)): that is what makes `acknowledged_through` true, and what the
    /// peer expects. The origin therefore numbers a message and posts it under the same lock of
    /// its state.
    ///
    /// The link sends it once `commit` is done: a branch sends nothing before the step that
    /// made it is in its store.
    pub fn post(&self, propagation: Propagation, commit: Commit) -> Posted {
        let (acknowledged, acknowledgement) = oneshot::channel();
        let sequence = propagation.sequence;
        let delivery = Delivery {
            propagation,
            commit: Some(commit),
            acknowledged,
        };
        // If the task has stopped, the delivery is dropped with its sender: `Posted` says so.
        let _ = self.deliveries.unbounded_send(delivery);
        Posted {
            origin: self.origin,
            peer: self.peer,
            sequence,
            acknowledgement,
        }
    }
}

/// A message posted on a [`Link`], waiting for the peer's acknowledgement.
#[derive(Debug)]
pub struct Posted {
    origin: BranchId,
    peer: BranchId,
    sequence: u64,
    acknowledgement: oneshot::Receiver<Result<Stamp, Error>>,
}

impl Posted {
    /// The message's sequence number on the link.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

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
    /// The most the origin lets the peer forget (the largest `acknowledged_through` of the
    /// messages posted; see `BranchState::propagation_to`).
    forgettable: u64,
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
                let Some(delivery) = self.ready(delivery).await else {
                    continue;
                };
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
                            number: delivery.propagation.stamp.message.number,
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
        let forgettable = self.forgettable;
        let (through, in_flight) = self.outbox.reopen(Instant::now());
        let through = through.min(forgettable);
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
                    let Some(delivery) = self.ready(delivery).await else {
                        continue;
                    };
                    let mut message = request(&delivery, 0);
                    let through = self.outbox.post(delivery, Instant::now());
                    message.acknowledged_through = through.min(self.forgettable);
                    // The stream's request half lives as long as `outbound`, held here.
                    let _ = outbound.unbounded_send(message);
                }
                () = due(oldest) => return Ended::Failed(late()),
            }
        }
    }

    /// Waits until the step that made `delivery` is committed; `None` if the store stopped
    /// first (the delivery has failed, and is not sent).
    async fn ready(&mut self, mut delivery: Delivery) -> Option<Delivery> {
        if let Some(commit) = delivery.commit.take()
            && let Err(source) = commit.wait().await
        {
            let error = Error::Store {
                branch: self.origin,
                source,
            };
            let _ = delivery.acknowledged.send(Err(error));
            return None;
        }
        self.forgettable = self
            .forgettable
            .max(delivery.propagation.acknowledged_through);
        Some(delivery)
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

/// A link against a scripted peer over turmoil's simulated network (and its simulated clock, so
/// that deadlines pass without waiting for them): a broken stream, a silent one and a refusal,
/// each handled the way the link promises. The outbox's own rules are tested on their own,
/// without a network, in `branch::outbox`.
#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use futures_util::{Stream, future};
    use tonic::{Request, Response, Streaming};

    use super::*;
    use crate::model::{EventId, Op};
    use crate::net::Caller;
    use crate::sim::net as simnet;
    use crate::wire::pb::branch_server;

    const ORIGIN: BranchId = BranchId(1);
    const PEER: BranchId = BranchId(2);
    const PORT: u16 = 50051;

    /// What the scripted peer does.
    #[derive(Debug, Clone, Copy)]
    enum Script {
        /// The first stream fails after its first message; later streams acknowledge everything.
        BreakFirstStream,
        /// The first stream takes messages and never answers; later streams acknowledge everything.
        SilentFirstStream,
        /// Every stream refuses the propagation of event 1 and acknowledges everything else.
        RefuseEventOne,
    }

    /// One message a peer got: (stream, from 1; message number; acknowledged_through).
    type Sending = (u32, u64, u64);

    /// Every message a peer got.
    type Received = Arc<Mutex<Vec<Sending>>>;

    /// A retry the link noted: (message number, attempt).
    type Retry = (u64, u32);

    /// A peer that follows a script and remembers every message it got.
    #[derive(Debug, Clone)]
    struct ScriptedPeer {
        script: Script,
        streams: Arc<Mutex<u32>>,
        received: Received,
    }

    type Replies = Pin<Box<dyn Stream<Item = Result<pb::PropagateReply, Status>> + Send>>;

    /// The scripted acknowledgement of message `number`: Lamport 100 + the number, so that a test
    /// can tell which message an acknowledgement answers.
    fn acknowledge(number: u64) -> pb::PropagateReply {
        pb::PropagateReply {
            balance: 0,
            branch_id: PEER.0,
            stamp: Some(pb::Stamp {
                clock: 100 + number,
                vector: Vec::new(),
                message: number,
            }),
        }
    }

    #[tonic::async_trait]
    impl branch_server::Branch for ScriptedPeer {
        async fn query(
            &self,
            _: Request<pb::QueryRequest>,
        ) -> Result<Response<pb::QueryReply>, Status> {
            Err(Status::unimplemented("a scripted peer"))
        }

        async fn deposit(
            &self,
            _: Request<pb::ChangeRequest>,
        ) -> Result<Response<pb::ChangeReply>, Status> {
            Err(Status::unimplemented("a scripted peer"))
        }

        async fn withdraw(
            &self,
            _: Request<pb::ChangeRequest>,
        ) -> Result<Response<pb::ChangeReply>, Status> {
            Err(Status::unimplemented("a scripted peer"))
        }

        type PropagateStream = Replies;

        async fn propagate(
            &self,
            request: Request<Streaming<pb::PropagateRequest>>,
        ) -> Result<Response<Replies>, Status> {
            let stream = {
                let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
                *streams += 1;
                *streams
            };
            let (script, received) = (self.script, self.received.clone());
            let replies = request
                .into_inner()
                .filter_map(move |message| {
                    let reply = message.map(|request| {
                        let number = request.stamp.as_ref().map_or(0, |stamp| stamp.message);
                        received
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((stream, number, request.acknowledged_through));
                        match script {
                            Script::BreakFirstStream if stream == 1 => {
                                Some(Err(Status::unavailable("the stream broke")))
                            }
                            Script::SilentFirstStream if stream == 1 => None,
                            Script::RefuseEventOne if request.event_id == 1 => {
                                Some(Err(Status::out_of_range("refused")))
                            }
                            _ => Some(Ok(acknowledge(number))),
                        }
                    });
                    future::ready(reply.unwrap_or_else(|status| Some(Err(status))))
                })
                .boxed();
            Ok(Response::new(replies))
        }

        async fn ping(
            &self,
            _: Request<pb::PingRequest>,
        ) -> Result<Response<pb::PingReply>, Status> {
            Ok(Response::new(pb::PingReply {}))
        }
    }

    /// Timeouts of a test: a silent stream is given up after 300 ms of simulated time.
    const FAST: Timeouts = Timeouts {
        propagation: Duration::from_millis(300),
        customer: Duration::from_secs(10),
        keepalive: Duration::from_secs(10),
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        drain: Duration::from_secs(10),
        grace: Duration::from_secs(2),
        silence: None,
    };

    /// A propagation of event `event`, message `number` of the origin.
    fn propagation(event: u64, number: u64) -> Propagation {
        Propagation {
            origin: ORIGIN,
            event: EventId(event),
            op: Op::Deposit,
            money: 10,
            stamp: Stamp {
                lamport: number,
                vector: Vec::new(),
                message: MessageId {
                    sender: Process::Branch(ORIGIN),
                    number,
                },
            },
            sequence: number,
            // No limit from the branch on what the peer may forget (see `BranchState::propagation_to`).
            acknowledged_through: u64::MAX,
            writes: crate::session::Writes::from_counts([(ORIGIN, number)]),
            customer: crate::model::CustomerId(1),
        }
    }

    /// Runs `test` with a link from the origin to a peer following `script`, over the simulated
    /// network; returns what the peer got and the retries the link noted.
    fn simulate<F>(
        script: Script,
        test: impl FnOnce(Link, CancellationToken) -> F + 'static,
    ) -> (Vec<Sending>, Vec<Retry>)
    where
        F: Future<Output = ()> + 'static,
    {
        let peer = ScriptedPeer {
            script,
            streams: Arc::default(),
            received: Arc::default(),
        };
        let received = peer.received.clone();
        let log = FaultLog::new();
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(60))
            .build();
        sim.host("peer", move || {
            let peer = peer.clone();
            async move {
                let incoming = simnet::incoming(PORT).await?;
                net::server(&FAST)
                    .add_service(branch_server::BranchServer::new(peer))
                    .serve_with_incoming(incoming)
                    .await?;
                Ok(())
            }
        });
        let faults = log.clone();
        sim.client("origin", async move {
            let channel = simnet::channel("peer", PORT, Caller::Branch, &FAST)?;
            let stop = CancellationToken::new();
            let config = LinkConfig {
                timeouts: FAST,
                faults: Some(faults),
                stop: stop.clone(),
            };
            let tasks = TaskTracker::new();
            let link = Link::start(ORIGIN, PEER, channel, &config, &tasks);
            test(link, stop.clone()).await;
            stop.cancel();
            tasks.close();
            tasks.wait().await;
            Ok(())
        });
        if let Err(error) = sim.run() {
            panic!("the simulation failed: {error}");
        }
        let retries = log
            .records()
            .into_iter()
            .filter_map(|record| match record.fault {
                Fault::Retry {
                    message: MessageId { number, .. },
                    attempt,
                    ..
                } => Some((number, attempt)),
                _ => None,
            })
            .collect();
        let received = received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (received, retries)
    }

    #[test]
    fn a_broken_stream_is_replaced_and_the_message_sent_again() {
        let (received, retries) = simulate(Script::BreakFirstStream, |link, _| async move {
            let ack = link
                .post(propagation(1, 3), Commit::none())
                .acknowledged()
                .await;
            let ack = ack.expect("delivered in the end");
            assert_eq!(ack.lamport, 103);
            assert_eq!(ack.message.sender, Process::Branch(PEER));
            let next = link
                .post(propagation(2, 7), Commit::none())
                .acknowledged()
                .await;
            assert_eq!(next.expect("delivered").lamport, 107);
        });
        assert_eq!(retries, [(3, 2)], "one retry, the second attempt");
        assert_eq!(
            received,
            [(1, 3, 2), (2, 3, 2), (2, 7, 6)],
            "the same message on a new stream; then everything below 7 is acknowledged"
        );
    }

    #[test]
    fn a_silent_stream_is_given_up_after_the_deadline() {
        let (received, retries) = simulate(Script::SilentFirstStream, |link, _| async move {
            let first = link.post(propagation(1, 1), Commit::none());
            let second = link.post(propagation(2, 2), Commit::none());
            let (first, second) = tokio::join!(first.acknowledged(), second.acknowledged());
            assert_eq!(first.expect("delivered").lamport, 101);
            assert_eq!(second.expect("delivered").lamport, 102);
        });
        assert_eq!(retries, [(1, 2), (2, 2)], "both sent again, once");
        assert_eq!(
            received,
            [(1, 1, 0), (1, 2, 0), (2, 1, 0), (2, 2, 0)],
            "both again, in order, on the second stream"
        );
    }

    #[test]
    fn a_refusal_fails_only_its_message() {
        let (received, retries) = simulate(Script::RefuseEventOne, |link, _| async move {
            let refused = link.post(propagation(1, 1), Commit::none());
            let accepted = link.post(propagation(2, 2), Commit::none());
            let (refused, accepted) = tokio::join!(refused.acknowledged(), accepted.acknowledged());
            let error = refused.expect_err("refused").to_string();
            assert!(error.contains("refused"), "{error}");
            assert_eq!(accepted.expect("delivered").lamport, 102);
        });
        assert!(retries.is_empty(), "a refusal is not retried");
        let streams: Vec<u32> = received.iter().map(|sending| sending.0).collect();
        assert_eq!(streams.last(), Some(&2), "the rest went on a new stream");
    }

    #[test]
    fn a_stopped_link_says_so() {
        simulate(Script::SilentFirstStream, |link, stop| async move {
            let posted = link.post(propagation(1, 1), Commit::none());
            stop.cancel();
            let error = posted.acknowledged().await.expect_err("stopped");
            assert!(error.to_string().contains("shutting down"), "{error}");
        });
    }
}
