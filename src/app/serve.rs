//! `lamport-bank serve --cluster FILE --id N`: one branch of a cluster as a long-lived process,
//! until Ctrl-C or SIGTERM, which drain it (see `remote::serve`); and `lamport-bank reset
//! --cluster FILE`, which returns every branch of a cluster to its initial state.

use std::net::SocketAddr;

use super::{AppError, Clocks, Console, Ended, Outcome};
use crate::cluster::RunConfig;
use crate::model::{BranchId, ClockModel};
use crate::net::Timeouts;
use crate::remote::ClusterFile;
use crate::remote::run as remote;
use crate::remote::serve::{self, ServeOptions};

/// How a branch is served (the command's arguments, as `--help` shows them).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ServeArgs {
    /// The cluster file (TOML) every process of the cluster reads: each branch's id, address
    /// and balance, and optionally the clock model (see the README).
    #[arg(long, value_name = "FILE")]
    pub cluster: String,
    /// Which branch of the file this process is.
    #[arg(long, value_name = "N")]
    pub id: u32,
    /// Listen here instead of at the file's address (e.g. `0.0.0.0:50051` in a container,
    /// while the peers dial the file's address).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The clock rules, overriding the file's (default: the file's, else original); a run of
    /// other rules is refused.
    #[arg(long, value_enum)]
    pub clocks: Option<Clocks>,
    /// Let `lamport-bank reset` return this branch to its initial state.
    #[arg(long)]
    pub allow_reset: bool,
    /// How the log on standard error is written: text for a person, or JSON lines for a
    /// container's log collector.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which cluster to reset (the command's arguments).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ResetArgs {
    /// The cluster file (TOML) of the branches to reset.
    #[arg(long, value_name = "FILE")]
    pub cluster: String,
}

/// Loads a cluster file, refusing it in one line.
pub fn load_cluster(path: &str) -> Result<ClusterFile, AppError> {
    ClusterFile::load(path).map_err(|error| AppError::BadInput(error.to_string()))
}

/// Serves the branch `args` names until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs, _console: &mut Console) -> Outcome {
    let cluster = load_cluster(&args.cluster)?;
    let options = ServeOptions {
        model: args
            .clocks
            .map(ClockModel::from)
            .or(cluster.clocks)
            .unwrap_or_default(),
        cluster,
        id: BranchId(args.id),
        listen: args.listen,
        allow_reset: args.allow_reset,
        timeouts: Timeouts::REAL,
    };
    options
        .listen_address()
        .map_err(|error| AppError::BadInput(error.to_string()))?;
    crate::limits::raise_open_files();
    let runtime = super::runtime()?;
    let id = options.id;
    runtime
        .block_on(serve::serve(&options, stop_signal(), |addr| {
            tracing::info!(branch = %id, %addr, clocks = options.model.name(), "listening");
            tracing::warn!(
                branch = %id,
                "no TLS: this branch trusts everyone who can reach {addr}"
            );
        }))
        .map_err(|error| match error {
            serve::ServeError::UnknownBranch(unknown) => AppError::BadInput(unknown.to_string()),
            other => AppError::RunFailed(other.to_string()),
        })?;
    Ok(Ended::Holds)
}

/// Resolves on Ctrl-C or SIGTERM (never, if neither can be listened for).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Returns every branch of the cluster `args` names to its initial state.
pub fn reset(args: &ResetArgs, console: &mut Console) -> Outcome {
    let cluster = load_cluster(&args.cluster)?;
    let runtime = super::runtime()?;
    runtime
        .block_on(remote::reset(&cluster, &RunConfig::default()))
        .map_err(|error| {
            if error.is_refusal() {
                AppError::BadInput(error.to_string())
            } else {
                AppError::RunFailed(error.to_string())
            }
        })?;
    console.line(&format!(
        "reset: {} branches back to their initial state",
        cluster.branches.len()
    ))?;
    Ok(Ended::Holds)
}

/// Which branch to ask whether it serves (the `health` command's arguments).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HealthArgs {
    /// The branch's address, e.g. `127.0.0.1:50051`.
    pub address: SocketAddr,
    /// How long to wait for the answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub timeout: u64,
}

/// Asks the branch at `args.address` for its gRPC health (`grpc.health.v1.Health/Check`):
/// done (0) if it answers SERVING, a failed run (4) otherwise. For a container's health check,
/// where an image without a shell has no other probe.
pub fn health(args: &HealthArgs, console: &mut Console) -> Outcome {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let address = args.address;
    let timeout = std::time::Duration::from_secs(args.timeout);
    let runtime = super::runtime()?;
    let status = runtime.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|error| error.to_string())?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| error.to_string())?;
        let reply = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| status.message().to_string())?;
        Ok::<i32, String>(reply.into_inner().status)
    });
    match status {
        Ok(status) if status == ServingStatus::Serving as i32 => {
            console.line(&format!("{address}: serving"))?;
            Ok(Ended::Holds)
        }
        Ok(status) => Err(AppError::RunFailed(format!(
            "{address}: not serving ({})",
            ServingStatus::try_from(status).map_or("unknown", |s| s.as_str_name())
        ))),
        Err(problem) => Err(AppError::RunFailed(format!("{address}: {problem}"))),
    }
}
