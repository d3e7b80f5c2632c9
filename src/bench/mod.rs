//! `lamport-bank bench`: seeded workloads through the real gRPC cluster, measured against the
//! limit of plain gRPC calls on the same machine, in the same process, a moment before.
//!
//! For each number of branches and each schedule, a workload from [`workload::generate`] (one
//! customer per branch, a seeded mix of deposits, withdraws and queries) runs on a fresh
//! [`Cluster`]. What is measured, over the customer phase only (the cluster is already up, and
//! warmed up by [`workload::warm_up`], so that its connections and streams are open):
//!
//! - **operations per second**: every customer request (deposits, withdraws and queries), divided
//!   by the wall time from the first request to the last reply;
//! - **latency** per operation as its customer saw it, from just before the rpc to its reply
//!   (p50, p99, max);
//! - **exchanges per operation**, counted by the branches: a request and its reply, whether a
//!   unary call (a customer's) or one propagation and its acknowledgement on a branch-to-branch
//!   stream. One per query or rejected withdraw, `n` per accepted change with `n` branches (the
//!   customer's call and `n − 1` propagations);
//! - **Lamport events per second**: the branches' events (counted by their recorders) and the
//!   customers' (one send and one receive per operation);
//! - **peak memory** of the whole process while that configuration ran (see [`memory`]);
//! - **the ratio** `ops/s × k ÷ limit`, k being the exchanges per operation and the limit the
//!   sequential caller's calls/s for the sequential schedule (every call waits for the one
//!   before) and the concurrent callers' for the concurrent schedule: the work done, counted as
//!   if every exchange were a plain unary call. 1.0 would mean the simulator does its exchanges
//!   as fast as plain unary calls go; propagations ride long-lived streams, which cost less than
//!   a call each, so the ratio can pass 1. The limit is measured at the start, and
//!   again just before each configuration, which is compared with that fresh measurement: on
//!   a machine shared with other work, the limit moves by a factor of two or more within
//!   minutes, and a ratio against a limit measured in other conditions means little.
//!
//! Benchmarks keep Lamport clocks only ([`RECORDING`]: no vector clocks, no history), so that
//! memory measures the system, not a trace of millions of events.
//!
//! With [`BenchConfig::with_processes`], every configuration also runs, right after the
//! in-process cluster and against the same limit, on a cluster of `serve` processes on
//! loopback ([`processes`]), once in memory and once with `--data`: the same seeded workload,
//! warmed up the same way, run by the same customers as `run --cluster` (a
//! [`Session`]), so that the rows tell what a process boundary
//! and durability cost. There the exchanges and events are counted from the branches' logs
//! (Collect), the CPU time is the children's and this process's (the customers') together,
//! and the memory is the sum of the children's peaks.
//!
//! [`plot`] draws the rows as an SVG plot (`bench --svg FILE`): throughput and latency against
//! the number of branches, each schedule against its limit.

pub mod cpu;
pub mod latency;
pub mod limit;
pub mod memory;
pub mod plot;
pub mod processes;

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Cluster, RunConfig};
use crate::error::Error;
use crate::model::{
    Action, BranchId, ClockModel, EventId, PropagationMode, Schedule, SessionGuarantees, Step,
};
use crate::remote::run::{RemoteError, Session};
use crate::scenario::Scenario;
use crate::scenario::workload::{self, DEFAULT_INITIAL_BALANCE, WorkloadSpec};
use crate::trace::{EventKind, Recording};

use latency::Percentiles;
use limit::Limit;
use processes::{ProcessError, Processes, Storage};

/// The numbers of branches benchmarked unless told otherwise.
pub const DEFAULT_BRANCHES: [u32; 3] = [4, 16, 64];
/// Operations per customer unless told otherwise.
pub const DEFAULT_OPS: usize = 100;
/// The workload seed unless told otherwise.
pub const DEFAULT_SEED: u64 = 1;
/// How many callers the concurrent limit uses unless told otherwise (each a task; all share one
/// channel).
pub const CONCURRENT_CALLERS: usize = 64;
/// How long each of the two limit measurements runs unless told otherwise.
pub const DEFAULT_LIMIT_TIME: Duration = Duration::from_secs(1);
/// What benchmark runs record: Lamport clocks only, no vector clocks and no history.
pub const RECORDING: Recording = Recording {
    vectors: false,
    events: false,
};
/// Events a customer records per operation: its send and its receive.
const CUSTOMER_EVENTS_PER_OP: u64 = 2;

