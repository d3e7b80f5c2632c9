//! Deterministic simulation: the same branch and customer code as a real run, over turmoil's
//! simulated network and clock, with faults planned from a seed. The same input, seed and
//! build give the same history, byte for byte, so any run can be replayed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit::{self, Finding};
use crate::branch::peers::Peers;
use crate::branch::service::{BranchConfig, BranchService, SharedState, lock};
use crate::branch::state::BranchState;
use crate::check::{self, Balances};
use crate::cluster::{Report, RunConfig, process_table, recorder_for};
use crate::customer;
use crate::error::Error;
use crate::faults::{Bug, FaultLog, Injector};
use crate::history::{Fault, History, TraceEvent};
use crate::input::Scenario;
use crate::model::{BranchId, ClockModel, CustomerId, Process, Schedule};
use crate::net::{Caller, Timeouts};
use crate::recorder::Recording;
use crate::simnet::{self, BRANCH_PORT};
use crate::trace::Outcome;
use crate::workload::{self, SplitMix64, WorkloadSpec};

/// Timeouts scaled to the simulated network: short, so that faults are noticed and healed
/// within a few simulated seconds.
pub const SIM_TIMEOUTS: Timeouts = Timeouts {
    propagation: Duration::from_millis(500),
    customer: Duration::from_secs(120),
    keepalive: Duration::from_millis(300),
    first_backoff: Duration::from_millis(20),
    max_backoff: Duration::from_secs(1),
};

/// How long a simulation may run (simulated time) before it counts as stuck.
pub const SIM_LIMIT: Duration = Duration::from_secs(600);

/// How often, per thousand propagations, a branch delivers one twice when duplicates are on.
pub const DUPLICATE_PER_MILLE: u64 = 250;

/// Which faults a simulation injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultSet {
    /// Message latency from 1 to 40 ms instead of a constant 1 ms.
    pub latency: bool,
    /// Hosts run in a random order every step, so messages and events interleave differently.
    pub reorder: bool,
    /// A two-way partition between two branches, which heals.
    pub partition: bool,
    /// A one-way partition between two branches, which heals.
    pub oneway: bool,
    /// Messages between two branches held for a while, then released.
    pub hold: bool,
    /// A branch paused (every link of it held), then resumed.
    pub pause: bool,
    /// Some propagations delivered twice.
    pub duplicate: bool,
}

/// The names `--faults` accepts, in order.
pub const FAULT_NAMES: [&str; 7] = [
    "latency",
    "reorder",
    "partition",
    "oneway",
    "hold",
    "pause",
    "duplicate",
];

impl FaultSet {
    /// Every fault.
    pub const ALL: FaultSet = FaultSet {
        latency: true,
        reorder: true,
        partition: true,
        oneway: true,
        hold: true,
        pause: true,
        duplicate: true,
    };

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "latency" => &mut self.latency,
            "reorder" => &mut self.reorder,
            "partition" => &mut self.partition,
            "oneway" => &mut self.oneway,
            "hold" => &mut self.hold,
            "pause" => &mut self.pause,
            "duplicate" => &mut self.duplicate,
            _ => return None,
        })
    }

    /// Parses `all`, `none`, or a comma-separated list of [`FAULT_NAMES`].
    pub fn parse(list: &str) -> Result<FaultSet, String> {
        match list.trim() {
            "all" => return Ok(FaultSet::ALL),
            "none" | "" => return Ok(FaultSet::default()),
            _ => {}
        }
        let mut set = FaultSet::default();
        for name in list.split(',').map(str::trim) {
            let flag = set.flag(name).ok_or_else(|| {
                format!(
                    "unknown fault {name:?} (expected all, none, or some of {})",
                    FAULT_NAMES.join(", ")
                )
            })?;
            *flag = true;
        }
        Ok(set)
    }

    fn enabled(&self) -> Vec<&'static str> {
        let mut copy = *self;
        FAULT_NAMES
            .into_iter()
            .filter(|name| copy.flag(name).is_some_and(|on| *on))
            .collect()
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enabled = self.enabled();
        if enabled.len() == FAULT_NAMES.len() {
            f.write_str("all")
        } else if enabled.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&enabled.join(","))
        }
    }
}

