//! The property `check` promises: take a correct output or trace (every example and a generated
//! workload, every clock model, both schedules; a fall-2023 output's list of all events for
//! the `messages` model), change one clock so that its process's clocks
//! still increase, and `check` rejects the file and names the changed event. In a trace every
//! line names only that event; in an output, where a propagation's send is not shown, a line may
//! name it together with the event after it, saying that the file cannot tell which is wrong.

mod common;

use common::{EXAMPLES, example, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::scenario::Scenario;
use lamport_bank::scenario::workload::{self, WorkloadSpec};
use lamport_bank::trace::{Spelling, file as tracefile};
use lamport_bank::verify::audit::{self, Options, Verdict};
use serde_json::Value;

/// Corruptions tried per file.
const TRIES: usize = 20;

/// A small deterministic generator (SplitMix64): the same picks on every run of the test.
struct Picks(u64);

impl Picks {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// A clock strictly between `low` and `high` other than `now`, if there is one.
fn other_clock(picks: &mut Picks, low: u64, high: u64, now: u64) -> Option<u64> {
    let choices: Vec<u64> = (low + 1..high).filter(|&clock| clock != now).collect();
    (!choices.is_empty()).then(|| choices[picks.below(choices.len())])
}

fn verdict_of(text: &str) -> Verdict {
    audit::audit(text.as_bytes(), &Options::default()).expect("the file reads")
}

/// Corrupts one event line of a trace; returns the new text and the event's label
/// (`B2: #4 deposit_propagate_response (event 2)`).
fn corrupt_trace(text: &str, picks: &mut Picks) -> Option<(String, String)> {
    let mut lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect();
    let events: Vec<usize> = (1..lines.len())
        .filter(|&i| lines[i].get("process").is_some())
        .collect();
    let chosen = events[picks.below(events.len())];
    let process = lines[chosen]["process"].clone();
    let clock = |line: &Value| line["lamport"].as_u64().expect("a clock");
    let same = |i: &usize| lines[*i]["process"] == process;
    let low = events
        .iter()
        .filter(|&&i| i < chosen)
        .rfind(|i| same(i))
        .map_or(0, |&i| clock(&lines[i]));
    let high = events
        .iter()
        .filter(|&&i| i > chosen)
        .find(|i| same(i))
        .map_or(clock(&lines[chosen]) + 4, |&i| clock(&lines[i]));
    // A clock that keeps its process's clocks in order: after the one before (or equal, for
    // an event that does not tick), before the one after.
    let now = clock(&lines[chosen]);
    let new = other_clock(picks, low.saturating_sub(1), high, now)?;
    lines[chosen]["lamport"] = Value::from(new);
    let label = format!(
        "{}: #{} {} (event {})",
        process.as_str().expect("a name"),
        lines[chosen]["seq"],
        lines[chosen]["event"].as_str().expect("a name"),
        lines[chosen]["id"]
    );
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    Some((text.join("\n") + "\n", label))
}

/// Corrupts one record of a branch entry of an output, and the same record in its event's
/// entry (as a program that prints one wrong clock prints it in both, sorted by it); returns
/// the new text
/// and the record's label (`B3: #1 deposit_propagate_request (event 2)`).
fn corrupt_output(text: &str, picks: &mut Picks) -> Option<(String, String)> {
    let mut output: Value = serde_json::from_str(text).expect("JSON");
    let entries = output.as_array_mut().expect("an array");
    let branches: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            let records = entries[i]["data"].as_array().map_or(0, Vec::len);
            entries[i].get("id").is_some() && records > 0
        })
        .collect();
    let entry = branches[picks.below(branches.len())];
    let data = entries[entry]["data"].as_array().expect("data").clone();
    let at = picks.below(data.len());
    let clock = |record: &Value| record["clock"].as_u64().expect("a clock");
    let low = at.checked_sub(1).map_or(0, |i| clock(&data[i]));
    let high = data.get(at + 1).map_or(clock(&data[at]) + 4, clock);
    let now = clock(&data[at]);
    let new = other_clock(picks, low, high, now)?;
    let (id, name) = (data[at]["id"].clone(), data[at]["name"].clone());
    entries[entry]["data"][at]["clock"] = Value::from(new);
    let listed = entries
        .iter_mut()
        .find(|e| e.get("eventid") == Some(&id))
        .and_then(|e| e["data"].as_array_mut())
        .expect("the event has an entry");
    let record = listed
        .iter_mut()
        .find(|r| r["name"] == name && r["clock"] == now)
        .expect("the event entry lists the record");
    record["clock"] = Value::from(new);
    // The program sorts its event entries by clock, the wrong one too.
    listed.sort_by_key(|r| r["clock"].as_u64());
    let label = format!(
        "B{}: #{} {} (event {id})",
        entries[entry]["id"],
        at + 1,
        name.as_str().expect("a name")
    );
    Some((serde_json::to_string_pretty(&output).expect("JSON"), label))
}