/// What to benchmark; valid by construction ([`BenchConfig::new`] refuses the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchConfig {
    branches: Vec<u32>,
    ops_per_customer: usize,
    schedules: Vec<Schedule>,
    model: ClockModel,
    seed: u64,
    limit_time: Duration,
    callers: usize,
    /// The `lamport-bank` binary to start as `serve` processes, if the clusters of processes
    /// are measured too.
    serve_binary: Option<PathBuf>,
    /// When changes are answered: after their propagation, or before (then the customers go
    /// from branch to branch, and the session guarantees have something to do).
    propagation: PropagationMode,
    /// Whether branches enforce the session guarantees.
    guarantees: SessionGuarantees,
}

/// Where a configuration's branches run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deployment {
    /// Every branch a server in this process (a [`Cluster`]).
    InProcess,
    /// Every branch a `serve` process of its own on loopback, its state in memory.
    Processes,
    /// The same with `serve --data`: every step committed to SQLite and fsynced before what
    /// depends on it leaves the branch.
    ProcessesData,
}

impl Deployment {
    /// Its name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Deployment::InProcess => "in-process",
            Deployment::Processes => "processes",
            Deployment::ProcessesData => "processes+data",
        }
    }

    /// Where a cluster of processes keeps its state; `None` in process.
    fn storage(self) -> Option<Storage> {
        match self {
            Deployment::InProcess => None,
            Deployment::Processes => Some(Storage::Memory),
            Deployment::ProcessesData => Some(Storage::Data),
        }
    }
}

/// The most branches one configuration may have.
pub const MAX_BRANCHES: u32 = 100_000;
/// The most concurrent callers the limit may use.
pub const MAX_CALLERS: usize = 10_000;
/// The longest a limit measurement may run.
pub const MAX_LIMIT_TIME: Duration = Duration::from_secs(3600);

/// A benchmark that cannot be run as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadBenchConfig {
    /// No number of branches, or one out of range.
    #[error("--branches: every number must be from 1 to {MAX_BRANCHES}, and one at least given")]
    Branches,
    /// No operations.
    #[error("--ops: must be a positive whole number")]
    Ops,
    /// No schedule.
    #[error("no schedule to run")]
    Schedules,
    /// A limit measurement of no time, or too long.
    #[error("--limit-time: must be above 0 and at most {} seconds", MAX_LIMIT_TIME.as_secs())]
    LimitTime,
    /// No callers, or too many.
    #[error("--callers: must be from 1 to {MAX_CALLERS}")]
    Callers,
    /// Asynchronous propagation on clusters of `serve` processes, which propagate synchronously.
    #[error(
        "--processes: branches served on their own propagate synchronously; leave out \
         --propagation async"
    )]
    ProcessesAsync,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            branches: DEFAULT_BRANCHES.to_vec(),
            ops_per_customer: DEFAULT_OPS,
            schedules: vec![Schedule::Sequential, Schedule::Concurrent],
            model: ClockModel::default(),
            seed: DEFAULT_SEED,
            limit_time: DEFAULT_LIMIT_TIME,
            callers: CONCURRENT_CALLERS,
            serve_binary: None,
            propagation: PropagationMode::default(),
            guarantees: SessionGuarantees::default(),
        }
    }
}

impl BenchConfig {
    /// A benchmark of each number of `branches` (one customer each, `ops_per_customer`
    /// operations each) under each of `schedules` (each once, in the order given), against a
    /// limit measured for `limit_time` with `callers` concurrent callers.
    pub fn new(
        branches: Vec<u32>,
        ops_per_customer: usize,
        schedules: Vec<Schedule>,
        model: ClockModel,
        seed: u64,
        limit_time: Duration,
        callers: usize,
    ) -> Result<Self, BadBenchConfig> {
        if branches.is_empty() || branches.iter().any(|&n| !(1..=MAX_BRANCHES).contains(&n)) {
            return Err(BadBenchConfig::Branches);
        }
        if ops_per_customer == 0 {
            return Err(BadBenchConfig::Ops);
        }
        let mut unique = Vec::new();
        for schedule in schedules {
            if !unique.contains(&schedule) {
                unique.push(schedule);
            }
        }
        if unique.is_empty() {
            return Err(BadBenchConfig::Schedules);
        }
        if limit_time.is_zero() || limit_time > MAX_LIMIT_TIME {
            return Err(BadBenchConfig::LimitTime);
        }
        if !(1..=MAX_CALLERS).contains(&callers) {
            return Err(BadBenchConfig::Callers);
        }
        Ok(Self {
            branches,
            ops_per_customer,
            schedules: unique,
            model,
            seed,
            limit_time,
            callers,
            serve_binary: None,
            propagation: PropagationMode::default(),
            guarantees: SessionGuarantees::default(),
        })
    }

