//! The gRPC handlers of a branch. Each handler locks the state, calls one synchronous method
//! (and, for a propagation, queues it on the peer's link), unlocks, and only then waits for the
//! peers: no lock is ever held across a network call or an `.await`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::join_all;
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::branch::link::Link;
use crate::branch::peers::Peers;
use crate::branch::state::{BranchState, Execution};
use crate::error::Error;
use crate::faults::{FaultLog, Injector};
use crate::history::{Fault, MessageId};
use crate::model::{BranchId, CustomerId, EventId, Op, Process, Schedule};
use crate::net::Timeouts;
use crate::wire::pb::{self, branch_server};
use crate::wire::{operation_of, positive_money, stamp};

/// The state of one branch, shared between its handlers. A `std::sync::Mutex` rather than a
/// tokio one: it is held only for a synchronous method call, never across an `.await`.
pub type SharedState = Arc<Mutex<BranchState>>;

/// Locks a branch's state. Every `BranchState` method finishes its checks before it changes
/// anything, so a lock poisoned by a panic elsewhere still guards a consistent state.
pub fn lock(state: &SharedState) -> MutexGuard<'_, BranchState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a branch propagates, and what it does about faults.
#[derive(Debug, Clone, Default)]
pub struct BranchConfig {
    /// One peer at a time in ascending id, or all at once.
    pub schedule: Schedule,
    /// Deadlines and backoff of propagations.
    pub timeouts: Timeouts,
    /// Where retries and deliberate duplicates are noted, if anywhere.
    pub faults: Option<FaultLog>,
    /// Faults the branch injects itself (simulations only).
    pub injector: Option<Injector>,
    /// Cancelled when the branch is to stop: its links close their streams, so that the
    /// servers at the other end can finish.
    pub stop: CancellationToken,
    /// How many request/reply exchanges the branch has served: one per unary call, and one per
    /// propagation received on a stream. May be shared by several branches.
    pub served: Arc<AtomicU64>,
}

/// A branch's gRPC service: its id, its state, its peers and how it propagates.
#[derive(Debug, Clone)]
pub struct BranchService {
    id: BranchId,
    state: SharedState,
    peers: Peers,
    config: BranchConfig,
}

impl BranchService {
    /// A service for branch `id` over `state`, propagating to `peers` as `config` says.
    pub fn new(id: BranchId, state: SharedState, peers: Peers, config: BranchConfig) -> Self {
        Self {
            id,
            state,
            peers,
            config,
        }
    }

    /// The tonic server wrapping this service.
    pub fn into_server(self) -> branch_server::BranchServer<Self> {
        branch_server::BranchServer::new(self)
    }

