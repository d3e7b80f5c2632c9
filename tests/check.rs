//! `lamport-bank check`: every run's output and trace pass it, in both models and both
//! schedules; every rule rejects a hand-corrupted file with its exact line; unreadable files are
//! refused with exit status 2 and one line. Also: the sample's vector clocks, exactly, and the
//! happens-before counts, checked against a brute force over all pairs.

mod common;

use std::io::Write;
use std::process::{Command, Output};

use common::{EXAMPLES, example, examples_dir, run_cluster};
use lamport_bank::clock::happened_before;
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::scenario::workload::{self, WorkloadSpec};
use lamport_bank::trace::History;
use lamport_bank::trace::file as tracefile;
use lamport_bank::verify::audit::{self, Options};
use lamport_bank::verify::causality;
use serde_json::{Value, json};

/// The trace file of `history`, as text.
fn trace_text(history: &History) -> String {
    let mut bytes = Vec::new();
    tracefile::write(history, &mut bytes).expect("written to memory");
    String::from_utf8(bytes).expect("UTF-8")
}

/// The sample's sequential trace in `model`.
async fn sample_trace(model: ClockModel) -> String {
    let report = run_cluster(&example("sample"), model, Schedule::Sequential).await;
    trace_text(&report.history)
}

/// The original model's expected output of the sample, parsed.
fn sample_output() -> Value {
    let path = examples_dir().join("sample.original.expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("in the repo")).expect("JSON")
}

/// Writes `contents` to a temporary file named `name` and runs `check` on it with `args`.
/// Returns the output and the file's path (for messages that name it).
fn check(name: &str, contents: &str, args: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("check")
        .arg(&path)
        .args(args)
        .output()
        .expect("the binary runs");
    (output, path.to_string_lossy().into_owned())
}

/// Asserts the exit status, the whole of stdout and an empty stderr.
fn assert_verdict(output: &Output, code: i32, lines: &[&str]) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stdout}{stderr}");
    assert_eq!(stdout, lines.join("\n") + "\n");
    assert_eq!(stderr, "");
}

/// Asserts exit status 2, nothing on stdout and exactly `line` on stderr.
fn assert_refused(output: &Output, line: &str) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("{line}\n"));
}

/// `text` with `from` replaced by `to`, which must occur exactly once.
fn corrupt(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} occurs once");
    text.replacen(from, to, 1)
}

/// The branch entry of branch `id` in an output.
fn branch_data(output: &mut Value, id: u64) -> &mut Vec<Value> {
    output
        .as_array_mut()
        .and_then(|entries| entries.iter_mut().find(|entry| entry["id"] == id))
        .and_then(|entry| entry["data"].as_array_mut())
        .expect("a branch entry")
}

/// The event entry of event `id` in an output.
fn event_data(output: &mut Value, id: u64) -> &mut Vec<Value> {
    output
        .as_array_mut()
        .and_then(|entries| entries.iter_mut().find(|entry| entry["eventid"] == id))
        .and_then(|entry| entry["data"].as_array_mut())
        .expect("an event entry")
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("serializes")
}

const SAMPLE_TRACE_HOLDS: &str =
    "check: trace, 31 events of 6 processes, original clocks: all invariants hold";

/// The trace and the output of every example, sequential, in both models, pass every rule.
#[tokio::test]
async fn every_example_passes_check_in_both_models() {
    for name in EXAMPLES {
        for model in [ClockModel::Original, ClockModel::Strict] {
            let report = run_cluster(&example(name), model, Schedule::Sequential).await;
            let trace = trace_text(&report.history);
            let verdict = audit::audit(trace.as_bytes(), &Options::default()).expect("reads");
            assert_eq!(verdict.findings, vec![], "{name} trace, {}", model.name());
            assert_eq!(verdict.model, model);
            let output = report.trace.output_text();
            let verdict = audit::audit(output.as_bytes(), &Options::default()).expect("reads");
            assert_eq!(verdict.findings, vec![], "{name} output, {}", model.name());
            assert_eq!(verdict.model, model, "the model is told from X_response");
            let path = examples_dir().join(format!("{name}.{}.expected.json", model.name()));
            let expected = std::fs::read_to_string(path).expect("in the repo");
            assert_eq!(expected, output);
        }
    }
}

