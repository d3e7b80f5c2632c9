//! `lamport-bank bench`: measures every configuration against the machine's gRPC limit,
//! printing each row of the table as it is measured (and the rows so far, if it is stopped by
//! Ctrl-C or SIGTERM), the results as JSON if asked, and their plot as SVG if asked (of the rows
//! so far, if it is stopped).

use std::path::Path;

use super::interrupt::Interrupt;
use super::outputs::{self, Flag};
use super::{AppError, Console, Ended, Outcome, progress};
use crate::bench::{self, BenchConfig, BenchReport, Event, Stage, plot};
use crate::limits;

/// Runs the benchmark `config` describes; with `processes`, also on clusters of `serve`
/// processes started from this very binary; with `json`, also prints the results as JSON on
/// standard output; with `svg`, also writes their plot there (the path is checked before
/// anything runs).
pub fn run(
    config: &BenchConfig,
    processes: bool,
    json: bool,
    svg: Option<&Path>,
    console: &mut Console,
) -> Outcome {
    if let Some(path) = svg {
        outputs::check(&[(Flag::Svg, path.to_path_buf())])?;
    }
    if processes && config.propagation() == crate::model::PropagationMode::Async {
        return Err(AppError::BadInput(
            bench::BadBenchConfig::ProcessesAsync.to_string(),
        ));
    }
    super::check_propagation(config.propagation(), config.guarantees())?;
    let config = if processes {
        let binary = std::env::current_exe().map_err(|error| {
            AppError::RunFailed(format!(
                "--processes: this binary's path, to start it as `serve`: {error}"
            ))
        })?;
        config.clone().with_processes(binary)
    } else {
        config.clone()
    };
    let config = &config;
    limits::raise_open_files();
    let room = limits::room();
    for &branches in config.branches() {
        limits::check(&config.workload(branches), bench::RECORDING, room)
            .map_err(|error| AppError::BadInput(format!("--branches {branches}: {error}")))?;
    }
    let runtime = super::runtime()?;
    let bar = progress::bar(
        config.run_count() as u64 + 1,
        "{elapsed:>4} [{bar:30}] {pos}/{len} {msg}",
    );
    let interrupt = Interrupt::listen();
    tracing::info!("benchmarking; Ctrl-C stops and prints the rows so far");
    // What to print as the benchmark goes, gathered here and printed between its steps: the
    // progress bar is cleared around each line so that the two do not mix.
    let mut printed: Result<(), AppError> = Ok(());
    let mut head: Option<String> = None;
    let report = {
        let mut events = |event: Event<'_>| match event {
            Event::Starting(Stage::Limit) => bar.set_message("measuring the gRPC limit"),
            Event::Starting(Stage::Run {
                index,
                branches,
                schedule,
                deployment,
                ..
            }) => {
                bar.set_position(index as u64 + 1);
                bar.set_message(format!(
                    "{branches} branches, {}, {}",
                    schedule.name(),
                    deployment.name()
                ));
            }
            Event::Limit(limit) => {
                let preview = BenchReport {
                    config: config.clone(),
                    cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    limit: Some(limit.clone()),
                    runs: Vec::new(),
                    stopped: false,
                };
                head = Some(preview.head());
            }
            Event::Measured(measurement) => {
                if printed.is_ok() {
                    let mut text = head.take().unwrap_or_default();
                    text.push_str(&bench::row(measurement));
                    printed = bar.suspend(|| console.err(&text));
                }
            }
        };
        runtime.block_on(bench::run(config, &mut events, interrupt.wait()))
    };
    bar.finish_and_clear();
    printed?;
    let report =
        report.map_err(|error| AppError::RunFailed(format!("the benchmark failed: {error}")))?;
    if let Some(head) = head.take() {
        // The limit came, and no row after it.
        console.err(&head)?;
    }
    console.err(&report.foot())?;
    if json {
        console.out(&format!("{:#}\n", report.to_json()))?;
    }
    if let Some(path) = svg {
        outputs::write_text(Flag::Svg, path, &plot::render(&report))
            .map_err(|unwritten| AppError::Unwritable(vec![unwritten]))?;
    }
    Ok(if report.stopped {
        Ended::Interrupted
    } else {
        Ended::from_holds(report.replicas_agree())
    })
}
