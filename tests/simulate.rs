//! Deterministic simulation over turmoil: faults healed, promises kept, runs replayable.

mod common;

use common::example;
use lamport_bank::Bug;
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::sim::plan::FaultSet;
use lamport_bank::sim::{self as simulate, SimConfig};
use lamport_bank::trace::file as tracefile;

fn trace_bytes(report: &simulate::SimReport) -> Vec<u8> {
    let mut bytes = Vec::new();
    tracefile::write(&report.run.history, &mut bytes).expect("written to memory");
    bytes
}

/// Without faults, a sequential simulation gives exactly the clocks of a real run.
#[test]
fn a_fault_free_sequential_simulation_reproduces_the_expected_output() {
    for model in [ClockModel::Original, ClockModel::Strict] {
        let config = SimConfig {
            seed: 1,
            model,
            ..SimConfig::default()
        };
        let report = simulate::simulate(&example("wide"), &config);
        assert!(report.passed(), "{:?}", report.problems());
        assert_eq!(report.run.trace.output(), common::expected("wide", model));
    }
}

/// Two runs of one seed with every fault give identical trace bytes.
#[test]
fn the_same_seed_gives_the_same_trace_bytes() {
    let config = SimConfig {
        seed: 42,
        faults: FaultSet::ALL,
        schedule: Schedule::Concurrent,
        ..SimConfig::default()
    };
    let scenario = simulate::sweep::workload(42, Default::default());
    let first = simulate::simulate(&scenario, &config);
    let second = simulate::simulate(&scenario, &config);
    assert!(first.passed(), "{:?}", first.problems());
    assert!(first.fault_count() > 0, "faults were injected");
    assert_eq!(trace_bytes(&first), trace_bytes(&second));
}

/// A partition that heals still lets every customer finish, with every replica equal.
#[test]
fn a_partition_that_heals_loses_nothing() {
    let faults = FaultSet::parse("partition").expect("valid");
    for seed in 1..=5 {
        let config = SimConfig {
            seed,
            faults,
            schedule: Schedule::Concurrent,
            ..SimConfig::default()
        };
        let report = simulate::simulate(&example("requests"), &config);
        assert!(report.passed(), "seed {seed}: {:?}", report.problems());
        let finals: Vec<i64> = report.run.balances.finals.values().copied().collect();
        assert!(
            finals.windows(2).all(|pair| pair[0] == pair[1]),
            "{finals:?}"
        );
    }
}

/// The sweep would catch a real bug: with repeated propagations applied twice, some seeds with
/// duplicates fail, and the checker names the event applied twice.
#[test]
fn a_broken_rule_is_caught() {
    let faults = FaultSet::parse("duplicate").expect("valid");
    let mut caught = 0;
    for seed in 1..=10 {
        let config = SimConfig {
            seed,
            faults,
            bug: Some(Bug::ApplyDuplicatesTwice),
            ..SimConfig::default()
        };
        let report = simulate::simulate(
            &simulate::sweep::workload(seed, Default::default()),
            &config,
        );
        if !report.passed() {
            caught += 1;
            // What a failing seed looks like (see the README's "Faults" section).
            println!(
                "seed {seed} failed: {}\n    replay: {}",
                report.problems().join("\n    "),
                simulate::sweep::replay_command(simulate::sweep::Simulated::Workload, &config)
            );
            let lines: Vec<String> = report
                .run
                .findings
                .iter()
                .map(ToString::to_string)
                .collect();
            assert!(
                lines.iter().any(|line| line.contains("applied twice")),
                "{lines:?}"
            );
        }
    }
    assert!(caught > 0, "the broken rule went unnoticed");
}

/// A propagation delivered twice is applied once: the duplicates really happen, every branch
/// executes each change exactly once, and the money adds up.
#[test]
fn a_duplicated_propagation_is_applied_once() {
    use lamport_bank::model::Step;
    use lamport_bank::trace::Fault;
    let faults = FaultSet::parse("duplicate").expect("valid");
    let config = SimConfig {
        seed: 3,
        faults,
        schedule: Schedule::Concurrent,
        ..SimConfig::default()
    };
    let report = simulate::simulate(&example("requests"), &config);
    let duplicates = report
        .run
        .history
        .faults
        .iter()
        .filter(|record| matches!(record.fault, Fault::Duplicate { .. }))
        .count();
    assert!(duplicates > 0, "seed 3 duplicates some propagations");
    assert!(report.passed(), "{:?}", report.problems());
    for (branch, records) in &report.run.trace.branches {
        let mut applied: Vec<u64> = records
            .iter()
            .filter(|record| record.sub_event.step == Step::PropagateExecute)
            .map(|record| record.event_id.0)
            .collect();
        let count = applied.len();
        applied.sort_unstable();
        applied.dedup();
        assert_eq!(applied.len(), count, "{branch} applied an event twice");
    }
    // requests.json: every deposit of 10 is followed by a withdraw of 10.
    assert!(
        report
            .run
            .balances
            .finals
            .values()
            .all(|balance| *balance == 400)
    );
}

