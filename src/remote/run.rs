//! A run of an input's customers against a cluster of `serve` processes: every branch is told
//! the run (Begin), the customers run here against their branches, and once they are done every
//! branch's log is collected, so that the run is assembled, checked and written exactly as an
//! in-process run is. [`Session`] holds the three steps apart, for a benchmark that warms the
//! connections up before it times the customers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tonic::transport::Channel;

use super::config::ClusterFile;
use crate::cluster::{CustomerLogs, RunConfig};
use crate::customer::Customers;
use crate::error::Error;
use crate::model::{BranchId, Process};
use crate::net::{self, Caller};
use crate::report::Report;
use crate::scenario::{CustomerSpec, Scenario};
use crate::tls::{self, Tls};
use crate::trace::{History, ProcessTable, TraceEvent, file as trace_file};
use crate::wire::pb::{self, admin_client::AdminClient};

/// How long an admin call (Begin, Collect, Reset) may take.
pub const ADMIN_DEADLINE: Duration = Duration::from_secs(30);

/// Why a run against a cluster did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A branch refused the run (another run's events, another clock model, no reset allowed):
    /// its message.
    #[error("{addr}: {message}")]
    Refused {
        /// The branch.
        branch: BranchId,
        /// Where it was reached.
        addr: std::net::SocketAddr,
        /// Why it refused.
        message: String,
    },
    /// A branch could not be reached, or failed.
    #[error("{branch} ({addr}): {status}")]
    Unreachable {
        /// The branch.
        branch: BranchId,
        /// Where it was dialled.
        addr: std::net::SocketAddr,
        /// What the call ended with.
        status: tonic::Status,
    },
    /// A branch's log could not be read.
    #[error("{branch}: its log: {problem}")]
    BadLog {
        /// The branch.
        branch: BranchId,
        /// What is wrong with it.
        problem: String,
    },
    /// The customers' run failed.
    #[error(transparent)]
    Run(#[from] Error),
}

impl RemoteError {
    /// Whether a branch refused (bad input for this cluster), rather than failed.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RemoteError::Refused { .. })
    }
}

/// One branch of the cluster, as a run reaches it.
struct Remote {
    id: BranchId,
    addr: std::net::SocketAddr,
    admin: AdminClient<Channel>,
}

impl Remote {
    /// What a failed admin call means: a refusal, or a branch out of reach.
    fn failed(&self, status: tonic::Status) -> RemoteError {
        use tonic::Code;
        match status.code() {
            Code::FailedPrecondition | Code::PermissionDenied | Code::InvalidArgument => {
                RemoteError::Refused {
                    branch: self.id,
                    addr: self.addr,
                    message: status.message().to_string(),
                }
            }
            _ => RemoteError::Unreachable {
                branch: self.id,
                addr: self.addr,
                status,
            },
        }
    }
}

fn remotes(
    cluster: &ClusterFile,
    config: &RunConfig,
    tls: Option<&Tls>,
) -> Result<Vec<Remote>, Error> {
    cluster
        .branches
        .iter()
        .map(|(&id, &addr)| {
            let channel = tls::channel(tls, id, addr, Caller::Customer, &config.timeouts)?;
            Ok(Remote {
                id,
                addr,
                admin: AdminClient::new(channel).max_decoding_message_size(net::MAX_LOG_BYTES),
            })
        })
        .collect()
}

/// Returns every branch of `cluster` to its initial state (branches started with
/// `--allow-reset` only), over mutual TLS with `tls` if given.
pub async fn reset(
    cluster: &ClusterFile,
    config: &RunConfig,
    tls: Option<&Tls>,
) -> Result<(), RemoteError> {
    for mut remote in remotes(cluster, config, tls)? {
        let mut request = tonic::Request::new(pb::ResetRequest {});
        request.set_timeout(ADMIN_DEADLINE);
        remote
            .admin
            .reset(request)
            .await
            .map_err(|status| remote.failed(status))?;
    }
    Ok(())
}

