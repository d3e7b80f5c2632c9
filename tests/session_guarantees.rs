//! Asynchronous propagation and the customers' session guarantees: a held propagation makes a
//! query wait (an event of its own) instead of reading a stale balance, and without the
//! guarantees the same seed reads it, which the run and `check` name; sweeps with every fault
//! keep both guarantees, and find violations without them; a session that no branch can meet is
//! refused in one line.

mod common;

use common::{examples_dir, lamport_bank, text};
use lamport_bank::model::{
    BranchId, ClockModel, CustomerId, Process, PropagationMode, Schedule, SessionGuarantees,
};
use lamport_bank::picture::layout::Layout;
use lamport_bank::scenario::{Scenario, input};
use lamport_bank::session::WriteId;
use lamport_bank::sim::plan::FaultSet;
use lamport_bank::sim::sweep::{self, Seeds};
use lamport_bank::sim::{self, SimConfig, SimReport};
use lamport_bank::trace::{EventKind, Outcome};
use lamport_bank::wire::pb::{QueryRequest, Stamp, WriteCount, branch_client::BranchClient};
use lamport_bank::{Cluster, RunConfig};

fn example(name: &str) -> Scenario {
    let path = examples_dir().join(format!("{name}.json"));
    input::load(&path.to_string_lossy()).unwrap_or_else(|error| panic!("{error}"))
}

/// The course's read-your-writes example (C1 deposits 400 at B1, then queries B2) simulated
/// with one held link, asynchronously, with or without the guarantees.
fn held(seed: u64, guarantees: SessionGuarantees) -> SimReport {
    let config = SimConfig {
        seed,
        faults: FaultSet::parse("hold").expect("a fault"),
        propagation: PropagationMode::Async,
        guarantees,
        ..SimConfig::default()
    };
    sim::simulate(&example("client-centric-read-your-writes"), &config)
}

/// What C1's query (event 2) read.
fn read(report: &SimReport) -> Option<Outcome> {
    report.run.trace.customers[&CustomerId(1)]
        .iter()
        .find(|record| record.event_id.0 == 2)
        .map(|record| record.outcome)
}

/// The first seed of 1..=40 whose hold catches the deposit's propagation: without the
/// guarantees, its query reads 0.
fn stale_seed() -> u64 {
    (1..=40)
        .find(|&seed| read(&held(seed, SessionGuarantees::None)) == Some(Outcome::Balance(0)))
        .expect("a seed whose hold catches the propagation")
}

/// A propagation held between B1 and B2 makes B2 wait before it answers C1's query: the wait is
/// an event on B2 (naming C1's write 1 at B1), before the query, and the query reads 400. The
/// seed is the first of 1..=40 whose hold catches the deposit's propagation, found by running
/// without the guarantees, where that seed's query reads 0, which the run names.
#[test]
fn a_held_propagation_makes_a_query_wait_instead_of_reading_a_stale_balance() {
    let seed = stale_seed();
    let stale = held(seed, SessionGuarantees::None);
    let named: Vec<String> = stale.run.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        named,
        [
            "C1: query (event 2) at B2 read 0 without its own deposit 400 (event 1, at B1): B2 \
          applied it only after (#3)"
        ],
        "seed {seed}"
    );
    assert!(!stale.passed());

    let waited = held(seed, SessionGuarantees::Enforced);
    assert!(waited.passed(), "seed {seed}: {:?}", waited.problems());
    assert_eq!(read(&waited), Some(Outcome::Balance(400)), "seed {seed}");
    let history = &waited.run.history;
    assert!(
        history
            .faults
            .iter()
            .any(|record| matches!(record.fault, lamport_bank::trace::Fault::Hold { .. })),
        "the run met its hold"
    );
    let b2 = history
        .table
        .index_of(Process::Branch(BranchId(2)))
        .expect("B2");
    let kinds: Vec<(EventKind, u64)> = history.events[b2]
        .iter()
        .map(|event| (event.kind, event.event_id.0))
        .collect();
    let wait = kinds
        .iter()
        .position(|(kind, _)| matches!(kind, EventKind::Wait(_)))
        .expect("B2 waited");
    let query = kinds
        .iter()
        .position(|(kind, _)| *kind == EventKind::Query)
        .expect("B2 answered the query");
    let applied = kinds
        .iter()
        .position(|(kind, id)| kind.name() == "deposit_propagate_execute" && *id == 1)
        .expect("B2 applied the deposit");
    assert_eq!(
        kinds[wait],
        (
            EventKind::Wait(WriteId {
                customer: CustomerId(1),
                origin: BranchId(1),
                number: 1,
            }),
            2
        )
    );
    assert!(wait < applied && applied < query, "{kinds:?}");
}