    /// The same benchmark with changes answered as `propagation` says, the branches enforcing
    /// the session guarantees or not. Refused for clusters of processes with asynchronous
    /// propagation.
    pub fn with_propagation(
        mut self,
        propagation: PropagationMode,
        guarantees: SessionGuarantees,
    ) -> Result<Self, BadBenchConfig> {
        if propagation == PropagationMode::Async && self.serve_binary.is_some() {
            return Err(BadBenchConfig::ProcessesAsync);
        }
        self.propagation = propagation;
        self.guarantees = guarantees;
        Ok(self)
    }

    /// When changes are answered.
    pub fn propagation(&self) -> PropagationMode {
        self.propagation
    }

    /// Whether the branches enforce the session guarantees.
    pub fn guarantees(&self) -> SessionGuarantees {
        self.guarantees
    }

    /// The same benchmark, each configuration also run on clusters of `serve` processes
    /// started from `binary` (the `lamport-bank` binary): in memory, and with `--data`.
    pub fn with_processes(mut self, binary: PathBuf) -> Self {
        self.serve_binary = Some(binary);
        self
    }

    /// Where each configuration runs, in the order run: in process, then (if asked) on
    /// clusters of processes.
    pub fn deployments(&self) -> Vec<Deployment> {
        if self.serve_binary.is_some() {
            vec![
                Deployment::InProcess,
                Deployment::Processes,
                Deployment::ProcessesData,
            ]
        } else {
            vec![Deployment::InProcess]
        }
    }

    /// The numbers of branches, one configuration each.
    pub fn branches(&self) -> &[u32] {
        &self.branches
    }

    /// Operations per customer.
    pub fn ops_per_customer(&self) -> usize {
        self.ops_per_customer
    }

    /// The schedules, each run for every number of branches.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The clock model.
    pub fn model(&self) -> ClockModel {
        self.model
    }

    /// The workload seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many workload runs the benchmark makes.
    pub fn run_count(&self) -> usize {
        self.branches.len() * self.schedules.len() * self.deployments().len()
    }

    /// The workload of one configuration: one customer per branch, a seeded mix; with
    /// asynchronous propagation, each request at a branch drawn from the seed.
    pub fn workload(&self, branches: u32) -> Scenario {
        let spec = WorkloadSpec {
            branches: (1..=branches).collect(),
            ops_per_customer: self.ops_per_customer,
            initial_balance: DEFAULT_INITIAL_BALANCE,
        };
        let scenario = workload::generate(self.seed, &spec);
        match self.propagation {
            PropagationMode::Sync => scenario,
            PropagationMode::Async => workload::roaming(scenario, self.seed),
        }
    }
}

/// The schedules to run when only the sequential one, only the concurrent one, or (neither or
/// both asked) both are asked for.
pub fn schedules(sequential: bool, concurrent: bool) -> Vec<Schedule> {
    match (sequential, concurrent) {
        (true, false) => vec![Schedule::Sequential],
        (false, true) => vec![Schedule::Concurrent],
        _ => vec![Schedule::Sequential, Schedule::Concurrent],
    }
}

/// What the benchmark is doing now, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Measuring the limit.
    Limit,
    /// Running workload `index` (from 0) of `total`.
    Run {
        /// Which run, from 0.
        index: usize,
        /// How many runs in all.
        total: usize,
        /// Its number of branches.
        branches: u32,
        /// Its schedule.
        schedule: Schedule,
        /// Where its branches run.
        deployment: Deployment,
    },
}

/// How many operations of each kind a workload has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// Deposits.
    pub deposits: u64,
    /// Withdraws.
    pub withdraws: u64,
    /// Queries.
    pub queries: u64,
}

impl Mix {
    /// Counts the operations of `scenario`.
    pub fn of(scenario: &Scenario) -> Self {
        let mut mix = Mix::default();
        for event in scenario.customers.iter().flat_map(|c| &c.events) {
            match event.action {
                Action::Deposit(_) => mix.deposits += 1,
                Action::Withdraw(_) => mix.withdraws += 1,
                Action::Query => mix.queries += 1,
            }
        }
        mix
    }

    /// All operations.
    pub fn total(&self) -> u64 {
        self.deposits + self.withdraws + self.queries
    }
}