/// `run --trace FILE --output OUT` then `check` on both files, through the binary.
#[test]
fn the_binary_checks_what_it_wrote() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (trace, output) = (dir.path().join("t.jsonl"), dir.path().join("out.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("run")
        .arg("--trace")
        .arg(&trace)
        .arg("--output")
        .arg(&output)
        .output()
        .expect("the binary runs");
    assert!(run.status.success(), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(
            "Happens-before: 332 event pairs ordered, 133 concurrent; 120 concurrent pairs still \
             get different Lamport clocks (e.g. C1 #2 query_receive (event 1) L=1 V={B1:1,C1:2} \
             and C3 #4 query_receive (event 5) L=18 V={B1:5,B2:8,B3:8,C2:1,C3:4}: concurrent, yet \
             L says 1 < 18)\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Clock condition: holds: L(a) < L(b) for every a -> b into a Lamport event (23 of 31 \
             events tick; customer sends and a branch serving a query do not)\n"
        ),
        "{stderr}"
    );
    for (path, line) in [
        (&trace, SAMPLE_TRACE_HOLDS),
        (
            &output,
            "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): all invariants hold",
        ),
    ] {
        let checked = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
            .arg("check")
            .arg(path)
            .output()
            .expect("the binary runs");
        assert_verdict(&checked, 0, &[line]);
    }
}

/// The output the original Python program printed for the sample (copied byte for byte from its
/// README) passes, detected as the original model.
#[test]
fn the_original_programs_printed_output_passes() {
    let path = examples_dir().join("original-readme-output.json");
    let text = std::fs::read_to_string(&path).expect("in the repo");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON"),
        sample_output()
    );
    let (output, _) = check("original.json", &text, &[]);
    let holds = "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): all invariants hold";
    assert_verdict(&output, 0, &[holds]);
    // The original's balances are floats; a clock printed as a whole float passes too.
    let floats: String = text
        .lines()
        .map(|line| match line.contains("\"clock\": ") {
            true => format!("{line}.0\n"),
            false => format!("{line}\n"),
        })
        .collect();
    assert!(floats.contains("\"clock\": 15.0\n"));
    let (output, _) = check("floats.json", &floats, &[]);
    assert_verdict(&output, 0, &[holds]);
}

/// A concurrent run with many customers: Lamport clocks order many pairs that are concurrent,
/// the report says so, and the trace passes `check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_run_shows_what_lamport_clocks_cannot_tell() {
    let spec = WorkloadSpec {
        branches: vec![1, 2, 3, 5, 8, 13],
        ops_per_customer: 30,
        initial_balance: 200,
    };
    let scenario = workload::generate(11, &spec);
    for model in [ClockModel::Original, ClockModel::Strict] {
        let report = run_cluster(&scenario, model, Schedule::Concurrent).await;
        let history = &report.history;
        let counts = causality::count_pairs(history).expect("vectors recorded");
        assert!(counts.concurrent_apart > 0, "{counts:?}");
        assert!(counts.concurrent >= counts.concurrent_apart);
        let example = counts.example.expect("an example pair");
        assert!(example.lower.lamport < example.higher.lamport);
        let summary = report.summary("generated", &scenario);
        let happens_before = format!(
            "Happens-before: {} event pairs ordered, {} concurrent; {} concurrent pairs still get \
             different Lamport clocks (e.g. ",
            counts.ordered, counts.concurrent, counts.concurrent_apart
        );
        assert!(summary.contains(&happens_before), "{summary}");
        assert!(summary.contains("Clock condition: holds: "), "{summary}");

        let text = trace_text(history);
        let verdict = audit::audit(text.as_bytes(), &Options::default()).expect("reads");
        assert_eq!(verdict.findings, vec![], "{}", model.name());
        let pairs = verdict.pairs.expect("counted");
        assert_eq!(
            (pairs.ordered, pairs.concurrent, pairs.concurrent_apart),
            brute_force(history),
            "the counts read from the trace are those of a comparison of every pair"
        );
        let output = report.trace.output_text();
        let verdict = audit::audit(output.as_bytes(), &Options::default()).expect("reads");
        assert_eq!(verdict.findings, vec![], "{}", model.name());
    }
}

