//! A branch: its replica and clock ([`state`]), its gRPC handlers ([`service`]), and the other
//! branches ([`peers`]), each reached over a [`link`] whose retransmissions an [`outbox`] keeps.
//! [`serve`] puts them together on any stream of connections, real or simulated.

pub mod admin;
pub mod inject;
pub mod journal;
pub mod link;
pub mod outbox;
pub mod peers;
pub mod service;
pub mod state;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::transport::ServerTlsConfig;
use tonic::transport::server::Connected;
use tracing::Instrument;

use crate::error::Error;
use crate::model::{BranchId, PropagationMode, Schedule, SessionGuarantees};
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
    /// Whether the branch serves every customer of the run (whose events name the branch that
    /// serves them, as the client-centric project's inputs do), not only the one with its id.
    pub roaming: bool,
    /// Whether a change is answered after it is propagated, or before.
    pub propagation: PropagationMode,
    /// Whether the branch waits for what its customers' sessions need.
    pub guarantees: SessionGuarantees,
    /// Woken whenever the branch has merged the last acknowledgement it was waiting for (see
    /// [`BranchState::settled`]); may be shared by several branches.
    pub settled: Arc<Notify>,
    /// Deadlines and backoff of propagations.
    pub timeouts: Timeouts,
    /// Where retries and deliberate duplicates are noted, if anywhere.
    pub faults: Option<FaultLog>,
    /// Faults the branch injects itself (simulations only).
    pub injector: Option<Injector>,
    /// How many request/reply exchanges the branch has served: one per unary call, and one per
    /// propagation received on a stream. May be shared by several branches.
    pub served: Arc<AtomicU64>,
    /// Mutual TLS: the branch's certificate and the CA its callers' must be signed by. With it,
    /// every caller is who its certificate names (see [`crate::tls`]); without, anyone who can
    /// reach the branch is trusted (the in-process cluster and the simulation).
    pub tls: Option<ServerTlsConfig>,
}

/// The customer calls a branch has in flight, and whether it still takes new ones: closed when
/// the branch is to stop, so that it can finish what it started and refuse the rest.
#[derive(Debug, Default)]
pub struct Gate {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// A customer call let in by a [`Gate`]; it counts as in flight until dropped.
#[derive(Debug)]
pub struct Pass(Arc<Gate>);

impl Gate {
    /// Lets a call in, unless the gate is closed.
    pub fn enter(self: &Arc<Self>) -> Option<Pass> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            drop(Pass(self.clone()));
            return None;
        }
        Some(Pass(self.clone()))
    }

    /// Takes no new calls from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits until no call is in flight.
    pub async fn idle(&self) {
        let idle = || {
            Ok::<_, std::convert::Infallible>(
                (self.in_flight.load(Ordering::SeqCst) == 0).then_some(()),
            )
        };
        let _ = once_ready(&self.idle, idle).await;
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Waits until `ready` gives a value, trying it again each time `woken` is notified (and at
/// once): what a handler does that waits for the branch's state to change. `ready` is tried with
/// the wake-up already registered, so that a change made in between is not missed; an error
/// ends the wait.
pub async fn once_ready<T, E>(
    woken: &Notify,
    mut ready: impl FnMut() -> Result<Option<T>, E>,
) -> Result<T, E> {
    loop {
        let notified = woken.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(value) = ready()? {
            return Ok(value);
        }
        notified.await;
    }
}

/// Serves branch `id` over `state` on the connections of `incoming`, propagating to `peers`
/// (`(id, channel)` pairs), beside the services of `extra` (admin, health, reflection), until
/// `shutdown` resolves. Then it takes no new customer call (UNAVAILABLE), lets the calls in
/// flight and their propagations finish (for `config.timeouts.drain` at most), stops its links
/// (so that the servers at the other end, which wait for the links' streams to end, can
/// finish), and closes the connections still open after `config.timeouts.grace` (an idle one,
/// a peer's stream, a half-sent call). It returns once every link task has ended. The real
/// cluster, the simulation and the `serve` command all serve their branches with it.
pub async fn serve<I, IO, IE>(
    id: BranchId,
    state: SharedState,
    peers: impl IntoIterator<Item = (BranchId, Channel)>,
    config: BranchConfig,
    extra: Routes,
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
    let timeouts = config.timeouts;
    let mut server = net::server(&timeouts);
    if let Some(tls) = config.tls.clone() {
        server = server
            .tls_config(tls)
            .map_err(|source| Error::Serve { branch: id, source })?;
    }
    let peers = span.in_scope(|| Peers::connect(id, peers, &link_config, &links));
    let gate = Arc::new(Gate::default());
    let changes = TaskTracker::new();
    let service = BranchService::new(id, state, peers, config, gate.clone(), changes.clone());
    span.in_scope(|| service.recover());
    let (stopped, links_stopped) = tokio::sync::oneshot::channel::<()>();
    let stopping = async {
        shutdown.await;
        gate.close();
        tracing::info!("stopping: new customer calls are refused, the calls in flight finish");
        if tokio::time::timeout(timeouts.drain, gate.idle())
            .await
            .is_err()
        {
            tracing::warn!("calls still in flight after the drain timeout: stopping anyway");
        }
        stop.cancel();
        let _ = stopped.send(());
    };
    let server = server
        .add_routes(extra.add_service(service.into_server()))
        .serve_with_incoming_shutdown(incoming, stopping)
        .instrument(span.clone());
    tokio::pin!(server);
    let served = tokio::select! {
        biased;
        served = &mut server => served,
        () = async {
            // Only once the links are stopped: then every connection left is one that would
            // keep the server open forever.
            if links_stopped.await.is_ok() {
                tokio::time::sleep(timeouts.grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::debug!("connections still open after the grace period: closed");
            Ok(())
        }
    };
    stop.cancel();
    links.close();
    links.wait().await;
    // With the links stopped, a change still waiting for a peer fails at once.
    changes.close();
    changes.wait().await;
    served.map_err(|source| Error::Serve { branch: id, source })
}
