//! Customers that go from branch to branch (the course's client-centric project): both input
//! forms (`branch`, `dest`) run, with synchronous and asynchronous propagation, and
//! `run --course 2023` prints the project's output of the input's form, equal to the course's
//! examples worked by hand and to an oracle here for a big input; `check --input` passes those
//! outputs and names a stale read in one; an input that repeats an event id runs with a warning;
//! every run's invariants hold, concurrent and simulated with faults too.

mod common;

use std::path::Path;

use common::{examples_dir, lamport_bank, text};
use serde_json::{Value, json};

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path:?}: {error}"))
}

/// `run --course 2023` of `input`, which must succeed: its output, parsed, and its stderr.
fn course_output(input: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["run", "--course", "2023", input];
    args.extend_from_slice(extra);
    let output = lamport_bank(&args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{input}: {stderr}");
    let stdout = text(&output.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"));
    (value, stderr)
}

/// The oracle: what one customer's requests must get from a single copy of the balance that
/// every write reaches before the next request (a withdraw the balance does not cover fails
/// and changes nothing), in the input's form: one entry per request (`branch`), or the
/// balance of the last query (`dest`).
fn oracle(input: &Value) -> Value {
    let items = input.as_array().expect("an array");
    let mut balance = items
        .iter()
        .find(|item| item["type"] == "branch" || item["type"] == "bank")
        .and_then(|branch| branch["balance"].as_i64())
        .expect("a branch");
    let customers: Vec<&Value> = items
        .iter()
        .filter(|item| item["type"] == "customer" || item["type"] == "client")
        .collect();
    assert_eq!(customers.len(), 1, "the oracle knows one customer");
    let customer = customers[0];
    let id = customer["id"].as_u64().expect("an id");
    let mut entries = Vec::new();
    let mut last_read = Value::Null;
    for event in customer["events"].as_array().expect("events") {
        let branch = event.get("branch").or(event.get("dest")).expect("a branch");
        let money = event["money"].as_i64().unwrap_or(0);
        let interface = event["interface"].as_str().expect("an interface");
        let entry = match interface {
            "query" => {
                last_read = json!(balance);
                json!({"interface": "query", "branch": branch, "balance": balance})
            }
            "deposit" => {
                balance += money;
                json!({"interface": "deposit", "branch": branch, "result": "success"})
            }
            _ => {
                let result = if balance >= money {
                    balance -= money;
                    "success"
                } else {
                    "fail"
                };
                json!({"interface": "withdraw", "branch": branch, "result": result})
            }
        };
        entries.push(json!({"id": id, "recv": [entry]}));
    }
    if event_field(customer) == "dest" {
        json!([{"id": id, "balance": last_read}])
    } else {
        Value::Array(entries)
    }
}

/// The field the customer's events name their branch with.
fn event_field(customer: &Value) -> &'static str {
    let first = &customer["events"][0];
    if first.get("dest").is_some() {
        "dest"
    } else {
        "branch"
    }
}

/// The course's three examples.
const COURSE_EXAMPLES: [&str; 3] = [
    "client-centric-branch",
    "client-centric-monotonic-writes",
    "client-centric-read-your-writes",
];

/// Both ways of propagating (`--course 2023` keeps its own clocks, `messages`).
const PROPAGATIONS: [[&str; 2]; 2] = [["--propagation", "sync"], ["--propagation", "async"]];

/// Every way of propagating, with every clock model.
const SETTINGS: [[&str; 4]; 6] = [
    ["--propagation", "sync", "--clocks", "original"],
    ["--propagation", "sync", "--clocks", "strict"],
    ["--propagation", "sync", "--clocks", "messages"],
    ["--propagation", "async", "--clocks", "original"],
    ["--propagation", "async", "--clocks", "strict"],
    ["--propagation", "async", "--clocks", "messages"],
];

/// With either propagation (asynchronous: with the session guarantees enforced), each example's
/// output is the one worked by hand, and every rule holds.
#[test]
fn the_course_examples_give_the_outputs_worked_by_hand() {
    for name in COURSE_EXAMPLES {
        let input = format!("examples/{name}.json");
        let expected = json_file(&examples_dir().join(format!("{name}.expected.json")));
        // The oracle agrees with the hand work.
        assert_eq!(
            oracle(&json_file(&examples_dir().join(format!("{name}.json")))),
            expected
        );
        for settings in PROPAGATIONS {
            let (output, stderr) = course_output(&input, &settings);
            assert_eq!(output, expected, "{name} {settings:?}");
            assert!(
                stderr.contains("Invariants: all hold"),
                "{name} {settings:?}: {stderr}"
            );
        }
    }
}

/// `check --input` passes each example's expected output, and names a query that read a
/// branch before the customer's own deposit reached it, in either form.
#[test]
fn check_reads_both_course_forms_and_names_a_stale_read() {
    for name in COURSE_EXAMPLES {
        let expected = examples_dir().join(format!("{name}.expected.json"));
        let output = lamport_bank(&[
            "check",
            &expected.to_string_lossy(),
            "--input",
            &format!("examples/{name}.json"),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            text(&output.stdout)
        );
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let stale = [
        (
            "client-centric-branch",
            json!([
                {"id": 1, "recv": [{"interface": "deposit", "branch": 1, "result": "success"}]},
                {"id": 1, "recv": [{"interface": "query", "branch": 1, "balance": 400}]},
                {"id": 1, "recv": [{"interface": "query", "branch": 2, "balance": 0}]}
            ]),
            "C1: event 3: query at B2 got 0, which misses some of its own earlier changes \
             (+400): with all of them, no order of the accepted changes gives it (initial 0, any \
             of the others': none)\n\
             check: client-centric results, 3 results of 1 customer: 1 violation\n",
        ),
        (
            "client-centric-read-your-writes",
            json!([{"id": 1, "balance": 0}]),
            "C1: event 2: query got 0, which misses some of its own earlier changes (+400): with \
             all of them, no order of the accepted changes gives it (initial 0, any of the \
             others': none)\n\
             check: client-centric balances, 1 balance of 1 customer: 1 violation\n",
        ),
        (
            "client-centric-branch",
            json!([
                {"id": 1, "recv": [{"interface": "deposit", "branch": 1, "result": "success"}]},
                {"id": 1, "recv": [{"interface": "query", "branch": 2, "balance": 400}]},
                {"id": 1, "recv": [{"interface": "query", "branch": 2, "balance": 400}]}
            ]),
            "C1: event 2: answered by B2, but the input sends it to B1\n\
             check: client-centric results, 3 results of 1 customer: 1 violation\n",
        ),
    ];
    for (name, results, lines) in stale {
        let path = dir.path().join("results.json");
        std::fs::write(&path, results.to_string()).expect("written");
        let output = lamport_bank(&[
            "check",
            &path.to_string_lossy(),
            "--input",
            &format!("examples/{name}.json"),
        ]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert_eq!(text(&output.stdout), lines, "{name}");
    }
}

/// The big input: every query reads the sum of the customer's writes before it, in both modes.
#[test]
fn the_big_input_gives_every_query_the_sum_of_the_writes_before_it() {
    let path = examples_dir().join("client-centric-big.json");
    let input = json_file(&path);
    let expected = oracle(&input);
    assert_eq!(expected.as_array().map(Vec::len), Some(60));
    for settings in PROPAGATIONS {
        let (output, stderr) = course_output("examples/client-centric-big.json", &settings);
        assert_eq!(output, expected, "{settings:?}");
        assert!(
            stderr.contains("Invariants: all hold"),
            "{settings:?}: {stderr}"
        );
    }
    let (output, stderr) = course_output("examples/client-centric-big.json", &[]);
    assert_eq!(output, expected);
    // The account names the branch of every request.
    assert!(
        stderr.contains(
            "    C1: 1 query at B1 -> 0, 2 deposit 10 at B1 -> success, 3 query at B1 -> 10"
        ),
        "{stderr}"
    );
}

#[test]
fn an_input_that_repeats_an_event_id_runs_with_a_warning() {
    let path = examples_dir().join("client-centric-big.json");
    let text = std::fs::read_to_string(&path).expect("the big input");
    let flawed = text.replacen(r#"{"id": 6, "#, r#"{"id": 5, "#, 1);
    assert_ne!(flawed, text);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let flawed_path = dir.path().join("big.json");
    std::fs::write(&flawed_path, flawed).expect("written");
    let (output, stderr) = course_output(&flawed_path.to_string_lossy(), &[]);
    assert_eq!(output, oracle(&json_file(&path)));
    let warning = format!(
        "{}: process 1 (customer): event 5: warning: event id 5 is used twice (first by C1); every event is identified by its place in the input instead (1, 2, 3, ...)",
        flawed_path.display()
    );
    assert_eq!(stderr.lines().next(), Some(warning.as_str()), "{stderr}");
}

#[test]
fn customers_that_go_from_branch_to_branch_concurrently_keep_every_invariant() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("three.json");
    let customers: Vec<Value> = (1..=3)
        .map(|customer| {
            let events: Vec<Value> = (0..12)
                .map(|k| {
                    let branch = 1 + (customer + k) % 4;
                    let id = customer * 100 + k;
                    match k % 3 {
                        0 => {
                            json!({"id": id, "interface": "deposit", "money": 7, "branch": branch})
                        }
                        1 => {
                            json!({"id": id, "interface": "withdraw", "money": 5, "branch": branch})
                        }
                        _ => json!({"id": id, "interface": "query", "branch": branch}),
                    }
                })
                .collect();
            json!({"id": customer, "type": "customer", "events": events})
        })
        .collect();
    let branches = (1..=4).map(|id| json!({"id": id, "type": "branch", "balance": 50}));
    let input = Value::Array(customers.into_iter().chain(branches).collect());
    std::fs::write(&path, input.to_string()).expect("written");
    let path = path.to_string_lossy().into_owned();
    let trace = dir
        .path()
        .join("trace.jsonl")
        .to_string_lossy()
        .into_owned();
    for settings in SETTINGS {
        let mut args = vec!["run", &path, "--concurrent", "--trace", &trace];
        args.extend(settings);
        let output = lamport_bank(&args);
        let clocks = settings.join(" ");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{clocks}: {stderr}");
        // 3 customers: 4 deposits of 7 and 4 withdraws of 5 each, none of which can fail.
        assert!(stderr.contains("    B4: 74\n"), "{clocks}: {stderr}");
        let checked = lamport_bank(&["check", &trace]);
        assert_eq!(
            checked.status.code(),
            Some(0),
            "{clocks}: {}",
            text(&checked.stdout)
        );
    }
    for propagation in ["sync", "async"] {
        let simulated = lamport_bank(&[
            "simulate",
            &path,
            "--concurrent",
            "--faults",
            "all",
            "--seeds",
            "1..20",
            "--propagation",
            propagation,
        ]);
        assert_eq!(
            simulated.status.code(),
            Some(0),
            "{}{}",
            text(&simulated.stdout),
            text(&simulated.stderr)
        );
    }
}

#[test]
fn inputs_that_name_branches_are_refused_where_they_cannot_run() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = lamport_bank(&[
        "run",
        "--course",
        "2023",
        "examples/client-centric-branch.json",
        "--output-dir",
        &dir.path().to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "--output-dir: the three parts of 2023's output are of customers at their own branches; this input's go from branch to branch (its --course 2023 output is the client-centric project's)\n"
    );
}
