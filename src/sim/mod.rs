//! Deterministic simulation: the same branch and customer code as a real run, over turmoil's
//! simulated network and clock ([`net`]), with faults planned from a seed ([`plan`]), one seed
//! or a [`sweep`] of many. The same input, seed and build give the same history, byte for
//! byte, so any run can be replayed.
//!
//! With the `crash` fault, every branch is a durable one, as `serve --data` makes it: it
//! remembers its customers' requests, and journals every step to a memory store that the
//! simulation holds outside the branch's host, with the same commit points as the SQLite store.
//! A crashed host loses everything else; when it restarts, the branch replays what it had
//! committed and finishes what it had begun, and its customer, whose call broke, asks again.

pub mod net;
pub mod plan;
pub mod sweep;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::branch::inject::{Bug, Injector};
use crate::branch::journal::memory::MemoryStore;
use crate::branch::state::BranchState;
use crate::branch::{self, BranchConfig, SharedState, lock};
use crate::customer::{self, CustomerLog};
use crate::error::Error;
use crate::model::{
    BranchId, ClockModel, CustomerId, Process, PropagationMode, Schedule, SessionGuarantees,
};
use crate::net::{Caller, Timeouts};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::trace::{Fault, FaultLog, History, Outcome, ProcessTable, Recorder, Recording};
use net::BRANCH_PORT;
use plan::{CrashPlan, FaultSet, host};

/// Timeouts scaled to the simulated network: short, so that faults are noticed and healed
/// within a few simulated seconds.
pub const SIM_TIMEOUTS: Timeouts = Timeouts {
    propagation: Duration::from_millis(500),
    customer: Duration::from_secs(120),
    keepalive: Duration::from_millis(300),
    first_backoff: Duration::from_millis(20),
    max_backoff: Duration::from_secs(1),
    drain: Duration::from_secs(10),
    grace: Duration::from_secs(2),
    silence: None,
};

/// How long a simulation may run (simulated time) before it counts as stuck.
pub const SIM_LIMIT: Duration = Duration::from_secs(600);

/// How often, per thousand propagations, a branch delivers one twice when duplicates are on.
pub const DUPLICATE_PER_MILLE: u64 = 250;

/// How long a branch's memory store takes to commit (its fsync, in simulated time): steps
/// waiting for it are lost if the branch crashes meanwhile.
pub const COMMIT_SYNC: Duration = Duration::from_millis(1);

/// How one simulation runs. Every combination of fields is a valid simulation.
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
    /// Whether a change is answered after it is propagated, or before.
    pub propagation: PropagationMode,
    /// Whether branches enforce their customers' session guarantees.
    pub guarantees: SessionGuarantees,
}

/// What a simulation produced and whether it kept its promises.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// The run's report, assembled and checked as a real run's is (no addresses: hosts are
    /// simulated); its findings are the safety verdict.
    pub run: Report,
    /// Liveness: what kept a customer from finishing, if anything.
    pub stuck: Vec<String>,
    /// Simulated time the run took, in milliseconds.
    pub simulated_ms: u64,
}

impl SimReport {
    /// Whether the run kept every promise: safe and live.
    pub fn passed(&self) -> bool {
        self.run.holds() && self.stuck.is_empty()
    }

    /// How many faults were injected or met (partitions, holds, retries, duplicates...).
    pub fn fault_count(&self) -> usize {
        self.run.history.faults.len()
    }

    /// Every reason the run failed, safety first: empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let safety = self.run.findings.iter().map(ToString::to_string);
        safety.chain(self.stuck.iter().cloned()).collect()
    }
}

/// What each simulated customer finished with, shared between the customer hosts and the
/// driver (all on the simulation's one thread).
type Finished = Rc<RefCell<BTreeMap<CustomerId, Result<CustomerLog, Error>>>>;

