//! The `lamport-bank` command: parses arguments, sets up logging, calls the library and maps
//! errors to exit statuses (0 all good, 1 an invariant failed or the run broke, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lamport_bank::cluster::{self, RunConfig};
use lamport_bank::input::{self, InputError, Scenario};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::{bench, report, tracefile};

/// The original simulator's sample input, built into the binary.
const BUILT_IN_SAMPLE: &str = include_str!("../examples/sample.json");
/// How the built-in sample is named in messages.
const BUILT_IN_NAME: &str = "<built-in sample>";

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
    /// Run a scenario over real gRPC and print its Lamport-clocked output as JSON on stdout.
    Run(RunArgs),
    /// Measure throughput, latency, calls, events and memory on seeded workloads, against the
    /// limit of plain gRPC calls on this machine (measured first, in the same process).
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The numbers of branches to benchmark, comma-separated (one customer per branch).
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 1..,
          default_values_t = bench::DEFAULT_BRANCHES,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    branches: Vec<u32>,
    /// Operations per customer (a seeded mix of deposits, withdraws and queries).
    #[arg(long, value_name = "N", default_value_t = bench::DEFAULT_OPS,
          value_parser = parse_ops)]
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
    /// The workload seed; the same seed gives the same operations.
    #[arg(long, default_value_t = bench::DEFAULT_SEED)]
    seed: u64,
    /// How long each of the two limit measurements (sequential and concurrent Ping) runs, in
    /// seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = bench::DEFAULT_LIMIT_TIME.as_secs_f64(),
          value_parser = parse_seconds)]
    limit_time: f64,
    /// Print the results as JSON on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
}

fn parse_ops(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(ops) if ops > 0 => Ok(ops),
        _ => Err("must be a positive whole number".to_string()),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(seconds),
        _ => Err("must be a number of seconds above 0 and at most 3600".to_string()),
    }
}

#[derive(Debug, Args, Default)]
struct RunArgs {
    /// The input JSON file (an array of branch and customer processes); `-` reads standard
    /// input. Without it, the built-in sample runs.
    input: Option<String>,
    /// The clock rules: `original` reproduces the Python simulator's output exactly; `strict`
    /// follows Lamport's rules to the letter (customer sends tick, the reply is logged).
    #[arg(long, value_enum, default_value_t = Clocks::Original)]
    clocks: Clocks,
    /// Run all customers at once, and propagate each change to all branches in parallel,
    /// instead of one customer after another and one branch after another.
    #[arg(long)]
    concurrent: bool,
    /// Write the JSON output to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write a JSON summary: each branch's initial and final balance, each customer's
    /// results, and the verdict of the invariant check.
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Also write the full causal trace as JSON Lines: every event of every process with its
    /// Lamport and vector clocks and message links (see the README for the format).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum Clocks {
    /// The original Python simulator's rules (the default).
    #[default]
    Original,
    /// Lamport's rules to the letter.
    Strict,
}

impl From<Clocks> for ClockModel {
    fn from(clocks: Clocks) -> Self {
        match clocks {
            Clocks::Original => ClockModel::Original,
            Clocks::Strict => ClockModel::Strict,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return refuse_arguments(error),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let command = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    let outcome = match command {
        Command::Run(args) => run(args),
        Command::Bench(args) => bench(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            if let Some(input_error) = error.downcast_ref::<InputError>() {
                eprintln!("{input_error}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        }
    }
}

/// Help and version go out as clap prints them; a bad command line is refused with exit status
/// 2 and one line, like bad input.
fn refuse_arguments(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
        _ => {
            let text = error.to_string();
            let line = text.lines().next().unwrap_or_default();
            let problem = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("command line: {problem}");
            ExitCode::from(2)
        }
    }
}

fn load(input: Option<&str>) -> Result<(String, Scenario), InputError> {
    match input {
        None => Ok((
            BUILT_IN_NAME.to_string(),
            input::parse(BUILT_IN_NAME, BUILT_IN_SAMPLE)?,
        )),
        Some(path) => Ok((path.to_string(), input::load(path)?)),
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (source, scenario) = load(args.input.as_deref())?;
    let config = RunConfig {
        model: args.clocks.into(),
        schedule: if args.concurrent {
            Schedule::Concurrent
        } else {
            Schedule::Sequential
        },
        ..RunConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime
        .block_on(cluster::run(&scenario, config))
        .context("the run failed")?;
    let output = report.trace.output_text();
    match &args.output {
        Some(path) => std::fs::write(path, &output)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{output}"),
    }
    if let Some(path) = &args.results {
        let text = serde_json::to_string_pretty(&report::results(&report))? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.trace {
        write_file(path, |out| tracefile::write(&report.history, out))?;
    }
    eprint!("{}", report::summary(&source, &scenario, &report));
    Ok(if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let schedules = match (args.sequential, args.concurrent) {
        (true, false) => vec![Schedule::Sequential],
        (false, true) => vec![Schedule::Concurrent],
        _ => vec![Schedule::Sequential, Schedule::Concurrent],
    };
    let config = bench::BenchConfig {
        branches: args.branches,
        ops_per_customer: args.ops,
        schedules,
        model: args.clocks.into(),
        seed: args.seed,
        limit_time: std::time::Duration::from_secs_f64(args.limit_time),
    };
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(config.run_count() as u64 + 1)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut progress = |stage: bench::Stage| match stage {
        bench::Stage::Limit => bar.set_message("measuring the gRPC limit"),
        bench::Stage::Run {
            index,
            branches,
            schedule,
            ..
        } => {
            bar.set_position(index as u64 + 1);
            bar.set_message(format!("{branches} branches, {}", schedule.name()));
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime
        .block_on(bench::run(&config, &mut progress))
        .context("the benchmark failed")?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    }
    eprint!("{}", report.table());
    Ok(if report.runs.iter().all(|run| run.replicas_agree) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes a file through a buffer, naming the file in any error.
fn write_file(
    path: &std::path::Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    fill(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}
