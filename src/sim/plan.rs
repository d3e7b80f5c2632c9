//! The faults of a simulation: which kinds are on ([`FaultSet`], as `--faults` names them), the
//! plan of when each happens (from the seed), and how each network fault is applied to
//! turmoil's network (a crash and its restart are applied by the driver, [`super::simulate`],
//! which holds the branches' stores).

use std::fmt;
use std::time::Duration;

use crate::model::{BranchId, Process};
use crate::rng::SplitMix64;
use crate::scenario::Scenario;
use crate::trace::Fault;

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
    /// A branch's host crashes, losing what it had not committed, and restarts from its store.
    pub crash: bool,
}

/// A fault name `--faults` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?} (expected all, none, or some of {names})", names = FAULT_NAMES.join(", "))]
pub struct UnknownFault(pub String);

impl std::str::FromStr for FaultSet {
    type Err = UnknownFault;

    fn from_str(list: &str) -> Result<Self, UnknownFault> {
        FaultSet::parse(list)
    }
}

/// The names `--faults` accepts, in order.
pub const FAULT_NAMES: [&str; 8] = [
    "latency",
    "reorder",
    "partition",
    "oneway",
    "hold",
    "pause",
    "duplicate",
    "crash",
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
        crash: true,
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
            "crash" => &mut self.crash,
            _ => return None,
        })
    }

    /// Parses `all`, `none`, or a comma-separated list of [`FAULT_NAMES`].
    pub fn parse(list: &str) -> Result<FaultSet, UnknownFault> {
        match list.trim() {
            "all" => return Ok(FaultSet::ALL),
            "none" | "" => return Ok(FaultSet::default()),
            _ => {}
        }
        let mut set = FaultSet::default();
        for name in list.split(',').map(str::trim) {
            let flag = set
                .flag(name)
                .ok_or_else(|| UnknownFault(name.to_string()))?;
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

/// A fault the driver applies to the simulated network at a given time.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// When, in simulated time since the start.
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// The crash of one branch: when it comes, and how long the branch stays down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrashPlan {
    /// The branch whose host crashes.
    pub branch: BranchId,
    /// It crashes as soon as its store holds this many committed steps: a moment of the run's
    /// progress rather than of time, so that the crash lands inside short runs and long ones
    /// alike (and, the store's commits being in flight all the time, often catches some).
    pub after_commits: u64,
    /// How long its host stays down before it restarts.
    pub down: Duration,
}

/// The shortest and the longest time a crashed branch stays down, in milliseconds.
pub const DOWNTIME_MS: (u64, u64) = (50, 1000);

/// Plans the network faults of a run from `seed`: each enabled kind once, one after another in
/// its own window of time, every one undone before the next starts.
pub(crate) fn plan(seed: u64, faults: FaultSet, scenario: &Scenario) -> Vec<Planned> {
    plan_network(seed, faults, scenario)
}

/// Plans the crash of a run from `seed`, if crashes are on: from a stream of the seed of its
/// own, so that it leaves the network faults' plan as it was. The crash may come while a
/// network fault is under way. Its moment is drawn between the first committed step of the
/// branch and the least number of steps the branch commits in the run (one per request of its
/// own customer, one per change of any other), so that it mostly lands mid-run; if the run
/// commits fewer (rejected withdrawals are not propagated), the crash does not happen.
pub(crate) fn plan_crash(seed: u64, faults: FaultSet, scenario: &Scenario) -> Option<CrashPlan> {
    if !faults.crash || scenario.branches.is_empty() {
        return None;
    }
    let mut rng = SplitMix64::new(seed ^ 0xC4A5_4ED0);
    let branch = scenario.branches[rng.below(scenario.branches.len() as u64) as usize].id;
    let least: usize = scenario
        .customers
        .iter()
        .map(|customer| {
            if customer.id.home_branch() == branch {
                customer.events.len()
            } else {
                let changes = customer.events.iter();
                changes
                    .filter(|event| event.action.change().is_some())
                    .count()
            }
        })
        .sum();
    let after_commits = 1 + rng.below(least.max(1) as u64);
    let (low, high) = DOWNTIME_MS;
    let down = Duration::from_millis(low + rng.below(high - low + 1));
    Some(CrashPlan {
        branch,
        after_commits,
        down,
    })
}

/// The network faults of a run: each enabled kind once, one after another.
fn plan_network(seed: u64, faults: FaultSet, scenario: &Scenario) -> Vec<Planned> {
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

/// Whether `fault` starts a network fault (that a later one undoes).
pub(crate) fn begins(fault: &Fault) -> bool {
    matches!(
        fault,
        Fault::Partition { .. } | Fault::Hold { .. } | Fault::Pause { .. }
    )
}

/// Applies a planned fault to the simulated network.
pub(crate) fn apply(sim: &turmoil::Sim<'_>, fault: &Fault, everyone: &[String]) {
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
        Fault::Retry { .. }
        | Fault::Duplicate { .. }
        | Fault::Crash { .. }
        | Fault::Restart { .. } => {}
    }
}

/// The simulated host a process runs on: `b2`, `c2`.
pub(crate) fn host(process: Process) -> String {
    match process {
        Process::Branch(id) => format!("b{}", id.0),
        Process::Customer(id) => format!("c{}", id.0),
    }
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
            Err(UnknownFault("fire".to_string()))
        );
    }

    #[test]
    fn an_unknown_fault_is_named_with_the_known_ones() {
        let error = FaultSet::parse("latency,fire").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "unknown fault \"fire\" (expected all, none, or some of latency, reorder, \
                 partition, oneway, hold, pause, duplicate, crash)"
            )
        );
    }

    #[test]
    fn the_plan_undoes_every_fault_it_makes() {
        let scenario = crate::sim::sweep::workload(4, Default::default());
        let planned = plan(4, FaultSet::ALL, &scenario);
        assert_eq!(planned.len(), 8, "four kinds, each made and undone");
        for window in planned.windows(2) {
            assert!(window[0].at <= window[1].at, "in time order");
        }
        assert!(matches!(planned[7].fault, Fault::Resume { .. }));
    }

    #[test]
    fn a_crash_is_planned_within_the_run_and_leaves_the_network_plan_alone() {
        for seed in 1..=50 {
            let scenario = crate::sim::sweep::workload(seed, Default::default());
            let network = FaultSet {
                crash: false,
                ..FaultSet::ALL
            };
            let describe = |faults| format!("{:?}", plan(seed, faults, &scenario));
            assert_eq!(describe(FaultSet::ALL), describe(network), "seed {seed}");
            assert_eq!(plan_crash(seed, network, &scenario), None);
            let crash = plan_crash(seed, FaultSet::ALL, &scenario).expect("crashes are on");
            assert!(scenario.branches.iter().any(|b| b.id == crash.branch));
            // The workload's customers make five requests each, one customer per branch: the
            // crashed branch commits at least its own customer's five.
            assert!(
                (1..=5 * scenario.branches.len() as u64).contains(&crash.after_commits),
                "seed {seed}: {crash:?}"
            );
            let down = crash.down.as_millis();
            assert!((50..=1000).contains(&down), "seed {seed}: down {down} ms");
        }
    }
}
