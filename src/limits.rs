//! What a run needs of the machine (memory, open files) and what the machine has, so that a run
//! that cannot fit is refused before it starts, with one line saying how many branches fit,
//! instead of exhausting memory halfway or stalling on file descriptors.
//!
//! The estimates are a little above what runs measured on this project's machines (peak RSS
//! of `run` on 100 and 200 branches, 1 and 4 deposits each: about 12 KiB per ordered pair of
//! branches, 0.5 KiB per event, and 21 bytes per event and process for the vector clocks; see
//! the README's Performance section): every pair of branches holds a propagation stream, every
//! event is kept in the history (and once more while the report is made), and a vector clock
//! takes one entry per process on every event and message.

use crate::scenario::Scenario;
use crate::trace::Recording;

/// What the process needs before any branch exists: runtime, buffers, the binary.
pub const BASE_BYTES: u64 = 48 << 20;
/// What each branch needs besides its links: its server, its state, its channels.
pub const PER_BRANCH_BYTES: u64 = 256 << 10;
/// What each ordered pair of branches needs: the link, its stream and its buffers.
pub const PER_PAIR_BYTES: u64 = 14 << 10;
/// What each recorded event needs, kept in the history and in the records derived from it.
pub const PER_EVENT_BYTES: u64 = 640;
/// What each recorded event needs per process of the run, when vector clocks are kept: its
/// own vector, the stamp of a message it sends, and the copies the report makes.
pub const PER_VECTOR_ENTRY_BYTES: u64 = 24;
/// Open files the process needs besides its connections (runtime, standard streams, ...).
pub const BASE_FILES: u64 = 64;
/// Open files per branch: its listener, and both ends of its customer's connection and of the
/// one connection its peers share to it.
pub const FILES_PER_BRANCH: u64 = 5;

/// What a run of a scenario needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Bytes of memory, at most.
    pub memory: u64,
    /// Open files, at most.
    pub files: u64,
}

/// What the machine offers this process now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Bytes of memory available (the smaller of the system's available memory and the
    /// cgroup's limit), if known.
    pub memory: Option<u64>,
    /// The open-file limit, if known.
    pub files: Option<u64>,
}

/// A run that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooLarge {
    /// Not enough memory.
    #[error(
        "a run of {branches} branches with {operations} operations needs about {needs} MiB of \
         memory, and {room} MiB are available: at most {fit} branches fit",
        needs = .needs >> 20, room = .room >> 20
    )]
    Memory {
        /// The scenario's branches.
        branches: usize,
        /// The scenario's operations.
        operations: usize,
        /// Bytes needed.
        needs: u64,
        /// Bytes available.
        room: u64,
        /// How many branches would fit, with as many operations per customer.
        fit: usize,
    },
    /// Not enough file descriptors.
    #[error(
        "a run of {branches} branches needs about {needs} open files, and the limit is {room} \
         (ulimit -n): at most {fit} branches fit"
    )]
    Files {
        /// The scenario's branches.
        branches: usize,
        /// Files needed.
        needs: u64,
        /// The limit.
        room: u64,
        /// How many branches would fit.
        fit: usize,
    },
}

/// The events a run of `branches` branches records for `changes` deposits and withdraws and
/// `queries` queries, at most: a change is 3 steps on its origin plus a reply, 2 on each other
/// branch and 1 reply from each, and a send and a receive on its customer; a query is one event
/// on its branch and two on its customer.
fn events(branches: u64, changes: u64, queries: u64) -> u64 {
    let per_change = 2 + 3 * branches.saturating_sub(1) + 2 + 2;
    changes
        .saturating_mul(per_change)
        .saturating_add(queries.saturating_mul(3))
}

/// What a run of `branches` branches and as many customers, making `changes` deposits and
/// withdraws and `queries` queries and keeping what `recording` says, needs.
pub fn needs_of(branches: u64, changes: u64, queries: u64, recording: Recording) -> Needs {
    let pairs = branches.saturating_mul(branches.saturating_sub(1));
    let mut memory = BASE_BYTES
        .saturating_add(branches.saturating_mul(PER_BRANCH_BYTES))
        .saturating_add(pairs.saturating_mul(PER_PAIR_BYTES));
    if recording.events {
        let events = events(branches, changes, queries);
        let per_event = if recording.vectors {
            // Branches and customers: as many customers as branches at most.
            PER_EVENT_BYTES
                .saturating_add(PER_VECTOR_ENTRY_BYTES.saturating_mul(branches.saturating_mul(2)))
        } else {
            PER_EVENT_BYTES
        };
        memory = memory.saturating_add(events.saturating_mul(per_event));
    }
    Needs {
        memory,
        files: BASE_FILES.saturating_add(branches.saturating_mul(FILES_PER_BRANCH)),
    }
}

