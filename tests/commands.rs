//! The commands as a user meets them, called through the library (`lamport_bank::app`) with a
//! console that keeps what they print: output paths checked before anything runs, files written
//! whole, a failed write that still leaves the report, what each command refuses and says.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::examples_dir;
use lamport_bank::app::check::{self, CheckOptions};
use lamport_bank::app::render::{self, RenderOptions};
use lamport_bank::app::run::{RunOptions, run};
use lamport_bank::app::simulate::{self, SimulateOptions};
use lamport_bank::app::{AppError, Console, Ended, OutputPaths, PicturePaths};

fn example(name: &str) -> String {
    examples_dir()
        .join(format!("{name}.json"))
        .display()
        .to_string()
}

fn run_with(input: &str, outputs: OutputPaths) -> (Result<Ended, AppError>, (String, String)) {
    let mut console = Console::kept();
    let options = RunOptions {
        input: Some(input.to_string()),
        outputs,
        ..RunOptions::default()
    };
    let outcome = run(&options, &mut console);
    (outcome, console.printed())
}

/// The refusal's status and line.
fn refused(outcome: Result<Ended, AppError>) -> (u8, String) {
    match outcome {
        Ok(ended) => panic!("not refused: {ended:?}"),
        Err(error) => (error.status(), error.to_string()),
    }
}

/// A path that cannot be written is refused before the run: nothing is printed, nothing runs,
/// exit status 2.
#[test]
fn outputs_that_cannot_be_written_are_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let in_dir = |name: &str| dir.path().join(name);
    let cases: Vec<(OutputPaths, String)> = vec![
        (
            OutputPaths {
                pictures: PicturePaths {
                    svg: Some(PathBuf::from("/proc/x.svg")),
                    ..PicturePaths::default()
                },
                ..OutputPaths::default()
            },
            "--svg /proc/x.svg: cannot write in /proc: No such file or directory (os error 2)"
                .to_string(),
        ),
        (
            OutputPaths {
                trace: Some(PathBuf::from("-")),
                ..OutputPaths::default()
            },
            "--trace -: standard output (-) is only for --output; name a file".to_string(),
        ),
        (
            OutputPaths {
                results: Some(in_dir("a.json")),
                output: Some(in_dir("a.json")),
                ..OutputPaths::default()
            },
            format!(
                "--output and --results both name {}: give each its own file",
                in_dir("a.json").display()
            ),
        ),
        (
            OutputPaths {
                output: Some(dir.path().to_path_buf()),
                ..OutputPaths::default()
            },
            format!(
                "--output {}: is a folder; name a file in it",
                dir.path().display()
            ),
        ),
    ];
    for (outputs, line) in cases {
        let (outcome, printed) = run_with(&example("sample"), outputs);
        let (status, message) = refused(outcome);
        assert_eq!(status, 2, "{message}");
        assert!(message.starts_with(&line), "{message:?} is not {line:?}");
        assert_eq!(printed, (String::new(), String::new()), "nothing ran");
    }
    assert_eq!(fs::read_dir(dir.path()).expect("listed").count(), 0);
}

/// A file that fails to be written after the run costs only itself: the other files are
/// written, the JSON output and the report are printed, the failure is its own line, and the
/// status is 3.
#[test]
fn a_failed_write_keeps_the_report_and_the_other_files() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("run.trace");
    let outputs = OutputPaths {
        results: Some(PathBuf::from("/dev/full")),
        trace: Some(trace.clone()),
        ..OutputPaths::default()
    };
    let (outcome, (out, err)) = run_with(&example("sample"), outputs);
    let (status, message) = refused(outcome);
    assert_eq!(status, 3);
    assert_eq!(
        message,
        "--results /dev/full: cannot write: No space left on device (os error 28)"
    );
    assert!(out.starts_with("[\n  {\n    \"id\": 1,"), "{out}");
    assert!(err.contains("Invariants: all hold"), "{err}");
    let written = fs::read_to_string(&trace).expect("the trace was written");
    assert!(written.starts_with("{\"lamport_bank_trace\":1"));
}

/// Every file is written whole: an existing one is replaced only once the new one is complete,
/// and no temporary file is left beside it.
#[test]
fn files_are_replaced_whole() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = dir.path().join("out.json");
    fs::write(&output, "an older output").expect("written");
    let outputs = OutputPaths {
        output: Some(output.clone()),
        ..OutputPaths::default()
    };
    let (outcome, (out, _)) = run_with(&example("wide"), outputs);
    assert_eq!(outcome.ok(), Some(Ended::Holds));
    assert_eq!(out, "", "the output went to its file");
    let want =
        fs::read_to_string(examples_dir().join("wide.original.expected.json")).expect("expected");
    assert_eq!(fs::read_to_string(&output).expect("written"), want);
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("listed")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.json"]);
}