/// How one simulation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimConfig {
    /// The seed of everything random: the network, the fault plan, the duplicates.
    pub seed: u64,
    /// Which faults to inject.
    pub faults: FaultSet,
    /// The clock model.
    pub model: ClockModel,
    /// Customers one after another, or all at once.
    pub schedule: Schedule,
    /// A deliberately broken rule (tests of the sweep only).
    pub bug: Option<Bug>,
}

/// What a simulation produced and whether it kept its promises.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// The run's report, as a real run gives it (no addresses: hosts are simulated); its
    /// violations are the safety verdict.
    pub run: Report,
    /// The trace's own rules (vector clocks, message links, the clock condition) that the
    /// history broke, as `check` would report them on its trace file.
    pub trace_findings: Vec<Finding>,
    /// Liveness: what kept a customer from finishing, if anything.
    pub stuck: Vec<String>,
    /// Simulated time the run took, in milliseconds.
    pub simulated_ms: u64,
}

impl SimReport {
    /// Whether the run kept every promise: safe and live.
    pub fn passed(&self) -> bool {
        self.run.violations.is_empty() && self.trace_findings.is_empty() && self.stuck.is_empty()
    }

    /// How many faults were injected or met (partitions, holds, retries, duplicates...).
    pub fn fault_count(&self) -> usize {
        self.run.history.faults.len()
    }

    /// Every reason the run failed, safety first: empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let safety = self.run.violations.iter().map(ToString::to_string);
        let trace = self.trace_findings.iter().map(ToString::to_string);
        safety
            .chain(trace)
            .chain(self.stuck.iter().cloned())
            .collect()
    }
}

/// The command that replays one simulation: `input` is the input file, `None` for a
/// generated workload.
pub fn replay_command(input: Option<&str>, config: &SimConfig) -> String {
    let mut command = String::from("lamport-bank simulate");
    if let Some(input) = input {
        command.push(' ');
        command.push_str(input);
    }
    command.push_str(&format!(
        " --seed {} --faults {}",
        config.seed, config.faults
    ));
    if config.model == ClockModel::Strict {
        command.push_str(" --clocks strict");
    }
    if config.schedule == Schedule::Concurrent {
        command.push_str(" --concurrent");
    }
    command
}

/// What a sweep over many seeds found.
#[derive(Debug, Clone, Default)]
pub struct SweepSummary {
    /// How many seeds ran.
    pub seeds: u64,
    /// The seeds that failed, each with its reasons.
    pub failures: Vec<(u64, Vec<String>)>,
    /// Faults injected or met over all seeds.
    pub faults: usize,
    /// Simulated time over all seeds, in milliseconds.
    pub simulated_ms: u64,
}

/// Simulates every seed of `seeds` (the input, or a generated workload per seed), calling
/// `progress` after each; a run that cannot even start counts as a failure.
pub fn sweep(
    input: Option<&Scenario>,
    seeds: std::ops::RangeInclusive<u64>,
    base: SimConfig,
    mut progress: impl FnMut(u64, bool),
) -> SweepSummary {
    let mut summary = SweepSummary::default();
    for seed in seeds {
        let config = SimConfig { seed, ..base };
        let generated;
        let scenario = match input {
            Some(scenario) => scenario,
            None => {
                generated = sweep_workload(seed);
                &generated
            }
        };
        summary.seeds += 1;
        let passed = match simulate(scenario, &config) {
            Ok(report) => {
                summary.faults += report.fault_count();
                summary.simulated_ms += report.simulated_ms;
                let problems = report.problems();
                let passed = problems.is_empty();
                if !passed {
                    summary.failures.push((seed, problems));
                }
                passed
            }
            Err(error) => {
                summary.failures.push((seed, vec![error.to_string()]));
                false
            }
        };
        progress(seed, passed);
    }
    summary
}