/// A branch that crashes keeps everything it committed and loses only what it had not: every
/// seed with a crash passes (nothing applied twice, no money lost, every customer answered
/// once), and the crashed branch's history goes on from the clock its store gave back. Some
/// crash catches steps not yet committed (events lost with the host), and some lands mid-run
/// (the branch has events after its restart).
#[test]
fn a_crash_loses_what_was_not_committed_and_nothing_that_was() {
    use lamport_bank::trace::Fault;
    let faults = FaultSet::parse("crash").expect("valid");
    let (mut lost_some, mut mid_run) = (false, false);
    for seed in 1..=30 {
        for schedule in [Schedule::Sequential, Schedule::Concurrent] {
            let config = SimConfig {
                seed,
                faults,
                schedule,
                ..SimConfig::default()
            };
            let report = simulate::simulate(
                &simulate::sweep::workload(seed, Default::default()),
                &config,
            );
            assert!(report.passed(), "seed {seed}: {:?}", report.problems());
            let faults = &report.run.history.faults;
            let crash = faults.iter().find_map(|record| match record.fault {
                Fault::Crash { branch, events } => Some((record.at_ms, branch, events)),
                _ => None,
            });
            let restart = faults.iter().find_map(|record| match record.fault {
                Fault::Restart {
                    branch,
                    events,
                    clock,
                } => Some((record.at_ms, branch, events, clock)),
                _ => None,
            });
            let (Some((crashed_at, crashed, held)), Some((restarted_at, restarted, kept, clock))) =
                (crash, restart)
            else {
                // The run ended before its crash (or its restart) was due.
                continue;
            };
            assert_eq!(crashed, restarted, "seed {seed}");
            assert!(crashed_at < restarted_at, "seed {seed}");
            assert!(
                kept <= held,
                "seed {seed}: a restart gets back no more than there was"
            );
            let lane = report
                .run
                .history
                .table
                .processes()
                .iter()
                .position(|process| *process == lamport_bank::model::Process::Branch(crashed))
                .expect("the crashed branch has a lane");
            let events = &report.run.history.events[lane];
            let kept = usize::try_from(kept).expect("small");
            assert!(
                kept <= events.len(),
                "seed {seed}: the kept events are in the trace"
            );
            let clock_kept = kept.checked_sub(1).map_or(0, |last| events[last].lamport);
            assert_eq!(
                clock, clock_kept,
                "seed {seed}: the restart's clock is the kept one"
            );
            if let Some(next) = events.get(kept) {
                // A query touches no clock, so its event keeps the value; nothing goes back.
                assert!(
                    next.lamport >= clock,
                    "seed {seed}: the clock goes on from there"
                );
                mid_run = true;
            }
            lost_some |= usize::try_from(held).expect("small") > kept;
        }
    }
    assert!(lost_some, "no crash caught a step before its commit");
    assert!(mid_run, "no crash happened in the middle of a run");
}

/// A seed gives the same trace whatever ran before it in the process (a sweep runs many seeds
/// in one process, and its replay command runs one alone): runs in one order, then in the
/// reverse order, match seed by seed, crashes included.
#[test]
fn a_seed_replays_the_same_whatever_ran_before_it() {
    let config = |seed| SimConfig {
        seed,
        faults: FaultSet::ALL,
        schedule: Schedule::Concurrent,
        ..SimConfig::default()
    };
    let run = |seed| {
        let report = simulate::simulate(
            &simulate::sweep::workload(seed, Default::default()),
            &config(seed),
        );
        assert!(report.passed(), "seed {seed}: {:?}", report.problems());
        trace_bytes(&report)
    };
    let seeds: Vec<u64> = (1..=12).collect();
    let forwards: Vec<Vec<u8>> = seeds.iter().map(|&seed| run(seed)).collect();
    for (&seed, first) in seeds.iter().zip(&forwards).rev() {
        assert!(run(seed) == *first, "seed {seed} differs on its second run");
    }
}