/// One configuration's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// How many branches (and customers).
    pub branches: u32,
    /// The schedule.
    pub schedule: Schedule,
    /// Where the branches ran.
    pub deployment: Deployment,
    /// The operations run.
    pub mix: Mix,
    /// Wall time of the customer phase.
    pub elapsed: Duration,
    /// Per-operation latency as the customers saw it.
    pub latency: Percentiles,
    /// Exchanges the branches served during the customer phase (unary calls, and propagations
    /// received on streams).
    pub exchanges: u64,
    /// Lamport events recorded during the customer phase, by branches and customers.
    pub events: u64,
    /// Peak resident memory of the process during this configuration, in KiB (`None` if the
    /// system does not say); on a cluster of processes, the sum of the branches' processes'
    /// peaks (the customers, in this process, not counted).
    pub peak_kib: Option<u64>,
    /// Whether the peak was reset before this configuration (otherwise it is the process's
    /// peak so far).
    pub peak_reset: bool,
    /// The limit this configuration is compared with (measured just before it), in calls per
    /// second.
    pub limit: f64,
    /// CPU time of the whole process during the customer phase (and, on a cluster of
    /// processes, of every branch's process).
    pub cpu: Option<Duration>,
    /// The limit's CPU time per call (for the same schedule).
    pub limit_cpu: Option<Duration>,
    /// Whether every replica held the same balance at the end.
    pub replicas_agree: bool,
    /// How many times a branch waited for a customer's earlier write before serving a request
    /// or applying a propagation (asynchronous propagation only).
    pub waits: u64,
}

impl Measurement {
    /// Operations per second of the customer phase.
    pub fn ops_per_s(&self) -> f64 {
        per_second(self.mix.total(), self.elapsed)
    }

    /// Exchanges per operation (k).
    pub fn exchanges_per_op(&self) -> f64 {
        self.exchanges as f64 / self.mix.total().max(1) as f64
    }

    /// Lamport events per second of the customer phase.
    pub fn events_per_s(&self) -> f64 {
        per_second(self.events, self.elapsed)
    }

    /// `ops/s × k ÷ limit`: the share of the limit this configuration reached.
    pub fn ratio(&self) -> f64 {
        if self.limit > 0.0 {
            self.ops_per_s() * self.exchanges_per_op() / self.limit
        } else {
            0.0
        }
    }

    /// CPU time per exchange (both ends, and the customers' share).
    pub fn cpu_per_exchange(&self) -> Option<Duration> {
        limit::per_call(Some(Duration::ZERO), self.cpu, self.exchanges)
    }

    /// The limit's CPU time per call divided by this run's: the ratio, counted in CPU time
    /// rather than wall time, so that it hardly depends on what else the machine runs.
    pub fn cpu_ratio(&self) -> Option<f64> {
        let run = self.cpu_per_exchange()?.as_secs_f64();
        let limit = self.limit_cpu?.as_secs_f64();
        (run > 0.0).then(|| limit / run)
    }

    /// Peak memory per branch, in KiB.
    pub fn peak_kib_per_branch(&self) -> Option<f64> {
        self.peak_kib
            .map(|kib| kib as f64 / f64::from(self.branches.max(1)))
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A whole benchmark: what was asked, the limit, and each configuration's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// What was benchmarked.
    pub config: BenchConfig,
    /// The machine's core count, as the OS reports it.
    pub cores: usize,
    /// The limit measured at the start (each configuration also has its own, measured just
    /// before it); `None` if the benchmark was stopped before it was measured.
    pub limit: Option<Limit>,
    /// One measurement per configuration, in the order run.
    pub runs: Vec<Measurement>,
    /// Whether the benchmark was stopped before its last configuration.
    pub stopped: bool,
}

impl BenchReport {
    fn stopped(mut self) -> Self {
        self.stopped = true;
        self
    }

