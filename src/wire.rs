//! The wire: the code generated from `proto/banking.proto`, its codec, and every conversion
//! between its messages and the domain types (`From` to the wire, `TryFrom` from it). The only
//! module that knows the wire's field names: a message from the wire is parsed here once, into a
//! typed request or answer, and the rest of the code never sees a raw field.

use std::marker::PhantomData;

use tonic::codec::BufferSettings;

use crate::model::{Action, BranchId, CustomerId, EventId, MessageId, Op, Process};
use crate::session::{WriteId, Writes};
use crate::trace::{Outcome, Stamp};

/// The first buffer, in bytes, that each call reserves to encode or decode a message. Every
/// message of this protocol fits in well under 100 bytes without vector clocks, and a buffer
/// grows when a message needs more. tonic's default is 8 KiB for each of the four buffers of a
/// call (request and reply, each encoded and decoded): with the thousands of propagations in
/// flight of a concurrent run on 128 branches, that alone is hundreds of MiB, and it costs an
/// allocation that never fits the allocator's small-object caches.
pub const CODEC_BUFFER: usize = 128;

/// The codec of every rpc (named in `build.rs`): prost's encoding with [`CODEC_BUFFER`]-byte
/// first buffers.
#[derive(Debug, Clone, Copy)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = tonic_prost::ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstCodec::<T, U>::raw_encoder(buffers())
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstCodec::<T, U>::raw_decoder(buffers())
    }
}

fn buffers() -> BufferSettings {
    // The yield threshold only matters to streams whose messages are large; ours are not:
    // tonic's default (32 KiB).
    BufferSettings::new(CODEC_BUFFER, 32 * 1024)
}

/// The code tonic-prost-build generated from `proto/banking.proto`.
pub mod pb {
    #![allow(missing_docs)]
    tonic::include_proto!("lamport_bank.v1");

    /// The encoded descriptors of `proto/banking.proto`, which server reflection serves.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("banking_descriptor");

    /// The entries of a branch's journal (`proto/journal.proto`; see
    /// [`crate::branch::journal`]).
    pub mod journal {
        tonic::include_proto!("lamport_bank.journal.v1");
    }
}

// The journal's generated code names the service's messages by their package path,
// `lamport_bank.v1`, relative to its own: this is where that path leads.
use pb as v1;

/// The largest clock value (Lamport, or a vector entry) a message may carry: 2^53, the largest
/// whole number every JSON reader keeps exact. A clock near `u64::MAX` would otherwise wrap the
/// receiver's clock on its next merge.
pub const MAX_CLOCK: u64 = 1 << 53;

/// The most entries a message's vector clock may have (one per process of the run).
pub const MAX_VECTOR: usize = 1 << 16;

/// Why a message from the wire cannot be used. Refused with `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A message came without its sender's stamp.
    #[error("the message has no stamp")]
    MissingStamp,
    /// A deposit, withdraw or propagation of no money, or less.
    #[error("money must be positive, got {0}")]
    NonPositiveMoney(i64),
    /// A propagation whose operation is neither deposit nor withdraw.
    #[error("operation is unspecified")]
    UnspecifiedOperation,
    /// A propagation whose operation this build does not know.
    #[error("unknown operation {0}")]
    UnknownOperation(i32),
    /// A clock beyond [`MAX_CLOCK`].
    #[error("clock {0} is beyond {MAX_CLOCK}")]
    ClockTooLarge(u64),
    /// A vector clock of more than [`MAX_VECTOR`] entries.
    #[error("a vector clock of {0} entries (at most {MAX_VECTOR})")]
    VectorTooLong(usize),
    /// A vector clock whose width is not the run's.
    #[error("a vector clock of {got} entries, where the run has {width} processes")]
    VectorWidth {
        /// Its entries.
        got: usize,
        /// The run's processes.
        width: usize,
    },
    /// An answer to a deposit or withdraw that is neither success nor fail.
    #[error("result {0} is neither success nor fail")]
    UnknownResult(i32),
    /// A session vector that names a branch twice, or branch 0.
    #[error("the session names branch {0} twice, or a branch 0")]
    SessionBranch(u32),
    /// A session vector of more than [`MAX_VECTOR`] entries, or a count beyond [`MAX_CLOCK`].
    #[error(
        "a session of {entries} entries, up to {largest} writes each (at most {MAX_VECTOR} entries of {MAX_CLOCK})"
    )]
    SessionTooLarge {
        /// Its entries.
        entries: usize,
        /// Its largest count.
        largest: u64,
    },
    /// A propagation whose session does not count the propagated write at its origin.
    #[error("the session counts no write at the origin B{0}, where the change was made")]
    SessionWithoutWrite(u32),
}