/// Runs `scenario` over the simulated network as `config` says, and checks the result.
pub fn simulate(scenario: &Scenario, config: &SimConfig) -> SimReport {
    let table = scenario.process_table();
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

    // Durable branches only when they may crash: otherwise the branches are those of a run in
    // one process, as they always were.
    let durable = config.faults.crash;
    let starts: BTreeMap<BranchId, Start> = scenario
        .branches
        .iter()
        .map(|spec| {
            let start = Start {
                id: spec.id,
                balance: spec.balance,
                table: table.clone(),
                model: config.model,
                bug: config.bug,
                store: durable.then(MemoryStore::new),
            };
            (spec.id, start)
        })
        .collect();
    // Each branch's state, set again by its host's closure (which turmoil calls at once, and
    // again at each restart).
    let states: Branches = starts
        .iter()
        .map(|(&id, start)| (id, Rc::new(RefCell::new(start.state()))))
        .collect();
    let branch_ids: Vec<BranchId> = states.keys().copied().collect();
    for (start, slot) in starts.values().zip(states.values()) {
        let (id, start, slot) = (start.id, start.clone(), slot.clone());
        let peers = branch_ids.clone();
        let branch_config = BranchConfig {
            schedule: config.schedule,
            roaming: scenario.visits.roaming(),
            propagation: config.propagation,
            guarantees: config.guarantees,
            timeouts: SIM_TIMEOUTS,
            faults: Some(log.clone()),
            injector: config
                .faults
                .duplicate
                .then(|| Injector::duplicating(DUPLICATE_PER_MILLE, config.seed ^ u64::from(id.0))),
            ..BranchConfig::default()
        };
        // Called when the host starts, and again each time it restarts after a crash.
        sim.host(host(Process::Branch(id)), move || {
            let state = start.state();
            *slot.borrow_mut() = state.clone();
            let peers = peers.clone();
            let branch_config = branch_config.clone();
            async move {
                // Channels are made inside the host: tonic spawns their workers here.
                let mut channels = Vec::new();
                for peer in peers.into_iter().filter(|peer| *peer != id) {
                    let name = host(Process::Branch(peer));
                    let channel =
                        net::channel(&name, BRANCH_PORT, Caller::Branch, &branch_config.timeouts)?;
                    channels.push((peer, channel));
                }
                let incoming = net::incoming(BRANCH_PORT).await?;
                // A simulated branch serves until the simulation ends with its customers (or
                // its host crashes).
                let forever = std::future::pending();
                let extra = tonic::service::Routes::default();
                branch::serve(id, state, channels, branch_config, extra, incoming, forever).await?;
                Ok(())
            }
        });
    }

    let finished: Finished = Rc::default();
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    for spec in &scenario.customers {
        let spec = spec.clone();
        let recorder = Recorder::in_table(&table, Process::Customer(spec.id), Recording::FULL);
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
            // A crashed host sends nothing (see `Crashing::next`), so a customer of a branch that
            // may crash pings, as a branch does, to notice that its call is gone.
            let caller = if durable {
                Caller::Branch
            } else {
                Caller::Customer
            };
            let channels: Result<BTreeMap<_, _>, _> = spec
                .branches()
                .into_iter()
                .map(|branch| {
                    let name = host(Process::Branch(branch));
                    Ok((
                        branch,
                        net::channel(&name, BRANCH_PORT, caller, &SIM_TIMEOUTS)?,
                    ))
                })
                .collect();
            let outcome = match channels {
                Ok(channels) => {
                    // A customer of a branch that may crash asks again, as against `serve`.
                    customer::run(
                        &spec,
                        &channels,
                        model,
                        recorder,
                        SIM_TIMEOUTS.customer,
                        durable,
                    )
                    .await
                }
                Err(error) => Err(error),
            };
            finished.borrow_mut().insert(spec.id, outcome);
            let _ = done.send(());
            Ok(())
        });
    }

    let everyone: Vec<String> = table.processes().iter().map(|p| host(*p)).collect();
    let mut planned = plan::plan(config.seed, config.faults, scenario)
        .into_iter()
        .peekable();
    let mut crashing = Crashing::Planned(plan::plan_crash(config.seed, config.faults, scenario));
    let mut active: Option<Fault> = None;
    let mut stuck = Vec::new();
    loop {
        let now = sim.elapsed();
        while let Some(next) = planned.next_if(|next| next.at <= now) {
            plan::apply(&sim, &next.fault, &everyone);
            // The plan's network faults never overlap: at most one is in effect.
            active = plan::begins(&next.fault).then(|| next.fault.clone());
            log.note_at(now, next.fault);
        }
        let network = (&everyone[..], active.as_ref());
        if let Some(fault) = crashing.next(&mut sim, now, network, (&starts, &states)) {
            log.note_at(now, fault);
        }
        match sim.step() {
            // Every customer is done; changes answered before they were propagated may still
            // be on their way (or waiting for a crashed branch to come back).
            Ok(true) if crashing.is_down() || !settled(&states) => {
                if sim.elapsed() > SIM_LIMIT {
                    stuck.push(format!(
                        "propagations still unacknowledged after {} s of simulated time",
                        SIM_LIMIT.as_secs()
                    ));
                    break;
                }
            }
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                stuck.push(format!("the simulation stopped: {error}"));
                break;
            }
        }
    }
    let simulated_ms = u64::try_from(sim.elapsed().as_millis()).unwrap_or(u64::MAX);
    // A branch still down when the run ended is what its store would give it back.
    for (id, slot) in &states {
        if !sim.is_host_running(host(Process::Branch(*id)))
            && let Some(start) = starts.get(id)
        {
            *slot.borrow_mut() = start.state();
        }
    }
    let states: BTreeMap<BranchId, SharedState> = states
        .into_iter()
        .map(|(id, slot)| (id, slot.borrow().clone()))
        .collect();

    let mut customers = BTreeMap::new();
    for spec in &scenario.customers {
        match finished.borrow_mut().remove(&spec.id) {
            Some(Ok(customer_log)) => {
                customers.insert(spec.id, customer_log.events);
            }
            Some(Err(error)) => stuck.push(format!("{}: {error}", spec.id)),
            None => stuck.push(format!("{} did not finish", spec.id)),
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
        roaming: scenario.visits.roaming(),
        propagation: config.propagation,
        guarantees: config.guarantees,
    };
    let finals = states
        .iter()
        .map(|(id, state)| (*id, lock(state).balance()))
        .collect();
    let run = Report::assemble(history, scenario.initial_balance(), finals, BTreeMap::new());
    stuck.extend(unanswered(scenario, &run));
    SimReport {
        run,
        stuck,
        simulated_ms,
    }
}