    /// Whether every configuration ended with every replica holding the same balance.
    pub fn replicas_agree(&self) -> bool {
        self.runs.iter().all(|run| run.replicas_agree)
    }
}

/// What the benchmark tells its caller as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// It starts a stage.
    Starting(Stage),
    /// The limit at the start is measured.
    Limit(&'a Limit),
    /// One configuration is measured.
    Measured(&'a Measurement),
}

/// Why a benchmark could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An in-process cluster, or the limit's, failed.
    #[error(transparent)]
    Run(#[from] Error),
    /// A cluster of processes could not be started or stopped.
    #[error(transparent)]
    Processes(#[from] ProcessError),
    /// A run on a cluster of processes failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

/// Runs the benchmark: measures the limit, then every configuration in turn (for each number of
/// branches, each schedule: the limit again, then each deployment), telling `events` what it
/// starts and what it measured as it goes. Once `stop` resolves, the configuration in progress
/// is abandoned (its processes, if any, stopped) and the report holds what was measured before
/// it.
pub async fn run(
    config: &BenchConfig,
    events: &mut (dyn FnMut(Event<'_>) + Send),
    stop: impl Future<Output = ()>,
) -> Result<BenchReport, BenchError> {
    tokio::pin!(stop);
    let mut report = BenchReport {
        config: config.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        limit: None,
        runs: Vec::with_capacity(config.run_count()),
        stopped: false,
    };
    events(Event::Starting(Stage::Limit));
    let limit = tokio::select! {
        biased;
        () = &mut stop => return Ok(report.stopped()),
        limit = limit::measure(config.limit_time, config.callers) => limit?,
    };
    events(Event::Limit(&limit));
    report.limit = Some(limit);
    let total = config.run_count();
    let deployments = config.deployments();
    for &branches in &config.branches {
        for &schedule in &config.schedules {
            let mut limit = None;
            for &deployment in &deployments {
                events(Event::Starting(Stage::Run {
                    index: report.runs.len(),
                    total,
                    branches,
                    schedule,
                    deployment,
                }));
                // One limit for the deployments of a configuration, measured just before the
                // first: their rows compare with each other and with the same limit.
                let against = match limit {
                    Some(against) => against,
                    None => {
                        let measured = tokio::select! {
                            biased;
                            () = &mut stop => return Ok(report.stopped()),
                            measured = limit::measure(config.limit_time, config.callers) => measured?,
                        };
                        let against = match schedule {
                            Schedule::Sequential => (measured.sequential, measured.sequential_cpu),
                            Schedule::Concurrent => (measured.concurrent, measured.concurrent_cpu),
                        };
                        *limit.insert(against)
                    }
                };
                let measurement = match (deployment.storage(), &config.serve_binary) {
                    (Some(storage), Some(binary)) => {
                        let measured = measure_processes(
                            config,
                            (binary, storage),
                            (branches, schedule, deployment),
                            against,
                            stop.as_mut(),
                        )
                        .await?;
                        match measured {
                            Some(measurement) => measurement,
                            None => return Ok(report.stopped()),
                        }
                    }
                    _ => tokio::select! {
                        biased;
                        () = &mut stop => return Ok(report.stopped()),
                        measurement = measure(config, branches, schedule, against) => measurement?,
                    },
                };
                events(Event::Measured(&measurement));
                report.runs.push(measurement);
            }
        }
    }
    Ok(report)
}

/// Runs one configuration on a fresh cluster and measures it.
async fn measure(
    config: &BenchConfig,
    branches: u32,
    schedule: Schedule,
    (limit, limit_cpu): (f64, Option<Duration>),
) -> Result<Measurement, Error> {
    let scenario = config.workload(branches);
    let mix = Mix::of(&scenario);
    let peak_reset = memory::reset_peak();
    let run = RunConfig {
        model: config.model,
        schedule,
        recording: RECORDING,
        propagation: config.propagation,
        guarantees: config.guarantees,
        ..RunConfig::default()
    };
    let cluster = Cluster::start(&scenario, run).await?;
    // Like the limit's warm-up calls: connections and streams are made before timing starts.
    cluster.run_customers(&workload::warm_up(&scenario)).await?;
    cluster.settled().await;
    let (exchanges, events, waits) = (
        cluster.exchanges_served(),
        cluster.event_count(),
        cluster.waits(),
    );
    let cpu_before = cpu::used();
    let started = Instant::now();
    let logs = cluster.run_customers(&scenario.customers).await;
    // Changes answered before they were propagated count once every branch has them.
    cluster.settled().await;
    let elapsed = started.elapsed();
    let cpu = cpu::used()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let exchanges = cluster.exchanges_served() - exchanges;
    let events = cluster.event_count() - events + CUSTOMER_EVENTS_PER_OP * mix.total();
    let waits = cluster.waits() - waits;
    let balances = cluster.balances();
    cluster.shutdown().await?;
    let mut latencies: Vec<Duration> = logs?.into_values().flat_map(|log| log.latencies).collect();
    Ok(Measurement {
        branches,
        schedule,
        deployment: Deployment::InProcess,
        mix,
        elapsed,
        latency: Percentiles::of(&mut latencies),
        exchanges,
        events,
        peak_kib: memory::peak_kib(),
        peak_reset,
        limit,
        cpu,
        limit_cpu,
        replicas_agree: all_equal(balances.values()),
        waits,
    })
}

fn all_equal<'a>(mut balances: impl Iterator<Item = &'a i64>) -> bool {
    let first = balances.next();
    balances.all(|balance| Some(balance) == first)
}

/// Runs one configuration on a new cluster of `serve` processes of `binary` and measures it,
/// then stops every process, whatever happened: `None` if `stop` resolved first.
async fn measure_processes<S: Future<Output = ()>>(
    config: &BenchConfig,
    (binary, storage): (&Path, Storage),
    what: (u32, Schedule, Deployment),
    limit: (f64, Option<Duration>),
    stop: Pin<&mut S>,
) -> Result<Option<Measurement>, BenchError> {
    let scenario = config.workload(what.0);
    let ids: Vec<BranchId> = scenario.branches.iter().map(|branch| branch.id).collect();
    let mut on = Processes::new(
        binary,
        &ids,
        scenario.initial_balance(),
        config.model,
        storage,
    )?;
    let measured = tokio::select! {
        biased;
        () = stop => None,
        measured = measure_on(config, &scenario, &mut on, what, limit) => Some(measured),
    };
    let stopped = on.stop().await;
    let measurement = measured.transpose()?;
    stopped?;
    Ok(measurement)
}

/// Starts the processes of `on`, warms them up, runs `scenario` and measures it.
async fn measure_on(
    config: &BenchConfig,
    scenario: &Scenario,
    on: &mut Processes,
    (branches, schedule, deployment): (u32, Schedule, Deployment),
    (limit, limit_cpu): (f64, Option<Duration>),
) -> Result<Measurement, BenchError> {
    let mix = Mix::of(scenario);
    on.start().await?;
    let run = RunConfig {
        model: config.model,
        schedule,
        recording: RECORDING,
        ..RunConfig::default()
    };
    let mut session = Session::begin(on.cluster(), scenario, run, None).await?;
    // As in process: every connection and stream is made before timing starts.
    session.run_customers(&workload::warm_up(scenario)).await?;
    let cpu_of = |on: &Processes| {
        cpu::used()
            .zip(on.cpu())
            .map(|(ours, theirs)| ours + theirs)
    };
    let cpu_before = cpu_of(on);
    let started = Instant::now();
    let logs = session.run_customers(&scenario.customers).await?;
    let elapsed = started.elapsed();
    let cpu = cpu_of(on)
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let peak_kib = on.peak_kib();
    let collected = session.collect().await?;
    // The workload's events only: the warm-up's event ids come after the workload's.
    let last = scenario
        .customers
        .iter()
        .flat_map(|customer| customer.events.iter().map(|event| event.id))
        .max()
        .unwrap_or(EventId(0));
    let timed = collected
        .branch_events
        .values()
        .flatten()
        .filter(|event| event.event_id <= last);
    let (mut branch_events, mut propagations) = (0, 0);
    for event in timed {
        branch_events += 1;
        if matches!(event.kind, EventKind::Branch(sub) if sub.step == Step::PropagateRequest) {
            propagations += 1;
        }
    }
    let mut latencies: Vec<Duration> = logs.into_values().flat_map(|log| log.latencies).collect();
    Ok(Measurement {
        branches,
        schedule,
        deployment,
        mix,
        elapsed,
        latency: Percentiles::of(&mut latencies),
        // A customer's call each, and one per propagation a branch received.
        exchanges: mix.total() + propagations,
        events: branch_events + CUSTOMER_EVENTS_PER_OP * mix.total(),
        peak_kib,
        // Each process is new, so its peak is this configuration's.
        peak_reset: true,
        limit,
        cpu,
        limit_cpu,
        replicas_agree: all_equal(collected.finals.values()),
        // Branches served on their own propagate synchronously: nothing is waited for.
        waits: 0,
    })
}

impl BenchReport {
    /// The machine-readable results (`bench --json`).
    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self.runs.iter().map(run_json).collect();
        let config = &self.config;
        json!({
            "seed": config.seed,
            "clocks": config.model.name(),
            "propagation": config.propagation.name(),
            "session_guarantees": config.guarantees.name(),
            "ops_per_customer": config.ops_per_customer,
            "initial_balance": DEFAULT_INITIAL_BALANCE,
            "recording": { "vectors": RECORDING.vectors, "events": RECORDING.events },
            "cores": self.cores,
            "limit": self.limit.as_ref().map(|limit| json!({
                "sequential_calls_per_s": round(limit.sequential),
                "sequential_latency_us": latency_json(&limit.sequential_latency),
                "concurrent_calls_per_s": round(limit.concurrent),
                "concurrent_callers": limit.callers,
                "sequential_cpu_us_per_call": limit.sequential_cpu.map(micros),
                "concurrent_cpu_us_per_call": limit.concurrent_cpu.map(micros),
                "seconds_each": limit.duration.as_secs_f64(),
            })),
            "clusters": config.deployments().iter().map(|d| d.name()).collect::<Vec<_>>(),
            "runs": runs,
            "stopped": self.stopped,
        })
    }

    /// The person-facing table, with a header that says what was measured and how: the
    /// [`BenchReport::head`], a [`row`] per configuration and the [`BenchReport::foot`].
    pub fn table(&self) -> String {
        let mut text = self.head();
        for run in &self.runs {
            text.push_str(&row(run));
        }
        text.push_str(&self.foot());
        text
    }

    /// What the table says before its rows: what was measured and how, the limit at the
    /// start, and the column names.
    pub fn head(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_head(&mut text);
        text
    }

    fn write_head(&self, out: &mut String) -> std::fmt::Result {
        let config = &self.config;
        writeln!(
            out,
            "Benchmark: seed {}, clocks {}, {} operations per customer (45 % deposits, 45 % \
             withdraws, 10 % queries), {} cores",
            config.seed,
            config.model.name(),
            config.ops_per_customer,
            self.cores
        )?;
        if config.propagation == PropagationMode::Async {
            writeln!(
                out,
                "Propagation: async, session guarantees {} (each change answered right after \
                 its execute and propagated in the background; every request goes to a branch \
                 drawn from the seed, so that customers move; latency is what customers see, \
                 and ops/s counts until every change has reached every branch)",
                config.guarantees.name()
            )?;
        }
        writeln!(
            out,
            "Recording: Lamport clocks only (no vector clocks, no history kept), so memory \
             measures the system, not a trace"
        )?;
        if let Some(limit) = &self.limit {
            writeln!(
                out,
                "Limit at the start (no-op Ping on this build, in this process, {:.1} s each; \
                 measured again before each configuration, which is compared with that): 1 \
                 sequential caller {} calls/s (p50 {} µs, CPU {} µs/call); {} concurrent \
                 callers {} calls/s (CPU {} µs/call)",
                limit.duration.as_secs_f64(),
                thousands(limit.sequential),
                limit.sequential_latency.p50.as_micros(),
                cpu_micros(limit.sequential_cpu),
                limit.callers,
                thousands(limit.concurrent),
                cpu_micros(limit.concurrent_cpu)
            )?;
        }
        if config.serve_binary.is_some() {
            writeln!(
                out,
                "Clusters: in-process (every branch a server in this process); processes (every \
                 branch a `serve` process on loopback, state in memory); processes+data (the same \
                 with --data: each step committed to SQLite and fsynced before what depends on it \
                 leaves the branch). The same workload and warm-up on each, against the same limit"
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:>8}  {:<10}  {:<14}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>9}  {:>8}  {:>10}  {:>5}  {:>7}  {:>11}  {:>9}  {:>6}",
            "branches",
            "schedule",
            "cluster",
            "ops",
            "ops/s",
            "p50 µs",
            "p99 µs",
            "max µs",
            "exch/op",
            "events/s",
            "peak MiB",
            "MiB/branch",
            "ratio",
            "limit/s",
            "CPU µs/exch",
            "CPU ratio",
            "waits"
        )
    }

    /// What the table says after its rows: how the ratios and the memory are reckoned, and
    /// whether the benchmark was stopped or a run's replicas disagreed.
    pub fn foot(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_foot(&mut text);
        text
    }

    fn write_foot(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out)?;
        writeln!(
            out,
            "ratio = ops/s × exch/op ÷ limit/s (the limit measured just before the run: the \
             sequential caller's for the sequential schedule, the concurrent callers' for the \
             concurrent one); an exchange is a request and its reply: a unary call, or a \
             propagation and its acknowledgement on a branch-to-branch stream"
        )?;
        writeln!(
            out,
            "CPU ratio = the limit's CPU time per call ÷ the run's per exchange (process CPU time, \
             both ends of every exchange): the same comparison in CPU time, which depends much less on what else \
             the machine runs"
        )?;
        if self.runs.iter().any(|run| !run.peak_reset) {
            writeln!(
                out,
                "peak memory: the kernel refused to reset the peak, so each is the process's \
                 peak so far"
            )?;
        } else {
            writeln!(
                out,
                "peak memory: the whole process's VmHWM, reset before each configuration"
            )?;
        }
        if self.config.serve_binary.is_some() {
            writeln!(
                out,
                "processes: peak memory is the sum of the serve processes' VmHWM (the customers, \
                 in this process, not counted); CPU is theirs and this process's; exchanges and \
                 events are counted from the branches' logs; a serve process records every event \
                 with vector clocks (for Collect), the in-process cluster Lamport clocks only"
            )?;
        }
        if !self.replicas_agree() {
            writeln!(out, "WARNING: some run ended with replicas that disagree")?;
        }
        if self.stopped {
            writeln!(
                out,
                "stopped: {} of {} configurations measured",
                self.runs.len(),
                self.config.run_count()
            )?;
        }
        Ok(())
    }
}

/// One configuration's line of the table.
pub fn row(run: &Measurement) -> String {
    format!(
        "{:>8}  {:<10}  {:<14}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8.2}  {:>9}  {:>8}  {:>10}  {:>5.2}  {:>7}  {:>11}  {:>9}  {:>6}\n",
        run.branches,
        run.schedule.name(),
        run.deployment.name(),
        run.mix.total(),
        thousands(run.ops_per_s()),
        run.latency.p50.as_micros(),
        run.latency.p99.as_micros(),
        run.latency.max.as_micros(),
        run.exchanges_per_op(),
        thousands(run.events_per_s()),
        run.peak_kib
            .map_or("-".to_string(), |kib| format!("{:.1}", kib as f64 / 1024.0)),
        run.peak_kib_per_branch()
            .map_or("-".to_string(), |kib| format!("{:.2}", kib / 1024.0)),
        run.ratio(),
        thousands(run.limit),
        cpu_micros(run.cpu_per_exchange()),
        run.cpu_ratio()
            .map_or("-".to_string(), |ratio| format!("{ratio:.2}")),
        run.waits
    )
}

fn run_json(run: &Measurement) -> Value {
    json!({
        "branches": run.branches,
        "schedule": run.schedule.name(),
        "cluster": run.deployment.name(),
        "operations": run.mix.total(),
        "deposits": run.mix.deposits,
        "withdraws": run.mix.withdraws,
        "queries": run.mix.queries,
        "seconds": run.elapsed.as_secs_f64(),
        "ops_per_s": round(run.ops_per_s()),
        "latency_us": latency_json(&run.latency),
        "exchanges": run.exchanges,
        "exchanges_per_op": round(run.exchanges_per_op()),
        "events": run.events,
        "events_per_s": round(run.events_per_s()),
        "peak_memory_kib": run.peak_kib,
        "peak_memory_kib_per_branch": run.peak_kib_per_branch().map(round),
        "peak_memory_reset": run.peak_reset,
        "limit_calls_per_s": round(run.limit),
        "ratio": (run.ratio() * 1000.0).round() / 1000.0,
        "cpu_seconds": run.cpu.map(|cpu| cpu.as_secs_f64()),
        "cpu_us_per_exchange": run.cpu_per_exchange().map(micros),
        "limit_cpu_us_per_call": run.limit_cpu.map(micros),
        "cpu_ratio": run.cpu_ratio().map(|ratio| (ratio * 1000.0).round() / 1000.0),
        "replicas_agree": run.replicas_agree,
        "waits": run.waits,
    })
}

fn latency_json(latency: &Percentiles) -> Value {
    json!({
        "p50": micros(latency.p50),
        "p99": micros(latency.p99),
        "max": micros(latency.max),
    })
}

fn cpu_micros(cpu: Option<Duration>) -> String {
    cpu.map_or("-".to_string(), |cpu| {
        format!("{:.1}", cpu.as_secs_f64() * 1e6)
    })
}

fn micros(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e7).round() / 10.0
}

/// Two decimals are plenty for rates and counts per operation.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A rate as a whole number with thousands separators: `12,345`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut text = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates_groups_of_three() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1_234_567.49), "1,234,567");
    }

    #[test]
    fn the_ratio_compares_exchanges_per_second_with_the_limit() {
        let run = Measurement {
            branches: 4,
            schedule: Schedule::Sequential,
            deployment: Deployment::InProcess,
            mix: Mix {
                deposits: 45,
                withdraws: 45,
                queries: 10,
            },
            elapsed: Duration::from_secs(2),
            latency: Percentiles::default(),
            exchanges: 370,
            events: 1000,
            peak_kib: Some(8192),
            peak_reset: true,
            limit: 370.0,
            cpu: Some(Duration::from_millis(37)),
            limit_cpu: Some(Duration::from_micros(50)),
            replicas_agree: true,
            waits: 0,
        };
        assert_eq!(run.ops_per_s(), 50.0);
        assert_eq!(run.exchanges_per_op(), 3.7);
        assert_eq!(run.events_per_s(), 500.0);
        assert!((run.ratio() - 0.5).abs() < 1e-12);
        assert_eq!(run.peak_kib_per_branch(), Some(2048.0));
        assert_eq!(run.cpu_per_exchange(), Some(Duration::from_micros(100)));
        assert_eq!(run.cpu_ratio(), Some(0.5));
    }
}
