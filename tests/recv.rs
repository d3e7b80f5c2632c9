//! Project 1's customer results (`run --recv FILE`, the form of the course's 2024 documents):
//! the sample's, written by hand from its expected run, exactly; and `check --input` reads them,
//! passing every run's and naming a balance that no order of the accepted changes gives.

mod common;

use std::process::Command;

use common::{EXAMPLES, example, examples_dir, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::verify::audit::{self, Options};
use serde_json::{Value, json};

fn checked(results: &Value, name: &str) -> String {
    let options = Options {
        scenario: Some(example(name)),
        ..Options::default()
    };
    let verdict = audit::audit(results.to_string().as_bytes(), &options).expect("reads");
    verdict.text()
}

#[tokio::test]
async fn the_samples_results_are_the_documents_form() {
    let report = run_cluster(
        &example("sample"),
        ClockModel::Original,
        Schedule::Sequential,
    )
    .await;
    // C1 queries 400; C2 deposits 170 and reads 570; C3 withdraws 70 and reads 500.
    let wanted = json!([
        {"id": 1, "recv": [{"interface": "query", "balance": 400}]},
        {"id": 2, "recv": [{"interface": "deposit", "result": "success"},
                           {"interface": "query", "balance": 570}]},
        {"id": 3, "recv": [{"interface": "withdraw", "result": "success"},
                           {"interface": "query", "balance": 500}]},
    ]);
    assert_eq!(report.trace.recv_output(), wanted);
}

#[tokio::test]
async fn every_runs_results_pass_check() {
    for name in EXAMPLES {
        for schedule in [Schedule::Sequential, Schedule::Concurrent] {
            let report = run_cluster(&example(name), ClockModel::Original, schedule).await;
            let text = checked(&report.trace.recv_output(), name);
            assert!(text.ends_with("all invariants hold\n"), "{name}: {text}");
        }
    }
}

#[test]
fn a_balance_no_order_gives_is_named() {
    let forged = json!([
        {"id": 1, "recv": [{"interface": "query", "balance": 400}]},
        {"id": 2, "recv": [{"interface": "deposit", "result": "success"},
                           {"interface": "query", "balance": 600}]},
        {"id": 3, "recv": [{"interface": "withdraw", "result": "success"},
                           {"interface": "query", "balance": 500}]},
    ]);
    assert_eq!(
        checked(&forged, "sample"),
        "C2: event 3: query got 600, which no order of the accepted changes gives (initial \
         400, its own earlier changes +170, any of the others': -70)\n\
         check: Project 1 results, 5 results of 3 customers: 1 violation\n"
    );
    // C1's query may see 400, 570, 330 or 500 in some order, but not its own deposit's effect
    // before it is made: C2 reading 400 after its own deposit is impossible.
    let stale = forged.to_string().replace("600", "400");
    let stale: Value = serde_json::from_str(&stale).expect("JSON");
    assert!(checked(&stale, "sample").starts_with("C2: event 3: query got 400, "));
}

#[test]
fn results_without_the_input_are_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("recv.json");
    std::fs::write(&path, r#"[{"id": 1, "recv": []}]"#).expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "{}: these are Project 1 results (each customer's \"recv\"): give the run's input \
             with --input FILE to check them\n",
            path.display()
        )
    );
    let with_input = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("check")
        .arg(&path)
        .arg("--input")
        .arg(examples_dir().join("sample.json"))
        .output()
        .expect("runs");
    assert_eq!(with_input.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&with_input.stdout),
        "C1: has 0 results, but the input gives it 1 request\n\
         C2: has no results, though the input gives it 2 requests\n\
         C3: has no results, though the input gives it 2 requests\n\
         check: Project 1 results, 0 results of 1 customer: 3 violations\n"
    );
}