/// Every pair of events, compared by vector clocks: (ordered, concurrent, concurrent with
/// different Lamport clocks).
fn brute_force(history: &History) -> (u64, u64, u64) {
    let located: Vec<_> = history
        .events
        .iter()
        .enumerate()
        .flat_map(|(p, events)| events.iter().map(move |e| (p, e)))
        .collect();
    let (mut ordered, mut concurrent, mut apart) = (0, 0, 0);
    for (i, &(p, a)) in located.iter().enumerate() {
        for &(q, b) in &located[i + 1..] {
            if happened_before(&a.vector, p, &b.vector) || happened_before(&b.vector, q, &a.vector)
            {
                ordered += 1;
            } else {
                concurrent += 1;
                apart += u64::from(a.lamport != b.lamport);
            }
        }
    }
    (ordered, concurrent, apart)
}

/// The sample's counts, in both models, are those of a comparison of all pairs.
#[tokio::test]
async fn the_samples_pair_counts_match_a_brute_force() {
    for (model, expected) in [
        (ClockModel::Original, (332, 133, 120)),
        (ClockModel::Strict, (329, 136, 127)),
    ] {
        let report = run_cluster(&example("sample"), model, Schedule::Sequential).await;
        let counts = causality::count_pairs(&report.history).expect("vectors");
        let found = (counts.ordered, counts.concurrent, counts.concurrent_apart);
        assert_eq!(found, expected, "{}", model.name());
        assert_eq!(brute_force(&report.history), expected, "{}", model.name());
    }
}

