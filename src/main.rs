//! The `lamport-bank` command: parses arguments, sets up logging, calls the library and maps
//! errors to exit statuses (0 all good, 1 an invariant failed or the run broke, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lamport_bank::cluster::{self, Report, RunConfig};
use lamport_bank::history::History;
use lamport_bank::input::{self, InputError, Scenario};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::picture::{self, PictureError};
use lamport_bank::simulate::{self, FaultSet, SimConfig};
use lamport_bank::{audit, bench, report, tracefile};

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
    /// Run a scenario over a simulated network with faults, deterministically from a seed;
    /// or sweep many seeds and check every run.
    Simulate(SimulateArgs),
    /// Check a run's output (SPEC section 4, ours or the original's) or a `--trace` file
    /// against every invariant its content allows. Prints one line per violation, then a
    /// summary; exit status 0 if all hold, 1 if one does not, 2 if the file cannot be read.
    Check(CheckArgs),
    /// Draw the pictures of a run saved with `run --trace FILE`: the same pictures the run
    /// would have drawn.
    Render(RenderArgs),
    /// Measure throughput, latency, exchanges, events and memory on seeded workloads, against the
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
    /// How many callers the concurrent limit uses at once (each pinging in a loop over one
    /// shared channel).
    #[arg(long, value_name = "N", default_value_t = bench::CONCURRENT_CALLERS,
          value_parser = parse_callers)]
    callers: usize,
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

fn parse_callers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(callers) if (1..=10_000).contains(&callers) => Ok(callers),
        _ => Err("must be a whole number from 1 to 10000".to_string()),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(seconds),
        _ => Err("must be a number of seconds above 0 and at most 3600".to_string()),
    }
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The file to check: a JSON array of branch and event entries, or a trace file (its first
    /// line holds `lamport_bank_trace`). Which one it is is told from the content.
    file: PathBuf,
    /// How many branches the run had, for an output file that leaves out a branch with no
    /// events (default: the number of branch entries). A trace lists its processes and
    /// ignores this.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    branches: Option<u32>,
    /// Print the verdict as JSON on stdout instead (format, clocks, counts, violations, hold).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("pictures").required(true).multiple(true).args(["svg", "html", "shiviz"])))]
struct RenderArgs {
    /// The trace file written by `run --trace FILE`.
    trace: PathBuf,
    #[command(flatten)]
    pictures: PictureArgs,
}

/// The pictures a run or a saved trace can be drawn as.
#[derive(Debug, Args, Default)]
struct PictureArgs {
    /// Write the space-time diagram as SVG: one lane per process, one dot per event placed by
    /// its Lamport clock, one arrow per message.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write a self-contained HTML page: the diagram, where clicking an event shows its causal
    /// past, future and concurrent events, and the table of every event.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write a log for ShiViz, the vector-clock visualizer: paste it into its input box.
    #[arg(long, value_name = "FILE")]
    shiviz: Option<PathBuf>,
}

/// Bad input other than the input file, already phrased `<file>: <place>: <problem>`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

#[derive(Debug, Args, Default)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    outputs: OutputArgs,
}

/// What to run and under which rules.
#[derive(Debug, Args, Default)]
struct ScenarioArgs {
    /// The input JSON file (an array of branch and customer processes); `-` reads standard
    /// input. Without it, the built-in sample runs (`simulate --seeds` generates a workload
    /// per seed instead).
    input: Option<String>,
    /// The clock rules: `original` reproduces the Python simulator's output exactly; `strict`
    /// follows Lamport's rules to the letter (customer sends tick, the reply is logged).
    #[arg(long, value_enum, default_value_t = Clocks::Original)]
    clocks: Clocks,
    /// Run all customers at once, and propagate each change to all branches in parallel,
    /// instead of one customer after another and one branch after another.
    #[arg(long)]
    concurrent: bool,
}

