//! One branch as a long-lived process (`lamport-bank serve`): it listens where the cluster file
//! (or `--listen`) says, dials its peers lazily (and again after a failure) at the addresses
//! the file gives, waits for a run to begin, and serves until told to stop. Beside the branch's
//! own service it serves the admin calls of runs, gRPC health (SERVING once listening,
//! NOT_SERVING while it drains) and server reflection (v1 and v1alpha), so that `grpcurl
//! -plaintext ADDR list` and `describe` work.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tonic::service::Routes;
use tonic_health::ServingStatus;

use super::config::ClusterFile;
use crate::branch::admin::{AdminConfig, AdminService};
use crate::branch::journal::{self, StoreError};
use crate::branch::service::BranchService;
use crate::branch::state::BranchState;
use crate::branch::{self, BranchConfig};
use crate::error::Error;
use crate::model::{BranchId, ClockModel};
use crate::net::{self, Caller, Timeouts};
use crate::tls::{self, Tls};
use crate::wire::pb::{self, branch_server::BranchServer};

/// How one branch is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The cluster the branch belongs to.
    pub cluster: ClusterFile,
    /// Which of its branches this is; one of the file's.
    pub id: BranchId,
    /// Where to listen, if not at the file's address (e.g. `0.0.0.0:50051` in a container,
    /// whose peers dial the file's address).
    pub listen: Option<SocketAddr>,
    /// The clock model: a run of another is refused.
    pub model: ClockModel,
    /// Whether `reset` may return the branch to its initial state.
    pub allow_reset: bool,
    /// Where the branch's state is kept (`--data`); in memory if not given.
    pub data: Option<PathBuf>,
    /// Deadlines, keepalive, drain and grace.
    pub timeouts: Timeouts,
    /// Mutual TLS, as server and towards the peers; without it, everyone who can reach the
    /// port is trusted.
    pub tls: Option<Tls>,
}

/// A `--id` that the cluster file does not list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--id {0}: the cluster file has no branch {0}")]
pub struct UnknownBranch(pub u32);

impl ServeOptions {
    /// The address the branch listens on.
    pub fn listen_address(&self) -> Result<SocketAddr, UnknownBranch> {
        let file_address = self
            .cluster
            .branches
            .get(&self.id)
            .copied()
            .ok_or(UnknownBranch(self.id.0))?;
        Ok(self.listen.unwrap_or(file_address))
    }
}

/// Serves the branch `options` names until `shutdown` resolves, then drains and stops (see
/// [`branch::serve`]); `listening` is told the address once the branch listens.
pub async fn serve(
    options: &ServeOptions,
    shutdown: impl Future<Output = ()>,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let id = options.id;
    let addr = options.listen_address()?;
    let mut state = BranchState::waiting(id, options.cluster.balance)
        .in_model(options.model)
        .remembering_requests();
    if let Some(dir) = &options.data {
        let (entries, journal) = journal::open(dir, id)?;
        let steps = entries.len();
        state = state.restored(entries, journal);
        let path = journal::database_path(dir);
        if steps == 0 {
            tracing::info!("state kept in {}, empty so far", path.display());
        } else {
            tracing::info!(
                steps,
                events = state.event_count(),
                balance = state.balance(),
                "state restored from {}",
                path.display()
            );
        }
    }
    let state = Arc::new(Mutex::new(state));
    let (local, incoming) = net::bind(addr, &options.timeouts)?;
    let mut peers = Vec::new();
    for (&peer, &peer_addr) in options
        .cluster
        .branches
        .iter()
        .filter(|(peer, _)| **peer != id)
    {
        peers.push((
            peer,
            tls::channel(
                options.tls.as_ref(),
                peer,
                peer_addr,
                Caller::Branch,
                &options.timeouts,
            )?,
        ));
    }
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<BranchServer<BranchService>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let admin = AdminService::new(
        id,
        state.clone(),
        AdminConfig {
            model: options.model,
            allow_reset: options.allow_reset,
        },
    );
    let routes = Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(admin.into_server());
    let config = BranchConfig {
        timeouts: options.timeouts,
        tls: options.tls.as_ref().map(Tls::server),
        ..BranchConfig::default()
    };
    let stopping = async {
        shutdown.await;
        for service in [
            "",
            <BranchServer<BranchService> as tonic::server::NamedService>::NAME,
        ] {
            reporter
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
    };
    listening(local);
    branch::serve(id, state.clone(), peers, config, routes, incoming, stopping).await?;
    let journal = branch::lock(&state).take_journal();
    if let Some(journal) = journal {
        // Commits what is queued; blocking, like the writer it waits for.
        tokio::task::spawn_blocking(move || journal.close())
            .await
            .map_err(Error::from)??;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Why a branch could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--id` is not in the file.
    #[error(transparent)]
    UnknownBranch(#[from] UnknownBranch),
    /// The branch could not listen, or its server failed.
    #[error(transparent)]
    Branch(#[from] Error),
    /// The store of `--data` could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Server reflection could not be built from the descriptors.
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}
