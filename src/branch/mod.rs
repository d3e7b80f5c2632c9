//! A branch: its replica and clock ([`state`]), its gRPC handlers ([`service`]), and the other
//! branches ([`peers`]), each reached over a [`link`] whose retransmissions an [`outbox`] keeps.
//! [`serve`] puts them together on any stream of connections, real or simulated.

pub mod inject;
pub mod link;
pub mod outbox;
pub mod peers;
pub mod service;
pub mod state;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Channel;
use tonic::transport::server::Connected;
use tracing::Instrument;

use crate::error::Error;
use crate::model::{BranchId, Schedule};
use crate::net::{self, Timeouts};
use crate::trace::FaultLog;
use inject::Injector;
use link::LinkConfig;
use peers::Peers;
use service::BranchService;
use state::BranchState;

/// The state of one branch, shared between its handlers. A `std::sync::Mutex` rather than a
/// tokio one: it is held only for a synchronous method call, never across an `.await`.
pub type SharedState = Arc<Mutex<BranchState>>;

/// Locks a branch's state. Every `BranchState` method finishes its checks before it changes
/// anything, so a lock poisoned by a panic elsewhere still guards a consistent state.
pub fn lock(state: &SharedState) -> MutexGuard<'_, BranchState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a branch propagates, and what it does about faults.
#[derive(Debug, Clone, Default)]
pub struct BranchConfig {
    /// One peer at a time in ascending id, or all at once.
    pub schedule: Schedule,
    /// Deadlines and backoff of propagations.
    pub timeouts: Timeouts,
    /// Where retries and deliberate duplicates are noted, if anywhere.
    pub faults: Option<FaultLog>,
    /// Faults the branch injects itself (simulations only).
    pub injector: Option<Injector>,
    /// How many request/reply exchanges the branch has served: one per unary call, and one per
    /// propagation received on a stream. May be shared by several branches.
    pub served: Arc<AtomicU64>,
}

/// Serves branch `id` over `state` on the connections of `incoming`, propagating to `peers`
/// (`(id, channel)` pairs), until `shutdown` resolves. Then it stops its links (so that the
/// servers at the other end, which wait for the links' streams to end, can finish), finishes
/// the calls in flight, and waits for every link task to end. The real cluster and the
/// simulation both serve their branches with it.
pub async fn serve<I, IO, IE>(
    id: BranchId,
    state: SharedState,
    peers: impl IntoIterator<Item = (BranchId, Channel)>,
    config: BranchConfig,
    incoming: I,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error>
where
    I: Stream<Item = Result<IO, IE>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let span = tracing::debug_span!("branch", branch = %id);
    let stop = CancellationToken::new();
    let links = TaskTracker::new();
    let link_config = LinkConfig {
        timeouts: config.timeouts,
        faults: config.faults.clone(),
        stop: stop.clone(),
    };
    let peers = span.in_scope(|| Peers::connect(id, peers, &link_config, &links));
    let service = BranchService::new(id, state, peers, config);
    let stopping = async {
        shutdown.await;
        tracing::debug!("stopping");
        stop.cancel();
    };
    let served = net::server()
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(incoming, stopping)
        .instrument(span.clone())
        .await;
    stop.cancel();
    links.close();
    links.wait().await;
    served.map_err(|source| Error::Serve { branch: id, source })
}
