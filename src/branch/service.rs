//! The gRPC handlers of a branch. Each handler locks the state, calls one synchronous method,
//! unlocks, and only then talks to the peers: no lock is ever held across a network call.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::join_all;
use tonic::{Request, Response, Status};

use crate::branch::peers::Peers;
use crate::branch::state::{BranchState, Execution};
use crate::error::Error;
use crate::model::{BranchId, CustomerId, EventId, Op, Process, Schedule};
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

/// A branch's gRPC service: its id, its state, its peers and how it propagates.
#[derive(Debug, Clone)]
pub struct BranchService {
    id: BranchId,
    state: SharedState,
    peers: Peers,
    schedule: Schedule,
}

impl BranchService {
    /// A service for branch `id` over `state`, propagating to `peers` as `schedule` says.
    pub fn new(id: BranchId, state: SharedState, peers: Peers, schedule: Schedule) -> Self {
        Self {
            id,
            state,
            peers,
            schedule,
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
        match self.schedule {
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
        let request = pb::PropagateRequest {
            origin_id: self.id.0,
            event_id: event.0,
            operation: pb::Operation::from(op).into(),
            money,
            clock: sent.lamport,
            vector: sent.vector,
            message: sent.message.number,
        };
        let reply = client
            .propagate(request)
            .await
            .map_err(|status| Error::Rpc {
                from: Process::Branch(self.id),
                to: peer,
                status,
            })?
            .into_inner();
        let ack = stamp(
            Process::Branch(peer),
            reply.clock,
            reply.vector,
            reply.message,
        );
        self.state().acknowledge(op, event, &ack);
        Ok(())
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
