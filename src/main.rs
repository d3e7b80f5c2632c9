//! The `lamport-bank` command: the command line (clap), logging, and the exit status of what the
//! library's commands (`lamport_bank::app`) return. Exit statuses: 0 all hold, 1 a rule does
//! not, 2 bad arguments or input, 3 an output could not be written, 4 the run could not be
//! carried out, 130 stopped by Ctrl-C or SIGTERM, 141 standard output closed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lamport_bank::app::bench::run as bench;
use lamport_bank::app::check::{CheckOptions, run as check};
use lamport_bank::app::render::{RenderOptions, run as render};
use lamport_bank::app::run::{RunOptions, run};
use lamport_bank::app::serve::{HealthArgs, LogFormat, ResetArgs, ServeArgs, TlsArgs};
use lamport_bank::app::simulate::{SimulateOptions, run as simulate};
use lamport_bank::app::{
    self, AppError, Clocks, Console, Guarantees, Outcome, OutputPaths, Propagation, ScenarioArgs,
};
use lamport_bank::bench::{self as benchmark, BenchConfig};
use lamport_bank::sim::SimConfig;
use lamport_bank::sim::plan::FaultSet;
use lamport_bank::sim::sweep::Seeds;

/// A distributed banking simulator that makes Lamport's logical clocks visible and checkable.
///
/// Branches are real gRPC servers, each holding a replica of one balance; customers deposit,
/// withdraw and query at their own branch; every update is propagated to every other branch and
/// every step is stamped with a Lamport clock. With no command, runs the built-in sample (the
/// original Python simulator's) and prints the same output it did.
#[derive(Debug, Parser)]
#[command(name = "lamport-bank", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario over real gRPC on this machine and print its Lamport-clocked output as
    /// JSON on stdout (the account of the run goes to stderr).
    Run(RunArgs),
    /// Run a scenario over a simulated network with faults, deterministically from a seed;
    /// or sweep many seeds and check every run.
    Simulate(SimulateArgs),
    /// Check a run's output (ours, the original's or a course year's; several files: the parts
    /// of one fall-2023 output, together), a trace file or Project 1 results against every rule
    /// their content allows (the README's "Invariants" and "Trace files"). Prints one line per
    /// violation, then a summary; exit status 0 if all hold, 1 if one does not, 2 if a file
    /// cannot be read.
    Check(CheckOptions),
    /// Draw the pictures of a run saved with `--trace FILE` (by `run` or `simulate`): the same
    /// pictures the run would have drawn.
    Render(RenderOptions),
    /// Serve one branch of a cluster as a long-lived process, until Ctrl-C or SIGTERM (which
    /// drain it: calls in flight finish, new ones are refused).
    Serve(ServeArgs),
    /// Return every branch of a cluster to its initial state (branches started with
    /// --allow-reset only).
    Reset(ResetArgs),
    /// Ask a branch whether it serves (gRPC health): exit status 0 if it answers SERVING, 4 if
    /// not or if it cannot be reached. For a container's health check.
    Health(HealthArgs),
    /// Measure throughput, latency, exchanges, events and memory on seeded workloads, against the
    /// limit of plain gRPC calls on this machine (measured first, in the same process). Each row
    /// is printed as it is measured; Ctrl-C stops and keeps the rows so far.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The numbers of branches to benchmark, comma-separated (one customer per branch).
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 1..,
          default_values_t = benchmark::DEFAULT_BRANCHES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(benchmark::MAX_BRANCHES)))]
    branches: Vec<u32>,
    /// Operations per customer (a seeded mix of deposits, withdraws and queries).
    #[arg(long, value_name = "N", default_value_t = benchmark::DEFAULT_OPS,
          value_parser = positive)]
    ops: usize,
    /// Run only the sequential schedule (with neither flag, both run).
    #[arg(long)]
    sequential: bool,
    /// Run only the concurrent schedule (with neither flag, both run).
    #[arg(long)]
    concurrent: bool,
    /// The clock rules the customers follow.
    #[arg(long, value_enum, default_value_t = Clocks::Original)]
    clocks: Clocks,
    /// When a change is answered: `sync` after every branch has applied it; `async` right
    /// after its execute, propagated in the background, with every request sent to a branch
    /// drawn from the seed (customers that move, whose session guarantees then cost waits).
    /// Not with --processes.
    #[arg(long, value_enum, default_value_t = Propagation::Sync)]
    propagation: Propagation,
    /// With --propagation async: `enforced` (branches wait for what a customer's session
    /// needs) or `none`, to measure what the guarantees cost.
    #[arg(long, value_enum, default_value_t = Guarantees::Enforced)]
    session_guarantees: Guarantees,
    /// The workload seed; the same seed gives the same operations.
    #[arg(long, default_value_t = benchmark::DEFAULT_SEED)]
    seed: u64,
    /// How long each of the two limit measurements (sequential and concurrent Ping) runs, in
    /// seconds (above 0, at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = benchmark::DEFAULT_LIMIT_TIME.as_secs_f64())]
    limit_time: f64,
    /// How many callers the concurrent limit uses at once (each pinging in a loop over one
    /// shared channel), from 1 to 10000.
    #[arg(long, value_name = "N", default_value_t = benchmark::CONCURRENT_CALLERS)]
    callers: usize,
    /// Also run every configuration on clusters of `serve` processes on loopback (this
    /// binary, one process per branch, on free ports, with a cluster file in a temporary
    /// folder), once in memory and once with --data (SQLite, a folder per branch), right after
    /// the in-process cluster and against the same limit: rows `in-process`, `processes` and
    /// `processes+data` show what a process boundary and durability cost. Every process is
    /// stopped at the end of its configuration (SIGTERM, then SIGKILL after 20 s), and the
    /// folder removed, also after an error or Ctrl-C.
    #[arg(long)]
    processes: bool,
    /// Print the results as JSON on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Also write a plot of the results to FILE, as SVG: operations per second and latency per
    /// operation (p50 and p99) against the number of branches, one line per schedule (and per
    /// cluster, with --processes). Each schedule's limit is drawn as a dashed line in
    /// operations per second (the plain gRPC calls/s measured before each configuration ÷ its
    /// exchanges per operation), and one plain call's p50 latency as a grey one. The path is
    /// checked before anything runs; if the benchmark is stopped, the rows so far are plotted.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// A whole number of at least 1.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("must be a positive whole number".to_string()),
    }
}

