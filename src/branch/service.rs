//! The gRPC handlers of a branch. Each handler parses its request once (see [`crate::wire`]),
//! locks the state, calls one synchronous method (and, for a propagation, queues it on the
//! peer's link), unlocks, and only then waits for the peers: no lock is ever held across a
//! network call or an `.await`.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use super::journal::Commit;
use super::link::{Link, Posted};
use super::peers::Peers;
use super::state::{BranchState, Earlier, Execution};
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
    /// The changes being carried out: each runs as a task of its own, so that a customer who
    /// hangs up does not stop a change half-way (executed here, not propagated).
    changes: TaskTracker,
    /// Woken whenever a change is answered, for a request asked again while in progress.
    answered: Arc<Notify>,
}

impl BranchService {
    /// A service for branch `id` over `state`, propagating to `peers` as `config` says, taking
    /// customer calls while `gate` is open, carrying out changes as tasks of `changes`.
    pub fn new(
        id: BranchId,
        state: SharedState,
        peers: Peers,
        config: BranchConfig,
        gate: Arc<Gate>,
        changes: TaskTracker,
    ) -> Self {
        Self {
            id,
            state,
            peers,
            config,
            gate,
            changes,
            answered: Arc::default(),
        }
    }

    /// Lets a customer call in: refused while the branch is stopping.
    fn enter(&self) -> Result<Pass, Error> {
        self.gate.enter().ok_or(Error::Draining { branch: self.id })
    }

    /// The tonic server wrapping this service.
    pub fn into_server(self) -> branch_server::BranchServer<Self> {
        branch_server::BranchServer::new(self)
            .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
    }

    /// Who called, by the certificate of its connection (see [`tls::authenticate`]).
    fn caller<T>(&self, request: &Request<T>) -> Result<Option<tls::PeerIdentity>, Error> {
        tls::authenticate(self.id, self.config.tls.is_some(), request)
    }

    /// Refuses a customer that is not this branch's own, unless customers of the run go from
    /// branch to branch.
    fn authorize(&self, customer: CustomerId) -> Result<(), Error> {
        if customer.home_branch() == self.id || self.config.roaming {
            Ok(())
        } else {
            Err(Error::PermissionDenied {
                branch: self.id,
                customer,
            })
        }
    }

    /// Waits until the steps so far are committed (at once, for a branch without a store).
    async fn committed(&self, commit: Commit) -> Result<(), Error> {
        commit.wait().await.map_err(|source| Error::Store {
            branch: self.id,
            source,
        })
    }