/// The workload a sweep generates for `seed` when no input is given: 2 to 4 branches, five
/// operations per customer, small balances so that some withdrawals are rejected.
pub fn sweep_workload(seed: u64) -> Scenario {
    let branches = 2 + (seed % 3) as u32;
    let spec = WorkloadSpec {
        branches: (1..=branches).collect(),
        ops_per_customer: 5,
        initial_balance: 40,
    };
    workload::generate(seed, &spec)
}

fn host(process: Process) -> String {
    match process {
        Process::Branch(id) => format!("b{}", id.0),
        Process::Customer(id) => format!("c{}", id.0),
    }
}

/// A fault the driver applies to the simulated network at a given time.
#[derive(Debug, Clone)]
struct Planned {
    at: Duration,
    fault: Fault,
}

/// Plans the network faults of a run from `seed`: each enabled kind once, one after another in
/// its own window of time, every one undone before the next starts.
fn plan(seed: u64, faults: FaultSet, scenario: &Scenario) -> Vec<Planned> {
    let mut rng = SplitMix64::new(seed ^ 0x5EED_FA17);
    let branches: Vec<BranchId> = scenario.branches.iter().map(|b| b.id).collect();
    let mut planned = Vec::new();
    if branches.len() < 2 {
        return planned;
    }
    // Early, so that even a short run meets its faults.
    let mut start = Duration::from_millis(5 + rng.below(50));
    let pair = |rng: &mut SplitMix64| {
        let a = rng.below(branches.len() as u64) as usize;
        let b = (a + 1 + rng.below(branches.len() as u64 - 1) as usize) % branches.len();
        (
            Process::Branch(branches[a]),
            Process::Branch(branches[b]),
            branches[a],
        )
    };
    let kinds = [
        (faults.partition, 0),
        (faults.oneway, 1),
        (faults.hold, 2),
        (faults.pause, 3),
    ];
    for (on, kind) in kinds {
        if !on {
            continue;
        }
        let (from, to, branch) = pair(&mut rng);
        let length = Duration::from_millis(200 + rng.below(1800));
        let (begin, end) = match kind {
            0 | 1 => {
                let both_ways = kind == 0;
                (
                    Fault::Partition {
                        from,
                        to,
                        both_ways,
                    },
                    Fault::Heal {
                        from,
                        to,
                        both_ways,
                    },
                )
            }
            2 => (Fault::Hold { from, to }, Fault::Release { from, to }),
            _ => (Fault::Pause { branch }, Fault::Resume { branch }),
        };
        planned.push(Planned {
            at: start,
            fault: begin,
        });
        planned.push(Planned {
            at: start + length,
            fault: end,
        });
        start += length + Duration::from_millis(50 + rng.below(300));
    }
    planned
}

/// Applies a planned fault to the simulated network.
fn apply(sim: &turmoil::Sim<'_>, fault: &Fault, everyone: &[String]) {
    match fault {
        Fault::Partition {
            from,
            to,
            both_ways: true,
        } => sim.partition(host(*from), host(*to)),
        Fault::Partition { from, to, .. } => sim.partition_oneway(host(*from), host(*to)),
        Fault::Heal {
            from,
            to,
            both_ways: true,
        } => sim.repair(host(*from), host(*to)),
        Fault::Heal { from, to, .. } => sim.repair_oneway(host(*from), host(*to)),
        Fault::Hold { from, to } => sim.hold(host(*from), host(*to)),
        Fault::Release { from, to } => sim.release(host(*from), host(*to)),
        Fault::Pause { branch } | Fault::Resume { branch } => {
            let paused = host(Process::Branch(*branch));
            for other in everyone.iter().filter(|other| **other != paused) {
                if matches!(fault, Fault::Pause { .. }) {
                    sim.hold(paused.as_str(), other.as_str());
                } else {
                    sim.release(paused.as_str(), other.as_str());
                }
            }
        }
        Fault::Retry { .. } | Fault::Duplicate { .. } => {}
    }
}

