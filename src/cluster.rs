//! A running cluster on this machine: one gRPC server per branch on its own loopback port, the
//! customers run against them, every branch's log and balance collected, and every server shut
//! down gracefully.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::Routes;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::branch::state::BranchState;
use crate::branch::{self, BranchConfig, SharedState, lock};
use crate::customer;
pub use crate::customer::{CustomerLog, CustomerLogs};
use crate::error::Error;
use crate::model::{BranchId, ClockModel, Process, PropagationMode, Schedule, SessionGuarantees};
use crate::net::{self, Caller, Timeouts};
use crate::report::Report;
use crate::scenario::{CustomerSpec, Scenario};
use crate::trace::{History, ProcessTable, Recording};

/// The address branches listen on unless told otherwise: loopback, each on a free port.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How a run is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunConfig {
    /// Which clock rules the customers follow and what the output shows.
    pub model: ClockModel,
    /// Customers one after another, or all at once.
    pub schedule: Schedule,
    /// The address every branch listens on (each on a free port).
    pub host: IpAddr,
    /// What every process keeps of its history.
    pub recording: Recording,
    /// Deadlines, keepalive and backoff.
    pub timeouts: Timeouts,
    /// Whether a change is answered after it is propagated, or before.
    pub propagation: PropagationMode,
    /// Whether branches enforce their customers' session guarantees.
    pub guarantees: SessionGuarantees,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            model: ClockModel::default(),
            schedule: Schedule::default(),
            host: DEFAULT_HOST,
            recording: Recording::FULL,
            timeouts: Timeouts::REAL,
            propagation: PropagationMode::default(),
            guarantees: SessionGuarantees::default(),
        }
    }
}

/// How far a run has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunProgress {
    /// Customers that have made all their requests.
    pub customers_done: usize,
    /// Customers in all.
    pub customers: usize,
    /// Events the branches have recorded so far.
    pub events: u64,
}

/// How often [`run_watched`] tells how far the run has come.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Starts the cluster for `scenario`, runs every customer, shuts the cluster down and checks
/// what it recorded.
pub async fn run(scenario: &Scenario, config: RunConfig) -> Result<Report, Error> {
    run_watched(scenario, config, |_| {}).await
}

/// [`run`], telling `watch` how far the run has come every [`PROGRESS_EVERY`] while the
/// customers run.
pub async fn run_watched(
    scenario: &Scenario,
    config: RunConfig,
    mut watch: impl FnMut(RunProgress),
) -> Result<Report, Error> {
    let span = tracing::info_span!("run", branches = scenario.branches.len());
    async {
        let cluster = Cluster::start(scenario, config).await?;
        let customers = {
            let run = cluster.run_customers(&scenario.customers);
            tokio::pin!(run);
            let mut every = tokio::time::interval(PROGRESS_EVERY);
            loop {
                tokio::select! {
                    biased;
                    done = &mut run => break done,
                    _ = every.tick() => watch(RunProgress {
                        customers_done: cluster.customers_done.load(Ordering::Relaxed),
                        customers: scenario.customers.len(),
                        events: cluster.event_count(),
                    }),
                }
            }
        };
        // Changes answered before they were propagated are still on their way: the balances
        // are read once every branch has them (or after the longest wait a run allows).
        if tokio::time::timeout(config.timeouts.customer, cluster.settled())
            .await
            .is_err()
        {
            tracing::warn!("propagations still unacknowledged when the run ended");
        }
        let finals = cluster.balances();
        let addresses = cluster.addresses();
        let history = customers.map(|customers| cluster.history(customers, scenario));
        cluster.shutdown().await?;
        Ok(Report::assemble(
            history?,
            scenario.initial_balance(),
            finals,
            addresses,
        ))
    }
    .instrument(span)
    .await
}

/// One branch's server, running.
#[derive(Debug)]
struct RunningBranch {
    addr: SocketAddr,
    /// The channel its customer (the one with the branch's id) calls it over: made once, so
    /// that a warm-up connects the very channel a later run uses.
    customer: Channel,
    state: SharedState,
    server: JoinHandle<Result<(), Error>>,
}

/// The branches of a scenario, each serving on its own port.
#[derive(Debug)]
pub struct Cluster {
    config: RunConfig,
    table: ProcessTable,
    branches: BTreeMap<BranchId, RunningBranch>,
    /// Cancelled to stop every branch at once: each stops its links, whose streams the servers
    /// at the other end wait for.
    stop: CancellationToken,
    /// Stops everything if the cluster is dropped without [`Cluster::shutdown`].
    _stop_on_drop: DropGuard,
    /// The exchanges every branch has served (see [`Cluster::exchanges_served`]).
    served: Arc<AtomicU64>,
    /// How many customers have made all their requests.
    customers_done: Arc<AtomicUsize>,
    /// Woken when a branch has merged the last acknowledgement it waited for.
    settled: Arc<Notify>,
}

