//! A branch's link to one peer, against a scripted peer over real gRPC: a broken stream, a silent
//! one and a refusal, each handled the way `branch::link` promises.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt, future};
use lamport_bank::branch::link::Link;
use lamport_bank::branch::service::BranchConfig;
use lamport_bank::faults::FaultLog;
use lamport_bank::history::{Fault, MessageId};
use lamport_bank::model::{BranchId, Process};
use lamport_bank::net::{self, Caller, Timeouts};
use lamport_bank::wire::pb::{self, branch_server};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

const ORIGIN: BranchId = BranchId(1);
const PEER: BranchId = BranchId(2);

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

/// Every message a peer got, with the number of the stream it came on (from 1).
type Received = Arc<Mutex<Vec<(u32, pb::PropagateRequest)>>>;

/// A peer that follows a script and remembers every message it got.
#[derive(Debug, Clone)]
struct ScriptedPeer {
    script: Script,
    streams: Arc<Mutex<u32>>,
    received: Received,
}

type Replies = Pin<Box<dyn Stream<Item = Result<pb::PropagateReply, Status>> + Send>>;

fn acknowledge(request: &pb::PropagateRequest) -> Result<pb::PropagateReply, Status> {
    Ok(pb::PropagateReply {
        clock: 100 + request.message,
        balance: 0,
        branch_id: PEER.0,
        vector: Vec::new(),
        message: request.message,
    })
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
            let mut streams = self.streams.lock().expect("not poisoned");
            *streams += 1;
            *streams
        };
        let (script, received) = (self.script, self.received.clone());
        let replies = request
            .into_inner()
            .filter_map(move |message| {
                let reply = message.map(|request| {
                    received
                        .lock()
                        .expect("not poisoned")
                        .push((stream, request.clone()));
                    match script {
                        Script::BreakFirstStream if stream == 1 => {
                            Some(Err(Status::unavailable("the stream broke")))
                        }
                        Script::SilentFirstStream if stream == 1 => None,
                        Script::RefuseEventOne if request.event_id == 1 => {
                            Some(Err(Status::out_of_range("refused")))
                        }
                        _ => Some(acknowledge(&request)),
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

/// Timeouts short enough for a test: a silent stream is given up after 300 ms.
const FAST: Timeouts = Timeouts {
    propagation: Duration::from_millis(300),
    customer: Duration::from_secs(10),
    keepalive: Duration::from_secs(10),
    first_backoff: Duration::from_millis(5),
    max_backoff: Duration::from_millis(50),
};

/// Serves `peer` on a free port; returns its address.
fn serve(peer: ScriptedPeer, stop: CancellationToken) -> SocketAddr {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().expect("an address"))
        .expect("a free port")
        .with_nodelay(Some(true));
    let addr = incoming.local_addr().expect("bound");
    tokio::spawn(
        net::server()
            .add_service(branch_server::BranchServer::new(peer))
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned()),
    );
    addr
}

/// A propagation of event `event` as the origin numbers it.
fn propagation(event: u64, message: u64) -> pb::PropagateRequest {
    pb::PropagateRequest {
        origin_id: ORIGIN.0,
        event_id: event,
        operation: pb::Operation::Deposit.into(),
        money: 10,
        clock: message,
        vector: Vec::new(),
        message,
        acknowledged_through: 0,
    }
}

/// A link from the origin to a peer following `script`; returns it, the peer's record of what
/// it got, the fault log and the token that stops both.
fn link_to(script: Script) -> (Link, Received, FaultLog, CancellationToken) {
    let peer = ScriptedPeer {
        script,
        streams: Arc::default(),
        received: Arc::default(),
    };
    let received = peer.received.clone();
    let stop = CancellationToken::new();
    let addr = serve(peer, stop.clone());
    let channel = net::tcp_channel(addr, Caller::Branch, &FAST).expect("a channel");
    let log = FaultLog::new();
    let config = BranchConfig {
        timeouts: FAST,
        faults: Some(log.clone()),
        stop: stop.clone(),
        ..BranchConfig::default()
    };
    (
        Link::start(ORIGIN, PEER, channel, &config),
        received,
        log,
        stop,
    )
}

fn retries(log: &FaultLog) -> Vec<(u64, u32)> {
    log.records()
        .into_iter()
        .filter_map(|record| match record.fault {
            Fault::Retry {
                message: MessageId { number, .. },
                attempt,
                ..
            } => Some((number, attempt)),
            _ => None,
        })
        .collect()
}

/// (stream, message number, acknowledged_through) of everything the peer got.
fn sendings(received: &Mutex<Vec<(u32, pb::PropagateRequest)>>) -> Vec<(u32, u64, u64)> {
    received
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(stream, request)| (*stream, request.message, request.acknowledged_through))
        .collect()
}

#[tokio::test]
async fn a_broken_stream_is_replaced_and_the_message_sent_again() {
    let (link, received, log, stop) = link_to(Script::BreakFirstStream);
    let ack = link
        .post(propagation(1, 3))
        .acknowledged()
        .await
        .expect("delivered in the end");
    assert_eq!(ack.lamport, 103);
    assert_eq!(ack.message.sender, Process::Branch(PEER));
    assert_eq!(retries(&log), [(3, 2)], "one retry, the second attempt");
    let next = link.post(propagation(2, 7)).acknowledged().await;
    assert_eq!(next.expect("delivered").lamport, 107);
    assert_eq!(
        sendings(&received),
        [(1, 3, 2), (2, 3, 2), (2, 7, 6)],
        "the same message on a new stream; then everything below 7 is acknowledged"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_silent_stream_is_given_up_after_the_deadline() {
    let (link, received, log, stop) = link_to(Script::SilentFirstStream);
    let first = link.post(propagation(1, 1));
    let second = link.post(propagation(2, 2));
    let (first, second) = tokio::join!(first.acknowledged(), second.acknowledged());
    assert_eq!(first.expect("delivered").lamport, 101);
    assert_eq!(second.expect("delivered").lamport, 102);
    assert_eq!(retries(&log), [(1, 2), (2, 2)], "both sent again, once");
    assert_eq!(
        sendings(&received),
        [(1, 1, 0), (1, 2, 0), (2, 1, 0), (2, 2, 0)],
        "both again, in order, on the second stream"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_refusal_fails_only_its_message() {
    let (link, received, log, stop) = link_to(Script::RefuseEventOne);
    let refused = link.post(propagation(1, 1));
    let accepted = link.post(propagation(2, 2));
    let (refused, accepted) = tokio::join!(refused.acknowledged(), accepted.acknowledged());
    let error = refused.expect_err("refused").to_string();
    assert!(error.contains("refused"), "{error}");
    assert_eq!(accepted.expect("delivered").lamport, 102);
    assert!(retries(&log).is_empty(), "a refusal is not retried");
    let streams: Vec<u32> = sendings(&received).iter().map(|s| s.0).collect();
    assert_eq!(streams.last(), Some(&2), "the rest went on a new stream");
    stop.cancel();
}

#[tokio::test]
async fn a_stopped_link_says_so() {
    let (link, _, _, stop) = link_to(Script::SilentFirstStream);
    let posted = link.post(propagation(1, 1));
    stop.cancel();
    let error = posted.acknowledged().await.expect_err("stopped");
    assert!(error.to_string().contains("shutting down"), "{error}");
}
