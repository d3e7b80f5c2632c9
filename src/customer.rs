//! A customer: runs its events one at a time against its own branch, stamping each request and
//! merging each reply as the clock model says, and recording every send and receive.

use std::time::{Duration, Instant};

use tokio::time::timeout;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::error::Error;
use crate::model::{Action, ClockModel, EventId, Process};
use crate::net;
use crate::scenario::CustomerSpec;
use crate::trace::{EventKind, Outcome, Recorder, TraceEvent};
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

/// Runs every event of `customer` in order against its branch, reached through `channel`,
/// recording through `recorder`. A request with no reply within `deadline` is recorded as
/// indeterminate (a `X_timeout` event), and the customer goes on; a refusal by the branch
/// stops the customer with that error.
pub async fn run(
    customer: &CustomerSpec,
    channel: Channel,
    model: ClockModel,
    mut recorder: Recorder,
    deadline: Duration,
) -> Result<CustomerLog, Error> {
    let span = tracing::debug_span!("customer", customer = %customer.id);
    async move {
        let mut client = BranchClient::new(channel);
        let mut latencies = Vec::with_capacity(customer.events.len());
        for event in &customer.events {
            let (id, action) = (event.id, event.action);
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
            };
            let started = Instant::now();
            let answer = timeout(deadline, call(&mut client, request)).await;
            let Some(answer) = answered(answer).map_err(|status| Error::Rpc {
                from: Process::Customer(customer.id),
                to: customer.id.home_branch(),
                status,
            })?
            else {
                tracing::debug!(event = %id, "no reply in time");
                give_up(&mut recorder, action, id);
                continue;
            };
            latencies.push(started.elapsed());
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
