//! A running cluster: starts one gRPC server per branch, runs the customers against them,
//! collects every branch's log and balance, and shuts every server down gracefully.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

use crate::branch::peers::Peers;
use crate::branch::service::{BranchConfig, BranchService, SharedState, lock};
use crate::branch::state::BranchState;
use crate::check::{self, Balances, Violation};
use crate::customer;
use crate::error::Error;
use crate::history::{History, ProcessTable, TraceEvent};
use crate::input::{CustomerSpec, Scenario};
use crate::model::{BranchId, ClockModel, CustomerId, Process, Schedule};
use crate::net::{self, Caller, Timeouts};
use crate::recorder::{Recorder, Recording};
use crate::trace::Trace;

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
    /// What every process keeps of its history: everything, except in benchmarks.
    pub recording: Recording,
    /// Deadlines, keepalive and backoff.
    pub timeouts: Timeouts,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            model: ClockModel::default(),
            schedule: Schedule::default(),
            host: DEFAULT_HOST,
            recording: Recording::FULL,
            timeouts: Timeouts::REAL,
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// How the run was carried out.
    pub config: RunConfig,
    /// Where each branch listened.
    pub addresses: BTreeMap<BranchId, SocketAddr>,
    /// The initial balance and each branch's final balance.
    pub balances: Balances,
    /// Every event of every process, with its clocks and messages.
    pub history: History,
    /// The branch logs and customer records derived from the history.
    pub trace: Trace,
    /// The invariants of SPEC section 5 that the run broke; empty when all hold.
    pub violations: Vec<Violation>,
}

/// Starts the cluster for `scenario`, runs every customer, shuts the cluster down and checks the
/// trace.
pub async fn run(scenario: &Scenario, config: RunConfig) -> Result<Report, Error> {
    let cluster = Cluster::start(scenario, config).await?;
    let customers = cluster.run_customers(&scenario.customers).await;
    let finals = cluster.balances();
    let addresses = cluster.addresses();
    let history = cluster.history(customers, Some(scenario.initial_balance()));
    cluster.shutdown().await?;
    let history = history?;
    let trace = history.to_trace();
    let balances = Balances {
        initial: scenario.initial_balance(),
        finals,
    };
    let violations = check::check(&trace, Some(&balances));
    Ok(Report {
        config,
        addresses,
        balances,
        history,
        trace,
        violations,
    })
}