/// Runs `scenario`'s customers against `cluster` (whose branches must be the scenario's) as
/// `config` says, collects every branch's log, and checks the whole as a run is checked. With
/// `tls`, every call is made over mutual TLS with its certificate, which must name the
/// customers (see [`crate::tls`]).
pub async fn run(
    cluster: &ClusterFile,
    scenario: &Scenario,
    config: RunConfig,
    tls: Option<&Tls>,
) -> Result<Report, RemoteError> {
    let mut session = Session::begin(cluster, scenario, config, tls).await?;
    let mut logs = session.run_customers(&scenario.customers).await?;
    let Collected {
        mut branch_events,
        finals,
    } = session.collect().await?;
    let table = session.table;
    let events = table
        .processes()
        .iter()
        .map(|process| match process {
            Process::Branch(id) => branch_events.remove(id).unwrap_or_default(),
            Process::Customer(id) => logs.remove(id).map(|log| log.events).unwrap_or_default(),
        })
        .collect();
    let history = History {
        model: config.model,
        schedule: config.schedule,
        table,
        initial_balance: Some(cluster.balance),
        events,
        faults: Vec::new(),
        source: None,
        roaming: false,
        propagation: Default::default(),
        guarantees: Default::default(),
    };
    Ok(Report::assemble(
        history,
        cluster.balance,
        finals,
        cluster.branches.clone(),
    ))
}

/// A run begun on every branch of a cluster: customers can be run against it, as many times
/// as wanted (a benchmark warms the connections up first), and every branch's log collected.
/// [`run`] is one begin, one run of the customers and one collect.
pub struct Session {
    table: ProcessTable,
    config: RunConfig,
    remotes: Vec<Remote>,
    /// The channel to each branch that its customers call it over: made once, so that a
    /// warm-up connects the very channel a later run of the customers uses.
    channels: BTreeMap<BranchId, Channel>,
    done: Arc<AtomicUsize>,
}

/// What every branch of a session recorded, as [`Session::collect`] took it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Each branch's events so far, in the order it recorded them.
    pub branch_events: BTreeMap<BranchId, Vec<TraceEvent>>,
    /// Each branch's balance.
    pub finals: BTreeMap<BranchId, i64>,
}

impl Session {
    /// Tells every branch of `cluster` that a run of `scenario`'s processes begins (Begin), as
    /// `config` says; over mutual TLS with `tls` if given.
    pub async fn begin(
        cluster: &ClusterFile,
        scenario: &Scenario,
        config: RunConfig,
        tls: Option<&Tls>,
    ) -> Result<Self, RemoteError> {
        let table = scenario.process_table();
        let mut remotes = remotes(cluster, &config, tls)?;
        for remote in &mut remotes {
            let mut request = tonic::Request::new(pb::BeginRequest {
                processes: table.names(),
                clocks: config.model.name().to_string(),
            });
            request.set_timeout(ADMIN_DEADLINE);
            let begun = remote.admin.begin(request).await;
            begun.map_err(|status| remote.failed(status))?;
        }
        let mut channels: BTreeMap<BranchId, Channel> = BTreeMap::new();
        for (&id, &addr) in &cluster.branches {
            channels.insert(
                id,
                tls::channel(tls, id, addr, Caller::Customer, &config.timeouts)?,
            );
        }
        Ok(Self {
            table,
            config,
            remotes,
            channels,
            done: Arc::default(),
        })
    }

    /// Runs `customers` (of the scenario begun) against their branches, one after another or
    /// all at once as the schedule says, and returns each customer's log.
    pub async fn run_customers(
        &self,
        customers: &[CustomerSpec],
    ) -> Result<CustomerLogs, RemoteError> {
        let runner = Customers {
            table: &self.table,
            model: self.config.model,
            schedule: self.config.schedule,
            recording: self.config.recording,
            deadline: self.config.timeouts.customer,
            ask_again: true,
        };
        Ok(runner.run(customers, &self.channels, &self.done).await?)
    }

    /// Takes every branch's log and balance (Collect); the run goes on, and may be collected
    /// again.
    pub async fn collect(&mut self) -> Result<Collected, RemoteError> {
        let mut collected = Collected::default();
        for remote in &mut self.remotes {
            let mut request = tonic::Request::new(pb::CollectRequest {});
            request.set_timeout(ADMIN_DEADLINE);
            let reply = remote.admin.collect(request).await;
            let reply = reply.map_err(|status| remote.failed(status))?.into_inner();
            let mut events = Vec::with_capacity(reply.events.len());
            for line in &reply.events {
                let event = trace_file::read_event_line(line, &self.table).map_err(|problem| {
                    RemoteError::BadLog {
                        branch: remote.id,
                        problem: problem.to_string(),
                    }
                })?;
                if event.process != Process::Branch(remote.id) {
                    return Err(RemoteError::BadLog {
                        branch: remote.id,
                        problem: format!("it holds an event of {}", event.process),
                    });
                }
                events.push(event);
            }
            collected.branch_events.insert(remote.id, events);
            collected.finals.insert(remote.id, reply.balance);
        }
        Ok(collected)
    }
}