/// What a run of `scenario` keeping what `recording` says needs.
pub fn needs(scenario: &Scenario, recording: Recording) -> Needs {
    let (changes, queries) = counts(scenario);
    needs_of(scenario.branches.len() as u64, changes, queries, recording)
}

fn counts(scenario: &Scenario) -> (u64, u64) {
    let mut changes = 0;
    let mut queries = 0;
    for event in scenario
        .customers
        .iter()
        .flat_map(|customer| &customer.events)
    {
        if event.action.change().is_some() {
            changes += 1;
        } else {
            queries += 1;
        }
    }
    (changes, queries)
}

/// Refuses a run of `scenario` that would not fit in `room`.
pub fn check(scenario: &Scenario, recording: Recording, room: Room) -> Result<(), TooLarge> {
    let branches = scenario.branches.len();
    let needs = needs(scenario, recording);
    let (changes, queries) = counts(scenario);
    // The same operations per customer, for any number of branches.
    let per_branch = |n: u64, count: u64| count.saturating_mul(n) / (branches.max(1) as u64);
    let fit = |fits: &dyn Fn(u64) -> bool| {
        (0..branches as u64).rev().find(|&n| fits(n)).unwrap_or(0) as usize
    };
    if let Some(room) = room.memory
        && needs.memory > room
    {
        let fits = |n: u64| {
            needs_of(n, per_branch(n, changes), per_branch(n, queries), recording).memory <= room
        };
        return Err(TooLarge::Memory {
            branches,
            operations: scenario.operations(),
            needs: needs.memory,
            room,
            fit: fit(&fits),
        });
    }
    if let Some(room) = room.files
        && needs.files > room
    {
        let fits = |n: u64| needs_of(n, 0, 0, recording).files <= room;
        return Err(TooLarge::Files {
            branches,
            needs: needs.files,
            room,
            fit: fit(&fits),
        });
    }
    Ok(())
}

/// Raises this process's open-file limit to its hard limit (a run of many branches holds many
/// connections), and returns the limit now in force, if the system says.
pub fn raise_open_files() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// What the machine offers this process now: its available memory and open-file limit.
pub fn room() -> Room {
    Room {
        memory: available_memory(),
        files: rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft),
    }
}

/// The memory available to this process: the system's `MemAvailable`, or the cgroup's limit
/// if that is lower; `None` where neither can be read.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let available = meminfo.as_deref().and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix("MemAvailable:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(1024))
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    match (available, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::workload::{WorkloadSpec, generate};

    fn scenario(branches: u32, ops: usize) -> Scenario {
        let spec = WorkloadSpec {
            branches: (1..=branches).collect(),
            ops_per_customer: ops,
            initial_balance: 100,
        };
        generate(1, &spec)
    }

    #[test]
    fn a_small_run_fits_and_a_large_one_is_refused_with_what_fits() {
        let room = Room {
            memory: Some(4 << 30),
            files: None,
        };
        assert_eq!(check(&scenario(3, 5), Recording::FULL, room), Ok(()));
        let refused = check(&scenario(1000, 2), Recording::FULL, room);
        let Err(TooLarge::Memory { fit, needs, .. }) = refused else {
            panic!("not refused for memory: {refused:?}");
        };
        assert!(needs > 4 << 30);
        assert!((10..1000).contains(&fit), "{fit}");
        let fit_scenario = scenario(u32::try_from(fit).expect("small"), 2);
        assert_eq!(check(&fit_scenario, Recording::FULL, room), Ok(()));
        let twice = scenario(u32::try_from(2 * fit).expect("small"), 2);
        assert!(check(&twice, Recording::FULL, room).is_err());
    }

    #[test]
    fn vectors_cost_more_the_more_processes_there_are() {
        let lamport_only = Recording {
            vectors: false,
            events: true,
        };
        let with = needs(&scenario(200, 2), Recording::FULL).memory;
        let without = needs(&scenario(200, 2), lamport_only).memory;
        assert!(with > without);
    }

    #[test]
    fn too_few_open_files_are_refused_with_what_fits() {
        let room = Room {
            memory: None,
            files: Some(200),
        };
        let refused = check(&scenario(60, 1), Recording::FULL, room);
        assert_eq!(
            refused.map_err(|error| error.to_string()),
            Err(
                "a run of 60 branches needs about 364 open files, and the limit is 200 \
                 (ulimit -n): at most 27 branches fit"
                    .to_string()
            )
        );
    }
}