/// The vector clocks of the sample's sequential run (original model), every event, as worked
/// out by hand from the rules: own entry +1 on every event, a merging receive first takes the
/// maximum with its sender's vector, a query's serving merges nothing.
#[tokio::test]
async fn the_samples_vector_clocks_are_exactly_these() {
    let report = run_cluster(
        &example("sample"),
        ClockModel::Original,
        Schedule::Sequential,
    )
    .await;
    let history = &report.history;
    let found: Vec<String> = history
        .iter()
        .map(|event| {
            format!(
                "{} #{} {} L={} V={}",
                event.process,
                event.seq,
                event.kind.name(),
                event.lamport,
                causality::format_vector(&event.vector, &history.table)
            )
        })
        .collect();
    let expected = [
        "B1 #1 query_request L=0 V={B1:1}",
        "B1 #2 deposit_propagate_request L=3 V={B1:2,B2:2,C2:1}",
        "B1 #3 deposit_propagate_execute L=4 V={B1:3,B2:2,C2:1}",
        "B1 #4 withdraw_propagate_request L=10 V={B1:4,B2:3,B3:4,C2:1,C3:1}",
        "B1 #5 withdraw_propagate_execute L=11 V={B1:5,B2:3,B3:4,C2:1,C3:1}",
        "B2 #1 deposit_request L=1 V={B2:1,C2:1}",
        "B2 #2 deposit_execute L=2 V={B2:2,C2:1}",
        "B2 #3 deposit_propagate_response L=5 V={B1:3,B2:3,C2:1}",
        "B2 #4 deposit_propagate_response L=8 V={B1:3,B2:4,B3:2,C2:1}",
        "B2 #5 deposit_response L=9 V={B1:3,B2:5,B3:2,C2:1}",
        "B2 #6 query_request L=9 V={B1:3,B2:6,B3:2,C2:1}",
        "B2 #7 withdraw_propagate_request L=13 V={B1:5,B2:7,B3:5,C2:1,C3:1}",
        "B2 #8 withdraw_propagate_execute L=14 V={B1:5,B2:8,B3:5,C2:1,C3:1}",
        "B3 #1 deposit_propagate_request L=6 V={B1:3,B2:3,B3:1,C2:1}",
        "B3 #2 deposit_propagate_execute L=7 V={B1:3,B2:3,B3:2,C2:1}",
        "B3 #3 withdraw_request L=8 V={B1:3,B2:3,B3:3,C2:1,C3:1}",
        "B3 #4 withdraw_execute L=9 V={B1:3,B2:3,B3:4,C2:1,C3:1}",
        "B3 #5 withdraw_propagate_response L=12 V={B1:5,B2:3,B3:5,C2:1,C3:1}",
        "B3 #6 withdraw_propagate_response L=15 V={B1:5,B2:8,B3:6,C2:1,C3:1}",
        "B3 #7 withdraw_response L=16 V={B1:5,B2:8,B3:7,C2:1,C3:1}",
        "B3 #8 query_request L=16 V={B1:5,B2:8,B3:8,C2:1,C3:1}",
        "C1 #1 query_send L=0 V={C1:1}",
        "C1 #2 query_receive L=1 V={B1:1,C1:2}",
        "C2 #1 deposit_send L=0 V={C2:1}",
        "C2 #2 deposit_receive L=10 V={B1:3,B2:5,B3:2,C2:2}",
        "C2 #3 query_send L=10 V={B1:3,B2:5,B3:2,C2:3}",
        "C2 #4 query_receive L=11 V={B1:3,B2:6,B3:2,C2:4}",
        "C3 #1 withdraw_send L=0 V={C3:1}",
        "C3 #2 withdraw_receive L=17 V={B1:5,B2:8,B3:7,C2:1,C3:2}",
        "C3 #3 query_send L=17 V={B1:5,B2:8,B3:7,C2:1,C3:3}",
        "C3 #4 query_receive L=18 V={B1:5,B2:8,B3:8,C2:1,C3:4}",
    ];
    assert_eq!(found, expected);
}

/// Trace: a Lamport clock that goes backwards: one line, on that event, with the value the rule
/// gives (it also breaks invariants 1 and 3, which the replay's line says).
#[tokio::test]
async fn trace_clock_going_backwards() {
    let trace = corrupt(
        &sample_trace(ClockModel::Original).await,
        r#""seq":3,"event":"deposit_propagate_execute","id":2,"lamport":4,"#,
        r#""seq":3,"event":"deposit_propagate_execute","id":2,"lamport":2,"#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B1: #3 deposit_propagate_execute (event 2) has lamport 2, but the rule gives \
             3 + 1 = 4: not after the previous event",
            "check: trace, 31 events of 6 processes, original clocks: 1 violation",
        ],
    );
}

/// Output: a clock that goes backwards on a branch (kept consistent in the event entry).
#[test]
fn output_clock_going_backwards() {
    let mut output = sample_output();
    branch_data(&mut output, 1)[3]["clock"] = json!(10); // withdraw_propagate_execute, was 11
    event_data(&mut output, 4)[3]["clock"] = json!(10);
    let (checked, _) = check("out.json", &pretty(&output), &[]);
    assert_verdict(
        &checked,
        1,
        &[
            "B1: #4 withdraw_propagate_execute (event 4) has clock 10, but the rule gives \
             10 + 1 = 11: not after the previous event",
            "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): 1 violation",
        ],
    );
}

/// Output: a propagation that never reached branch 3 (gone from its entry and the event's).
#[test]
fn output_missing_propagation() {
    let mut output = sample_output();
    branch_data(&mut output, 3).drain(0..2);
    event_data(&mut output, 2).drain(5..7);
    let (checked, _) = check("out.json", &pretty(&output), &[]);
    assert_verdict(
        &checked,
        1,
        &[
            "event 2: expected 2 deposit_propagate_request (one on each other branch), found 1",
            "event 2: expected 2 deposit_propagate_execute (one on each other branch), found 1",
            "check: output, 14 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): 2 violations",
        ],
    );
}

