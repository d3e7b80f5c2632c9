//! A branch's link to one peer, against a scripted peer over turmoil's simulated network (and
//! its simulated clock, so that deadlines pass without waiting for them): a broken stream, a
//! silent one and a refusal, each handled the way the link promises. The outbox's own rules are
//! tested on their own, without a network, in `branch::outbox`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt, future};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use super::{Link, LinkConfig};
use crate::model::{BranchId, EventId, MessageId, Op, Process};
use crate::net::{self, Caller, Timeouts};
use crate::sim::net as simnet;
use crate::trace::{Fault, FaultLog, Stamp};
use crate::wire::Propagation;
use crate::wire::pb::{self, branch_server};

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

    async fn ping(&self, _: Request<pb::PingRequest>) -> Result<Response<pb::PingReply>, Status> {
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
        acknowledged_through: 0,
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
            net::server()
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
        let ack = link.post(propagation(1, 3)).acknowledged().await;
        let ack = ack.expect("delivered in the end");
        assert_eq!(ack.lamport, 103);
        assert_eq!(ack.message.sender, Process::Branch(PEER));
        let next = link.post(propagation(2, 7)).acknowledged().await;
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
        let first = link.post(propagation(1, 1));
        let second = link.post(propagation(2, 2));
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
        let refused = link.post(propagation(1, 1));
        let accepted = link.post(propagation(2, 2));
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
        let posted = link.post(propagation(1, 1));
        stop.cancel();
        let error = posted.acknowledged().await.expect_err("stopped");
        assert!(error.to_string().contains("shutting down"), "{error}");
    });
}