/// A customer's request to its branch, as the branch acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRequest {
    /// Who asks.
    pub customer: CustomerId,
    /// The event id from the input.
    pub event: EventId,
    /// What is asked.
    pub action: Action,
    /// The customer's clocks at sending.
    pub stamp: Stamp,
    /// The customer's session: how many of its writes each branch executed.
    pub writes: Writes,
}

/// A branch's answer to a customer's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The branch that answered.
    pub branch: BranchId,
    /// What the customer gets: a query's balance, or what became of a change.
    pub outcome: Outcome,
    /// The branch's replica of the balance.
    pub balance: i64,
    /// The branch's clocks at sending.
    pub stamp: Stamp,
    /// For a change applied, its number among the customer's writes at this branch.
    pub write: Option<u64>,
}

/// An origin branch's request that a peer apply a change it has executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagation {
    /// The origin branch.
    pub origin: BranchId,
    /// The customer's deposit or withdraw.
    pub event: EventId,
    /// Deposit or withdraw.
    pub op: Op,
    /// How much, positive.
    pub money: i64,
    /// The origin's clocks at sending.
    pub stamp: Stamp,
    /// Its number among the origin's propagations to this peer (from 1): the peer takes them
    /// in this order only.
    pub sequence: u64,
    /// Every propagation of the origin to this peer numbered up to this one has been answered
    /// to the origin: the peer may forget those answers (see the proto).
    pub acknowledged_through: u64,
    /// The customer's session when it made the change, the change included: it is the write
    /// [`Propagation::write`].
    pub writes: Writes,
    /// The customer who made the change.
    pub customer: CustomerId,
}

impl Propagation {
    /// The customer's write this propagation carries.
    pub fn write(&self) -> WriteId {
        WriteId {
            customer: self.customer,
            origin: self.origin,
            number: self.writes.at(self.origin),
        }
    }
}