impl Cluster {
    /// Binds a listener for every branch, connects every branch to its peers (lazily: a
    /// connection is made on first use and then reused) and starts every server.
    pub async fn start(scenario: &Scenario, config: RunConfig) -> Result<Self, Error> {
        let table = scenario.process_table();
        let mut listeners = BTreeMap::new();
        for branch in &scenario.branches {
            listeners.insert(
                branch.id,
                net::bind(SocketAddr::new(config.host, 0), &config.timeouts)?,
            );
        }
        let mut channels = BTreeMap::new();
        for (id, (addr, _)) in &listeners {
            channels.insert(
                *id,
                net::tcp_channel(*addr, Caller::Branch, &config.timeouts)?,
            );
        }
        let stop = CancellationToken::new();
        let served = Arc::new(AtomicU64::new(0));
        let settled = Arc::new(Notify::new());
        let mut branches = BTreeMap::new();
        for (spec, (id, (addr, incoming))) in scenario.branches.iter().zip(listeners) {
            let state =
                BranchState::new(id, spec.balance, &table, config.recording).in_model(config.model);
            let state = Arc::new(Mutex::new(state));
            let branch_config = BranchConfig {
                schedule: config.schedule,
                roaming: scenario.visits.roaming(),
                propagation: config.propagation,
                guarantees: config.guarantees,
                settled: settled.clone(),
                timeouts: config.timeouts,
                served: served.clone(),
                ..BranchConfig::default()
            };
            let peers: Vec<(BranchId, Channel)> = channels
                .iter()
                .filter(|(peer, _)| **peer != id)
                .map(|(peer, channel)| (*peer, channel.clone()))
                .collect();
            let server = tokio::spawn(branch::serve(
                id,
                state.clone(),
                peers,
                branch_config,
                Routes::default(),
                incoming,
                stop.clone().cancelled_owned(),
            ));
            tracing::debug!(branch = %id, %addr, "branch listening");
            branches.insert(
                id,
                RunningBranch {
                    addr,
                    customer: net::tcp_channel(addr, Caller::Customer, &config.timeouts)?,
                    state,
                    server,
                },
            );
        }
        Ok(Self {
            config,
            table,
            branches,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            served,
            customers_done: Arc::default(),
            settled,
        })
    }

    /// Waits until every branch has had every change it executed acknowledged by every peer:
    /// at once with synchronous propagation, whose changes are answered only then.
    pub async fn settled(&self) {
        let settled = || {
            let all = self
                .branches
                .values()
                .all(|branch| lock(&branch.state).settled());
            Ok::<_, std::convert::Infallible>(all.then_some(()))
        };
        let _ = branch::once_ready(&self.settled, settled).await;
    }

    /// Where each branch listens.
    pub fn addresses(&self) -> BTreeMap<BranchId, SocketAddr> {
        self.branches
            .iter()
            .map(|(id, branch)| (*id, branch.addr))
            .collect()
    }

    /// A new client channel to `branch` (a channel to nowhere, whose calls fail, if the cluster
    /// has no such branch).
    pub fn channel(&self, branch: BranchId) -> Result<Channel, Error> {
        let addr = self
            .branches
            .get(&branch)
            .map_or(SocketAddr::new(self.config.host, 0), |branch| branch.addr);
        net::tcp_channel(addr, Caller::Customer, &self.config.timeouts)
    }

    /// How many request/reply exchanges the branches have served so far: one per unary call
    /// (a customer's request, a ping) and one per propagation received on a stream.
    pub fn exchanges_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// How many times the branches have waited for a customer's write so far.
    pub fn waits(&self) -> u64 {
        self.branches
            .values()
            .map(|branch| lock(&branch.state).waits())
            .sum()
    }

    /// How many events the branches have recorded so far (kept or not).
    pub fn event_count(&self) -> u64 {
        self.branches
            .values()
            .map(|branch| lock(&branch.state).event_count())
            .sum()
    }

    /// Runs `customers` against their branches, one after another or all at once as the
    /// schedule says, and returns each customer's log. Every customer's branch is one of the
    /// cluster's: a [`Scenario`] guarantees it, and a customer of no branch is skipped.
    pub async fn run_customers(&self, customers: &[CustomerSpec]) -> Result<CustomerLogs, Error> {
        let channels: BTreeMap<BranchId, Channel> = self
            .branches
            .iter()
            .map(|(id, branch)| (*id, branch.customer.clone()))
            .collect();
        let runner = customer::Customers {
            table: &self.table,
            model: self.config.model,
            schedule: self.config.schedule,
            recording: self.config.recording,
            deadline: self.config.timeouts.customer,
            ask_again: false,
        };
        runner.run(customers, &channels, &self.customers_done).await
    }

    /// The history so far of a run of `scenario`: every branch's events, and the customers'
    /// events as their logs hold them.
    pub fn history(&self, mut customers: CustomerLogs, scenario: &Scenario) -> History {
        let events = self
            .table
            .processes()
            .iter()
            .map(|process| match process {
                Process::Branch(id) => self
                    .branches
                    .get(id)
                    .map(|branch| lock(&branch.state).events().to_vec())
                    .unwrap_or_default(),
                Process::Customer(id) => customers
                    .remove(id)
                    .map(|log| log.events)
                    .unwrap_or_default(),
            })
            .collect();
        History {
            model: self.config.model,
            schedule: self.config.schedule,
            table: self.table.clone(),
            initial_balance: Some(scenario.initial_balance()),
            events,
            faults: Vec::new(),
            source: None,
            roaming: scenario.visits.roaming(),
            propagation: self.config.propagation,
            guarantees: self.config.guarantees,
        }
    }

    /// Every branch's balance now.
    pub fn balances(&self) -> BTreeMap<BranchId, i64> {
        self.branches
            .iter()
            .map(|(id, branch)| (*id, lock(&branch.state).balance()))
            .collect()
    }

    /// Stops every server gracefully and waits for each to finish, its links with it.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop.cancel();
        for branch in self.branches.into_values() {
            branch.server.await??;
        }
        Ok(())
    }
}
