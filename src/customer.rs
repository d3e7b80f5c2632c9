//! A customer: runs its events one at a time, each against its branch (its own, or the one the
//! event names), stamping each request and merging each reply as the clock model says, and
//! recording every send and receive.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use tokio::time::timeout;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::error::Error;
use crate::model::{Action, BranchId, ClockModel, CustomerId, EventId, Process, Schedule};
use crate::net;
use crate::scenario::CustomerSpec;
use crate::session::Writes;
use crate::trace::{EventKind, Outcome, ProcessTable, Recorder, Recording, TraceEvent};
use crate::wire::pb::{self, branch_client::BranchClient};
use crate::wire::{Answer, CustomerRequest};

/// What one customer's run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerLog {
    /// The customer's events, in the order they happened.
    pub events: Vec<TraceEvent>,
    /// How long each answered request took as the customer saw it (from just before the rpc to
    /// its reply), in order: what a benchmark reports.
    pub latencies: Vec<Duration>,
}

/// Each customer's log, by id.
pub type CustomerLogs = BTreeMap<CustomerId, CustomerLog>;

/// How a run's customers run: against which processes, under which rules.
#[derive(Debug, Clone, Copy)]
pub struct Customers<'a> {
    /// The processes of the run, in vector-clock order.
    pub table: &'a ProcessTable,
    /// The clock rules.
    pub model: ClockModel,
    /// One customer after another, or all at once.
    pub schedule: Schedule,
    /// What each customer keeps.
    pub recording: Recording,
    /// How long a customer waits for one reply.
    pub deadline: Duration,
    /// Whether a request whose call broke (the branch restarting, the network cut) is asked
    /// again, with the same event id and stamp, until the deadline: for branches served on
    /// their own, which recognise a request asked again. Otherwise it is given up at once.
    pub ask_again: bool,
}

impl Customers<'_> {
    /// Runs `customers`, each against its branches over the channels `channels` holds for them
    /// (a customer with one missing is skipped: a scenario names only branches it has), one after
    /// another or all at once as the schedule says, counting in `done` those that finished.
    /// Returns each customer's log.
    pub async fn run(
        &self,
        customers: &[CustomerSpec],
        channels: &BTreeMap<BranchId, Channel>,
        done: &Arc<AtomicUsize>,
    ) -> Result<CustomerLogs, Error> {
        let runs = customers.iter().filter_map(|spec| {
            let channels = spec
                .branches()
                .into_iter()
                .map(|branch| Some((branch, channels.get(&branch)?.clone())))
                .collect::<Option<BTreeMap<_, _>>>()?;
            let recorder =
                Recorder::in_table(self.table, Process::Customer(spec.id), self.recording);
            let (model, deadline, spec, done) =
                (self.model, self.deadline, spec.clone(), done.clone());
            let ask_again = self.ask_again;
            Some(async move {
                let log = run(&spec, &channels, model, recorder, deadline, ask_again).await;
                done.fetch_add(1, Ordering::Relaxed);
                (spec.id, log)
            })
        });
        let mut logs = BTreeMap::new();
        match self.schedule {
            Schedule::Sequential => {
                for run in runs {
                    let (id, log) = run.await;
                    logs.insert(id, log?);
                }
            }
            Schedule::Concurrent => {
                // Each customer is a task of its own, so that customers run on the runtime's
                // worker threads beside the branches rather than all on the caller's thread:
                // a reply then wakes its customer on the same worker, not across threads.
                // Dropping the set (on the first failure) stops the other customers.
                let mut tasks = JoinSet::new();
                for run in runs {
                    tasks.spawn(run);
                }
                while let Some(finished) = tasks.join_next().await {
                    let (id, log) = finished?;
                    logs.insert(id, log?);
                }
            }
        }
        Ok(logs)
    }
}