/// A run that cannot fit in this machine's memory is refused before it starts, saying how many
/// branches would fit.
#[test]
fn a_run_too_large_for_the_machine_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("huge.json");
    let mut processes = Vec::new();
    for id in 1..=20_000 {
        processes.push(format!(r#"{{"id": {id}, "type": "branch", "balance": 1}}"#));
        processes.push(format!(
            r#"{{"id": {id}, "type": "customer", "events": [{{"id": {id}, "interface": "query"}}]}}"#
        ));
    }
    fs::write(&path, format!("[{}]", processes.join(","))).expect("written");
    let (outcome, printed) = run_with(&path.display().to_string(), OutputPaths::default());
    let (status, message) = refused(outcome);
    assert_eq!(status, 2);
    let pattern = regex::Regex::new(&format!(
        "^{}: a run of 20000 branches with 20000 operations needs about [0-9]+ MiB of memory, \
         and [0-9]+ MiB are available: at most [0-9]+ branches fit$",
        regex::escape(&path.display().to_string())
    ))
    .expect("a pattern");
    assert!(pattern.is_match(&message), "{message}");
    assert_eq!(printed, (String::new(), String::new()));
}

/// The report counts in words that agree with the numbers.
#[test]
fn one_branch_and_one_customer_are_singular() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("one.json");
    fs::write(
        &path,
        r#"[{"id": 1, "type": "branch", "balance": 5},
            {"id": 1, "type": "customer", "events": [{"id": 1, "interface": "query"}]}]"#,
    )
    .expect("written");
    let (outcome, (_, err)) = run_with(&path.display().to_string(), OutputPaths::default());
    assert_eq!(outcome.ok(), Some(Ended::Holds));
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("(1 branch, 1 customer; clocks original, schedule sequential)"),
        "{first}"
    );
}

/// The report lists the customers in the order of the input in both of its sections.
#[test]
fn customers_come_in_one_order_in_the_report() {
    let (outcome, (_, err)) = run_with(&example("wide"), OutputPaths::default());
    assert_eq!(outcome.ok(), Some(Ended::Holds));
    let customers_in = |section: &str| -> Vec<String> {
        err.split(section)
            .nth(1)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .take_while(|line| !line.is_empty())
            .filter_map(|line| Some(line.trim().split(':').next()?.to_string()))
            .collect()
    };
    let processes = customers_in("Customer processes:");
    assert_eq!(processes, ["C10", "C1", "C12", "C5"]);
    assert_eq!(customers_in("Customer results:"), processes);
}

fn check_file(file: &str, branches: Option<u32>) -> (Result<Ended, AppError>, String) {
    let mut console = Console::kept();
    let options = CheckOptions {
        files: vec![file.to_string()],
        branches,
        ..CheckOptions::default()
    };
    let outcome = check::run(&options, &mut console);
    (outcome, console.printed().0)
}

/// `check` on an input file says what it is and what to do with it.
#[test]
fn check_tells_an_input_file_from_an_output() {
    let path = example("sample");
    let (outcome, _) = check_file(&path, None);
    assert_eq!(
        refused(outcome),
        (
            2,
            format!(
                "{path}: this is an input file (branch and customer processes), not a run's \
                 output or trace: `lamport-bank run FILE` runs it"
            )
        )
    );
}

