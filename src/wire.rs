//! The generated gRPC code (from `proto/banking.proto`) and the conversions between its messages
//! and the domain types. The only module that knows the wire's field names.

use std::marker::PhantomData;

use tonic::codec::BufferSettings;

use crate::error::Error;
use crate::history::MessageId;
use crate::model::{Op, Process};
use crate::recorder::Stamp;

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
    // The yield threshold only matters to streams, which this protocol does not use: tonic's
    // default (32 KiB).
    BufferSettings::new(CODEC_BUFFER, 32 * 1024)
}

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