/// Runs `scenario` over the simulated network as `config` says, and checks the result.
pub fn simulate(scenario: &Scenario, config: &SimConfig) -> Result<SimReport, Error> {
    let table = process_table(scenario);
    let log = FaultLog::new();
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(config.seed)
        .simulation_duration(SIM_LIMIT)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(if config.faults.latency {
            40
        } else {
            1
        }));
    if config.faults.reorder {
        builder.enable_random_order();
    }
    let mut sim = builder.build();

    let mut states: BTreeMap<BranchId, SharedState> = BTreeMap::new();
    for branch in &scenario.branches {
        let recorder = recorder_for(&table, Process::Branch(branch.id), Recording::FULL);
        let state = BranchState::new(branch.id, branch.balance, recorder).with_bug(config.bug);
        states.insert(branch.id, Arc::new(Mutex::new(state)));
    }
    let branch_ids: Vec<BranchId> = states.keys().copied().collect();
    for (&id, state) in &states {
        let state = state.clone();
        let peers = branch_ids.clone();
        let branch_config = BranchConfig {
            schedule: config.schedule,
            timeouts: SIM_TIMEOUTS,
            faults: Some(log.clone()),
            injector: config
                .faults
                .duplicate
                .then(|| Injector::duplicating(DUPLICATE_PER_MILLE, config.seed ^ u64::from(id.0))),
            ..BranchConfig::default()
        };
        sim.host(host(Process::Branch(id)), move || {
            let state = state.clone();
            let peers = peers.clone();
            let branch_config = branch_config.clone();
            async move {
                // Channels are made inside the host: tonic spawns their workers here.
                let mut channels = Vec::new();
                for peer in peers.into_iter().filter(|peer| *peer != id) {
                    let name = host(Process::Branch(peer));
                    let channel = simnet::channel(
                        &name,
                        BRANCH_PORT,
                        Caller::Branch,
                        &branch_config.timeouts,
                    )?;
                    channels.push((peer, channel));
                }
                let peers = Peers::connect(id, channels, &branch_config);
                let service = BranchService::new(id, state, peers, branch_config);
                let incoming = simnet::incoming(BRANCH_PORT).await?;
                crate::net::server()
                    .add_service(service.into_server())
                    .serve_with_incoming(incoming)
                    .await?;
                Ok(())
            }
        });
    }

    type Finished = Rc<RefCell<BTreeMap<CustomerId, Result<Vec<TraceEvent>, String>>>>;
    let finished: Finished = Rc::default();
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    for spec in &scenario.customers {
        let spec = spec.clone();
        let recorder = recorder_for(&table, Process::Customer(spec.id), Recording::FULL);
        let finished = finished.clone();
        let model = config.model;
        let (done, next) = tokio::sync::oneshot::channel();
        // Sequential: each customer waits for the one before it.
        let wait_for = match config.schedule {
            Schedule::Sequential => previous.replace(next),
            Schedule::Concurrent => None,
        };
        sim.client(host(Process::Customer(spec.id)), async move {
            if let Some(before) = wait_for {
                // An error means the previous customer's host is gone: go on regardless.
                let _ = before.await;
            }
            let branch = host(Process::Branch(spec.id.home_branch()));
            let outcome =
                match simnet::channel(&branch, BRANCH_PORT, Caller::Customer, &SIM_TIMEOUTS) {
                    Ok(channel) => {
                        customer::run(&spec, channel, model, recorder, SIM_TIMEOUTS.customer)
                            .await
                            .map_err(|error| error.to_string())
                    }
                    Err(error) => Err(error.to_string()),
                };
            finished.borrow_mut().insert(spec.id, outcome);
            let _ = done.send(());
            Ok(())
        });
    }

    let everyone: Vec<String> = table.processes().iter().map(|p| host(*p)).collect();
    let mut planned = plan(config.seed, config.faults, scenario)
        .into_iter()
        .peekable();
    let mut stuck = Vec::new();
    loop {
        let now = sim.elapsed();
        while let Some(next) = planned.next_if(|next| next.at <= now) {
            apply(&sim, &next.fault, &everyone);
            log.note_at(now, next.fault);
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                stuck.push(format!("the simulation stopped: {error}"));
                break;
            }
        }
    }
    let simulated_ms = u64::try_from(sim.elapsed().as_millis()).unwrap_or(u64::MAX);

    let mut customers = BTreeMap::new();
    for spec in &scenario.customers {
        match finished.borrow_mut().remove(&spec.id) {
            Some(Ok(events)) => {
                customers.insert(spec.id, events);
            }
            Some(Err(error)) => stuck.push(format!("customer {}: {error}", spec.id.0)),
            None => stuck.push(format!("customer {} did not finish", spec.id.0)),
        }
    }
    let events = table
        .processes()
        .iter()
        .map(|process| match process {
            Process::Branch(id) => states
                .get(id)
                .map(|state| lock(state).events().to_vec())
                .unwrap_or_default(),
            Process::Customer(id) => customers.remove(id).unwrap_or_default(),
        })
        .collect();
    let mut faults = log.records();
    faults.sort_by_key(|record| record.at_ms);
    let history = History {
        model: config.model,
        schedule: config.schedule,
        table,
        initial_balance: Some(scenario.initial_balance()),
        events,
        faults,
        source: None,
    };
    let trace = history.to_trace();
    for (customer, records) in &trace.customers {
        let expected = scenario
            .customers
            .iter()
            .find(|spec| spec.id == *customer)
            .map_or(0, |spec| spec.events.len());
        let indeterminate = records
            .iter()
            .filter(|record| record.outcome == Outcome::Indeterminate)
            .count();
        if indeterminate > 0 {
            stuck.push(format!(
                "customer {}: {indeterminate} request(s) got no reply in time",
                customer.0
            ));
        }
        if records.len() != expected {
            stuck.push(format!(
                "customer {}: {} of {expected} requests answered",
                customer.0,
                records.len()
            ));
        }
    }
    let finals = states
        .iter()
        .map(|(id, state)| (*id, lock(state).balance()))
        .collect();
    let balances = Balances {
        initial: scenario.initial_balance(),
        finals,
    };
    let violations = check::check(&trace, Some(&balances));
    // The SPEC section 5 findings are the violations above; keep the trace's own rules.
    let trace_findings = audit::audit_history(&history)
        .findings
        .into_iter()
        .filter(|finding| !matches!(finding.rule, audit::Rule::Spec(_)))
        .collect();
    let run = Report {
        config: RunConfig {
            model: config.model,
            schedule: config.schedule,
            timeouts: SIM_TIMEOUTS,
            ..RunConfig::default()
        },
        addresses: BTreeMap::new(),
        balances,
        history,
        trace,
        violations,
    };
    Ok(SimReport {
        run,
        trace_findings,
        stuck,
        simulated_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_parse_and_print() {
        assert_eq!(FaultSet::parse("all"), Ok(FaultSet::ALL));
        assert_eq!(FaultSet::parse("none"), Ok(FaultSet::default()));
        let set = FaultSet::parse("partition, duplicate").expect("valid");
        assert!(set.partition && set.duplicate && !set.hold);
        assert_eq!(set.to_string(), "partition,duplicate");
        assert_eq!(FaultSet::ALL.to_string(), "all");
        assert_eq!(
            FaultSet::parse("fire"),
            Err(
                "unknown fault \"fire\" (expected all, none, or some of latency, reorder, \
                 partition, oneway, hold, pause, duplicate)"
                    .to_string()
            )
        );
    }

    #[test]
    fn the_plan_undoes_every_fault_it_makes() {
        let scenario = sweep_workload(4);
        let planned = plan(4, FaultSet::ALL, &scenario);
        assert_eq!(planned.len(), 8, "four kinds, each made and undone");
        for window in planned.windows(2) {
            assert!(window[0].at <= window[1].at, "in time order");
        }
        assert!(matches!(planned[7].fault, Fault::Resume { .. }));
    }
}