/// Changes one clock of a fall-2023 output's part 3 (all events) so that its process's clocks
/// still increase, and sorts the part again by request and clock (as a program that prints one
/// wrong clock prints it); returns the new text and the event's label
/// (`B2: #3 propogate_deposit (request 2, event_sent to branch 3)`).
fn corrupt_all_events(text: &str, picks: &mut Picks) -> Option<(String, String)> {
    let mut all: Vec<Value> = serde_json::from_str(text).expect("JSON");
    let at = picks.below(all.len());
    let key = |entry: &Value| (entry["type"].clone(), entry["id"].clone());
    let clock = |entry: &Value| entry["logical_clock"].as_u64().expect("a clock");
    let mut own: Vec<u64> = all
        .iter()
        .filter(|entry| key(entry) == key(&all[at]))
        .map(clock)
        .collect();
    own.sort_unstable();
    let now = clock(&all[at]);
    let position = own.iter().position(|&c| c == now).expect("its own clock");
    let low = position.checked_sub(1).map_or(0, |i| own[i]);
    let high = own.get(position + 1).copied().unwrap_or(now + 4);
    let new = other_clock(picks, low, high, now)?;
    all[at]["logical_clock"] = Value::from(new);
    let entry = &all[at];
    let process = match entry["type"].as_str() {
        Some("customer") => "C",
        _ => "B",
    };
    let label = format!(
        "{process}{}: #{} {} (request {}, {})",
        entry["id"],
        position + 1,
        entry["interface"].as_str().expect("an interface"),
        entry["customer-request-id"],
        entry["comment"].as_str().expect("a comment")
    );
    all.sort_by_key(|entry| {
        (
            entry["customer-request-id"].as_u64(),
            entry["logical_clock"].as_u64(),
        )
    });
    Some((serde_json::to_string_pretty(&all).expect("JSON"), label))
}

/// How a file is corrupted.
#[derive(Clone, Copy)]
enum Kind {
    Trace,
    Output,
    AllEvents,
}

/// Corrupts `text` up to [`TRIES`] times and checks each: rejected, and every line names the
/// corrupted event (alone, in a trace).
fn assert_each_corruption_named(text: &str, kind: Kind, what: &str, seed: u64) {
    assert!(verdict_of(text).holds(), "{what}: the run itself passes");
    let mut picks = Picks(seed);
    let mut tried = 0;
    for _ in 0..TRIES * 4 {
        let corrupted = match kind {
            Kind::Trace => corrupt_trace(text, &mut picks),
            Kind::Output => corrupt_output(text, &mut picks),
            Kind::AllEvents => corrupt_all_events(text, &mut picks),
        };
        let Some((corrupted, label)) = corrupted else {
            continue;
        };
        tried += 1;
        let verdict = verdict_of(&corrupted);
        let lines: Vec<String> = verdict.findings.iter().map(ToString::to_string).collect();
        assert!(!lines.is_empty(), "{what}: {label} changed, yet all holds");
        for line in &lines {
            let named = line.starts_with(&format!("{label} "))
                || (matches!(kind, Kind::Output)
                    && line.contains("the file cannot tell which")
                    && line.contains(label.split_once(": ").map_or("", |(_, e)| e)));
            assert!(named, "{what}: {label} changed, but check says: {lines:#?}");
        }
        if tried == TRIES {
            break;
        }
    }
    assert!(tried > 0, "{what}: no clock could be changed");
}

async fn each_corruption_is_named(scenario: &Scenario, name: &str) {
    for model in ClockModel::ALL {
        for schedule in [Schedule::Sequential, Schedule::Concurrent] {
            let report = run_cluster(scenario, model, schedule).await;
            let what = format!("{name}, {}, {}", model.name(), schedule.name());
            let mut trace = Vec::new();
            tracefile::write(&report.history, &mut trace).expect("written to memory");
            let trace = String::from_utf8(trace).expect("UTF-8");
            assert_each_corruption_named(&trace, Kind::Trace, &format!("{what}, trace"), 7);
            let (output, kind) = match model {
                ClockModel::Messages => {
                    let [_, _, all] = report.history.parts(Spelling::Propogate).texts();
                    (all, Kind::AllEvents)
                }
                _ => (report.trace.output_text(), Kind::Output),
            };
            assert_each_corruption_named(&output, kind, &format!("{what}, output"), 11);
        }
    }
}

#[tokio::test]
async fn a_changed_clock_in_an_example_is_named() {
    for name in EXAMPLES {
        each_corruption_is_named(&example(name), name).await;
    }
}

#[tokio::test]
async fn a_changed_clock_in_a_generated_workload_is_named() {
    let spec = WorkloadSpec {
        branches: vec![1, 2, 3, 5],
        ops_per_customer: 12,
        initial_balance: 300,
    };
    for seed in [3, 4] {
        let scenario = workload::generate(seed, &spec);
        each_corruption_is_named(&scenario, &format!("workload {seed}")).await;
    }
}
