//! Helpers shared by the integration tests: the example files kept in the repo, and running a
//! scenario through a real cluster.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};

use lamport_bank::cluster::{self, RunConfig};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::report::Report;
use lamport_bank::scenario::{Scenario, input};

/// The names of the example inputs under `examples/`.
pub const EXAMPLES: [&str; 3] = ["sample", "wide", "requests"];

/// The repo's `examples/` folder.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Loads `examples/NAME.json`.
pub fn example(name: &str) -> Scenario {
    let path = examples_dir().join(format!("{name}.json"));
    input::load(&path.to_string_lossy()).unwrap_or_else(|error| panic!("{error}"))
}

/// The expected output of `examples/NAME.json` in `model`, parsed.
pub fn expected(name: &str, model: ClockModel) -> serde_json::Value {
    let path = examples_dir().join(format!("{name}.{}.expected.json", model.name()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path:?}: {error}"))
}

/// Runs `scenario` on a real cluster bound to free loopback ports.
pub async fn run_cluster(scenario: &Scenario, model: ClockModel, schedule: Schedule) -> Report {
    let config = RunConfig {
        model,
        schedule,
        ..RunConfig::default()
    };
    cluster::run(scenario, config)
        .await
        .unwrap_or_else(|error| panic!("run failed: {error}"))
}

/// Whether the tests run in CI (`CI=true`, as `.ci/run` sets it), where what a test needs must
/// be there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Skips a test whose `need` is missing: with the reason printed on a user's machine, and as
/// a failure in CI, where `.ci/run` provides it.
pub fn missing(need: &str) {
    assert!(!in_ci(), "CI=true, yet {need} is missing");
    println!("skipped: {need} is missing (CI provides it)");
}

/// Runs this build's `lamport-bank` with `args`, from the repo's folder (so that `examples/...`
/// paths work), and waits for it.
pub fn lamport_bank(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// Bytes a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