/// Trace: the same propagation missing, as lines gone from a trace: every rule that sees a
/// consequence says so once.
#[tokio::test]
async fn trace_missing_propagation() {
    let trace: Vec<String> = sample_trace(ClockModel::Original)
        .await
        .lines()
        .filter(|line| {
            !line.starts_with(r#"{"process":"B3","seq":1,"#)
                && !line.starts_with(r#"{"process":"B3","seq":2,"#)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let (output, _) = check("t.jsonl", &trace.concat(), &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B3: #3 withdraw_request (event 4) comes first (expected #1)",
            "B2: #4 deposit_propagate_response (event 2) receives B3:1, which no event sends",
            "B2: #3 deposit_propagate_response (event 2) sends B2:2, which no event receives",
            // Its clock and its balance are not what the rules give from nothing before it.
            "B3: #3 withdraw_request (event 4) has lamport 8, but the rule gives max(0, 0) \
             + 1 = 1, merging C3:1 from C3 #1 withdraw_send (event 4)",
            "B3: #3 withdraw_request (event 4): vector {B1:3,B2:3,B3:3,C2:1,C3:1} differs \
             from the recomputed {B3:1,C3:1}",
            "event 2: expected 2 deposit_propagate_request (one on each other branch), found 1",
            "event 2: expected 2 deposit_propagate_execute (one on each other branch), found 1",
            "B3: final balance 330 differs from the expected 500 (initial 400 + deposits 170 \
             - withdrawals 70)",
            "B3: #4 withdraw_execute (event 4) has balance 500, but the rule gives 400 - 70 \
             = 330",
            "check: trace, 29 events of 6 processes, original clocks: 9 violations",
        ],
    );
}

/// Output: branch 1 applies deposit 2 a second time, later (both entries list it).
#[test]
fn output_event_applied_twice() {
    let mut output = sample_output();
    let twice = json!({"id": 2, "name": "deposit_propagate_execute", "clock": 12});
    branch_data(&mut output, 1).push(twice);
    event_data(&mut output, 2).push(json!({"name": "deposit_propagate_execute", "clock": 12}));
    let (checked, _) = check("out.json", &pretty(&output), &[]);
    assert_verdict(
        &checked,
        1,
        &[
            "B1: event 2 deposit_propagate_execute applied twice",
            "check: output, 17 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): 1 violation",
        ],
    );
}

/// Output: the event entries must list the branch entries' sub-events, sorted by clock.
#[test]
fn output_event_entries_that_disagree() {
    let mut output = sample_output();
    event_data(&mut output, 4).swap(0, 1);
    event_data(&mut output, 2)[7]["clock"] = json!(9);
    let (checked, _) = check("out.json", &pretty(&output), &[]);
    assert_verdict(
        &checked,
        1,
        &[
            "event 2: deposit_propagate_response (clock 8) is in the branch entries but missing \
             from the event entry",
            "event 2: deposit_propagate_response (clock 9) is listed in the event entry but in no \
             branch entry",
            "event 4: the event entry is not sorted by clock: withdraw_request (clock 8) comes \
             after withdraw_execute (clock 9)",
            "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): 3 violations",
        ],
    );
}

/// Output: `--branches 4` says a fourth branch (with no events) took part, so every
/// propagation misses one branch; fewer branches than entries is refused.
#[test]
fn output_with_a_branch_count() {
    let text = pretty(&sample_output());
    let (checked, path) = check("out.json", &text, &["--branches", "4"]);
    let mut lines = Vec::new();
    for (id, op) in [(2, "deposit"), (4, "withdraw")] {
        for (step, how) in [
            ("propagate_request", "on"),
            ("propagate_execute", "on"),
            ("propagate_response", "from"),
        ] {
            lines.push(format!(
                "event {id}: expected 3 {op}_{step} (one {how} each other branch), found 2"
            ));
        }
    }
    lines.push("check: output, 16 sub-events of 4 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): 6 violations".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_verdict(&checked, 1, &lines);
    let (checked, _) = check("out.json", &text, &["--branches", "3"]);
    assert_verdict(
        &checked,
        0,
        &[
            "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): all invariants hold",
        ],
    );
    let (refused, path2) = check("out.json", &text, &["--branches", "2"]);
    assert_refused(
        &refused,
        &format!("{path2}: --branches 2 is fewer than the 3 branch entries in the file"),
    );
    assert_ne!(path, path2);
}

/// Trace: a receive before its send. The deposit's request is said to be sent by the
/// customer's receive of the reply, which needs the request to have been served first.
#[tokio::test]
async fn trace_receive_before_its_send() {
    let trace = sample_trace(ClockModel::Original).await;
    let trace = corrupt(
        &trace,
        r#""lamport":0,"money":170,"vector":{"C2":1},"send":["C2:1"]}"#,
        r#""lamport":0,"money":170,"vector":{"C2":1}}"#,
    );
    let trace = corrupt(
        &trace,
        r#""receive":"B2:3","result":"success"}"#,
        r#""receive":"B2:3","send":["C2:1"],"result":"success"}"#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B2: #1 deposit_request (event 2) has lamport 1, but the rule gives max(0, 10) \
             + 1 = 11, merging C2:1 from C2 #2 deposit_receive (event 2): not after its send",
            "B2: #1 deposit_request (event 2) receives C2:1 before it is sent: its sender \
             C2 #2 deposit_receive (event 2) depends on this receive",
            "check: trace, 31 events of 6 processes, original clocks: 2 violations",
        ],
    );
}

/// Trace: a deposit received as a withdraw is named once, on the receive (the customer's
/// request says what the event is).
#[tokio::test]
async fn trace_request_received_with_another_interface() {
    let trace = corrupt(
        &sample_trace(ClockModel::Original).await,
        r#""process":"B2","seq":1,"event":"deposit_request""#,
        r#""process":"B2","seq":1,"event":"withdraw_request""#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B2: event 2 withdraw_request belongs to a deposit event",
            "check: trace, 31 events of 6 processes, original clocks: 1 violation",
        ],
    );
}

/// Trace: a forged vector clock is reported once, on the forged event: what follows it is
/// checked against the corrected vector.
#[tokio::test]
async fn trace_forged_vector_clock() {
    let trace = corrupt(
        &sample_trace(ClockModel::Original).await,
        r#""vector":{"B1":3,"B2":5,"B3":2,"C2":1},"send":["B2:3"]"#,
        r#""vector":{"B1":3,"B2":5,"B3":3,"C2":1},"send":["B2:3"]"#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B2: #5 deposit_response (event 2): vector {B1:3,B2:5,B3:3,C2:1} differs from \
             the recomputed {B1:3,B2:5,B3:2,C2:1}",
            "check: trace, 31 events of 6 processes, original clocks: 1 violation",
        ],
    );
}

