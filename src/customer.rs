//! A customer: runs its events one at a time against its own branch, stamping each request and
//! merging each reply as the clock model says.

use tonic::transport::Channel;

use crate::clock::LamportClock;
use crate::error::Error;
use crate::input::CustomerSpec;
use crate::model::{Action, ClockModel, CustomerId, Op};
use crate::trace::{CustomerRecord, Outcome};
use crate::wire::pb::{self, branch_client::BranchClient};

/// Runs every event of `customer` in order against its branch, reached through `channel`, and
/// returns what each request sent and got back.
pub async fn run(
    customer: &CustomerSpec,
    channel: Channel,
    model: ClockModel,
) -> Result<Vec<CustomerRecord>, Error> {
    let mut client = BranchClient::new(channel);
    let mut clock = LamportClock::new();
    let mut records = Vec::with_capacity(customer.events.len());
    for event in &customer.events {
        let rpc_error = |status| Error::Rpc {
            from: format!("customer {}", customer.id.0),
            to: customer.id.home_branch(),
            status,
        };
        let record = match event.action.change() {
            None => {
                // original: a send does not tick and every reply is merged;
                // strict: a query touches no clock at all.
                let sent = clock.now();
                let reply = client
                    .query(pb::QueryRequest {
                        customer_id: customer.id.0,
                        event_id: event.id.0,
                        clock: sent,
                    })
                    .await
                    .map_err(rpc_error)?
                    .into_inner();
                let received = match model {
                    ClockModel::Original => clock.merge(reply.clock),
                    ClockModel::Strict => clock.now(),
                };
                CustomerRecord {
                    event_id: event.id,
                    action: Action::Query,
                    sent,
                    reply_stamp: reply.clock,
                    received,
                    outcome: Outcome::Balance(reply.balance),
                }
            }
            Some((op, money)) => {
                let sent = match model {
                    ClockModel::Original => clock.now(),
                    ClockModel::Strict => clock.tick(),
                };
                let request = change_request(customer.id, event.id.0, money, sent);
                let reply = match op {
                    Op::Deposit => client.deposit(request).await,
                    Op::Withdraw => client.withdraw(request).await,
                }
                .map_err(rpc_error)?
                .into_inner();
                let outcome = match pb::Result::try_from(reply.result) {
                    Ok(pb::Result::Success) => Outcome::Success,
                    Ok(pb::Result::Fail) => Outcome::Fail,
                    _ => {
                        return Err(Error::Malformed(format!(
                            "reply to event {} has result {}",
                            event.id.0, reply.result
                        )));
                    }
                };
                CustomerRecord {
                    event_id: event.id,
                    action: event.action,
                    sent,
                    reply_stamp: reply.clock,
                    received: clock.merge(reply.clock),
                    outcome,
                }
            }
        };
        records.push(record);
    }
    Ok(records)
}

fn change_request(
    customer: CustomerId,
    event_id: u64,
    money: i64,
    clock: u64,
) -> pb::ChangeRequest {
    pb::ChangeRequest {
        customer_id: customer.0,
        event_id,
        money,
        clock,
    }
}