    /// A query: read the replica, answer at once (or give the answer again, to a query asked
    /// again).
    async fn query(&self, request: &CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        let (answer, commit) = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            let answer = match state.earlier(request)? {
                Earlier::Answered(answer) => answer,
                Earlier::New | Earlier::InProgress => {
                    let (balance, stamp) = state.serve_query(request.event, &request.stamp);
                    Answer {
                        branch: self.id,
                        outcome: Outcome::Balance(balance),
                        balance,
                        stamp,
                    }
                }
            };
            (answer, state.commit())
        };
        self.committed(commit).await?;
        Ok(answer)
    }

    /// A deposit or withdraw, carried out as a task of its own (see `changes`), holding `pass`
    /// until it is answered.
    async fn change_detached(&self, request: CustomerRequest, pass: Pass) -> Result<Answer, Error> {
        let service = self.clone();
        self.changes
            .spawn(async move {
                let answer = service.change(request).await;
                drop(pass);
                answer
            })
            .await?
    }

    /// The life of a deposit or withdraw on its origin: execute, propagate, reply. A request
    /// asked again is answered as the first time.
    async fn change(&self, request: CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        let Some((op, money)) = request.action.change() else {
            // The rpc a request came on says whether it is a change: a query never gets here.
            return self.query(&request).await;
        };
        let event = request.event;
        let (earlier, execution, replied, commit) = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            let earlier = state.earlier(&request)?;
            let execution =
                (earlier == Earlier::New).then(|| state.execute(op, event, money, &request.stamp));
            // With nothing to propagate, the reply ticks in the same step as the execute.
            let alone = execution == Some(Execution::Rejected)
                || (execution.is_some() && self.peers.iter().next().is_none());
            let replied = alone.then(|| (state.reply(op, event), state.balance()));
            (earlier, execution, replied, state.commit())
        };
        self.committed(commit).await?;
        if let Some(execution) = execution {
            tracing::debug!(%event, ?execution, "executed");
        }
        match (earlier, execution) {
            (Earlier::Answered(answer), _) => Ok(answer),
            (_, Some(execution)) => {
                let replied = match replied {
                    Some(replied) => Some(replied),
                    None => self.propagate(op, event, money, &BTreeSet::new()).await?,
                };
                self.finish(op, event, execution, replied).await
            }
            (_, None) => self.answer_of(&request).await,
        }
    }

    /// The reply to the customer of a change that has been propagated: its stamp and the
    /// balance then, if the reply tick was made in the step of the last acknowledgement (or of
    /// the execute), else made now.
    async fn finish(
        &self,
        op: Op,
        event: EventId,
        execution: Execution,
        replied: Option<(Stamp, i64)>,
    ) -> Result<Answer, Error> {
        let (stamp, balance, commit) = {
            let mut state = lock(&self.state);
            let (stamp, balance) =
                replied.unwrap_or_else(|| (state.reply(op, event), state.balance()));
            (stamp, balance, state.commit())
        };
        self.committed(commit).await?;
        self.answered.notify_waiters();
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

    /// Waits for the answer of a request asked again while it is being carried out.
    async fn answer_of(&self, request: &CustomerRequest) -> Result<Answer, Error> {
        loop {
            let notified = self.answered.notified();
            tokio::pin!(notified);
            // Registered before the state is read, so that an answer made in between is not
            // missed.
            notified.as_mut().enable();
            let (earlier, commit) = {
                let state = lock(&self.state);
                (state.earlier(request)?, state.commit())
            };
            if let Earlier::Answered(answer) = earlier {
                self.committed(commit).await?;
                return Ok(answer);
            }
            notified.await;
        }
    }

    /// Sends the change to every peer but those of `sent`, and merges each acknowledgement:
    /// one peer at a time in ascending id (sequential schedule) or all at once (concurrent
    /// schedule). The reply to the customer ticks in the same step as the last
    /// acknowledgement, so that nothing happens on the branch between them (the `original`
    /// model does not log the reply: a checker can then tell where it was): returns its stamp
    /// and the balance then, or `None` if there was no peer left to send to.
    async fn propagate(
        &self,
        op: Op,
        event: EventId,
        money: i64,
        sent: &BTreeSet<BranchId>,
    ) -> Result<Option<(Stamp, i64)>, Error> {
        let peers: Vec<_> = self
            .peers
            .iter()
            .filter(|(peer, _)| !sent.contains(peer))
            .collect();
        let awaited = AtomicUsize::new(peers.len());
        let replies = match self.config.schedule {
            Schedule::Sequential => {
                let mut replies = Vec::with_capacity(peers.len());
                for (peer, link) in peers {
                    let replied = self.propagate_to(peer, link, op, event, money, &awaited);
                    replies.push(replied.await?);
                }
                replies
            }
            Schedule::Concurrent => {
                let calls = peers
                    .into_iter()
                    .map(|(peer, link)| self.propagate_to(peer, link, op, event, money, &awaited));
                join_all(calls)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(replies.into_iter().flatten().next())
    }

    /// Sends the change to one peer and merges its acknowledgement (and replies, if it is the
    /// last of the `awaited` ones): returns the reply's stamp and the balance, if it replied.
    async fn propagate_to(
        &self,
        peer: BranchId,
        link: &Link,
        op: Op,
        event: EventId,
        money: i64,
        awaited: &AtomicUsize,
    ) -> Result<Option<(Stamp, i64)>, Error> {
        let duplicate = self
            .config
            .injector
            .as_ref()
            .is_some_and(|injector| injector.duplicate_next());
        let (posted, again) = {
            let mut state = lock(&self.state);
            let propagation = state.propagation_to(peer, op, event, money);
            let again = duplicate.then(|| propagation.clone());
            // Numbered and posted under one lock: the link must carry this branch's messages
            // in the order of their sequence numbers (see `Link::post`). It sends it once the
            // step is committed.
            let commit = state.commit();
            (link.post(propagation, commit), again)
        };
        let replied = self.acknowledged(op, event, posted, Some(awaited)).await?;
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
            link.post(propagation, Commit::none())
                .acknowledged()
                .await?;
        }
        Ok(replied)
    }

    /// Waits for the acknowledgement of a propagation posted, and merges it; if it is the last
    /// of the `awaited` ones, replies to the customer in the same step (returning the reply's
    /// stamp and the balance then).
    async fn acknowledged(
        &self,
        op: Op,
        event: EventId,
        posted: Posted,
        awaited: Option<&AtomicUsize>,
    ) -> Result<Option<(Stamp, i64)>, Error> {
        let sequence = posted.sequence();
        let ack = posted.acknowledged().await?;
        let mut state = lock(&self.state);
        state.acknowledge(op, event, sequence, &ack);
        // Counted under the state's lock: the one that takes it to 0 is the last merged.
        let last = awaited.is_some_and(|awaited| awaited.fetch_sub(1, Ordering::Relaxed) == 1);
        Ok(last.then(|| (state.reply(op, event), state.balance())))
    }

    /// Finishes, as tasks of their own, the changes that a branch restarted from its journal
    /// had executed and not answered: posts again what it sent and had no acknowledgement of
    /// (in the order first sent, before anything new), then sends to the peers it had not sent
    /// to, and answers (the customer, asking again, gets that answer).
    pub fn recover(&self) {
        let unfinished = lock(&self.state).unfinished();
        let mut reposts: Vec<(BranchId, Propagation)> = unfinished
            .iter()
            .flat_map(|change| change.unacknowledged.iter().cloned())
            .collect();
        reposts.sort_by_key(|(peer, propagation)| (*peer, propagation.sequence));
        let mut posted: Vec<(EventId, Posted)> = Vec::new();
        for (peer, propagation) in reposts {
            if let Some((_, link)) = self.peers.iter().find(|(id, _)| *id == peer) {
                let event = propagation.event;
                posted.push((event, link.post(propagation, Commit::none())));
            }
        }
        for change in unfinished {
            let Some((op, money)) = change.request.action.change() else {
                continue;
            };
            let Some(pass) = self.gate.enter() else {
                return;
            };
            let event = change.request.event;
            let (mine, rest): (Vec<_>, Vec<_>) =
                posted.into_iter().partition(|(of, _)| *of == event);
            posted = rest;
            let service = self.clone();
            tracing::info!(%event, "finishing a change begun before the restart");
            self.changes.spawn(async move {
                let finished = async {
                    for (_, posted) in mine {
                        service.acknowledged(op, event, posted, None).await?;
                    }
                    let mut replied = None;
                    if change.execution == Execution::Applied {
                        replied = service.propagate(op, event, money, &change.sent_to).await?;
                    }
                    service.finish(op, event, change.execution, replied).await
                };
                if let Err(error) = finished.await {
                    tracing::warn!(%event, %error, "a change begun before the restart could not be finished");
                }
                drop(pass);
            });
        }
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
/// acknowledgement, to be sent once `Commit` is.
fn apply_propagation(
    id: BranchId,
    state: &SharedState,
    peers: &BTreeSet<BranchId>,
    request: pb::PropagateRequest,
) -> Result<(pb::PropagateReply, Commit), Error> {
    let propagation = Propagation::try_from(request)?;
    if !peers.contains(&propagation.origin) {
        return Err(Error::UnknownOrigin {
            branch: id,
            origin: propagation.origin,
        });
    }
    let mut state = lock(state);
    if !state.begun() {
        return Err(Error::NotBegunYet { branch: id });
    }
    state.admit(&propagation.stamp)?;
    let stamp = state.apply_propagation(&propagation)?;
    let reply = Acknowledgement {
        branch: id,
        balance: state.balance(),
        stamp,
    };
    Ok((reply.into(), state.commit()))
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
        Ok(Response::new(self.query(&request).await?.into()))
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
        let pass = self.enter()?;
        Ok(Response::new(
            self.change_detached(request, pass).await?.into(),
        ))
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
        let pass = self.enter()?;
        Ok(Response::new(
            self.change_detached(request, pass).await?.into(),
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
        let peers: BTreeSet<BranchId> = self.peers.iter().map(|(peer, _)| peer).collect();
        let caller = self.caller(&request)?;
        tls::may_propagate(id, caller.as_ref(), &peers)?;
        let acknowledgements = request.into_inner().then(move |request| {
            served.fetch_add(1, Ordering::Relaxed);
            let applied = request.and_then(|request| {
                tls::may_propagate_as(id, caller.as_ref(), BranchId(request.origin_id))?;
                apply_propagation(id, &state, &peers, request).map_err(Status::from)
            });
            async move {
                let (reply, commit) = applied?;
                commit
                    .wait()
                    .await
                    .map_err(|source| Error::Store { branch: id, source })?;
                Ok(reply)
            }
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