/// Trace: a forged balance (branch 3's last): named once, on the step that shows it, with the
/// balance the rules give.
#[tokio::test]
async fn trace_replicas_that_disagree() {
    let trace = corrupt(
        &sample_trace(ClockModel::Original).await,
        r#""send":["B3:2"],"balance":500"#,
        r#""send":["B3:2"],"balance":430"#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B3: #4 withdraw_execute (event 4) has balance 430, but the rule gives 570 - 70 \
             = 500",
            "check: trace, 31 events of 6 processes, original clocks: 1 violation",
        ],
    );
}

/// Trace, strict model: a query served without a message (so the customer's request is never
/// received), and a deposit send that does not tick although strict sends do.
#[tokio::test]
async fn trace_unlinked_message_and_strict_send_that_does_not_tick() {
    let trace = sample_trace(ClockModel::Strict).await;
    let trace = corrupt(
        &trace,
        r#""lamport":0,"vector":{"B1":1},"receive":"C1:1","#,
        r#""lamport":0,"vector":{"B1":1},"#,
    );
    let trace = corrupt(
        &trace,
        r#""seq":1,"event":"deposit_send","id":2,"lamport":1,"#,
        r#""seq":1,"event":"deposit_send","id":2,"lamport":0,"#,
    );
    let (output, _) = check("t.jsonl", &trace, &[]);
    assert_verdict(
        &output,
        1,
        &[
            "B1: #1 query_request (event 1) receives no message",
            "C1: #1 query_send (event 1) sends C1:1, which no event receives",
            "C2: #1 deposit_send (event 2) has lamport 0, but the rule gives 0 + 1 = 1: not \
             after the previous event",
            "check: trace, 31 events of 6 processes, strict clocks: 3 violations",
        ],
    );
}