/// The state of each branch's current run of its host, shared with the host's closure, which
/// replaces it when the host restarts.
type Branches = BTreeMap<BranchId, Rc<RefCell<SharedState>>>;

/// Whether every branch has had every change it executed acknowledged by every peer.
fn settled(branches: &Branches) -> bool {
    branches.values().all(|slot| lock(&slot.borrow()).settled())
}

/// Where a run's crash is.
#[derive(Debug)]
enum Crashing {
    /// To come, if planned.
    Planned(Option<CrashPlan>),
    /// The branch is down until the given time.
    Down(BranchId, Duration),
    /// Over (or never planned).
    Done,
}

impl Crashing {
    /// Whether a branch is down, to restart later.
    fn is_down(&self) -> bool {
        matches!(self, Crashing::Down(..))
    }

    /// Crashes or restarts a branch if it is time (between two steps of the simulation, as
    /// the network faults are applied); returns the fault to log.
    ///
    /// `network` is every host, with the network fault in effect if any; `branches` how each
    /// branch starts, and the state of its current run.
    fn next(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        (everyone, active): (&[String], Option<&Fault>),
        (starts, states): (&BTreeMap<BranchId, Start>, &Branches),
    ) -> Option<Fault> {
        match self {
            Crashing::Planned(None) | Crashing::Done => None,
            Crashing::Planned(Some(crash)) => {
                let branch = crash.branch;
                let committed = starts
                    .get(&branch)
                    .and_then(|start| start.store.as_ref())
                    .map_or(0, MemoryStore::position);
                if committed < crash.after_commits {
                    return None;
                }
                let events = states
                    .get(&branch)
                    .map_or(0, |slot| lock(&slot.borrow()).event_count());
                let crashed = host(Process::Branch(branch));
                let others = || everyone.iter().filter(|other| **other != crashed);
                // A crashed host sends nothing: cut off while it goes down, so that what it was
                // sending and the closing of its connections are lost. (Its tasks are dropped in
                // an order that depends on tokio's task ids, which are counted over the whole
                // process: what they sent would make a run depend on the runs before it.)
                for other in others() {
                    sim.partition(crashed.as_str(), other.as_str());
                }
                sim.crash(crashed.as_str());
                for other in others() {
                    sim.repair(crashed.as_str(), other.as_str());
                }
                if let Some(fault) = active {
                    plan::apply(sim, fault, everyone);
                }
                *self = Crashing::Down(branch, now + crash.down);
                Some(Fault::Crash { branch, events })
            }
            Crashing::Down(branch, until) => {
                if now < *until {
                    return None;
                }
                let branch = *branch;
                // The host's closure runs again, and restores the branch from its store.
                sim.bounce(host(Process::Branch(branch)));
                *self = Crashing::Done;
                let (events, clock) = states.get(&branch).map_or((0, 0), |slot| {
                    let state = slot.borrow();
                    let state = lock(&state);
                    (state.event_count(), state.clock())
                });
                Some(Fault::Restart {
                    branch,
                    events,
                    clock,
                })
            }
        }
    }
}

/// How a simulated branch (re)starts.
#[derive(Debug, Clone)]
struct Start {
    id: BranchId,
    balance: i64,
    table: ProcessTable,
    model: ClockModel,
    bug: Option<Bug>,
    /// The branch's store, if it is a durable one.
    store: Option<MemoryStore>,
}

impl Start {
    /// The state the branch starts with: its initial one, then, for a durable branch, every
    /// step its store committed replayed (as `serve --data` restores a branch).
    fn state(&self) -> SharedState {
        let state = BranchState::new(self.id, self.balance, &self.table, Recording::FULL)
            .in_model(self.model)
            .with_bug(self.bug);
        let state = match &self.store {
            Some(store) => {
                let (entries, journal) = store.open(COMMIT_SYNC);
                state.remembering_requests().restored(entries, journal)
            }
            None => state,
        };
        Arc::new(Mutex::new(state))
    }
}

/// Liveness: every customer that finished had every request answered in time.
fn unanswered(scenario: &Scenario, run: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    for (customer, records) in &run.trace.customers {
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
            problems.push(format!(
                "{customer}: {indeterminate} request(s) got no reply in time"
            ));
        }
        if records.len() != expected {
            problems.push(format!(
                "{customer}: {} of {expected} requests answered",
                records.len()
            ));
        }
    }
    problems
}
