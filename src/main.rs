//! The `lamport-bank` command: parses arguments, sets up logging, calls the library and maps
//! errors to exit statuses (0 all good, 1 an invariant failed or the run broke, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lamport_bank::cluster::{self, RunConfig};
use lamport_bank::history::History;
use lamport_bank::input::{self, InputError, Scenario};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::picture::{self, PictureError};
use lamport_bank::{report, tracefile};

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
    /// Draw the pictures of a run saved with `run --trace FILE`: the same pictures the run
    /// would have drawn.
    Render(RenderArgs),
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
    #[command(flatten)]
    pictures: PictureArgs,
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
    let cli = Cli::parse();
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
        Command::Render(args) => render(args),
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
    let mut report = runtime
        .block_on(cluster::run(&scenario, config))
        .context("the run failed")?;
    report.history.source = Some(source.clone());
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
    let pictures =
        draw(&report.history, &args.pictures).context("cannot draw the run's pictures")?;
    write_pictures(pictures)?;
    eprint!("{}", report::summary(&source, &scenario, &report));
    Ok(if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