/// `--json` gives the verdict with rule ids, processes and messages.
#[tokio::test]
async fn the_verdict_as_json() {
    let trace = corrupt(
        &sample_trace(ClockModel::Original).await,
        r#""send":["B3:2"],"balance":500"#,
        r#""send":["B3:2"],"balance":430"#,
    );
    let (output, _) = check("t.jsonl", &trace, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let verdict: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        verdict,
        json!({
            "format": "trace",
            "course": null,
            "exact": true,
            "clocks": "original",
            "propagation": "sync",
            "events": 31,
            "processes": 6,
            "pairs": {"ordered": 332, "concurrent": 133, "concurrent_different_lamport": 120},
            "lamport_events": 23,
            "parts": null,
            "violations": [{
                "rule": "money",
                "process": "B3",
                "message": "#4 withdraw_execute (event 4) has balance 430, but the rule gives \
                            570 - 70 = 500"
            }],
            "hold": false
        })
    );
}

/// Files that cannot be read or parsed: exit status 2 and one line naming the place.
#[tokio::test]
async fn bad_files_are_refused_with_one_line() {
    let trace = sample_trace(ClockModel::Original).await;
    let mut lines: Vec<&str> = trace.lines().collect();
    lines[4] = r#"{"process":"B1","seq":4,"event":"withdraw_propagate_request""#;
    let (output, path) = check("t.jsonl", &(lines.join("\n") + "\n"), &[]);
    assert_refused(
        &output,
        &format!(
            "{path}: line 5: malformed event: EOF while parsing an object at line 1 column 60"
        ),
    );
    let (output, path) = check("out.json", "[\n  {\"id\": 1,\n    }\n]", &[]);
    assert_refused(
        &output,
        &format!("{path}: line 3 column 5: malformed JSON: trailing comma"),
    );
    let (output, path) = check("out.json", "{\"id\": 1}", &[]);
    assert_refused(
        &output,
        &format!(
            "{path}: expected a JSON array (a run's output) or a trace header line, got an object"
        ),
    );
    let fractional = r#"[{"id": 1, "data": [{"id": 2, "name": "deposit_execute", "clock": 3.5}]}]"#;
    let (output, path) = check("out.json", fractional, &[]);
    assert_refused(
        &output,
        &format!(
            "{path}: entry at index 0: data at index 0: clock must be a whole number of at least \
             0, got 3.5"
        ),
    );
    let unknown = r#"[{"id": 1, "data": [{"id": 2, "name": "deposit_jump", "clock": 3}]}]"#;
    let (output, path) = check("out.json", unknown, &[]);
    assert_refused(
        &output,
        &format!("{path}: entry at index 0: data at index 0: unknown sub-event \"deposit_jump\""),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.json");
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("check")
        .arg(&missing)
        .output()
        .expect("the binary runs");
    assert_refused(
        &output,
        &format!(
            "{}: cannot read: No such file or directory (os error 2)",
            missing.display()
        ),
    );
}
