//! The library's error type: what can go wrong while a cluster runs, and how each error crosses
//! the wire as a gRPC status; and why a branch's store failed ([`StoreError`]), which such an
//! error can carry.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::model::{BranchId, CustomerId, EventId, Process};
use crate::wire::WireError;

/// Everything that can stop a run, each with the facts needed to explain it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A customer asked a branch that is not its own.
    #[error("{branch} serves only {}, not {customer}", CustomerId(branch.0))]
    PermissionDenied {
        /// The branch that refused.
        branch: BranchId,
        /// The customer that asked.
        customer: CustomerId,
    },
    /// A caller whose TLS certificate does not let it do what it asked (see [`crate::tls`]).
    #[error("{branch}: a certificate naming {names} may not {act}")]
    Forbidden {
        /// The branch that refused.
        branch: BranchId,
        /// Who the certificate names.
        names: String,
        /// What it asked to do, e.g. `act for C2`.
        act: String,
    },
    /// A call over TLS whose client certificate could not be read.
    #[error("{branch}: the caller's certificate: {problem}")]
    Unauthenticated {
        /// The branch that refused.
        branch: BranchId,
        /// What is wrong with the certificate.
        problem: String,
    },
    /// A customer that is not of the run, at a branch whose customers go from branch to branch.
    #[error("{branch}: {customer} is not a customer of the run")]
    UnknownCustomer {
        /// The branch that refused.
        branch: BranchId,
        /// The customer that asked.
        customer: CustomerId,
    },
    /// A customer's session names a branch that is not of the run.
    #[error(
        "{branch}: {customer}'s session counts writes at {named}, which is not a branch of the run"
    )]
    SessionBranch {
        /// The branch that refused.
        branch: BranchId,
        /// The customer.
        customer: CustomerId,
        /// The branch its session names.
        named: BranchId,
    },
    /// A customer's session counts more of its writes at a branch than that branch executed:
    /// waiting for them would be waiting forever.
    #[error(
        "{branch}: {customer}'s session counts {claimed} of its writes here, but {branch} executed {executed}"
    )]
    SessionAhead {
        /// The branch that refused.
        branch: BranchId,
        /// The customer.
        customer: CustomerId,
        /// The writes its session counts here.
        claimed: u64,
        /// The writes the branch executed for it.
        executed: u64,
    },
    /// Applying a change would overflow a branch's 64-bit balance.
    #[error("{branch}: event {event}: the balance would overflow")]
    Overflow {
        /// The branch whose balance would overflow.
        branch: BranchId,
        /// The deposit or withdraw.
        event: EventId,
    },
    /// A request came before the branch knows its run (a branch served on its own, before a
    /// run began, or after a reset).
    #[error("{branch}: no run has begun; `lamport-bank run --cluster FILE` begins one")]
    NotBegun {
        /// The branch.
        branch: BranchId,
    },
    /// A propagation came before the branch knows its run: refused as unavailable, so that
    /// the origin sends it again (the run is being begun, branch after branch).
    #[error("{branch}: no run has begun yet; propagations are refused until one does")]
    NotBegunYet {
        /// The branch.
        branch: BranchId,
    },
    /// A customer call came while the branch is stopping.
    #[error("{branch} is shutting down and takes no new calls")]
    Draining {
        /// The branch.
        branch: BranchId,
    },
    /// A message arrived with a field the receiver cannot use.
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    /// A propagation that is not the next one its origin's link should bring.
    #[error("{branch}: {origin} sent propagation {got}, where {expected} comes next")]
    OutOfSequence {
        /// The branch that refused it.
        branch: BranchId,
        /// Who sent it.
        origin: Process,
        /// The sequence number that comes next.
        expected: u64,
        /// The one it had.
        got: u64,
    },
    /// A propagation from something that is not another branch of the cluster.
    #[error(
        "{branch} takes propagations only from the other branches of its cluster, not {origin}"
    )]
    UnknownOrigin {
        /// The branch that refused it.
        branch: BranchId,
        /// Who it claimed to come from.
        origin: BranchId,
    },
    /// A customer request with the event id of another request.
    #[error("{branch}: event {event} is another request of {customer}'s")]
    EventReused {
        /// The branch that refused it.
        branch: BranchId,
        /// The event id.
        event: EventId,
        /// The customer of the first request with that id.
        customer: CustomerId,
    },
    /// A branch could not commit a step to its store: it sends nothing that depends on it.
    #[error("{branch}: {source}")]
    Store {
        /// The branch.
        branch: BranchId,
        /// What the store reported.
        source: StoreError,
    },
    /// A branch could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the OS refused.
        source: std::io::Error,
    },
    /// A channel could not be made for an address.
    #[error("cannot reach {uri}: {source}")]
    Endpoint {
        /// The address, as a URI.
        uri: String,
        /// What tonic reported.
        source: tonic::transport::Error,
    },
    /// A branch's server stopped with an error.
    #[error("{branch}: server failed: {source}")]
    Serve {
        /// The branch whose server failed.
        branch: BranchId,
        /// What the transport reported.
        source: tonic::transport::Error,
    },
    /// A gRPC call failed.
    #[error("{from} -> {to}: {status}")]
    Rpc {
        /// The caller.
        from: Process,
        /// The callee.
        to: BranchId,
        /// The status it failed with.
        status: tonic::Status,
    },
    /// A customer's event names a branch it was given no connection to.
    #[error("{customer} has no connection to {branch}")]
    NoChannel {
        /// The customer.
        customer: crate::model::CustomerId,
        /// The branch its event names.
        branch: BranchId,
    },
    /// A benchmark's ping failed.
    #[error("ping to {branch}: {status}")]
    Ping {
        /// The branch pinged.
        branch: BranchId,
        /// The status it failed with.
        status: tonic::Status,
    },
    /// A task of the run panicked or was cancelled.
    #[error("a task of the run failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::PermissionDenied { .. }
            | Error::Forbidden { .. }
            | Error::UnknownCustomer { .. } => tonic::Status::permission_denied(message),
            Error::Unauthenticated { .. } => tonic::Status::unauthenticated(message),
            Error::Overflow { .. } | Error::OutOfSequence { .. } => {
                tonic::Status::out_of_range(message)
            }
            Error::UnknownOrigin { .. } => tonic::Status::permission_denied(message),
            Error::Wire(_) | Error::SessionBranch { .. } => {
                tonic::Status::invalid_argument(message)
            }
            Error::SessionAhead { .. } => tonic::Status::failed_precondition(message),
            Error::NotBegun { .. } => tonic::Status::failed_precondition(message),
            Error::Draining { .. } | Error::Store { .. } | Error::NotBegunYet { .. } => {
                tonic::Status::unavailable(message)
            }
            Error::EventReused { .. } => tonic::Status::already_exists(message),
            Error::Rpc { status, .. } | Error::Ping { status, .. } => status,
            Error::Listen { .. }
            | Error::Endpoint { .. }
            | Error::Serve { .. }
            | Error::NoChannel { .. }
            | Error::Task(_) => tonic::Status::internal(message),
        }
    }
}

/// Why a branch's store could not be opened, read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (the message names the file).
    #[error("{path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// The file belongs to another branch.
    #[error("{path} holds the state of {held}, not {wanted}")]
    OtherBranch {
        /// The database file.
        path: PathBuf,
        /// The branch whose state it holds.
        held: BranchId,
        /// The branch started on it.
        wanted: BranchId,
    },
    /// An entry of the journal could not be read back.
    #[error("{path}: journal entry {position}: {problem}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The entry's position.
        position: i64,
        /// What is wrong with it.
        problem: String,
    },
    /// The writer stopped: nothing more can be committed.
    #[error("the store stopped: {0}")]
    Stopped(String),
}
