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
use super::state::{BranchState, Change, Earlier, Execution};
use super::{BranchConfig, Gate, Pass, SharedState, lock, once_ready};
use crate::error::Error;
use crate::model::{
    BranchId, CustomerId, EventId, MessageId, Op, Process, PropagationMode, Schedule,
};
use crate::tls;
use crate::trace::{Fault, Stamp};
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
    /// hangs up does not stop a change half-way (executed here, not propagated); and, with
    /// asynchronous propagation, the propagations of changes already answered.
    changes: TaskTracker,
    /// Woken whenever a change is answered, for a request asked again while in progress.
    answered: Arc<Notify>,
    /// Woken whenever a customer's write is applied here, for the requests and propagations
    /// waiting for one (session guarantees).
    applied: Arc<Notify>,
}

/// A propagation posted on a peer's link, waiting for its acknowledgement; and a copy to post
/// again once it is acknowledged, if the injector chose it to be delivered twice.
#[derive(Debug)]
struct Sent {
    peer: BranchId,
    link: Link,
    posted: Posted,
    again: Option<Propagation>,
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
            applied: Arc::default(),
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
    /// branch to branch (then any customer of the run is served).
    fn authorize(&self, customer: CustomerId) -> Result<(), Error> {
        if customer.home_branch() == self.id {
            return Ok(());
        }
        if !self.config.roaming {
            return Err(Error::PermissionDenied {
                branch: self.id,
                customer,
            });
        }
        let known = lock(&self.state)
            .table()
            .index_of(Process::Customer(customer))
            .is_some();
        if known {
            Ok(())
        } else {
            Err(Error::UnknownCustomer {
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

    /// While session guarantees are enforced, waits until this branch has applied every write
    /// the customer of `request` made (read-your-writes), recording the wait as an event of its
    /// own when there is one. A session that names what no branch will ever apply is refused.
    async fn session_ready(&self, request: &CustomerRequest) -> Result<(), Error> {
        let mut waiting = false;
        once_ready(&self.applied, || {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            let missing = state.missing_for(request)?;
            let Some(write) = missing.filter(|_| self.waits_for_sessions()) else {
                return Ok(Some(()));
            };
            if !waiting {
                tracing::debug!(event = %request.event, %write, "waiting for a write");
                state.wait(request.event, write);
                waiting = true;
            }
            Ok(None)
        })
        .await
    }

    /// A query: read the replica, answer at once (or give the answer again, to a query asked
    /// again).
    async fn query(&self, request: &CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        self.session_ready(request).await?;
        let (answer, commit) = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            let answer = match state.earlier(request)? {
                Earlier::Answered(answer) => answer,
                Earlier::New | Earlier::InProgress => {
                    let (balance, stamp) = state.serve_query(request);
                    Answer {
                        branch: self.id,
                        outcome: crate::trace::Outcome::Balance(balance),
                        balance,
                        stamp,
                        write: None,
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

    /// The life of a deposit or withdraw on its origin: execute, propagate, reply (or, with
    /// asynchronous propagation, execute and reply, then propagate in the background). A
    /// request asked again is answered as the first time.
    async fn change(&self, request: CustomerRequest) -> Result<Answer, Error> {
        self.authorize(request.customer)?;
        let Some((op, _)) = request.action.change() else {
            // The rpc a request came on says whether it is a change: a query never gets here.
            return self.query(&request).await;
        };
        self.session_ready(&request).await?;
        let event = request.event;
        let background = self.config.propagation == PropagationMode::Async;
        let (earlier, execution, change, replied, commit) = {
            let mut state = lock(&self.state);
            self.begun(&state, &request.stamp)?;
            let earlier = state.earlier(&request)?;
            let execution = (earlier == Earlier::New).then(|| state.execute(&request));
            let change = execution
                .and_then(Execution::write)
                .and_then(|write| Change::of(&request, self.id, write));
            // With nothing to propagate, or propagating in the background, the reply ticks in
            // the same step as the execute.
            let alone = execution == Some(Execution::Rejected)
                || (execution.is_some() && (background || self.peers.is_empty()));
            let replied = alone.then(|| (state.reply(op, event), state.balance()));
            // In the background, the change is posted to every peer in this same step: each
            // link then carries its origin's changes in the order they were executed, which
            // the peers' monotonic writes rely on.
            if let Some(change) = change.as_ref().filter(|_| background) {
                let sent = self.post_to_all(&mut state, change, &BTreeSet::new());
                self.settle_in_background(change.clone(), sent);
            }
            (earlier, execution, change, replied, state.commit())
        };
        if execution.is_some() {
            self.applied.notify_waiters();
        }
        self.committed(commit).await?;
        if let Some(execution) = execution {
            tracing::debug!(%event, ?execution, "executed");
        }
        match (earlier, execution) {
            (Earlier::Answered(answer), _) => Ok(answer),
            (_, Some(execution)) => {
                let replied = match (replied, &change) {
                    (Some(replied), _) => Some(replied),
                    (None, Some(change)) => self.propagate(change, &BTreeSet::new()).await?,
                    (None, None) => None,
                };
                self.finish(op, event, execution, replied).await
            }
            (_, None) => self.answer_of(&request).await,
        }
    }

    /// The reply to the customer of a change: its stamp and the balance then, if the reply tick
    /// was made in the step of the last acknowledgement (or of the execute), else made now.
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
        Ok(Answer {
            branch: self.id,
            outcome: execution.outcome(),
            balance,
            stamp,
            write: execution.write(),
        })
    }

    /// Waits for the answer of a request asked again while it is being carried out.
    async fn answer_of(&self, request: &CustomerRequest) -> Result<Answer, Error> {
        let (answer, commit) = once_ready(&self.answered, || {
            let state = lock(&self.state);
            Ok::<_, Error>(match state.earlier(request)? {
                Earlier::Answered(answer) => Some((answer, state.commit())),
                Earlier::New | Earlier::InProgress => None,
            })
        })
        .await?;
        self.committed(commit).await?;
        Ok(answer)
    }

    /// Numbers `change`'s propagation to `peer` and posts it on its link, in a step of the
    /// locked `state`: the link must carry this branch's messages in the order of their sequence
    /// numbers (see `Link::post`). It sends it once the step is committed.
    fn post_to(
        &self,
        state: &mut BranchState,
        peer: BranchId,
        link: &Link,
        change: &Change,
    ) -> Sent {
        let duplicate = self
            .config
            .injector
            .as_ref()
            .is_some_and(|injector| injector.duplicate_next());
        let propagation = state.propagation_to(peer, change);
        let again = duplicate.then(|| propagation.clone());
        let commit = state.commit();
        Sent {
            peer,
            link: link.clone(),
            posted: link.post(propagation, commit),
            again,
        }
    }

    /// Posts `change` to every peer but those of `skip`, in ascending id, in one step of the
    /// locked `state`.
    fn post_to_all(
        &self,
        state: &mut BranchState,
        change: &Change,
        skip: &BTreeSet<BranchId>,
    ) -> Vec<Sent> {
        self.peers
            .iter()
            .filter(|(peer, _)| !skip.contains(peer))
            .map(|(peer, link)| self.post_to(state, peer, link, change))
            .collect()
    }

    /// Sends the change to every peer but those of `sent`, and merges each acknowledgement:
    /// one peer at a time in ascending id (sequential schedule) or all at once (concurrent
    /// schedule). The reply to the customer ticks in the same step as the last
    /// acknowledgement, so that nothing happens on the branch between them (the `original`
    /// model does not log the reply: a checker can then tell where it was): returns its stamp
    /// and the balance then, or `None` if there was no peer left to send to.
    async fn propagate(
        &self,
        change: &Change,
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
                    let sent = self.post_to(&mut lock(&self.state), peer, link, change);
                    replies.push(
                        self.settle(change.op, change.event, sent, Some(&awaited))
                            .await?,
                    );
                }
                replies
            }
            Schedule::Concurrent => {
                let sent = self.post_to_all(&mut lock(&self.state), change, sent);
                let settled = sent
                    .into_iter()
                    .map(|sent| self.settle(change.op, change.event, sent, Some(&awaited)));
                join_all(settled)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(replies.into_iter().flatten().next())
    }

    /// Waits for the acknowledgement of `sent` and merges it (and replies, if it is the last of
    /// the `awaited` ones: returns the reply's stamp and the balance); then posts the deliberate
    /// duplicate, if there is one.
    async fn settle(
        &self,
        op: Op,
        event: EventId,
        sent: Sent,
        awaited: Option<&AtomicUsize>,
    ) -> Result<Option<(Stamp, i64)>, Error> {
        let replied = self.acknowledged(op, event, sent.posted, awaited).await?;
        if let Some(propagation) = sent.again {
            self.note(Fault::Duplicate {
                message: MessageId {
                    sender: Process::Branch(self.id),
                    number: propagation.stamp.message.number,
                },
                to: Process::Branch(sent.peer),
            });
            // The peer must recognise the repeat; its answer is not received again (this branch
            // has already merged the first acknowledgement).
            sent.link
                .post(propagation, Commit::none())
                .acknowledged()
                .await?;
        }
        Ok(replied)
    }

    /// Merges the acknowledgements of a change answered before it was propagated, as a task of
    /// `changes`.
    fn settle_in_background(&self, change: Change, sent: Vec<Sent>) {
        let service = self.clone();
        self.changes.spawn(async move {
            let settled = sent
                .into_iter()
                .map(|sent| service.settle(change.op, change.event, sent, None));
            for result in join_all(settled).await {
                if let Err(error) = result {
                    tracing::warn!(event = %change.event, %error, "a propagation did not finish");
                }
            }
        });
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
        let ack = match posted.acknowledged().await {
            Ok(ack) => ack,
            Err(error) => {
                let settled = {
                    let mut state = lock(&self.state);
                    state.give_up_propagation();
                    state.settled()
                };
                if settled {
                    self.config.settled.notify_waiters();
                }
                return Err(error);
            }
        };
        let (replied, settled) = {
            let mut state = lock(&self.state);
            state.acknowledge(op, event, sequence, &ack);
            // Counted under the state's lock: the one that takes it to 0 is the last merged.
            let last = awaited.is_some_and(|awaited| awaited.fetch_sub(1, Ordering::Relaxed) == 1);
            let replied = last.then(|| (state.reply(op, event), state.balance()));
            (replied, state.settled())
        };
        if settled {
            self.config.settled.notify_waiters();
        }
        Ok(replied)
    }

    /// Finishes, as tasks of their own, the changes that a branch restarted from its journal
    /// had executed and not answered, or (propagated in the background) not seen acknowledged
    /// by every peer: posts again what it sent and had no acknowledgement of (in the order
    /// first sent, before anything new), then sends to the peers it had not sent to, and
    /// answers if it had not (the customer, asking again, gets that answer). In the
    /// background, the rest is posted here too, change after change in the order they were
    /// executed.
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
        let background = self.config.propagation == PropagationMode::Async;
        for unfinished in unfinished {
            let Some((op, _)) = unfinished.request.action.change() else {
                continue;
            };
            let Some(pass) = self.gate.enter() else {
                return;
            };
            let (execution, event) = (unfinished.execution, unfinished.request.event);
            let change = execution
                .write()
                .and_then(|write| Change::of(&unfinished.request, self.id, write));
            let (mine, rest): (Vec<_>, Vec<_>) =
                posted.into_iter().partition(|(of, _)| *of == event);
            posted = rest;
            let sent = match change.as_ref().filter(|_| background) {
                Some(change) => {
                    self.post_to_all(&mut lock(&self.state), change, &unfinished.sent_to)
                }
                None => Vec::new(),
            };
            let service = self.clone();
            tracing::info!(%event, "finishing a change begun before the restart");
            self.changes.spawn(async move {
                let finished = async {
                    if background && !unfinished.replied {
                        service.finish(op, event, execution, None).await?;
                    }
                    for (_, posted) in mine {
                        service.acknowledged(op, event, posted, None).await?;
                    }
                    for sent in sent {
                        service.settle(op, event, sent, None).await?;
                    }
                    if !background {
                        let mut replied = None;
                        if let Some(change) = &change {
                            replied = service.propagate(change, &unfinished.sent_to).await?;
                        }
                        service.finish(op, event, execution, replied).await?;
                    }
                    Ok::<(), Error>(())
                };
                if let Err(error) = finished.await {
                    tracing::warn!(%event, %error, "a change begun before the restart could not be finished");
                }
                drop(pass);
            });
        }
    }

    /// Applies one propagation that arrived on a stream from its origin, once (while session
    /// guarantees are enforced) every write of its customer before it is applied here, recording
    /// the wait as an event of its own when there is one; makes its acknowledgement, to be sent
    /// once `Commit` is.
    async fn apply_propagation(
        &self,
        request: pb::PropagateRequest,
    ) -> Result<(pb::PropagateReply, Commit), Error> {
        let propagation = Propagation::try_from(request)?;
        if !self
            .peers
            .iter()
            .any(|(peer, _)| peer == propagation.origin)
        {
            return Err(Error::UnknownOrigin {
                branch: self.id,
                origin: propagation.origin,
            });
        }
        let mut waiting = false;
        let applied = once_ready(&self.applied, || {
            let mut state = lock(&self.state);
            if !state.begun() {
                return Err(Error::NotBegunYet { branch: self.id });
            }
            state.admit(&propagation.stamp)?;
            state.session_of_run(propagation.customer, &propagation.writes)?;
            let missing = state
                .missing_before(&propagation)
                .filter(|_| self.waits_for_sessions());
            match missing {
                Some(write) => {
                    if !waiting {
                        tracing::debug!(event = %propagation.event, %write, "waiting for a write");
                        state.wait(propagation.event, write);
                        waiting = true;
                    }
                    Ok(None)
                }
                None => {
                    let stamp = state.apply_propagation(&propagation)?;
                    let reply = Acknowledgement {
                        branch: self.id,
                        balance: state.balance(),
                        stamp,
                    };
                    Ok(Some((reply.into(), state.commit())))
                }
            }
        })
        .await?;
        self.applied.notify_waiters();
        Ok(applied)
    }

    /// Whether requests and propagations wait for the writes their customer's session needs:
    /// with asynchronous propagation, while the guarantees are enforced. A change propagated
    /// synchronously is on every branch before its customer hears of it, so nothing would
    /// wait; and a propagation must not, as its origin posts to one peer after another (one
    /// customer's later write could then reach a peer ahead of an earlier one on the same
    /// link, and wait for it forever).
    fn waits_for_sessions(&self) -> bool {
        self.config.propagation == PropagationMode::Async && self.config.guarantees.enforced()
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
        let (id, served) = (self.id, self.config.served.clone());
        let peers: BTreeSet<BranchId> = self.peers.iter().map(|(peer, _)| peer).collect();
        let caller = self.caller(&request)?;
        tls::may_propagate(id, caller.as_ref(), &peers)?;
        let service = self.clone();
        let acknowledgements = request.into_inner().then(move |request| {
            served.fetch_add(1, Ordering::Relaxed);
            let service = service.clone();
            let caller = caller.clone();
            async move {
                let request = request?;
                tls::may_propagate_as(id, caller.as_ref(), BranchId(request.origin_id))?;
                let (reply, commit) = service.apply_propagation(request).await?;
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
