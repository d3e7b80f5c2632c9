//! `lamport-bank serve --cluster FILE --id N`: one branch of a cluster as a long-lived process,
//! until Ctrl-C or SIGTERM, which drain it (see `remote::serve`); and `lamport-bank reset
//! --cluster FILE`, which returns every branch of a cluster to its initial state.

use std::net::SocketAddr;
use std::time::Duration;

use super::{AppError, Clocks, Console, Ended, Outcome};
use crate::cluster::RunConfig;
use crate::model::{BranchId, ClockModel};
use crate::net::Timeouts;
use crate::remote::ClusterFile;
use crate::remote::run as remote;
use crate::remote::serve::{self, ServeOptions};
use crate::tls::Tls;

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
    /// Keep the branch's state (replica, clocks, log, the propagations it applied, the answer
    /// to each request) in DIR/branch.sqlite, committed before anything that depends on it
    /// leaves the branch: restarted with the same DIR, even after `kill -9`, it goes on where
    /// it was. Without it, the state is in memory and lost when the process ends.
    #[arg(long, value_name = "DIR")]
    pub data: Option<std::path::PathBuf>,
    /// How the log on standard error is written: text for a person, or JSON lines for a
    /// container's log collector.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Close a connection that sends nothing for this many seconds: one that never starts
    /// HTTP/2, or stops in the middle of a frame. The branch pings its callers every third of
    /// it, so a live caller always answers in time.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Mutual TLS (the three flags together, or none).
///
/// With them, each caller is who its certificate names in its subjectAltName DNS names:
/// `branch-N` is branch N (a branch's certificate is its server certificate and its client
/// certificate towards its peers), `customer-N` may act for customer N only, `customers` for
/// every customer. So `run --cluster` takes one certificate naming `customers`, or every
/// customer of its input; a client checks that the branch it dials holds `branch-N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct TlsArgs {
    /// Mutual TLS: this process's certificate (PEM), signed by --tls-ca. A caller is who the
    /// DNS names of its certificate's subjectAltName say: `branch-N` is branch N (a branch
    /// shows its certificate to its callers and to its peers), `customer-N` may act for
    /// customer N only, `customers` for every customer; so a run's certificate names
    /// `customers`, or each customer of its input. A client checks that the branch it dials
    /// holds `branch-N`. Needs --tls-key and --tls-ca.
    #[arg(long, value_name = "FILE", help_heading = "Mutual TLS")]
    pub tls_cert: Option<String>,
    /// Mutual TLS: the private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", help_heading = "Mutual TLS")]
    pub tls_key: Option<String>,
    /// Mutual TLS: the CA certificate (PEM) that signs every certificate of the cluster; a
    /// peer whose certificate it did not sign is refused at the handshake.
    #[arg(long, value_name = "FILE", help_heading = "Mutual TLS")]
    pub tls_ca: Option<String>,
}

impl TlsArgs {
    /// The TLS the flags name, read and checked; `None` without the flags. Refuses in one line
    /// some flags without the others, or a file that does not hold what it should.
    pub fn load(&self) -> Result<Option<Tls>, AppError> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Tls::load(cert, key, ca)
                .map(Some)
                .map_err(|error| AppError::BadInput(error.to_string())),
            _ => {
                let given: Vec<&str> = [
                    ("--tls-cert", &self.tls_cert),
                    ("--tls-key", &self.tls_key),
                    ("--tls-ca", &self.tls_ca),
                ]
                .iter()
                .filter(|(_, value)| value.is_some())
                .map(|(flag, _)| *flag)
                .collect();
                Err(AppError::BadInput(format!(
                    "{}: mutual TLS takes all three of --tls-cert, --tls-key and --tls-ca",
                    given.join(" and ")
                )))
            }
        }
    }
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
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Loads a cluster file, refusing it in one line.
pub fn load_cluster(path: &str) -> Result<ClusterFile, AppError> {
    ClusterFile::load(path).map_err(|error| AppError::BadInput(error.to_string()))
}

/// Serves the branch `args` names until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs, _console: &mut Console) -> Outcome {
    let cluster = load_cluster(&args.cluster)?;
    let tls = args.tls.load()?;
    if let (Some(tls), Some(cert)) = (&tls, &args.tls.tls_cert) {
        let id = BranchId(args.id);
        if !tls.identity().is_branch(id) {
            return Err(AppError::BadInput(format!(
                "--tls-cert {cert}: it names {}, not {} (branch {})",
                tls.identity(),
                crate::tls::branch_name(id),
                args.id
            )));
        }
    }
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
        data: args.data.clone(),
        timeouts: Timeouts {
            silence: Some(Duration::from_secs(args.idle_timeout)),
            ..Timeouts::REAL
        },
        tls,
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
            if options.tls.is_some() {
                tracing::info!(branch = %id, "mutual TLS: each caller is who its certificate names");
            } else {
                tracing::warn!(
                    branch = %id,
                    "no TLS: anyone who can reach {addr} can act as any customer or branch"
                );
            }
        }))
        .map_err(|error| match error {
            serve::ServeError::UnknownBranch(unknown) => AppError::BadInput(unknown.to_string()),
            serve::ServeError::Store(error) => AppError::BadInput(format!("--data: {error}")),
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
    let tls = args.tls.load()?;
    let runtime = super::runtime()?;
    runtime
        .block_on(remote::reset(&cluster, &RunConfig::default(), tls.as_ref()))
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