/// The picture shows the wait: a dot on B2 labelled with the write it waits for, drawn after
/// C1's query left C1 (the request it holds back) and before B2 receives the deposit.
#[test]
fn the_picture_draws_the_wait_where_it_happened() {
    let seed = stale_seed();
    let report = held(seed, SessionGuarantees::Enforced);
    let layout = Layout::of(&report.run.history).expect("a layout");
    let dot = |process: &str, name: &str| {
        layout
            .dots
            .iter()
            .find(|dot| dot.process == process && dot.name == name)
            .unwrap_or_else(|| panic!("{process} {name}"))
    };
    let wait = dot("B2", "session_wait");
    assert_eq!(
        wait.note.as_ref().map(|note| note.text.as_str()),
        Some("waits for C1's write 1 at B1")
    );
    let query_sent = layout
        .dots
        .iter()
        .find(|dot| dot.process == "C1" && dot.name == "query_send")
        .expect("C1's query");
    assert!(query_sent.x < wait.x, "{} < {}", query_sent.x, wait.x);
    assert!(wait.x < dot("B2", "deposit_propagate_request").x);
    // Without the guarantees, the query B2 answered too early is marked, and the subtitle
    // counts it.
    let stale = Layout::of(&held(seed, SessionGuarantees::None).run.history).expect("a layout");
    let query = stale
        .dots
        .iter()
        .find(|dot| dot.process == "B2" && dot.name == "query_request")
        .expect("B2's query");
    assert_eq!(
        query
            .note
            .as_ref()
            .map(|note| (note.text.as_str(), note.alert)),
        Some(("stale: without deposit 400 (event 1)", true))
    );
    assert!(
        stale.subtitle.contains("1 stale read(s), marked"),
        "{}",
        stale.subtitle
    );
}

/// The stale read of a replayed seed, as a person sees it: the run's exit status and line, and
/// `check` on its trace naming the same query, branch and write; with the guarantees, the
/// trace shows the wait and `check` passes it.
#[test]
fn check_names_the_stale_read_in_the_trace_and_passes_the_wait() {
    let seed = stale_seed().to_string();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("trace.jsonl");
    let trace = trace.to_string_lossy();
    let line = "C1: query (event 2) at B2 read 0 without its own deposit 400 (event 1, at B1): \
                B2 applied it only after (#3)";
    for (guarantees, status) in [("none", 1), ("enforced", 0)] {
        let simulated = lamport_bank(&[
            "simulate",
            "examples/client-centric-read-your-writes.json",
            "--seed",
            &seed,
            "--faults",
            "hold",
            "--propagation",
            "async",
            "--session-guarantees",
            guarantees,
            "--trace",
            &trace,
        ]);
        let stderr = text(&simulated.stderr);
        assert_eq!(
            simulated.status.code(),
            Some(status),
            "{guarantees}: {stderr}"
        );
        let checked = lamport_bank(&["check", &trace]);
        let report = text(&checked.stdout);
        assert_eq!(
            checked.status.code(),
            Some(status),
            "{guarantees}: {report}"
        );
        let written = std::fs::read_to_string(&*trace).expect("the trace");
        if status == 1 {
            assert!(stderr.contains(line), "{stderr}");
            assert!(report.starts_with(&format!("{line}\n")), "{report}");
            assert!(
                report.contains(
                    "original clocks, changes answered before they were propagated: 1 violation"
                ),
                "{report}"
            );
            assert!(!written.contains("session_wait"));
        } else {
            assert!(
                written.contains(
                    r#""event":"session_wait","id":2,"lamport":0,"vector":{"B2":1},"waits_for":{"customer":"C1","origin":"B1","write":1}}"#
                ),
                "{written}"
            );
        }
    }
}

/// Asynchronous sweeps of generated workloads whose customers go from branch to branch, with
/// every fault: with the guarantees every seed passes (twice the same totals); without them the
/// sweep finds read-your-writes and monotonic-writes violations.
#[test]
fn asynchronous_sweeps_keep_both_guarantees_and_find_violations_without_them() {
    let seeds = Seeds::new(1, 60).expect("seeds");
    let base = SimConfig {
        faults: FaultSet::ALL,
        schedule: Schedule::Concurrent,
        propagation: PropagationMode::Async,
        ..SimConfig::default()
    };
    let run = |config: SimConfig| sweep::sweep(None, &seeds, config, |_, _| {}, || false);
    let kept = run(base);
    assert!(kept.passed(), "{:?}", kept.failures.first());
    assert_eq!(run(base), kept, "the same seeds, the same sweep");
    assert!(kept.faults > 0);
    let broken = run(SimConfig {
        guarantees: SessionGuarantees::None,
        ..base
    });
    let problems: Vec<&String> = broken
        .failures
        .iter()
        .flat_map(|failure| &failure.problems)
        .collect();
    assert!(
        problems.iter().any(|line| line.contains("without its own")),
        "a stale read among {problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|line| line.contains("which C") && line.contains("made later")),
        "writes out of order among {problems:?}"
    );
    // Only the guarantees are broken: the money, the clocks and convergence still hold.
    assert!(
        problems
            .iter()
            .all(|line| line.contains("without its own") || line.contains("made later")),
        "{problems:?}"
    );
    // The strict and messages clocks too.
    for model in [ClockModel::Strict, ClockModel::Messages] {
        let kept = run(SimConfig { model, ..base });
        assert!(kept.passed(), "{model:?}: {:?}", kept.failures.first());
    }
}

