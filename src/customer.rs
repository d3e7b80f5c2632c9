//! A customer: runs its events one at a time against its own branch, stamping each request and
//! merging each reply as the clock model says, and recording every send and receive.

use std::time::{Duration, Instant};

use tokio::time::timeout;
use tonic::transport::Channel;

use crate::error::Error;
use crate::history::{EventKind, TraceEvent};
use crate::input::CustomerSpec;
use crate::model::{Action, ClockModel, EventId, Op, Process};
use crate::net;
use crate::recorder::{Recorder, Stamp};
use crate::trace::Outcome;
use crate::wire::pb::{self, branch_client::BranchClient};
use crate::wire::stamp;

/// Runs every event of `customer` in order against its branch, reached through `channel`,
/// recording through `recorder`; returns the customer's events. A request with no reply within
/// `deadline` is recorded as indeterminate (a `X_timeout` event), and the customer goes on.
pub async fn run(
    customer: &CustomerSpec,
    channel: Channel,
    model: ClockModel,
    recorder: Recorder,
    deadline: Duration,
) -> Result<Vec<TraceEvent>, Error> {
    drive(customer, channel, model, recorder, deadline, None).await
}

/// [`run`], also pushing onto `latencies` how long each request took as the customer saw it
/// (from just before the rpc to its reply), in order: what a benchmark reports.
pub async fn run_timed(
    customer: &CustomerSpec,
    channel: Channel,
    model: ClockModel,
    recorder: Recorder,
    deadline: Duration,
    latencies: &mut Vec<Duration>,
) -> Result<Vec<TraceEvent>, Error> {
    drive(
        customer,
        channel,
        model,
        recorder,
        deadline,
        Some(latencies),
    )
    .await
}

async fn drive(
    customer: &CustomerSpec,
    channel: Channel,
    model: ClockModel,
    mut recorder: Recorder,
    deadline: Duration,
    mut latencies: Option<&mut Vec<Duration>>,
) -> Result<Vec<TraceEvent>, Error> {
    let mut client = BranchClient::new(channel);
    let home = Process::Branch(customer.id.home_branch());
    let rpc_error = |status| Error::Rpc {
        from: Process::Customer(customer.id),
        to: customer.id.home_branch(),
        status,
    };
    for event in &customer.events {
        let id = event.id;
        let send = EventKind::Send(event.action);
        // original: a send never ticks; strict: a deposit or withdraw send ticks, and a query
        // touches no clock at all (`EventKind::ticks` says the same for the checker).
        if send.ticks(model) {
            recorder.tick(send, id);
        } else {
            recorder.silent(send, id);
        }
        let sent = recorder.send();
        let receive = EventKind::Receive(event.action);
        let started = Instant::now();
        let merge = receive.ticks(model);
        match event.action.change() {
            None => {
                let call = client.query(pb::QueryRequest {
                    customer_id: customer.id.0,
                    event_id: id.0,
                    clock: sent.lamport,
                    vector: sent.vector,
                    message: sent.message.number,
                });
                let Some(reply) = answered(timeout(deadline, call).await).map_err(rpc_error)?
                else {
                    give_up(&mut recorder, event.action, id);
                    continue;
                };
                note_latency(&mut latencies, started);
                let answer = stamp(home, reply.clock, reply.vector, reply.message);
                recorder.receive(receive, id, &answer, merge);
                recorder.note_outcome(Outcome::Balance(reply.balance));
            }
            Some((op, money)) => {
                let request = change_request(customer.id.0, id.0, money, sent);
                let call = async {
                    match op {
                        Op::Deposit => client.deposit(request).await,
                        Op::Withdraw => client.withdraw(request).await,
                    }
                };
                let Some(reply) = answered(timeout(deadline, call).await).map_err(rpc_error)?
                else {
                    give_up(&mut recorder, event.action, id);
                    continue;
                };
                note_latency(&mut latencies, started);
                let outcome = match pb::Result::try_from(reply.result) {
                    Ok(pb::Result::Success) => Outcome::Success,
                    Ok(pb::Result::Fail) => Outcome::Fail,
                    _ => {
                        return Err(Error::Malformed(format!(
                            "reply to event {id} has result {}",
                            reply.result
                        )));
                    }
                };
                let answer = stamp(home, reply.clock, reply.vector, reply.message);
                recorder.receive(receive, id, &answer, merge);
                recorder.note_outcome(outcome);
            }
        }
    }
    Ok(recorder.take_events())
}

/// The reply, `None` if none came in time or the network failed (the request may or may not
/// have been carried out), or the branch's refusal.
fn answered<T>(
    result: Result<Result<tonic::Response<T>, tonic::Status>, tokio::time::error::Elapsed>,
) -> Result<Option<T>, tonic::Status> {
    match result {
        Ok(Ok(reply)) => Ok(Some(reply.into_inner())),
        Ok(Err(status)) if !net::is_transient(status.code()) => Err(status),
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

fn note_latency(latencies: &mut Option<&mut Vec<Duration>>, started: Instant) {
    if let Some(latencies) = latencies {
        latencies.push(started.elapsed());
    }
}

/// Records that no reply came: the operation's outcome is unknown.
fn give_up(recorder: &mut Recorder, action: Action, id: EventId) {
    recorder.silent(EventKind::Timeout(action), id);
    recorder.note_outcome(Outcome::Indeterminate);
}

fn change_request(customer: u32, event_id: u64, money: i64, sent: Stamp) -> pb::ChangeRequest {
    pb::ChangeRequest {
        customer_id: customer,
        event_id,
        money,
        clock: sent.lamport,
        vector: sent.vector,
        message: sent.message.number,
    }
}
