//! The course years' output formats (`run --course 2021|2022`): every example's sequential
//! output equals the expected file in each year's format, made here from the `strict` expected
//! file by an independent renaming (the years' documents: `pid` keys; 2021 `X_broadcast_*`,
//! 2022 `X_propogate_*`); `check` reads each year's output, exactly for 2022 and for the order
//! only for 2021, and says so; the flags that contradict a year are refused with one line.

mod common;

use std::process::Command;

use common::{EXAMPLES, example, expected, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::trace::{Course, Spelling};
use lamport_bank::verify::audit::{self, Options};
use serde_json::Value;

/// The oracle: the `strict` expected output, renamed as `course` writes it.
fn renamed(strict: &Value, propagate: &str) -> Value {
    let mut output = strict.clone();
    for entry in output.as_array_mut().expect("an array") {
        let object = entry.as_object_mut().expect("an object");
        if let Some(id) = object.remove("id") {
            object.insert("pid".to_string(), id);
        }
        for record in object["data"].as_array_mut().expect("data") {
            let name = record["name"].as_str().expect("a name");
            let name = name.replace("_propagate_", &format!("_{propagate}_"));
            record["name"] = Value::from(name);
        }
    }
    output
}

/// Compares as values, but keys in the order written: `pid` must come first, as the years
/// print it.
fn keys_in_order(output: &Value) -> Vec<Vec<String>> {
    let entries = output.as_array().expect("an array");
    entries
        .iter()
        .map(|entry| {
            entry
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_example_in_every_year_equals_its_expected_output() {
    for name in EXAMPLES {
        let report = run_cluster(&example(name), ClockModel::Strict, Schedule::Sequential).await;
        let strict = expected(name, ClockModel::Strict);
        for (course, spelling, propagate) in [
            (Course::Y2021, Spelling::Propogate, "broadcast"),
            (Course::Y2022, Spelling::Propogate, "propogate"),
            (Course::Y2022, Spelling::Propagate, "propagate"),
        ] {
            let written: Value =
                serde_json::from_str(&report.trace.course_output_text(course, spelling))
                    .expect("JSON");
            let wanted = renamed(&strict, propagate);
            assert_eq!(written, wanted, "{name}, {}, {propagate}", course.name());
            assert_eq!(keys_in_order(&written)[0], ["pid", "data"]);
        }
    }
}

fn summary(text: &str) -> String {
    let verdict = audit::audit(text.as_bytes(), &Options::default()).expect("reads");
    verdict.text()
}

#[tokio::test]
async fn check_reads_each_year_exactly_or_for_order_and_says_which() {
    for schedule in [Schedule::Sequential, Schedule::Concurrent] {
        let report = run_cluster(&example("sample"), ClockModel::Strict, schedule).await;
        let y2022 = report
            .trace
            .course_output_text(Course::Y2022, Spelling::Propogate);
        assert_eq!(
            summary(&y2022),
            "check: output (course 2022), 18 sub-events of 3 branches, strict clocks: all \
             invariants hold\n"
        );
        let y2021 = report
            .trace
            .course_output_text(Course::Y2021, Spelling::Propogate);
        assert_eq!(
            summary(&y2021),
            "check: output (course 2021), 18 sub-events of 3 branches, strict clocks, checked \
             for their order only (the year's rules are not known exactly): all invariants \
             hold\n"
        );
    }
}

/// Sets the clock of record `at` of branch entry `entry`, and the same record in its event's
/// entry, which stays sorted by clock (as a program that prints a wrong clock prints it).
fn set_clock(output: &mut Value, entry: usize, at: usize, clock: u64) {
    let entries = output.as_array_mut().expect("an array");
    let record = entries[entry]["data"][at].clone();
    entries[entry]["data"][at]["clock"] = Value::from(clock);
    let listed = entries
        .iter_mut()
        .find(|e| e.get("eventid") == Some(&record["id"]))
        .and_then(|e| e["data"].as_array_mut())
        .expect("the event's entry");
    let same = listed
        .iter_mut()
        .find(|r| r["name"] == record["name"] && r["clock"] == record["clock"])
        .expect("listed");
    same["clock"] = Value::from(clock);
    listed.sort_by_key(|r| r["clock"].as_u64());
}

#[tokio::test]
async fn a_wrong_clock_that_keeps_the_order_is_caught_in_2022_not_in_2021() {
    let report = run_cluster(&example("sample"), ClockModel::Strict, Schedule::Sequential).await;
    // B3's withdraw_execute: 10 by the rule (after its request at 9), printed 11; still before
    // its first acknowledgement at 13.
    let mut y2022: Value = serde_json::from_str(
        &report
            .trace
            .course_output_text(Course::Y2022, Spelling::Propogate),
    )
    .expect("JSON");
    set_clock(&mut y2022, 2, 3, 11);
    assert_eq!(
        summary(&y2022.to_string()),
        "B3: #4 withdraw_execute (event 4) has clock 11, but the rule gives 9 + 1 = 10\n\
         check: output (course 2022), 18 sub-events of 3 branches, strict clocks: 1 violation\n"
    );
    // A line names the step as the year spells it.
    set_clock(&mut y2022, 0, 0, 1);
    let text = summary(&y2022.to_string());
    assert!(
        text.starts_with("B1: #1 deposit_propogate_request (event 2) has clock 1"),
        "{text}"
    );
    assert!(!text.contains("_propagate_"), "{text}");
    let mut y2021: Value = serde_json::from_str(
        &report
            .trace
            .course_output_text(Course::Y2021, Spelling::Propogate),
    )
    .expect("JSON");
    // B2's deposit_response: 10 by the rule, printed 12, still before B2's next event at 14.
    set_clock(&mut y2021, 1, 4, 12);
    assert!(
        summary(&y2021.to_string()).ends_with(
            "order only (the year's rules are not known exactly): all invariants hold\n"
        )
    );
    // Out of order, 2021 is caught: B1 receives the propagation at the clock it was sent.
    set_clock(&mut y2021, 0, 0, 3);
    assert_eq!(
        summary(&y2021.to_string()).lines().next(),
        Some(
            "B1: event 2 deposit_broadcast_request (clock 3) is not after deposit_execute (clock 3) on B2"
        )
    );
}

#[test]
fn flags_that_contradict_a_year_are_refused_with_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["run", "--course", "2021", "--clocks", "original"],
            "--course 2021: its output has the strict clocks, not the original ones (leave out \
             --clocks, or give --clocks strict)\n",
        ),
        (
            &["run", "--course", "2021", "--spelling", "propagate"],
            "--spelling: only with --course 2022 or 2023 (2021 writes X_broadcast_*)\n",
        ),
        (
            &["simulate", "--course", "2022", "--clocks", "original"],
            "--course 2022: its output has the strict clocks, not the original ones (leave out \
             --clocks, or give --clocks strict)\n",
        ),
    ];
    for (args, line) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
            .args(args)
            .output()
            .expect("the binary runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), line, "{args:?}");
        assert!(output.stdout.is_empty());
    }
}
