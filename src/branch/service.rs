//! The gRPC handlers of a branch. Each handler locks the state, calls one synchronous method,
//! unlocks, and only then talks to the peers: no lock is ever held across a network call.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::join_all;
use tonic::{Request, Response, Status};

use crate::branch::peers::Peers;
use crate::branch::state::{BranchState, Execution};
use crate::error::Error;
use crate::faults::{FaultLog, Injector};
use crate::history::{Fault, MessageId};
use crate::model::{BranchId, CustomerId, EventId, Op, Process, Schedule};
use crate::net::{self, Timeouts};
use crate::recorder::Stamp;
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
                for (peer, client) in self.peers.iter() {
                    self.propagate_to(peer, client, op, event, money).await?;
                }
            }
            Schedule::Concurrent => {
                let calls = self
                    .peers
                    .iter()
                    .map(|(peer, client)| self.propagate_to(peer, client, op, event, money));
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
        mut client: pb::branch_client::BranchClient<tonic::transport::Channel>,
        op: Op,
        event: EventId,
        money: i64,
    ) -> Result<(), Error> {
        let sent = self.state().send_propagation();
        let message = sent.message;
        let request = pb::PropagateRequest {
            origin_id: self.id.0,
            event_id: event.0,
            operation: pb::Operation::from(op).into(),
            money,
            clock: sent.lamport,
            vector: sent.vector,
            message: message.number,
        };
        let ack = self.deliver(peer, &mut client, &request).await?;
        self.state().acknowledge(op, event, &ack);
        if let Some(injector) = &self.config.injector
            && injector.duplicate_next()
        {
            self.note(Fault::Duplicate {
                message,
                to: Process::Branch(peer),
            });
            // The peer must recognise the repeat; its answer repeats the first acknowledgement,
            // which this branch has already merged, so it is not received again.
            self.deliver(peer, &mut client, &request).await?;
        }
        Ok(())
    }

    /// Sends `request` to `peer` until the peer has applied it: each attempt has a deadline,
    /// and a lost or late attempt is retried after an exponential backoff. The retry is the
    /// same message (same stamp and id), so the peer applies it at most once.
    async fn deliver(
        &self,
        peer: BranchId,
        client: &mut pb::branch_client::BranchClient<tonic::transport::Channel>,
        request: &pb::PropagateRequest,
    ) -> Result<Stamp, Error> {
        let timeouts = &self.config.timeouts;
        let mut attempt = 1;
        loop {
            let call = client.propagate(request.clone());
            let status = match tokio::time::timeout(timeouts.propagation, call).await {
                Ok(Ok(reply)) => {
                    let reply = reply.into_inner();
                    let from = Process::Branch(peer);
                    return Ok(stamp(from, reply.clock, reply.vector, reply.message));
                }
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("no acknowledgement before the deadline"),
            };
            if !net::is_transient(status.code()) {
                return Err(Error::Rpc {
                    from: Process::Branch(self.id),
                    to: peer,
                    status,
                });
            }
            attempt += 1;
            tracing::debug!(branch = self.id.0, peer = peer.0, attempt, %status, "retrying a propagation");
            self.note(Fault::Retry {
                message: MessageId {
                    sender: Process::Branch(self.id),
                    number: request.message,
                },
                to: Process::Branch(peer),
                attempt,
            });
            // Backoff between attempts, not a wait for a condition: there is nothing to wait on
            // but time (in a simulation, simulated time).
            tokio::time::sleep(timeouts.backoff(attempt)).await;
        }
    }

    fn note(&self, fault: Fault) {
        if let Some(log) = &self.config.faults {
            log.note(fault);
        }
    }
}

#[tonic::async_trait]
impl branch_server::Branch for BranchService {
    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryReply>, Status> {
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
        Ok(Response::new(
            self.change(Op::Deposit, request.into_inner()).await?,
        ))
    }

    async fn withdraw(
        &self,
        request: Request<pb::ChangeRequest>,
    ) -> Result<Response<pb::ChangeReply>, Status> {
        Ok(Response::new(
            self.change(Op::Withdraw, request.into_inner()).await?,
        ))
    }

    async fn propagate(
        &self,
        request: Request<pb::PropagateRequest>,
    ) -> Result<Response<pb::PropagateReply>, Status> {
        let request = request.into_inner();
        let op = operation_of(&request)?;
        let money = positive_money(request.money)?;
        let origin = Process::Branch(BranchId(request.origin_id));
        let received = stamp(origin, request.clock, request.vector, request.message);
        let mut state = self.state();
        let ack = state.apply_propagation(op, EventId(request.event_id), money, &received)?;
        Ok(Response::new(pb::PropagateReply {
            clock: ack.lamport,
            balance: state.balance(),
            branch_id: self.id.0,
            vector: ack.vector,
            message: ack.message.number,
        }))
    }

    async fn ping(
        &self,
        _request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingReply>, Status> {
        // Deliberately nothing: the benchmark's limit is the cost of the call alone.
        Ok(Response::new(pb::PingReply {}))
    }
}
