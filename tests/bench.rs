//! The `bench` command on a tiny configuration: its JSON has every field, its counts are exactly
//! what the workload implies, and its rates are sane; with `--processes`, the rows of the
//! clusters of `serve` processes are there too and no process is left behind; with `--svg`, the
//! plot is written, also of the rows so far when the benchmark is stopped. No timing
//! thresholds: the figures themselves depend on the machine.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("bench")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn number(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {value}"))
}

fn count(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {value}"))
}

fn assert_ordered_latencies(latency: &Value) {
    let (p50, p99, max) = (
        number(latency, "p50"),
        number(latency, "p99"),
        number(latency, "max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{latency}");
}

/// Two and three branches, five operations each, both schedules: every field is there; the
/// exchanges and events are exactly what the workload implies (the initial balance covers every
/// withdraw, so every change is accepted: a query costs 1 exchange, a change one per branch; a
/// query is 1 branch event, a change 3 on its origin and 3 per other branch, and every
/// operation is 2 customer events); rates, ratios and memory are positive; latencies ordered.
#[test]
fn bench_json_has_every_field_and_exact_counts() {
    let output = bench(&[
        "--branches",
        "2,3",
        "--ops",
        "5",
        "--seed",
        "7",
        "--limit-time",
        "0.1",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(json["seed"], 7);
    assert_eq!(json["clocks"], "original");
    assert_eq!(json["ops_per_customer"], 5);
    assert_eq!(json["recording"]["vectors"], false);
    assert_eq!(json["recording"]["events"], false);
    assert!(count(&json, "cores") >= 1);
    let limit = &json["limit"];
    assert!(number(limit, "sequential_calls_per_s") > 0.0);
    assert!(number(limit, "concurrent_calls_per_s") > 0.0);
    assert_eq!(limit["concurrent_callers"], 64);
    assert_eq!(limit["seconds_each"], 0.1);
    assert_ordered_latencies(&limit["sequential_latency_us"]);
    for field in ["sequential_cpu_us_per_call", "concurrent_cpu_us_per_call"] {
        assert!(limit.get(field).is_some(), "{field} missing: {limit}");
    }

    let runs = json["runs"].as_array().expect("runs is an array");
    let configurations: Vec<(u64, &str)> = runs
        .iter()
        .map(|run| (count(run, "branches"), run["schedule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        configurations,
        [
            (2, "sequential"),
            (2, "concurrent"),
            (3, "sequential"),
            (3, "concurrent")
        ]
    );
    for run in runs {
        let n = count(run, "branches");
        let (deposits, withdraws, queries) = (
            count(run, "deposits"),
            count(run, "withdraws"),
            count(run, "queries"),
        );
        let changes = deposits + withdraws;
        assert_eq!(count(run, "operations"), 5 * n);
        assert_eq!(changes + queries, 5 * n);
        assert_eq!(count(run, "exchanges"), queries + changes * n, "{run}");
        assert_eq!(count(run, "events"), 3 * queries + (3 * n + 2) * changes);
        let exchanges_per_op = (queries + changes * n) as f64 / (5 * n) as f64;
        assert!((number(run, "exchanges_per_op") - exchanges_per_op).abs() < 0.01);
        for field in ["seconds", "ops_per_s", "events_per_s", "ratio"] {
            assert!(number(run, field) > 0.0, "{field}: {run}");
        }
        assert!(number(run, "limit_calls_per_s") > 0.0, "{run}");
        assert_ordered_latencies(&run["latency_us"]);
        assert!(count(run, "peak_memory_kib") > 0);
        assert!(number(run, "peak_memory_kib_per_branch") > 0.0);
        assert!(run["peak_memory_reset"].is_boolean());
        assert_eq!(run["replicas_agree"], true);
        // CPU time is read in 10 ms ticks, so a run this small may show none (then no ratio):
        // the fields must be there, and hold numbers where the time was measurable.
        for field in [
            "cpu_seconds",
            "cpu_us_per_exchange",
            "limit_cpu_us_per_call",
            "cpu_ratio",
        ] {
            let value = run
                .get(field)
                .unwrap_or_else(|| panic!("{field} missing: {run}"));
            assert!(
                value.is_null() || value.as_f64().is_some_and(|v| v >= 0.0),
                "{run}"
            );
        }
    }

    let table = String::from_utf8_lossy(&output.stderr);
    assert!(
        table.contains("Benchmark: seed 7, clocks original"),
        "{table}"
    );
    assert!(table.contains("no history kept"), "{table}");
    let rows = table
        .lines()
        .filter(|line| line.contains("  sequential  ") || line.contains("  concurrent  "))
        .count();
    assert_eq!(rows, 4, "{table}");
}

/// One schedule only, with a flag: the same workload (same seed) in the other clock model, against
/// a limit with the number of callers asked for.
#[test]
fn bench_runs_one_schedule_when_asked() {
    let output = bench(&[
        "--branches",
        "2",
        "--ops",
        "3",
        "--concurrent",
        "--clocks",
        "strict",
        "--limit-time",
        "0.05",
        "--callers",
        "3",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(json["clocks"], "strict");
    assert_eq!(json["limit"]["concurrent_callers"], 3);
    let runs = json["runs"].as_array().expect("runs is an array");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["schedule"], "concurrent");
}

/// With asynchronous propagation (customers at seeded branches), the counts are the same as
/// synchronously, every wait being one more branch event; the JSON says how it propagated, and
/// the replicas agree once every change has reached every branch. Without the guarantees no
/// branch ever waits.
#[test]
fn bench_measures_asynchronous_propagation_with_and_without_the_guarantees() {
    for guarantees in ["enforced", "none"] {
        let output = bench(&[
            "--branches",
            "3",
            "--ops",
            "6",
            "--concurrent",
            "--limit-time",
            "0.1",
            "--propagation",
            "async",
            "--session-guarantees",
            guarantees,
            "--json",
        ]);
        assert!(output.status.success(), "{output:?}");
        let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
        assert_eq!(json["propagation"], "async");
        assert_eq!(json["session_guarantees"], guarantees);
        let run = &json["runs"][0];
        let (changes, queries) = (
            count(run, "deposits") + count(run, "withdraws"),
            count(run, "queries"),
        );
        let waits = count(run, "waits");
        assert_eq!(count(run, "exchanges"), queries + changes * 3, "{run}");
        assert_eq!(
            count(run, "events"),
            3 * queries + (3 * 3 + 2) * changes + waits,
            "{run}"
        );
        if guarantees == "none" {
            assert_eq!(waits, 0);
        }
        assert_eq!(run["replicas_agree"], true);
        let table = String::from_utf8_lossy(&output.stderr);
        assert!(
            table.contains(&format!(
                "Propagation: async, session guarantees {guarantees}"
            )),
            "{table}"
        );
    }
}

/// A bad flag value is refused with exit status 2 before anything runs: clap's whole message for
/// what the command line itself refuses, one line for what the benchmark's configuration does.
#[test]
fn bench_refuses_bad_flags() {
    for (args, message) in [
        (
            &["--branches", "0"][..],
            "error: invalid value '0' for '--branches <LIST>...': 0 is not in 1..=100000\n\n\
             For more information, try '--help'.\n",
        ),
        (
            &["--ops", "0"][..],
            "error: invalid value '0' for '--ops <N>': must be a positive whole number\n\n\
             For more information, try '--help'.\n",
        ),
        (
            &["--limit-time", "0"][..],
            "--limit-time: must be above 0 and at most 3600 seconds\n",
        ),
        (
            &["--callers", "0"][..],
            "--callers: must be from 1 to 10000\n",
        ),
        (
            &["--processes", "--propagation", "async"][..],
            "--processes: branches served on their own propagate synchronously; leave out \
             --propagation async\n",
        ),
        (
            &["--session-guarantees", "none"][..],
            "--session-guarantees none: only with --propagation async (a change propagated \
             synchronously is on every branch before its customer hears of it, so nothing is \
             ever waited for)\n",
        ),
        (
            &["--svg", "/no-such-folder-of-lamport-bank/plot.svg"][..],
            "--svg /no-such-folder-of-lamport-bank/plot.svg: no folder \
             /no-such-folder-of-lamport-bank: No such file or directory (os error 2)\n",
        ),
    ] {
        let output = bench(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), message);
        assert!(output.stdout.is_empty());
    }
}

/// The pid and cluster file of every `serve` process a benchmark said (at debug level) it
/// started.
fn serve_children(stderr: &str) -> Vec<(u32, String)> {
    let started = regex::Regex::new(r"serve started .*pid=(\d+) cluster=(\S+)").unwrap();
    started
        .captures_iter(stderr)
        .map(|found| (found[1].parse().unwrap(), found[2].to_string()))
        .collect()
}

/// With `--processes`, two branches and five operations each: every configuration has its
/// three rows (in process, processes, processes with `--data`), in that order, each with the
/// counts the workload implies (the same workload everywhere, so exchanges and events are
/// counted alike from the processes' logs) and replicas that agree; and once the benchmark
/// has ended, none of the `serve` processes it started is running and their temporary folders
/// are gone.
#[test]
fn bench_with_processes_adds_their_rows_and_leaves_nothing_behind() {
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .env("RUST_LOG", "lamport_bank::bench=debug")
        .args([
            "bench",
            "--branches",
            "2",
            "--ops",
            "5",
            "--limit-time",
            "0.05",
        ])
        .args(["--processes", "--json"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(
        json["clusters"],
        serde_json::json!(["in-process", "processes", "processes+data"])
    );
    let runs = json["runs"].as_array().expect("runs is an array");
    let rows: Vec<(&str, &str)> = runs
        .iter()
        .map(|run| {
            (
                run["schedule"].as_str().unwrap(),
                run["cluster"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("sequential", "in-process"),
            ("sequential", "processes"),
            ("sequential", "processes+data"),
            ("concurrent", "in-process"),
            ("concurrent", "processes"),
            ("concurrent", "processes+data"),
        ]
    );
    for run in runs {
        assert_eq!(count(run, "branches"), 2);
        let (changes, queries) = (
            count(run, "deposits") + count(run, "withdraws"),
            count(run, "queries"),
        );
        assert_eq!(changes + queries, 10, "{run}");
        assert_eq!(count(run, "exchanges"), queries + changes * 2, "{run}");
        assert_eq!(count(run, "events"), 3 * queries + 8 * changes, "{run}");
        assert_eq!(run["replicas_agree"], true, "{run}");
        assert!(number(run, "ops_per_s") > 0.0, "{run}");
        assert!(count(run, "peak_memory_kib") > 0, "{run}");
        assert_ordered_latencies(&run["latency_us"]);
    }
    let table = stderr
        .lines()
        .filter(|line| {
            line.contains("  in-process  ")
                || line.contains("  processes  ")
                || line.contains("  processes+data  ")
        })
        .count();
    assert_eq!(table, 6, "{stderr}");

    // Two configurations, two clusters of processes each, two branches each.
    let children = serve_children(&stderr);
    assert_eq!(children.len(), 8, "{stderr}");
    for (pid, cluster) in &children {
        // The process is gone, or its id already belongs to another process.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(cluster.as_str()),
            "serve {pid} of {cluster} still runs"
        );
        let folder = std::path::Path::new(cluster).parent().unwrap();
        assert!(!folder.exists(), "{} is left", folder.display());
    }
}

/// Whether `node` has `class` among its classes.
fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|classes| classes.split(' ').any(|c| c == class))
}

/// The plot at `path`, read and checked to be SVG with its two panels; returns, for the
/// throughput panel, each series line's name and number of points.
fn plot_series(path: &Path) -> (String, Vec<(String, usize)>) {
    let text = std::fs::read_to_string(path).expect("the plot is written");
    let svg = roxmltree::Document::parse(&text).expect("the plot is XML");
    assert_eq!(svg.root_element().tag_name().name(), "svg");
    let panel = |name: &str| {
        svg.descendants()
            .find(|node| has_class(node, "panel") && has_class(node, name))
            .unwrap_or_else(|| panic!("no {name} panel in {text}"))
    };
    let latency_lines = panel("latency")
        .descendants()
        .filter(|node| has_class(node, "series"))
        .count();
    let series: Vec<(String, usize)> = panel("throughput")
        .descendants()
        .filter(|node| node.has_tag_name("polyline") && has_class(node, "series"))
        .map(|line| {
            let name = line.attribute("data-series").unwrap_or_default();
            let points = line.attribute("points").unwrap_or_default();
            (name.to_string(), points.split_whitespace().count())
        })
        .collect();
    assert_eq!(latency_lines, 2 * series.len(), "a p50 and a p99 line each");
    let words: Vec<&str> = svg.descendants().filter_map(|node| node.text()).collect();
    (words.join("\n"), series)
}

/// `--svg FILE`: the plot is written, an SVG with both panels, a throughput line per schedule
/// with a point per number of branches (a p50 and a p99 latency line each), and a title that
/// names the workload.
#[test]
fn bench_svg_writes_the_plot() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bench.svg");
    let output = bench(&[
        "--branches",
        "2,3",
        "--ops",
        "5",
        "--seed",
        "7",
        "--limit-time",
        "0.1",
        "--svg",
        path.to_str().expect("a UTF-8 path"),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "the plot goes to its file only");
    let (texts, series) = plot_series(&path);
    assert_eq!(
        series,
        [
            ("sequential, in-process".to_string(), 2),
            ("concurrent, in-process".to_string(), 2)
        ]
    );
    assert!(
        texts.contains("5 operations per customer, seed 7, original clocks"),
        "{texts}"
    );
}

/// Ctrl-C (SIGINT) once the first row is printed: the benchmark ends with status 130 and the
/// plot of the rows so far is written, saying it was stopped. The next configuration (40
/// branches, 100 operations each, one after another) takes far longer than the signal does to
/// arrive, so the benchmark cannot have ended on its own.
#[test]
fn a_stopped_bench_still_writes_the_plot_of_its_rows() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("stopped.svg");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args([
            "bench",
            "--branches",
            "2,40",
            "--ops",
            "100",
            "--sequential",
        ])
        .args(["--limit-time", "0.1", "--svg"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut said = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr is text");
        said.push_str(&line);
        said.push('\n');
        if line.contains("  sequential  ") {
            let status = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success());
        }
    }
    let status = child.wait().expect("the benchmark ends");
    assert_eq!(status.code(), Some(130), "{said}");
    assert!(
        said.contains("stopped: 1 of 2 configurations measured"),
        "{said}"
    );
    let (texts, series) = plot_series(&path);
    assert_eq!(series, [("sequential, in-process".to_string(), 1)]);
    assert!(
        texts.contains("Stopped: 1 of 2 configurations measured"),
        "{texts}"
    );
}
