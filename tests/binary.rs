//! The binary itself: which stream gets what, and the exit status of each way a command can end
//! (0 all hold, 1 a rule broken, 2 bad arguments, 3 an output not written, 130 stopped by a
//! signal, 141 a closed pipe). Everything else about the commands is tested through the library
//! (`tests/commands.rs`, `tests/refusals.rs`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

use common::examples_dir;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary with `args`, `stdin` on its standard input.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = binary()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin)
        .expect("written");
    child.wait_with_output().expect("it ends")
}

/// An argument error prints clap's whole message on stderr (the problem, the usage line, the
/// hint), nothing on stdout, exit status 2; `--help` goes to stdout, exit status 0.
#[test]
fn argument_errors_print_the_whole_message() {
    let output = run(&["check"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        "error: the following required arguments were not provided:\n  <FILE>...\n\nUsage: \
         lamport-bank check <FILE>...\n\nFor more information, try '--help'.\n"
    );
    let output = run(&["simulate", "--faults", "fire"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with(
            "error: invalid value 'fire' for '--faults <FAULTS>': unknown fault \"fire\" \
             (expected all, none, or some of latency, reorder, partition, oneway, hold, pause, \
             duplicate, crash)"
        ),
        "{}",
        text(&output.stderr)
    );
    let output = run(&["chek"], b"");
    assert!(
        text(&output.stderr).contains("tip: a similar subcommand exists: 'check'"),
        "{}",
        text(&output.stderr)
    );
    let output = run(&["--help"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("Usage: lamport-bank [COMMAND]"));
}

/// `simulate --faults crash` is accepted (a branch crashes and restarts, and the run still
/// passes: exit status 0, the replay command names the fault), and `simulate --help` lists it
/// among the faults.
#[test]
fn the_crash_fault_is_accepted_and_listed_in_the_help() {
    let sample = examples_dir().join("sample.json");
    let sample = sample.to_string_lossy();
    let output = run(
        &["simulate", &sample, "--seed", "2", "--faults", "crash"],
        b"",
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("faults crash") && stderr.contains("--seed 2 --faults crash"),
        "{stderr}"
    );
    let output = run(&["simulate", "--help"], b"");
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("partition, oneway, hold, pause, duplicate, crash"),
        "{help}"
    );
}

/// `check -` and `render -` read standard input, named `<stdin>` in messages; a broken rule is
/// exit status 1.
#[test]
fn check_and_render_read_standard_input() {
    let output_file =
        std::fs::read(examples_dir().join("sample.original.expected.json")).expect("example");
    let output = run(&["check", "-"], &output_file);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "check: output, 16 sub-events of 3 branches, original clocks, each X_request for its order only (its customer's stamp is not in the file): all invariants hold\n"
    );
    let broken = text(&output_file).replacen("\"clock\": 11", "\"clock\": 10", 1);
    let output = run(&["check", "-"], broken.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    let output = run(&["check", "-"], b"[1");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "<stdin>: line 1 column 2: malformed JSON: EOF while parsing a list\n"
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("run.trace");
    let svg = dir.path().join("run.svg");
    let trace_arg = trace.display().to_string();
    let made = run(&["run", "--trace", &trace_arg], b"");
    assert_eq!(made.status.code(), Some(0));
    let trace_text = std::fs::read(&trace).expect("the trace");
    let svg_arg = svg.display().to_string();
    let output = run(&["render", "-", "--svg", &svg_arg], &trace_text);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&std::fs::read(&svg).expect("drawn")).starts_with("<svg"));
}

/// A full disk on standard output is one line and exit status 3; a closed pipe ends the program
/// quietly with status 141 (as a Unix tool killed by SIGPIPE), neither with a panic.
#[test]
fn a_full_disk_and_a_closed_pipe_end_the_program_cleanly() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = binary()
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("it ends");
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .ends_with("cannot write to standard output: No space left on device (os error 28)\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let mut child = binary()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // The reading end is closed before the program has written anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("it ends");
    assert_eq!(output.status.code(), Some(141));
    assert_eq!(text(&output.stderr), "");
}

/// Reads `child`'s standard error until a line contains `wanted`; returns the lines so far.
fn read_until(child: &mut Child, wanted: &str) -> (BufReader<std::process::ChildStderr>, String) {
    let stderr = child.stderr.take().expect("piped");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).expect("readable");
        assert!(read > 0, "ended before {wanted:?}: {seen}");
        seen.push_str(&line);
        if line.contains(wanted) {
            return (reader, seen);
        }
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Ctrl-C during a sweep stops it at the next seed and prints the summary of the seeds that
/// ran; exit status 130.
#[test]
fn ctrl_c_stops_a_sweep_with_its_summary_so_far() {
    let mut child = binary()
        .args(["simulate", "--seeds", "1..1000000", "--faults", "all"])
        .env("RUST_LOG", "lamport_bank=info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let (mut reader, _) = read_until(&mut child, "sweeping");
    interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("readable");
    let status = child.wait().expect("it ends");
    assert_eq!(status.code(), Some(130), "{rest}");
    let last = rest.lines().last().unwrap_or_default();
    let pattern = regex::Regex::new(
        r"^sweep: [0-9]+ seeds, 0 failed, faults all, [0-9]+ faults met, .* \(stopped: the seeds after these did not run\)$",
    )
    .expect("a pattern");
    assert!(pattern.is_match(last), "{rest}");
}

/// Ctrl-C during a benchmark keeps the rows measured so far, each printed as it finished;
/// exit status 130.
#[test]
fn ctrl_c_stops_a_benchmark_with_its_rows_so_far() {
    let mut child = binary()
        .args([
            "bench",
            "--branches",
            "2,3,4,5,6,7,8,9",
            "--ops",
            "3",
            "--limit-time",
            "0.05",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // The first row: 2 branches, sequential.
    let (mut reader, head) = read_until(&mut child, "sequential");
    interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("readable");
    let status = child.wait().expect("it ends");
    assert_eq!(status.code(), Some(130), "{head}{rest}");
    assert!(head.contains("Limit at the start"), "{head}");
    let stopped =
        regex::Regex::new(r"stopped: ([0-9]+) of 16 configurations measured").expect("a pattern");
    let measured: usize = stopped
        .captures(&rest)
        .and_then(|found| found[1].parse().ok())
        .unwrap_or_else(|| panic!("no stop line: {rest}"));
    assert!((1..16).contains(&measured), "{rest}");
}