/// Hostile files are refused cleanly and quickly, without reading or allocating what they
/// claim: an endless line, a header naming 100,000 processes with many short events, a count of
/// branches near `u32::MAX`.
#[test]
fn check_bounds_what_a_file_makes_it_allocate() {
    let (outcome, _) = check_file("/dev/zero", None);
    assert_eq!(
        refused(outcome),
        (
            2,
            "/dev/zero: line 1 is longer than the 64 MiB a line may be".to_string()
        )
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let wide = dir.path().join("wide.trace");
    let names: Vec<String> = (1..=100_000).map(|id| format!("\"B{id}\"")).collect();
    let mut text = format!(
        "{{\"lamport_bank_trace\":1,\"clocks\":\"original\",\"schedule\":\"sequential\",\
         \"processes\":[{}]}}\n",
        names.join(",")
    );
    for seq in 1..=3000 {
        text.push_str(&format!(
            "{{\"process\":\"B1\",\"seq\":{seq},\"event\":\"deposit_execute\",\"id\":1,\
             \"lamport\":{seq},\"vector\":{{\"B1\":{seq}}}}}\n"
        ));
    }
    fs::write(&wide, text).expect("written");
    let path = wide.display().to_string();
    let (outcome, _) = check_file(&path, None);
    assert_eq!(
        refused(outcome),
        (
            2,
            format!(
                "{path}: line 2686: the vector clocks of 100000 processes on every event need \
                 more memory than the 268435456 entries this build reads"
            )
        )
    );

    let output = examples_dir().join("sample.original.expected.json");
    let (outcome, printed) = check_file(&output.display().to_string(), Some(4_294_967_295));
    assert_eq!(outcome.ok(), Some(Ended::Broken));
    assert!(
        printed.contains(
            "event 2: expected 4294967294 deposit_propagate_request (one on each other branch), \
             found 2"
        ),
        "{printed}"
    );
}

/// A trace whose Lamport clocks reach far cannot be drawn at any size: `render` refuses it in
/// one line (it once panicked or aborted on allocation), while `check` reads it.
#[test]
fn render_refuses_a_picture_too_wide_to_draw() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("far.trace");
    let header = r#"{"lamport_bank_trace":1,"clocks":"original","schedule":"sequential","processes":["B1"],"initial_balance":0}"#;
    for lamport in [100_000_000_u64, u64::MAX] {
        let event = format!(
            r#"{{"process":"B1","seq":1,"event":"deposit_execute","id":1,"lamport":{lamport}}}"#
        );
        fs::write(&trace, format!("{header}\n{event}\n")).expect("written");
        let path = trace.display().to_string();
        let mut console = Console::kept();
        let options = RenderOptions {
            trace: path.clone(),
            pictures: PicturePaths {
                svg: Some(dir.path().join("far.svg")),
                ..PicturePaths::default()
            },
        };
        let (status, message) = refused(render::run(&options, &mut console));
        assert_eq!(status, 2);
        assert!(
            message.starts_with(&format!(
                "{path}: Lamport clocks up to {lamport} would make"
            )),
            "{message}"
        );
        assert!(!Path::new(&dir.path().join("far.svg")).exists());
        let (checked, _) = check_file(&path, None);
        assert!(checked.is_ok(), "check reads what render refuses");
    }
}

/// A sweep writes no files, and says so instead of ignoring the flag.
#[test]
fn a_sweep_refuses_output_flags() {
    let mut console = Console::kept();
    let options = SimulateOptions {
        seeds: Some("1..3".parse().expect("seeds")),
        outputs: OutputPaths {
            pictures: PicturePaths {
                html: Some(PathBuf::from("x.html")),
                ..PicturePaths::default()
            },
            ..OutputPaths::default()
        },
        ..SimulateOptions::default()
    };
    assert_eq!(
        refused(simulate::run(&options, &mut console)),
        (
            2,
            "--html: a sweep writes no files; replay one seed (its command is printed when it \
             fails) to write them"
                .to_string()
        )
    );
}

/// An input of 2021's form (`client` and `bank`, events without ids) runs, and the report says
/// how its events were numbered: the sample's events in that form get the sample's ids, so
/// the output equals the sample's expected file.
#[test]
fn an_input_of_2021_runs_and_its_report_says_the_events_were_numbered() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sample: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(example("sample")).expect("readable"))
            .expect("JSON");
    let mut processes = sample.as_array().expect("an array").clone();
    for process in &mut processes {
        let object = process.as_object_mut().expect("an object");
        let kind = match object["type"].as_str() {
            Some("customer") => "client",
            _ => "bank",
        };
        object.insert("type".into(), kind.into());
        for event in object
            .get_mut("events")
            .and_then(|events| events.as_array_mut())
            .into_iter()
            .flatten()
        {
            event.as_object_mut().expect("an event").remove("id");
        }
    }
    let input = dir.path().join("2021.json");
    fs::write(&input, serde_json::to_string(&processes).expect("JSON")).expect("written");
    let output = dir.path().join("out.json");
    let (outcome, (_, report)) = run_with(
        &input.display().to_string(),
        OutputPaths {
            output: Some(output.clone()),
            ..OutputPaths::default()
        },
    );
    assert!(matches!(outcome, Ok(Ended::Holds)), "{outcome:?}: {report}");
    assert!(
        report.contains("; 5 events without an id, numbered by their place in the input)"),
        "{report}"
    );
    let expected =
        fs::read_to_string(examples_dir().join("sample.original.expected.json")).expect("readable");
    assert_eq!(fs::read_to_string(&output).expect("written"), expected);
}