impl ScenarioArgs {
    fn schedule(&self) -> Schedule {
        if self.concurrent {
            Schedule::Concurrent
        } else {
            Schedule::Sequential
        }
    }
}

/// Where a run's results go.
#[derive(Debug, Args, Default)]
struct OutputArgs {
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
    #[command(flatten)]
    pictures: PictureArgs,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// The seed of the simulation: the same input, seed and build replay the same run.
    #[arg(long, default_value_t = 1, conflicts_with = "seeds")]
    seed: u64,
    /// Sweep a range of seeds, e.g. `1..1000` (both ends included), checking every run and
    /// printing the replay command of each failing seed; without an input, each seed runs a
    /// workload generated from it. Output files are not written in a sweep.
    #[arg(long, value_name = "FIRST..LAST", value_parser = parse_seeds)]
    seeds: Option<std::ops::RangeInclusive<u64>>,
    /// The faults to inject: `all`, `none`, or a comma-separated list of latency, reorder,
    /// partition, oneway, hold, pause, duplicate.
    #[arg(long, default_value = "none", value_parser = parse_faults)]
    faults: FaultSet,
    #[command(flatten)]
    outputs: OutputArgs,
}

fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let (first, last) = text
        .split_once("..")
        .ok_or_else(|| format!("expected FIRST..LAST, got {text:?}"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("{part:?} is not a whole number"))
    };
    let (first, last) = (number(first)?, number(last)?);
    if first > last {
        return Err(format!("the range {first}..{last} is empty"));
    }
    Ok(first..=last)
}