/// One branch's server, running.
#[derive(Debug)]
struct RunningBranch {
    addr: SocketAddr,
    /// The channel its customer (the one with the branch's id) calls it over: made once, so
    /// that a warm-up connects the very channel a later run uses.
    customer: Channel,
    state: SharedState,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// The branches of a scenario, each serving on its own port.
#[derive(Debug)]
pub struct Cluster {
    config: RunConfig,
    table: ProcessTable,
    branches: BTreeMap<BranchId, RunningBranch>,
    /// Cancelled to stop every branch: its links close their streams, and its server, which
    /// waits for the streams to end, can then finish.
    stop: CancellationToken,
    /// Stops everything if the cluster is dropped without [`Cluster::shutdown`].
    _stop_on_drop: DropGuard,
    /// The exchanges every branch has served (see [`Cluster::exchanges_served`]).
    served: Arc<AtomicU64>,
}

/// Each customer's events, and how long each of its requests took (in order), as returned by
/// [`Cluster::run_customers_timed`].
pub type TimedRecords = BTreeMap<CustomerId, (Vec<TraceEvent>, Vec<Duration>)>;

/// One customer's run against its branch, owning all it needs (so that it can be a task).
struct CustomerRun {
    spec: CustomerSpec,
    channel: Channel,
    model: ClockModel,
    recorder: Recorder,
    deadline: Duration,
}

impl CustomerRun {
    /// Runs every event of the customer; returns its events and, if `timed`, how long each
    /// request took as the customer saw it.
    async fn go(self, timed: bool) -> Result<(Vec<TraceEvent>, Vec<Duration>), Error> {
        let Self {
            spec,
            channel,
            model,
            recorder,
            deadline,
        } = self;
        if timed {
            let mut latencies = Vec::with_capacity(spec.events.len());
            let events =
                customer::run_timed(&spec, channel, model, recorder, deadline, &mut latencies)
                    .await?;
            Ok((events, latencies))
        } else {
            Ok((
                customer::run(&spec, channel, model, recorder, deadline).await?,
                Vec::new(),
            ))
        }
    }
}

impl Cluster {
    /// Binds a listener for every branch, connects every branch to its peers (lazily: a
    /// connection is made on first use and then reused) and starts every server.
    pub async fn start(scenario: &Scenario, config: RunConfig) -> Result<Self, Error> {
        let table = process_table(scenario);
        let mut listeners = BTreeMap::new();
        for branch in &scenario.branches {
            let addr = SocketAddr::new(config.host, 0);
            let listen_error = |source: std::io::Error| Error::Listen {
                addr,
                source: source.into(),
            };
            // serve_with_incoming ignores Server::tcp_nodelay: without this, Nagle's algorithm
            // stalls small replies by 40 ms.
            let incoming = TcpIncoming::bind(addr)
                .map_err(listen_error)?
                .with_nodelay(Some(true));
            let local = incoming.local_addr().map_err(listen_error)?;
            listeners.insert(branch.id, (local, incoming));
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
        let mut branches = BTreeMap::new();
        for branch in &scenario.branches {
            let Some((addr, incoming)) = listeners.remove(&branch.id) else {
                unreachable!("a listener was bound for every branch above");
            };
            let recorder = recorder_for(&table, Process::Branch(branch.id), config.recording);
            let state = BranchState::new(branch.id, branch.balance, recorder);
            let state = Arc::new(Mutex::new(state));
            let branch_config = BranchConfig {
                schedule: config.schedule,
                timeouts: config.timeouts,
                stop: stop.clone(),
                served: served.clone(),
                ..BranchConfig::default()
            };
            let peers = Peers::connect(
                branch.id,
                channels
                    .iter()
                    .filter(|(peer, _)| **peer != branch.id)
                    .map(|(peer, channel)| (*peer, channel.clone())),
                &branch_config,
            );
            let service = BranchService::new(branch.id, state.clone(), peers, branch_config);
            let stopped = stop.clone();
            let server = tokio::spawn(async move {
                net::server()
                    .add_service(service.into_server())
                    .serve_with_incoming_shutdown(incoming, stopped.cancelled_owned())
                    .await
            });
            tracing::debug!(branch = branch.id.0, %addr, "branch listening");
            branches.insert(
                branch.id,
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
        })
    }

    /// Where each branch listens.
    pub fn addresses(&self) -> BTreeMap<BranchId, SocketAddr> {
        self.branches
            .iter()
            .map(|(id, branch)| (*id, branch.addr))
            .collect()
    }

    /// A new client channel to `branch`, or `None` if there is no such branch.
    pub fn channel(&self, branch: BranchId) -> Option<Channel> {
        let branch = self.branches.get(&branch)?;
        net::tcp_channel(branch.addr, Caller::Customer, &self.config.timeouts).ok()
    }

    /// How many request/reply exchanges the branches have served so far: one per unary call
    /// (a customer's request, a ping) and one per propagation received on a stream.
    pub fn exchanges_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// How many events the branches have recorded so far (kept or not).
    pub fn event_count(&self) -> u64 {
        self.branches
            .values()
            .map(|branch| lock(&branch.state).event_count())
            .sum()
    }

    /// Runs `customers` against their branches, one after another or all at once as the
    /// schedule says, and returns each customer's events.
    pub async fn run_customers(
        &self,
        customers: &[CustomerSpec],
    ) -> Result<BTreeMap<CustomerId, Vec<TraceEvent>>, Error> {
        let records = self.run_all(customers, false).await?;
        Ok(records
            .into_iter()
            .map(|(id, (events, _))| (id, events))
            .collect())
    }

    /// [`Cluster::run_customers`], also timing every request as its customer saw it.
    pub async fn run_customers_timed(
        &self,
        customers: &[CustomerSpec],
    ) -> Result<TimedRecords, Error> {
        self.run_all(customers, true).await
    }

    async fn run_all(
        &self,
        customers: &[CustomerSpec],
        timed: bool,
    ) -> Result<TimedRecords, Error> {
        let mut records = BTreeMap::new();
        match self.config.schedule {
            Schedule::Sequential => {
                for spec in customers {
                    records.insert(spec.id, self.customer_run(spec)?.go(timed).await?);
                }
            }
            Schedule::Concurrent => {
                // Each customer is a task of its own, so that customers run on the runtime's
                // worker threads beside the branches rather than all on the caller's thread:
                // a reply then wakes its customer on the same worker, not across threads.
                // Dropping the set (on the first failure) stops the other customers.
                let mut tasks = JoinSet::new();
                for spec in customers {
                    let (id, run) = (spec.id, self.customer_run(spec)?);
                    tasks.spawn(async move { (id, run.go(timed).await) });
                }
                while let Some(done) = tasks.join_next().await {
                    let (id, result) = done?;
                    records.insert(id, result?);
                }
            }
        }
        Ok(records)
    }

    /// Everything customer `spec` needs to run on its own.
    fn customer_run(&self, spec: &CustomerSpec) -> Result<CustomerRun, Error> {
        let home = spec.id.home_branch();
        let channel = self
            .branches
            .get(&home)
            .map(|branch| branch.customer.clone())
            .ok_or(Error::Malformed(format!(
                "customer {} has no branch",
                spec.id.0
            )))?;
        Ok(CustomerRun {
            spec: spec.clone(),
            channel,
            model: self.config.model,
            recorder: recorder_for(
                &self.table,
                Process::Customer(spec.id),
                self.config.recording,
            ),
            deadline: self.config.timeouts.customer,
        })
    }

    /// The history so far: every branch's events, and the customers' events as returned by
    /// [`Cluster::run_customers`].
    pub fn history(
        &self,
        customers: Result<BTreeMap<CustomerId, Vec<TraceEvent>>, Error>,
        initial_balance: Option<i64>,
    ) -> Result<History, Error> {
        let mut customers = customers?;
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
                Process::Customer(id) => customers.remove(id).unwrap_or_default(),
            })
            .collect();
        Ok(History {
            model: self.config.model,
            schedule: self.config.schedule,
            table: self.table.clone(),
            initial_balance,
            events,
            faults: Vec::new(),
            source: None,
        })
    }

    /// Every branch's balance now.
    pub fn balances(&self) -> BTreeMap<BranchId, i64> {
        self.branches
            .iter()
            .map(|(id, branch)| (*id, lock(&branch.state).balance()))
            .collect()
    }

    /// Stops every server gracefully and waits for each to finish.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop.cancel();
        for (id, branch) in self.branches {
            branch
                .server
                .await?
                .map_err(|source| Error::Serve { branch: id, source })?;
        }
        Ok(())
    }
}

/// The processes of `scenario`: every branch and every customer.
pub fn process_table(scenario: &Scenario) -> ProcessTable {
    let branches = scenario
        .branches
        .iter()
        .map(|branch| Process::Branch(branch.id));
    let customers = scenario
        .customers
        .iter()
        .map(|customer| Process::Customer(customer.id));
    ProcessTable::new(branches.chain(customers))
}

/// A recorder for `process`, which `table` holds.
pub fn recorder_for(table: &ProcessTable, process: Process, recording: Recording) -> Recorder {
    // Every process of the run is in the table: it was built from the same scenario.
    let index = table.index_of(process).unwrap_or_default();
    Recorder::new(process, index, table.len(), recording)
}