/// A sweep's failing seed of a generated workload replays alone, as its replay command says
/// (`--workload`), with the same violation.
#[test]
fn a_failing_seed_of_a_sweep_replays_with_its_command() {
    let swept = lamport_bank(&[
        "simulate",
        "--seeds",
        "1..3",
        "--faults",
        "all",
        "--concurrent",
        "--propagation",
        "async",
        "--session-guarantees",
        "none",
    ]);
    assert_eq!(swept.status.code(), Some(1));
    let said = text(&swept.stderr);
    let mut lines = said.lines();
    let failed = lines.next().expect("a failing seed");
    let violation = failed.split_once(" failed: ").expect("a failure").1;
    let replay = lines
        .next()
        .and_then(|line| line.trim().strip_prefix("replay: lamport-bank "))
        .expect("its replay command");
    assert!(replay.contains(" --workload "), "{replay}");
    let args: Vec<&str> = replay.split(' ').collect();
    let replayed = lamport_bank(&args);
    assert_eq!(replayed.status.code(), Some(1));
    let account = text(&replayed.stderr);
    assert!(
        account.contains(&format!("    {violation}\n")),
        "{violation}\n{account}"
    );
    assert!(
        account.contains("Input: <the workload of seed 1>"),
        "{account}"
    );
}

/// A request whose session no branch can meet is refused in one line, not waited on forever:
/// more writes at the branch than it executed (FAILED_PRECONDITION), a branch that is not of the
/// run (INVALID_ARGUMENT); and a customer that is not of the run is refused (PERMISSION_DENIED).
/// The branch then serves the real customer as before.
#[tokio::test]
async fn a_session_no_branch_can_meet_is_refused() {
    let config = RunConfig {
        propagation: PropagationMode::Async,
        ..RunConfig::default()
    };
    let scenario = example("client-centric-branch");
    let cluster = Cluster::start(&scenario, config).await.expect("started");
    let mut b1 = BranchClient::new(cluster.channel(BranchId(1)).expect("B1"));
    let query = |customer_id, writes: Vec<(u32, u64)>| QueryRequest {
        customer_id,
        event_id: 2,
        stamp: Some(Stamp {
            clock: 0,
            vector: Vec::new(),
            message: 1,
        }),
        writes: writes
            .into_iter()
            .map(|(branch_id, count)| WriteCount { branch_id, count })
            .collect(),
    };
    let refused = [
        (
            query(1, vec![(1, 5)]),
            tonic::Code::FailedPrecondition,
            "B1: C1's session counts 5 of its writes here, but B1 executed 0",
        ),
        (
            query(1, vec![(9, 1)]),
            tonic::Code::InvalidArgument,
            "B1: C1's session counts writes at B9, which is not a branch of the run",
        ),
        (
            query(7, vec![]),
            tonic::Code::PermissionDenied,
            "B1: C7 is not a customer of the run",
        ),
    ];
    for (request, code, message) in refused {
        let status = b1.query(request).await.expect_err("refused");
        assert_eq!((status.code(), status.message()), (code, message));
    }
    let answered = b1.query(query(1, vec![])).await.expect("answered");
    assert_eq!(answered.into_inner().balance, 0);
    cluster.shutdown().await.expect("clean shutdown");
}

/// Settings that change nothing, and a cluster of `serve` processes, which propagates
/// synchronously, are refused in one line.
#[test]
fn asynchronous_settings_that_cannot_apply_are_refused_in_one_line() {
    let output = lamport_bank(&["run", "--session-guarantees", "none"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "--session-guarantees none: only with --propagation async (a change propagated \
         synchronously is on every branch before its customer hears of it, so nothing is ever \
         waited for)\n"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cluster = dir.path().join("cluster.toml");
    std::fs::write(&cluster, "").expect("written");
    let output = lamport_bank(&[
        "run",
        "--cluster",
        &cluster.to_string_lossy(),
        "--propagation",
        "async",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "--propagation async: branches served on their own propagate synchronously; run it \
         without --cluster (or with simulate)\n"
    );
}