/// Runs every event of `customer` in order, each against its branch, reached through the
/// channel `channels` holds for it, recording through `recorder`. A request with no reply within `deadline` is recorded as
/// indeterminate (a `X_timeout` event), and the customer goes on; a refusal by the branch
/// stops the customer with that error. With `ask_again`, a call that breaks is made again
/// (the same request) until the deadline.
pub async fn run(
    customer: &CustomerSpec,
    channels: &BTreeMap<BranchId, Channel>,
    model: ClockModel,
    mut recorder: Recorder,
    deadline: Duration,
    ask_again: bool,
) -> Result<CustomerLog, Error> {
    let span = tracing::debug_span!("customer", customer = %customer.id);
    async move {
        let mut clients: BTreeMap<BranchId, BranchClient<Channel>> = channels
            .iter()
            .map(|(branch, channel)| (*branch, BranchClient::new(channel.clone())))
            .collect();
        let mut latencies = Vec::with_capacity(customer.events.len());
        // The session: how many of this customer's writes each branch executed, as their
        // answers said. Every request carries it (see `crate::session`).
        let mut writes = Writes::new();
        for event in &customer.events {
            let (id, action) = (event.id, event.action);
            let branch = customer.branch_of(event);
            let client = clients.get_mut(&branch).ok_or(Error::NoChannel {
                customer: customer.id,
                branch,
            })?;
            let send = EventKind::Send(action);
            // original: a send never ticks; strict: a deposit or withdraw send ticks, and a
            // query touches no clock at all (`EventKind::ticks` says the same for the checker).
            if send.ticks(model) {
                recorder.tick(send, id);
            } else {
                recorder.silent(send, id);
            }
            let request = CustomerRequest {
                customer: customer.id,
                event: id,
                action,
                stamp: recorder.send(),
                writes: writes.clone(),
            };
            let started = Instant::now();
            let answer = timeout(deadline, call_until_answered(client, request, ask_again)).await;
            let Some(answer) = answered(answer).map_err(|status| Error::Rpc {
                from: Process::Customer(customer.id),
                to: branch,
                status,
            })?
            else {
                tracing::debug!(event = %id, "no reply in time");
                give_up(&mut recorder, action, id);
                continue;
            };
            latencies.push(started.elapsed());
            if let Some(write) = answer.write {
                writes.count_through(branch, write);
            }
            let receive = EventKind::Receive(action);
            recorder.receive(receive, id, &answer.stamp, receive.ticks(model));
            recorder.note_outcome(answer.outcome);
        }
        Ok(CustomerLog {
            events: recorder.take_events(),
            latencies,
        })
    }
    .instrument(span)
    .await
}

/// The pause before asking again, after `failures` broken calls: from 20 ms, doubling, at most
/// one second (a branch restarting takes about that).
fn pause(failures: u32) -> Duration {
    Duration::from_millis(20 << failures.min(6)).min(Duration::from_secs(1))
}

/// Sends `request` until it is answered or refused: once, or, with `ask_again`, again after
/// each call that broke.
async fn call_until_answered(
    client: &mut BranchClient<Channel>,
    request: CustomerRequest,
    ask_again: bool,
) -> Result<Answer, tonic::Status> {
    let mut failures = 0;
    loop {
        match call(client, request.clone()).await {
            Err(status) if ask_again && net::is_transient(status.code()) => {
                tracing::debug!(event = %request.event, %status, "the call broke; asking again");
                // A pause between attempts, not a wait for a condition: nothing tells a
                // customer when its branch is back.
                tokio::time::sleep(pause(failures)).await;
                failures += 1;
            }
            answered => return answered,
        }
    }
}

/// Sends `request` on the rpc its action names, and reads the answer.
async fn call(
    client: &mut BranchClient<Channel>,
    request: CustomerRequest,
) -> Result<Answer, tonic::Status> {
    let answer = match request.action {
        Action::Query => Answer::try_from(
            client
                .query(pb::QueryRequest::from(request))
                .await?
                .into_inner(),
        ),
        Action::Deposit(_) => Answer::try_from(
            client
                .deposit(pb::ChangeRequest::from(request))
                .await?
                .into_inner(),
        ),
        Action::Withdraw(_) => Answer::try_from(
            client
                .withdraw(pb::ChangeRequest::from(request))
                .await?
                .into_inner(),
        ),
    };
    // A branch that answers what no branch of ours would: the customer cannot go on.
    answer.map_err(|error| tonic::Status::internal(error.to_string()))
}

/// The answer, `None` if none came in time or the network failed (the request may or may not
/// have been carried out), or the branch's refusal.
fn answered(
    result: Result<Result<Answer, tonic::Status>, tokio::time::error::Elapsed>,
) -> Result<Option<Answer>, tonic::Status> {
    match result {
        Ok(Ok(answer)) => Ok(Some(answer)),
        Ok(Err(status)) if !net::is_transient(status.code()) => Err(status),
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

/// Records that no reply came: the operation's outcome is unknown.
fn give_up(recorder: &mut Recorder, action: Action, id: EventId) {
    recorder.silent(EventKind::Timeout(action), id);
    recorder.note_outcome(Outcome::Indeterminate);
}
