//! The generated gRPC code (from `proto/banking.proto`) and the conversions between its messages
//! and the domain types. The only module that knows the wire's field names.

use crate::error::Error;
use crate::history::MessageId;
use crate::model::{Op, Process};
use crate::recorder::Stamp;

/// The code tonic-prost-build generated from `proto/banking.proto`.
pub mod pb {
    #![allow(missing_docs)]
    tonic::include_proto!("lamport_bank.v1");
}

impl From<Op> for pb::Operation {
    fn from(op: Op) -> Self {
        match op {
            Op::Deposit => pb::Operation::Deposit,
            Op::Withdraw => pb::Operation::Withdraw,
        }
    }
}

impl TryFrom<pb::Operation> for Op {
    type Error = Error;

    fn try_from(operation: pb::Operation) -> Result<Self, Error> {
        match operation {
            pb::Operation::Deposit => Ok(Op::Deposit),
            pb::Operation::Withdraw => Ok(Op::Withdraw),
            pb::Operation::Unspecified => Err(Error::Malformed("operation is unspecified".into())),
        }
    }
}

/// Reads the operation of a propagation, refusing unknown or unspecified values.
pub fn operation_of(request: &pb::PropagateRequest) -> Result<Op, Error> {
    let operation = pb::Operation::try_from(request.operation)
        .map_err(|_| Error::Malformed(format!("unknown operation {}", request.operation)))?;
    Op::try_from(operation)
}

/// Refuses a non-positive amount of money.
pub fn positive_money(money: i64) -> Result<i64, Error> {
    if money > 0 {
        Ok(money)
    } else {
        Err(Error::Malformed(format!(
            "money must be positive, got {money}"
        )))
    }
}

/// The stamp a message arrived with, from its fields and its sender.
pub fn stamp(sender: Process, clock: u64, vector: Vec<u64>, number: u64) -> Stamp {
    Stamp {
        lamport: clock,
        vector,
        message: MessageId { sender, number },
    }
}