#[derive(Debug, Args, Default)]
struct RunArgs {
    /// The input JSON file (an array of branch and customer processes); `-` reads standard
    /// input. Without it, the built-in sample runs.
    input: Option<String>,
    /// Run only the customers here, against the branches of this cluster file (each a `serve`
    /// process); the input's branches must be the cluster's.
    #[arg(long, value_name = "FILE")]
    cluster: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    outputs: OutputPaths,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The input JSON file (an array of branch and customer processes); `-` reads standard
    /// input. Without it, one seed runs the built-in sample, and a sweep a workload generated
    /// from each seed.
    input: Option<String>,
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// The seed of the simulation: the same input, seed and build replay the same run.
    #[arg(long, default_value_t = 1, conflicts_with = "seeds")]
    seed: u64,
    /// Sweep a range of seeds, e.g. `1..1000` (both ends included), checking every run and
    /// printing the replay command of each failing seed. A sweep writes no files (the output
    /// flags are refused); Ctrl-C stops it and prints the summary so far.
    #[arg(long, value_name = "FIRST..LAST")]
    seeds: Option<Seeds>,
    /// The faults to inject: `all`, `none`, or a comma-separated list of latency, reorder,
    /// partition, oneway, hold, pause, duplicate, crash (a branch's host crashes and restarts
    /// from what it had committed).
    #[arg(long, default_value = "none")]
    faults: FaultSet,
    /// With no INPUT and one seed: run the workload a sweep generates for that seed (2 to 4
    /// branches, five operations per customer; with --propagation async, each request at a
    /// branch drawn from the seed) instead of the built-in sample. A sweep's replay commands
    /// say it.
    #[arg(long, conflicts_with_all = ["input", "seeds"])]
    workload: bool,
    #[command(flatten)]
    outputs: OutputPaths,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap's whole message (the problem, the valid values, a "did you mean", the usage
            // line), on stderr for an error and stdout for --help and --version.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    // A server says what it does (info); a command only what goes wrong (warn).
    let (level, json) = match &cli.command {
        Some(Command::Serve(args)) => ("info", args.log_format == LogFormat::Json),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only for a person at a terminal, not in a file or a container's log.
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let mut console = Console::standard();
    let outcome = command(
        cli.command.unwrap_or(Command::Run(RunArgs::default())),
        &mut console,
    );
    ExitCode::from(app::status(outcome, &mut console))
}

/// Turns the arguments into the library's options and runs the command.
fn command(command: Command, console: &mut Console) -> Outcome {
    match command {
        Command::Run(args) => run(
            &RunOptions {
                model: args.scenario.model(),
                schedule: args.scenario.schedule(),
                propagation: args.scenario.propagation(),
                guarantees: args.scenario.guarantees(),
                input: args.input,
                outputs: args.outputs,
                cluster: args.cluster,
                tls: args.tls,
            },
            console,
        ),
        Command::Simulate(args) => {
            let model = args.outputs.model(args.scenario.model())?;
            let config = SimConfig {
                seed: args.seed,
                faults: args.faults,
                model: model.unwrap_or_default(),
                schedule: args.scenario.schedule(),
                bug: None,
                propagation: args.scenario.propagation(),
                guarantees: args.scenario.guarantees(),
            };
            let (input, seeds, outputs) = (args.input, args.seeds, args.outputs);
            let options = SimulateOptions {
                input,
                config,
                seeds,
                outputs,
                workload: args.workload,
            };
            simulate(&options, console)
        }
        Command::Check(options) => check(&options, console),
        Command::Serve(args) => app::serve::run(&args, console),
        Command::Reset(args) => app::serve::reset(&args, console),
        Command::Health(args) => app::serve::health(&args, console),
        Command::Render(options) => render(&options, console),
        Command::Bench(args) => {
            let config = BenchConfig::new(
                args.branches,
                args.ops,
                benchmark::schedules(args.sequential, args.concurrent),
                args.clocks.into(),
                args.seed,
                Duration::try_from_secs_f64(args.limit_time).unwrap_or_default(),
                args.callers,
            )
            .and_then(|config| {
                config.with_propagation(args.propagation.into(), args.session_guarantees.into())
            })
            .map_err(|error| AppError::BadInput(error.to_string()))?;
            bench(
                &config,
                args.processes,
                args.json,
                args.svg.as_deref(),
                console,
            )
        }
    }
}
