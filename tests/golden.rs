//! Sequential runs over real gRPC reproduce the expected outputs exactly, in both clock models.

mod common;

use std::path::Path;
use std::process::Command;

use common::{EXAMPLES, example, examples_dir, expected, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};

/// Every example, in both models, gives exactly `NAME.MODEL.expected.json` and breaks no
/// invariant.
#[tokio::test]
async fn every_example_matches_its_expected_output_in_both_models() {
    for name in EXAMPLES {
        for model in [ClockModel::Original, ClockModel::Strict] {
            let report = run_cluster(&example(name), model, Schedule::Sequential).await;
            assert_eq!(
                report.trace.output(),
                expected(name, model),
                "{name} in the {} model",
                model.name()
            );
            assert!(report.findings.is_empty(), "{:?}", report.findings);
        }
    }
}

/// With no arguments, the binary prints the original README's output byte for byte on stdout,
/// and its report for a person on stderr only.
#[test]
fn no_arguments_prints_the_original_output_exactly() {
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let want = std::fs::read(examples_dir().join("sample.original.expected.json"))
        .expect("the expected file is in the repo");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&want)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Invariants: all hold"), "{stderr}");
    assert!(stderr.contains("B2: 500"), "{stderr}");
}

/// `run FILE --clocks strict --output F --results R` writes the strict output and a results file
/// with the balances and each customer's results.
#[test]
fn run_writes_output_and_results_files() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output_path = dir.path().join("out.json");
    let results_path = dir.path().join("results.json");
    let status = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("run")
        .arg(examples_dir().join("wide.json"))
        .args(["--clocks", "strict", "--output"])
        .arg(&output_path)
        .arg("--results")
        .arg(&results_path)
        .output()
        .expect("the binary runs");
    assert!(status.status.success(), "{status:?}");
    assert!(
        status.stdout.is_empty(),
        "with --output, stdout stays empty"
    );
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("JSON")
    };
    assert_eq!(read(&output_path), expected("wide", ClockModel::Strict));
    let results = read(&results_path);
    assert_eq!(results["invariants"]["hold"], true);
    // wide.json: 100 + 25 - 60 - 100 ... (withdraw 51 of 100 at B5 succeeds first); see below.
    let finals: Vec<i64> = results["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .map(|branch| branch["final"].as_i64().expect("final"))
        .collect();
    assert_eq!(finals.len(), 4);
    assert!(
        finals.windows(2).all(|pair| pair[0] == pair[1]),
        "{finals:?}"
    );
    let customer10 = results["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .find(|customer| customer["id"] == 10)
        .expect("customer 10");
    assert_eq!(customer10["results"][0]["result"], "success");
    assert_eq!(
        customer10["results"][1]["result"], "fail",
        "withdraw 500 of ~100 is rejected"
    );
}

/// `run -` reads the input from standard input.
#[test]
fn run_reads_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args(["run", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let input = std::fs::read(examples_dir().join("requests.json")).expect("example");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("written");
    let output = child.wait_with_output().expect("finished");
    assert!(output.status.success(), "{output:?}");
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(got, expected("requests", ClockModel::Original));
}

/// The examples kept in this repo are identical to the contract's copies in `../shared`, when
/// that folder is present (it is not in a user's clone; in CI it must be).
#[test]
fn examples_are_identical_to_the_shared_contract() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        common::missing("../shared/examples");
        return;
    };
    let mut compared = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().expect("a file name");
        let ours = std::fs::read(examples_dir().join(name))
            .unwrap_or_else(|error| panic!("examples/{name:?} is missing here: {error}"));
        assert_eq!(
            ours,
            std::fs::read(&path).expect("readable"),
            "{name:?} differs"
        );
        compared += 1;
    }
    assert!(compared >= 9, "compared {compared} files");
}
