//! A running cluster: starts one gRPC server per branch, runs the customers against them,
//! collects every branch's log and balance, and shuts every server down gracefully.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

use crate::branch::peers::Peers;
use crate::branch::service::{BranchService, SharedState};
use crate::branch::state::BranchState;
use crate::check::{self, Balances, Violation};
use crate::customer;
use crate::error::Error;
use crate::input::{CustomerSpec, Scenario};
use crate::model::{BranchId, ClockModel, CustomerId, Schedule};
use crate::trace::{BranchRecord, CustomerRecord, Trace};

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
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            model: ClockModel::default(),
            schedule: Schedule::default(),
            host: DEFAULT_HOST,
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
    /// Every branch's and customer's recorded events.
    pub trace: Trace,
    /// The invariants of SPEC section 5 that the run broke; empty when all hold.
    pub violations: Vec<Violation>,
}

/// Starts the cluster for `scenario`, runs every customer, shuts the cluster down and checks the
/// trace.
pub async fn run(scenario: &Scenario, config: RunConfig) -> Result<Report, Error> {
    let cluster = Cluster::start(scenario, config).await?;
    let customers = cluster.run_customers(&scenario.customers).await;
    let branches = cluster.logs();
    let finals = cluster.balances();
    let addresses = cluster.addresses();
    cluster.shutdown().await?;
    let trace = Trace {
        model: config.model,
        branches,
        customers: customers?,
    };
    let balances = Balances {
        initial: scenario.initial_balance(),
        finals,
    };
    let violations = check::check(&trace, Some(&balances));
    Ok(Report {
        config,
        addresses,
        balances,
        trace,
        violations,
    })
}

/// One branch's server, running.
#[derive(Debug)]
struct RunningBranch {
    addr: SocketAddr,
    state: SharedState,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// The branches of a scenario, each serving on its own port.
#[derive(Debug)]
pub struct Cluster {
    config: RunConfig,
    branches: BTreeMap<BranchId, RunningBranch>,
    stop: watch::Sender<bool>,
}

impl Cluster {
    /// Binds a listener for every branch, connects every branch to its peers (lazily: a
    /// connection is made on first use and then reused) and starts every server.
    pub async fn start(scenario: &Scenario, config: RunConfig) -> Result<Self, Error> {
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
            channels.insert(*id, channel_to(*addr)?);
        }
        let (stop, stopped) = watch::channel(false);
        let mut branches = BTreeMap::new();
        for branch in &scenario.branches {
            let Some((addr, incoming)) = listeners.remove(&branch.id) else {
                unreachable!("a listener was bound for every branch above");
            };
            let state = Arc::new(Mutex::new(BranchState::new(branch.id, branch.balance)));
            let peers = Peers::new(
                channels
                    .iter()
                    .filter(|(peer, _)| **peer != branch.id)
                    .map(|(peer, channel)| (*peer, channel.clone())),
            );
            let service = BranchService::new(branch.id, state.clone(), peers, config.schedule);
            let mut stopped = stopped.clone();
            let server = tokio::spawn(async move {
                Server::builder()
                    .add_service(service.into_server())
                    .serve_with_incoming_shutdown(incoming, async move {
                        // An error means the cluster was dropped: stop too.
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
            });
            tracing::debug!(branch = branch.id.0, %addr, "branch listening");
            branches.insert(
                branch.id,
                RunningBranch {
                    addr,
                    state,
                    server,
                },
            );
        }
        Ok(Self {
            config,
            branches,
            stop,
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
        channel_to(branch.addr).ok()
    }

    /// Runs `customers` against their branches, one after another or all at once as the
    /// schedule says, and returns each customer's records.
    pub async fn run_customers(
        &self,
        customers: &[CustomerSpec],
    ) -> Result<BTreeMap<CustomerId, Vec<CustomerRecord>>, Error> {
        let mut records = BTreeMap::new();
        match self.config.schedule {
            Schedule::Sequential => {
                for spec in customers {
                    records.insert(spec.id, self.run_customer(spec).await?);
                }
            }
            Schedule::Concurrent => {
                let runs = customers.iter().map(|spec| self.run_customer(spec));
                for (spec, result) in customers.iter().zip(join_all(runs).await) {
                    records.insert(spec.id, result?);
                }
            }
        }
        Ok(records)
    }

    async fn run_customer(&self, spec: &CustomerSpec) -> Result<Vec<CustomerRecord>, Error> {
        let home = spec.id.home_branch();
        let channel = self
            .branches
            .get(&home)
            .map(|branch| channel_to(branch.addr))
            .transpose()?
            .ok_or(Error::Malformed(format!(
                "customer {} has no branch",
                spec.id.0
            )))?;
        customer::run(spec, channel, self.config.model).await
    }

    /// Every branch's log so far.
    pub fn logs(&self) -> BTreeMap<BranchId, Vec<BranchRecord>> {
        self.branches
            .iter()
            .map(|(id, branch)| (*id, lock(&branch.state).log().to_vec()))
            .collect()
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
        // Sending fails only if every server has already stopped, which is what we want.
        let _ = self.stop.send(true);
        for (id, branch) in self.branches {
            branch
                .server
                .await?
                .map_err(|source| Error::Serve { branch: id, source })?;
        }
        Ok(())
    }
}

fn lock(state: &SharedState) -> std::sync::MutexGuard<'_, BranchState> {
    // Every BranchState method updates the state in one go after its checks, so a lock poisoned
    // by a panic elsewhere still guards a consistent state.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A lazily connected channel to the server at `addr`.
fn channel_to(addr: SocketAddr) -> Result<Channel, Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|error| Error::Malformed(format!("address {addr}: {error}")))?;
    Ok(endpoint.connect_lazy())
}