/// A session vector from the wire: each branch once, not 0, counts within bounds.
fn session(counts: Vec<pb::WriteCount>) -> Result<Writes, WireError> {
    let largest = counts.iter().map(|count| count.count).max().unwrap_or(0);
    if counts.len() > MAX_VECTOR || largest > MAX_CLOCK {
        return Err(WireError::SessionTooLarge {
            entries: counts.len(),
            largest,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(bad) = counts
        .iter()
        .find(|count| count.branch_id == 0 || !seen.insert(count.branch_id))
    {
        return Err(WireError::SessionBranch(bad.branch_id));
    }
    Ok(Writes::from_counts(
        counts
            .into_iter()
            .map(|count| (BranchId(count.branch_id), count.count)),
    ))
}

/// A session vector for the wire.
fn session_counts(writes: &Writes) -> Vec<pb::WriteCount> {
    writes
        .iter()
        .map(|(branch, count)| pb::WriteCount {
            branch_id: branch.0,
            count,
        })
        .collect()
}

/// A peer's acknowledgement that it applied a propagation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The peer.
    pub branch: BranchId,
    /// The peer's replica after the change.
    pub balance: i64,
    /// The peer's clocks after it executed the change.
    pub stamp: Stamp,
}

impl From<Stamp> for pb::Stamp {
    fn from(stamp: Stamp) -> Self {
        pb::Stamp {
            clock: stamp.lamport,
            vector: stamp.vector,
            message: stamp.message.number,
        }
    }
}

/// The stamp a message of `sender` arrived with.
fn received(sender: Process, stamp: Option<pb::Stamp>) -> Result<Stamp, WireError> {
    let stamp = stamp.ok_or(WireError::MissingStamp)?;
    if stamp.vector.len() > MAX_VECTOR {
        return Err(WireError::VectorTooLong(stamp.vector.len()));
    }
    if let Some(&clock) = std::iter::once(&stamp.clock)
        .chain(&stamp.vector)
        .find(|&&clock| clock > MAX_CLOCK)
    {
        return Err(WireError::ClockTooLarge(clock));
    }
    Ok(Stamp {
        lamport: stamp.clock,
        vector: stamp.vector,
        message: MessageId {
            sender,
            number: stamp.message,
        },
    })
}

fn positive(money: i64) -> Result<i64, WireError> {
    if money > 0 {
        Ok(money)
    } else {
        Err(WireError::NonPositiveMoney(money))
    }
}

impl From<Op> for pb::Operation {
    fn from(op: Op) -> Self {
        match op {
            Op::Deposit => pb::Operation::Deposit,
            Op::Withdraw => pb::Operation::Withdraw,
        }
    }
}

impl TryFrom<i32> for Op {
    type Error = WireError;

    /// An operation field as it came.
    fn try_from(operation: i32) -> Result<Self, WireError> {
        match pb::Operation::try_from(operation) {
            Ok(pb::Operation::Deposit) => Ok(Op::Deposit),
            Ok(pb::Operation::Withdraw) => Ok(Op::Withdraw),
            Ok(pb::Operation::Unspecified) => Err(WireError::UnspecifiedOperation),
            Err(_) => Err(WireError::UnknownOperation(operation)),
        }
    }
}

impl TryFrom<pb::QueryRequest> for CustomerRequest {
    type Error = WireError;

    fn try_from(request: pb::QueryRequest) -> Result<Self, WireError> {
        let customer = CustomerId(request.customer_id);
        Ok(CustomerRequest {
            customer,
            event: EventId(request.event_id),
            action: Action::Query,
            stamp: received(Process::Customer(customer), request.stamp)?,
            writes: session(request.writes)?,
        })
    }
}

impl TryFrom<(Op, pb::ChangeRequest)> for CustomerRequest {
    type Error = WireError;

    /// A deposit or withdraw: which one is given by the rpc it came on.
    fn try_from((op, request): (Op, pb::ChangeRequest)) -> Result<Self, WireError> {
        let customer = CustomerId(request.customer_id);
        let money = positive(request.money)?;
        Ok(CustomerRequest {
            customer,
            event: EventId(request.event_id),
            action: match op {
                Op::Deposit => Action::Deposit(money),
                Op::Withdraw => Action::Withdraw(money),
            },
            stamp: received(Process::Customer(customer), request.stamp)?,
            writes: session(request.writes)?,
        })
    }
}

impl From<CustomerRequest> for pb::QueryRequest {
    fn from(request: CustomerRequest) -> Self {
        pb::QueryRequest {
            customer_id: request.customer.0,
            event_id: request.event.0,
            writes: session_counts(&request.writes),
            stamp: Some(request.stamp.into()),
        }
    }
}

impl From<CustomerRequest> for pb::ChangeRequest {
    /// The amount of a deposit or withdraw (a query has none: 0).
    fn from(request: CustomerRequest) -> Self {
        pb::ChangeRequest {
            customer_id: request.customer.0,
            event_id: request.event.0,
            money: request.action.change().map_or(0, |(_, money)| money),
            writes: session_counts(&request.writes),
            stamp: Some(request.stamp.into()),
        }
    }
}

impl From<Answer> for pb::QueryReply {
    fn from(answer: Answer) -> Self {
        pb::QueryReply {
            balance: answer.balance,
            branch_id: answer.branch.0,
            stamp: Some(answer.stamp.into()),
        }
    }
}

impl TryFrom<pb::QueryReply> for Answer {
    type Error = WireError;

    fn try_from(reply: pb::QueryReply) -> Result<Self, WireError> {
        let branch = BranchId(reply.branch_id);
        Ok(Answer {
            branch,
            outcome: Outcome::Balance(reply.balance),
            balance: reply.balance,
            stamp: received(Process::Branch(branch), reply.stamp)?,
            write: None,
        })
    }
}

impl From<Answer> for pb::ChangeReply {
    fn from(answer: Answer) -> Self {
        let result = match answer.outcome {
            Outcome::Success => pb::Result::Success,
            Outcome::Fail => pb::Result::Fail,
            Outcome::Balance(_) | Outcome::Indeterminate => pb::Result::Unspecified,
        };
        pb::ChangeReply {
            result: result.into(),
            balance: answer.balance,
            branch_id: answer.branch.0,
            stamp: Some(answer.stamp.into()),
            write: answer.write.unwrap_or(0),
        }
    }
}

impl TryFrom<pb::ChangeReply> for Answer {
    type Error = WireError;

    fn try_from(reply: pb::ChangeReply) -> Result<Self, WireError> {
        let outcome = match pb::Result::try_from(reply.result) {
            Ok(pb::Result::Success) => Outcome::Success,
            Ok(pb::Result::Fail) => Outcome::Fail,
            _ => return Err(WireError::UnknownResult(reply.result)),
        };
        if reply.write > MAX_CLOCK {
            return Err(WireError::SessionTooLarge {
                entries: 1,
                largest: reply.write,
            });
        }
        let branch = BranchId(reply.branch_id);
        Ok(Answer {
            branch,
            outcome,
            balance: reply.balance,
            stamp: received(Process::Branch(branch), reply.stamp)?,
            write: (reply.write > 0).then_some(reply.write),
        })
    }
}

impl From<Propagation> for pb::PropagateRequest {
    fn from(propagation: Propagation) -> Self {
        pb::PropagateRequest {
            origin_id: propagation.origin.0,
            event_id: propagation.event.0,
            operation: pb::Operation::from(propagation.op).into(),
            money: propagation.money,
            stamp: Some(propagation.stamp.into()),
            sequence: propagation.sequence,
            acknowledged_through: propagation.acknowledged_through,
            customer_id: propagation.customer.0,
            writes: session_counts(&propagation.writes),
        }
    }
}

impl TryFrom<pb::PropagateRequest> for Propagation {
    type Error = WireError;

    fn try_from(request: pb::PropagateRequest) -> Result<Self, WireError> {
        let origin = BranchId(request.origin_id);
        let writes = session(request.writes)?;
        if writes.at(origin) == 0 {
            return Err(WireError::SessionWithoutWrite(origin.0));
        }
        Ok(Propagation {
            origin,
            event: EventId(request.event_id),
            op: Op::try_from(request.operation)?,
            money: positive(request.money)?,
            stamp: received(Process::Branch(origin), request.stamp)?,
            sequence: request.sequence,
            acknowledged_through: request.acknowledged_through,
            writes,
            customer: CustomerId(request.customer_id),
        })
    }
}

impl From<Acknowledgement> for pb::PropagateReply {
    fn from(ack: Acknowledgement) -> Self {
        pb::PropagateReply {
            balance: ack.balance,
            branch_id: ack.branch.0,
            stamp: Some(ack.stamp.into()),
        }
    }
}

impl TryFrom<pb::PropagateReply> for Acknowledgement {
    type Error = WireError;

    fn try_from(reply: pb::PropagateReply) -> Result<Self, WireError> {
        let branch = BranchId(reply.branch_id);
        Ok(Acknowledgement {
            branch,
            balance: reply.balance,
            stamp: received(Process::Branch(branch), reply.stamp)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sender: Process, lamport: u64, number: u64) -> Stamp {
        Stamp {
            lamport,
            vector: vec![lamport, 1],
            message: MessageId { sender, number },
        }
    }

    /// Every message goes to the wire and comes back as it was sent, its sender read from the
    /// message's own id field.
    #[test]
    fn every_message_comes_back_from_the_wire_as_it_was_sent() {
        let c2 = CustomerId(2);
        let withdraw = CustomerRequest {
            customer: c2,
            event: EventId(9),
            action: Action::Withdraw(70),
            stamp: stamp(Process::Customer(c2), 4, 3),
            writes: Writes::from_counts([(BranchId(1), 2), (BranchId(4), 1)]),
        };
        let wire = pb::ChangeRequest::from(withdraw.clone());
        assert_eq!(
            CustomerRequest::try_from((Op::Withdraw, wire)),
            Ok(withdraw)
        );

        let query = CustomerRequest {
            action: Action::Query,
            event: EventId(10),
            customer: c2,
            stamp: stamp(Process::Customer(c2), 5, 4),
            writes: Writes::new(),
        };
        let wire = pb::QueryRequest::from(query.clone());
        assert_eq!(CustomerRequest::try_from(wire), Ok(query));

        let b2 = BranchId(2);
        let answer = Answer {
            branch: b2,
            outcome: Outcome::Fail,
            balance: 30,
            stamp: stamp(Process::Branch(b2), 8, 1),
            write: Some(3),
        };
        assert_eq!(
            Answer::try_from(pb::ChangeReply::from(answer.clone())),
            Ok(answer)
        );

        let propagation = Propagation {
            origin: b2,
            event: EventId(9),
            op: Op::Deposit,
            money: 5,
            stamp: stamp(Process::Branch(b2), 3, 7),
            sequence: 4,
            acknowledged_through: 3,
            writes: Writes::from_counts([(b2, 3)]),
            customer: c2,
        };
        let wire = pb::PropagateRequest::from(propagation.clone());
        assert_eq!(Propagation::try_from(wire), Ok(propagation));

        let b3 = BranchId(3);
        let ack = Acknowledgement {
            branch: b3,
            balance: 11,
            stamp: stamp(Process::Branch(b3), 12, 2),
        };
        assert_eq!(
            Acknowledgement::try_from(pb::PropagateReply::from(ack.clone())),
            Ok(ack)
        );
    }

    #[test]
    fn unusable_fields_are_refused_by_name() {
        let request = pb::PropagateRequest {
            origin_id: 1,
            event_id: 1,
            operation: 7,
            money: 5,
            stamp: Some(pb::Stamp::default()),
            sequence: 1,
            acknowledged_through: 0,
            customer_id: 1,
            writes: vec![pb::WriteCount {
                branch_id: 1,
                count: 1,
            }],
        };
        assert_eq!(
            Propagation::try_from(request.clone()),
            Err(WireError::UnknownOperation(7))
        );
        let unspecified = pb::PropagateRequest {
            operation: 0,
            ..request.clone()
        };
        assert_eq!(
            Propagation::try_from(unspecified),
            Err(WireError::UnspecifiedOperation)
        );
        let no_money = pb::PropagateRequest {
            operation: pb::Operation::Deposit.into(),
            money: -5,
            ..request.clone()
        };
        assert_eq!(
            Propagation::try_from(no_money),
            Err(WireError::NonPositiveMoney(-5))
        );
        let unstamped = pb::PropagateRequest {
            operation: pb::Operation::Deposit.into(),
            stamp: None,
            ..request.clone()
        };
        assert_eq!(
            Propagation::try_from(unstamped),
            Err(WireError::MissingStamp)
        );
        let reply = pb::ChangeReply {
            result: 0,
            ..pb::ChangeReply::default()
        };
        assert_eq!(Answer::try_from(reply), Err(WireError::UnknownResult(0)));
        let stamped = |clock, vector| pb::QueryRequest {
            customer_id: 1,
            event_id: 1,
            stamp: Some(pb::Stamp {
                clock,
                vector,
                message: 1,
            }),
            writes: Vec::new(),
        };
        assert_eq!(
            CustomerRequest::try_from(stamped(u64::MAX, vec![])),
            Err(WireError::ClockTooLarge(u64::MAX))
        );
        assert_eq!(
            CustomerRequest::try_from(stamped(1, vec![0, MAX_CLOCK + 1])),
            Err(WireError::ClockTooLarge(MAX_CLOCK + 1))
        );
        assert_eq!(
            CustomerRequest::try_from(stamped(1, vec![0; 400_000])),
            Err(WireError::VectorTooLong(400_000))
        );
    }

    /// A session from the wire names each branch once, never branch 0, within bounds; a
    /// propagation's session counts the write it carries.
    #[test]
    fn sessions_are_refused_by_name() {
        let count = |branch_id, count| pb::WriteCount { branch_id, count };
        let query = |writes| pb::QueryRequest {
            customer_id: 1,
            event_id: 1,
            stamp: Some(pb::Stamp::default()),
            writes,
        };
        assert_eq!(
            CustomerRequest::try_from(query(vec![count(2, 1), count(2, 3)])).map(|r| r.writes),
            Err(WireError::SessionBranch(2))
        );
        assert_eq!(
            CustomerRequest::try_from(query(vec![count(0, 1)])).map(|r| r.writes),
            Err(WireError::SessionBranch(0))
        );
        assert_eq!(
            CustomerRequest::try_from(query(vec![count(1, MAX_CLOCK + 1)])).map(|r| r.writes),
            Err(WireError::SessionTooLarge {
                entries: 1,
                largest: MAX_CLOCK + 1
            })
        );
        // A count of 0 says nothing: it is left out.
        assert_eq!(
            CustomerRequest::try_from(query(vec![count(1, 0), count(3, 2)])).map(|r| r.writes),
            Ok(Writes::from_counts([(BranchId(3), 2)]))
        );
        let propagation = pb::PropagateRequest {
            origin_id: 2,
            event_id: 1,
            operation: pb::Operation::Deposit.into(),
            money: 5,
            stamp: Some(pb::Stamp::default()),
            sequence: 1,
            acknowledged_through: 0,
            customer_id: 1,
            writes: vec![count(1, 1)],
        };
        assert_eq!(
            Propagation::try_from(propagation),
            Err(WireError::SessionWithoutWrite(2))
        );
    }
}