fn parse_faults(text: &str) -> Result<FaultSet, String> {
    FaultSet::parse(text)
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
        Command::Simulate(args) => simulate(args),
        Command::Check(args) => Ok(check(&args)),
        Command::Render(args) => render(args),
        Command::Bench(args) => bench(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            if let Some(input_error) = error.downcast_ref::<InputError>() {
                eprintln!("{input_error}");
                ExitCode::from(2)
            } else if let Some(bad_input) = error.downcast_ref::<BadInput>() {
                eprintln!("{bad_input}");
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
    let (source, scenario) = load(args.scenario.input.as_deref())?;
    let config = RunConfig {
        model: args.scenario.clocks.into(),
        schedule: args.scenario.schedule(),
        ..RunConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut report = runtime
        .block_on(cluster::run(&scenario, config))
        .context("the run failed")?;
    report.history.source = Some(source.clone());
    emit(&report, &args.outputs)?;
    eprint!("{}", report::summary(&source, &scenario, &report));
    Ok(exit_code(report.violations.is_empty()))
}

fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimConfig {
        seed: args.seed,
        faults: args.faults,
        model: args.scenario.clocks.into(),
        schedule: args.scenario.schedule(),
        bug: None,
    };
    if let Some(seeds) = args.seeds {
        return sweep(&args.scenario, seeds, config);
    }
    let (source, scenario) = load(args.scenario.input.as_deref())?;
    let mut report = simulate::simulate(&scenario, &config).context("the simulation failed")?;
    report.run.history.source = Some(source.clone());
    emit(&report.run, &args.outputs)?;
    eprint!("{}", report::summary(&source, &scenario, &report.run));
    for problem in &report.stuck {
        eprintln!("    {problem}");
    }
    eprintln!(
        "Simulation: seed {}, faults {}, {} faults met, {} ms simulated; replay: {}",
        config.seed,
        config.faults,
        report.fault_count(),
        report.simulated_ms,
        simulate::replay_command(args.scenario.input.as_deref(), &config)
    );
    Ok(exit_code(report.passed()))
}

fn sweep(
    scenario_args: &ScenarioArgs,
    seeds: std::ops::RangeInclusive<u64>,
    base: SimConfig,
) -> anyhow::Result<ExitCode> {
    let input = match scenario_args.input.as_deref() {
        Some(path) => Some(input::load(path)?),
        None => None,
    };
    let count = seeds.end() - seeds.start() + 1;
    let bar = indicatif::ProgressBar::new(count);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut failed = 0;
    let summary = simulate::sweep(input.as_ref(), seeds, base, |_, passed| {
        failed += u64::from(!passed);
        bar.set_message(format!("{failed} failed"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    for (seed, problems) in &summary.failures {
        let config = SimConfig {
            seed: *seed,
            ..base
        };
        eprintln!(
            "seed {seed} failed: {}\n    replay: {}",
            problems.first().map_or("", String::as_str),
            simulate::replay_command(scenario_args.input.as_deref(), &config)
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "sweep: {} seeds, {} failed, faults {}, {} faults met, {:.1} s simulated in {seconds:.1} s ({:.0} seeds/s)",
        summary.seeds,
        summary.failures.len(),
        base.faults,
        summary.faults,
        summary.simulated_ms as f64 / 1000.0,
        summary.seeds as f64 / seconds.max(f64::EPSILON),
    );
    Ok(exit_code(summary.failures.is_empty()))
}

/// Writes the output, results, trace and picture files a run was asked for; the pictures are
/// drawn before any file is written.
fn emit(report: &Report, outputs: &OutputArgs) -> anyhow::Result<()> {
    let pictures =
        draw(&report.history, &outputs.pictures).context("cannot draw the run's pictures")?;
    let output = report.trace.output_text();
    match &outputs.output {
        Some(path) => std::fs::write(path, &output)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{output}"),
    }
    if let Some(path) = &outputs.results {
        let text = serde_json::to_string_pretty(&report::results(report))? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &outputs.trace {
        write_file(path, |out| tracefile::write(&report.history, out))?;
    }
    write_pictures(pictures)
}

fn exit_code(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    let name = args.file.display();
    let options = audit::Options {
        branches: args.branches.map(|n| n as usize),
    };
    let verdict = std::fs::File::open(&args.file)
        .map_err(|error| format!("cannot read: {error}"))
        .and_then(|file| {
            audit::audit(std::io::BufReader::new(file), &options).map_err(|e| e.to_string())
        });
    let verdict = match verdict {
        Ok(verdict) => verdict,
        Err(problem) => {
            eprintln!("{name}: {problem}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        let json = serde_json::to_string_pretty(&verdict.to_json())
            .unwrap_or_else(|_| unreachable!("a serde_json::Value always serializes"));
        println!("{json}");
    } else {
        print!("{}", verdict.text());
    }
    if verdict.holds() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let name = args.trace.display();
    let file = std::fs::File::open(&args.trace)
        .map_err(|error| BadInput(format!("{name}: cannot read: {error}")))?;
    let history = tracefile::read(std::io::BufReader::new(file))
        .map_err(|error| BadInput(format!("{name}: {error}")))?;
    let pictures =
        draw(&history, &args.pictures).map_err(|error| BadInput(format!("{name}: {error}")))?;
    write_pictures(pictures)?;
    Ok(ExitCode::SUCCESS)
}

/// A function that draws one kind of picture.
type Renderer = fn(&History) -> Result<String, PictureError>;

/// Draws each picture asked for, before any file is written.
fn draw(history: &History, pictures: &PictureArgs) -> Result<Vec<(PathBuf, String)>, PictureError> {
    let renderers: [(&Option<PathBuf>, Renderer); 3] = [
        (&pictures.svg, picture::svg::render),
        (&pictures.html, picture::html::render),
        (&pictures.shiviz, picture::shiviz::render),
    ];
    let mut drawn = Vec::new();
    for (path, render) in renderers {
        if let Some(path) = path {
            drawn.push((path.clone(), render(history)?));
        }
    }
    Ok(drawn)
}

fn write_pictures(pictures: Vec<(PathBuf, String)>) -> anyhow::Result<()> {
    for (path, text) in pictures {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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
        callers: args.callers,
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
