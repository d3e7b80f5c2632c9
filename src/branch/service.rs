//! The gRPC handlers of a branch. Each handler parses its request once (see [`crate::wire`]),
//! locks the state, calls one synchronous method (and, for a propagation, queues it on the
//! peer's link), unlocks, and only then waits for the peers: no lock is ever held across a
//! network call or an `.await`.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use futures_util::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::link::Link;
use super::peers::Peers;
use super::state::{BranchState, Execution};
use super::{BranchConfig, Gate, Pass, SharedState, lock};
use crate::error::Error;
use crate::model::{BranchId, CustomerId, EventId, MessageId, Op, Process, Schedule};
use crate::tls;
use crate::trace::{Fault, Outcome, Stamp};
use crate::wire::pb::{self, branch_server};
use crate::wire::{Acknowledgement, Answer, CustomerRequest, Propagation};

/// A branch's gRPC service: its id, its state, its peers and how it propagates.
#[derive(Debug, Clone)]
pub struct BranchService {
    id: BranchId,
    state: SharedState,
    peers: Peers,
    config: BranchConfig,
    gate: Arc<Gate>,
}

impl BranchService {
    /// A service for branch `id` over `state`, propagating to `peers` as `config` says, taking
    /// customer calls while `gate` is open.
    pub fn new(
        id: BranchId,
        state: SharedState,
        peers: Peers,
        config: BranchConfig,
        gate: Arc<Gate>,
    ) -> Self {
        Self {
            id,
            state,
            peers,
            config,
            gate,
        }
    }

    /// Lets a customer call in: refused while the branch is stopping.
    fn enter(&self) -> Result<Pass<'_>, Error> {
        self.gate.enter().ok_or(Error::Draining { branch: self.id })
    }

    /// The tonic server wrapping this service.
    pub fn into_server(self) -> branch_server::BranchServer<Self> {
        branch_server::BranchServer::new(self)
    }

    /// Who called, by the certificate of its connection (see [`tls::authenticate`]).
    fn caller<T>(&self, request: &Request<T>) -> Result<Option<tls::PeerIdentity>, Error> {
        tls::authenticate(self.id, self.config.tls.is_some(), request)
    }

    /// Refuses a customer that is not this branch's own.
    fn authorize(&self, customer: CustomerId) -> Result<(), Error> {
        if customer.home_branch() == self.id {
            Ok(())
        } else {
            Err(Error::PermissionDenied {
                branch: self.id,
                customer,
            })
        }
    }

    /// A query: read the replica, answer at once.
    fn query(&self, request: &CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        let (balance, stamp) = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            state.serve_query(request.event, &request.stamp)
        };
        Ok(Answer {
            branch: self.id,
            outcome: Outcome::Balance(balance),
            balance,
            stamp,
        })
    }

    /// The life of a deposit or withdraw on its origin: execute, propagate, reply.
    async fn change(&self, request: CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        let Some((op, money)) = request.action.change() else {
            // The rpc a request came on says whether it is a change: a query never gets here.
            return self.query(&request);
        };
        let event = request.event;
        let execution = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            state.execute(op, event, money, &request.stamp)
        };
        if execution == Execution::Applied {
            self.propagate(op, event, money).await?;
        }
        let (stamp, balance) = {
            let mut state = lock(&self.state);
            (state.reply(op, event), state.balance())
        };
        let outcome = match execution {
            Execution::Applied => Outcome::Success,
            Execution::Rejected => Outcome::Fail,
        };
        Ok(Answer {
            branch: self.id,
            outcome,
            balance,
            stamp,
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
            .is_some_and(|injector| injector.duplicate_next());
        let (posted, again) = {
            let mut state = lock(&self.state);
            let propagation = Propagation {
                origin: self.id,
                event,
                op,
                money,
                stamp: state.send_propagation(),
                sequence: state.next_sequence(peer),
                acknowledged_through: 0,
            };
            let again = duplicate.then(|| propagation.clone());
            // Numbered and posted under one lock: the link must carry this branch's messages
            // in the order of their sequence numbers (see `Link::post`).
            (link.post(propagation), again)
        };
        let ack = posted.acknowledged().await?;
        lock(&self.state).acknowledge(op, event, &ack);
        if let Some(propagation) = again {
            self.note(Fault::Duplicate {
                message: MessageId {
                    sender: Process::Branch(self.id),
                    number: propagation.stamp.message.number,
                },
                to: Process::Branch(peer),
            });
            // The peer must recognise the repeat; its answer is not received again (this branch
            // has already merged the first acknowledgement).
            link.post(propagation).acknowledged().await?;
        }
        Ok(())
    }

    /// Refuses a request before the branch knows its run, or whose stamp is not the run's.
    fn begun(&self, state: &BranchState, stamp: &Stamp) -> Result<(), Error> {
        if state.begun() {
            state.admit(stamp)
        } else {
            Err(Error::NotBegun { branch: self.id })
        }
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
    peers: &BTreeSet<BranchId>,
    request: pb::PropagateRequest,
) -> Result<pb::PropagateReply, Error> {
    let propagation = Propagation::try_from(request)?;
    if !peers.contains(&propagation.origin) {
        return Err(Error::UnknownOrigin {
            branch: id,
            origin: propagation.origin,
        });
    }
    let origin = Process::Branch(propagation.origin);
    let mut state = lock(state);
    if !state.begun() {
        return Err(Error::NotBegun { branch: id });
    }
    state.admit(&propagation.stamp)?;
    state.forget_acknowledged(origin, propagation.acknowledged_through);
    let stamp = state.apply_propagation(&propagation)?;
    Ok(Acknowledgement {
        branch: id,
        balance: state.balance(),
        stamp,
    }
    .into())
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
        let caller = self.caller(&request)?;
        let request = CustomerRequest::try_from(request.into_inner()).map_err(Error::from)?;
        tls::may_act_for(self.id, caller.as_ref(), request.customer)?;
        let _pass = self.enter()?;
        Ok(Response::new(self.query(&request)?.into()))
    }

    async fn deposit(
        &self,
        request: Request<pb::ChangeRequest>,
    ) -> Result<Response<pb::ChangeReply>, Status> {
        self.served();
        let caller = self.caller(&request)?;
        let request =
            CustomerRequest::try_from((Op::Deposit, request.into_inner())).map_err(Error::from)?;
        tls::may_act_for(self.id, caller.as_ref(), request.customer)?;
        let _pass = self.enter()?;
        Ok(Response::new(self.change(request).await?.into()))
    }

    async fn withdraw(
        &self,
        request: Request<pb::ChangeRequest>,
    ) -> Result<Response<pb::ChangeReply>, Status> {
        self.served();
        let caller = self.caller(&request)?;
        let request =
            CustomerRequest::try_from((Op::Withdraw, request.into_inner())).map_err(Error::from)?;
        tls::may_act_for(self.id, caller.as_ref(), request.customer)?;
        let _pass = self.enter()?;
        Ok(Response::new(self.change(request).await?.into()))
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
        let peers: BTreeSet<BranchId> = self.peers.iter().map(|(peer, _)| peer).collect();
        let caller = self.caller(&request)?;
        tls::may_propagate(id, caller.as_ref(), &peers)?;
        let acknowledgements = request.into_inner().map(move |request| {
            served.fetch_add(1, Ordering::Relaxed);
            let request = request?;
            tls::may_propagate_as(id, caller.as_ref(), BranchId(request.origin_id))?;
            Ok(apply_propagation(id, &state, &peers, request)?)
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