    fn state(&self) -> MutexGuard<'_, BranchState> {
        lock(&self.state)
    }

    fn authorize(&self, customer: u32) -> Result<Process, Error> {
        let customer = CustomerId(customer);
        if customer.home_branch() == self.id {
            Ok(Process::Customer(customer))
        } else {
            Err(Error::PermissionDenied {
                branch: self.id,
                customer,
            })
        }
    }

    /// The life of a deposit or withdraw on its origin: execute, propagate, reply.
    async fn change(&self, op: Op, request: pb::ChangeRequest) -> Result<pb::ChangeReply, Error> {
        let customer = self.authorize(request.customer_id)?;
        let money = positive_money(request.money)?;
        let event = EventId(request.event_id);
        let received = stamp(customer, request.clock, request.vector, request.message);
        let execution = self.state().execute(op, event, money, &received);
        if execution == Execution::Applied {
            self.propagate(op, event, money).await?;
        }
        let (reply, balance) = {
            let mut state = self.state();
            (state.reply(op, event), state.balance())
        };
        let result = match execution {
            Execution::Applied => pb::Result::Success,
            Execution::Rejected => pb::Result::Fail,
        };
        Ok(pb::ChangeReply {
            result: result.into(),
            balance,
            clock: reply.lamport,
            branch_id: self.id.0,
            vector: reply.vector,
            message: reply.message.number,
        })
    }

    /// Sends the change to every peer and merges each acknowledgement: one peer at a time in
    /// ascending id (sequential schedule) or all at once (concurrent schedule).
    async fn propagate(&self, op: Op, event: EventId, money: i64) -> Result<(), Error> {
        match self.config.schedule {
            Schedule::Sequential => {
                for (peer, link) in self.peers.iter() {
                    self.propagate_to(peer, link, op, event, money).await?;
                }
            }
            Schedule::Concurrent => {
                let calls = self
                    .peers
                    .iter()
                    .map(|(peer, link)| self.propagate_to(peer, link, op, event, money));
                join_all(calls)
                    .await
                    .into_iter()
                    .collect::<Result<(), _>>()?;
            }
        }
        Ok(())
    }

    async fn propagate_to(
        &self,
        peer: BranchId,
        link: &Link,
        op: Op,
        event: EventId,
        money: i64,
    ) -> Result<(), Error> {
        let duplicate = self
            .config
            .injector
            .as_ref()
            .is_some_and(Injector::duplicate_next);
        let (posted, request) = {
            let mut state = self.state();
            let sent = state.send_propagation();
            let request = pb::PropagateRequest {
                origin_id: self.id.0,
                event_id: event.0,
                operation: pb::Operation::from(op).into(),
                money,
                clock: sent.lamport,
                vector: sent.vector,
                message: sent.message.number,
                acknowledged_through: 0,
            };
            let again = duplicate.then(|| request.clone());
            // Numbered and posted under one lock: the link must carry this branch's messages
            // in the order of their numbers (see `Link::post`).
            (link.post(request), again)
        };
        let ack = posted.acknowledged().await?;
        self.state().acknowledge(op, event, &ack);
        if let Some(request) = request {
            self.note(Fault::Duplicate {
                message: MessageId {
                    sender: Process::Branch(self.id),
                    number: request.message,
                },
                to: Process::Branch(peer),
            });
            // The peer must recognise the repeat; its answer is not received again (this branch
            // has already merged the first acknowledgement).
            link.post(request).acknowledged().await?;
        }
        Ok(())
    }

    fn note(&self, fault: Fault) {
        if let Some(log) = &self.config.faults {
            log.note(fault);
        }
    }

    fn served(&self) {
        // Relaxed: a tally read after the exchanges it counts have been answered.
        self.config.served.fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies one propagation that arrived on a stream from its origin, and makes its
/// acknowledgement.
fn apply_propagation(
    id: BranchId,
    state: &SharedState,
    request: pb::PropagateRequest,
) -> Result<pb::PropagateReply, Error> {
    let op = operation_of(&request)?;
    let money = positive_money(request.money)?;
    let origin = Process::Branch(BranchId(request.origin_id));
    let received = stamp(origin, request.clock, request.vector, request.message);
    let mut state = lock(state);
    state.forget_acknowledged(origin, request.acknowledged_through);
    let ack = state.apply_propagation(op, EventId(request.event_id), money, &received)?;
    Ok(pb::PropagateReply {
        clock: ack.lamport,
        balance: state.balance(),
        branch_id: id.0,
        vector: ack.vector,
        message: ack.message.number,
    })
}

/// The acknowledgements a branch sends back on one origin's propagation stream.
pub type Acknowledgements = Pin<Box<dyn Stream<Item = Result<pb::PropagateReply, Status>> + Send>>;

#[tonic::async_trait]
impl branch_server::Branch for BranchService {
    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryReply>, Status> {
        self.served();
        let request = request.into_inner();
        let customer = self.authorize(request.customer_id)?;
        let received = stamp(customer, request.clock, request.vector, request.message);
        let (balance, reply) = self
            .state()
            .serve_query(EventId(request.event_id), &received);
        Ok(Response::new(pb::QueryReply {
            balance,
            clock: reply.lamport,
            branch_id: self.id.0,
            vector: reply.vector,
            message: reply.message.number,
        }))
    }

    async fn deposit(
        &self,
        request: Request<pb::ChangeRequest>,
    ) -> Result<Response<pb::ChangeReply>, Status> {
        self.served();
        Ok(Response::new(
            self.change(Op::Deposit, request.into_inner()).await?,
        ))
    }

    async fn withdraw(
        &self,
        request: Request<pb::ChangeRequest>,
    ) -> Result<Response<pb::ChangeReply>, Status> {
        self.served();
        Ok(Response::new(
            self.change(Op::Withdraw, request.into_inner()).await?,
        ))
    }

    type PropagateStream = Acknowledgements;

    async fn propagate(
        &self,
        request: Request<Streaming<pb::PropagateRequest>>,
    ) -> Result<Response<Acknowledgements>, Status> {
        // Each message is applied as it arrives, in order, and acknowledged on the way back. A
        // refused message ends the stream with its status; the origin then sends the rest again
        // on a new stream.
        let (id, state, served) = (self.id, self.state.clone(), self.config.served.clone());
        let acknowledgements = request.into_inner().map(move |request| {
            served.fetch_add(1, Ordering::Relaxed);
            Ok(apply_propagation(id, &state, request?)?)
        });
        Ok(Response::new(Box::pin(acknowledgements)))
    }

    async fn ping(
        &self,
        _request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingReply>, Status> {
        self.served();
        // Deliberately nothing: the benchmark's limit is the cost of the call alone.
        Ok(Response::new(pb::PingReply {}))
    }
}
