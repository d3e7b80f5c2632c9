//! `lamport-bank simulate`: one seeded run over the simulated network, written and printed as a
//! real run is, with its replay command; or a sweep over many seeds, each checked, with a
//! summary (so far, if it is stopped by Ctrl-C or SIGTERM).

use std::time::Instant;

use super::interrupt::Interrupt;
use super::outputs::{self, OutputPaths};
use super::run::deliver;
use super::{AppError, Console, Ended, Outcome, progress};
use crate::sim::sweep::{self, Seeds, Simulated, SweepSummary};
use crate::sim::{self, SimConfig};

/// What to simulate and what to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateOptions {
    /// The input file (`-`: standard input); without one, the built-in sample (one seed) or a
    /// workload generated per seed (a sweep).
    pub input: Option<String>,
    /// The seed, the faults, the clock model and the schedule (the seed is replaced by each of
    /// `seeds` in a sweep).
    pub config: SimConfig,
    /// Sweep these seeds instead of running one.
    pub seeds: Option<Seeds>,
    /// The files to write (one seed only).
    pub outputs: OutputPaths,
    /// With no input, one seed runs the workload a sweep generates for it (as a sweep's replay
    /// command says) instead of the built-in sample.
    pub workload: bool,
}

/// The command that replays the one seed of `options`.
fn replay(options: &SimulateOptions) -> String {
    let simulated = match (&options.input, options.workload) {
        (Some(input), _) => Simulated::File(input),
        (None, true) => Simulated::Workload,
        (None, false) => Simulated::Sample,
    };
    sweep::replay_command(simulated, &options.config)
}

/// Runs the simulation or the sweep `options` names.
pub fn run(options: &SimulateOptions, console: &mut Console) -> Outcome {
    match &options.seeds {
        Some(seeds) => run_sweep(options, seeds, console),
        None => run_one(options, console),
    }
}

fn run_one(options: &SimulateOptions, console: &mut Console) -> Outcome {
    outputs::check(&options.outputs.flags())?;
    super::check_propagation(options.config.propagation, options.config.guarantees)?;
    options.outputs.pictures.svg_window()?;
    let config = &options.config;
    let (source, scenario) = match (&options.input, options.workload) {
        (None, true) => (
            format!("<the workload of seed {}>", config.seed),
            sweep::workload(config.seed, config.propagation),
        ),
        (input, _) => super::load(input.as_deref(), console)?,
    };
    options.outputs.check_for(&scenario)?;
    let mut report = sim::simulate(&scenario, config);
    report.run.history.source = Some(source.clone());
    let delivered = deliver(&report.run, &source, &scenario, &options.outputs, console);
    for problem in &report.stuck {
        console.line(&format!("    {problem}"))?;
    }
    console.line(&format!(
        "Simulation: seed {}, faults {}, {} faults met, {} ms simulated; replay: {}",
        config.seed,
        config.faults,
        report.fault_count(),
        report.simulated_ms,
        replay(options)
    ))?;
    match delivered? {
        Ended::Holds if !report.stuck.is_empty() => Ok(Ended::Broken),
        ended => Ok(ended),
    }
}

fn run_sweep(options: &SimulateOptions, seeds: &Seeds, console: &mut Console) -> Outcome {
    super::check_propagation(options.config.propagation, options.config.guarantees)?;
    if let Some((flag, _)) = options.outputs.flags().first() {
        return Err(AppError::BadInput(format!(
            "{}: a sweep writes no files; replay one seed (its command is printed when it \
             fails) to write them",
            flag.name()
        )));
    }
    let scenario = match options.input.as_deref() {
        Some(path) => Some(super::load(Some(path), console)?.1),
        None => None,
    };
    let interrupt = Interrupt::listen();
    tracing::info!(%seeds, "sweeping; Ctrl-C stops and prints the summary so far");
    let bar = progress::bar(
        seeds.count(),
        "{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]",
    );
    let started = Instant::now();
    let mut failed = 0;
    let summary = sweep::sweep(
        scenario.as_ref(),
        seeds,
        options.config,
        |_, passed| {
            failed += u64::from(!passed);
            bar.set_message(format!("{failed} failed"));
            bar.inc(1);
        },
        || interrupt.raised(),
    );
    bar.finish_and_clear();
    print_summary(options, &summary, started.elapsed().as_secs_f64(), console)?;
    Ok(if summary.stopped {
        Ended::Interrupted
    } else {
        Ended::from_holds(summary.passed())
    })
}

fn print_summary(
    options: &SimulateOptions,
    summary: &SweepSummary,
    seconds: f64,
    console: &mut Console,
) -> Result<(), AppError> {
    for failure in &summary.failures {
        let config = SimConfig {
            seed: failure.seed,
            ..options.config
        };
        console.line(&format!(
            "seed {} failed: {}\n    replay: {}",
            failure.seed,
            failure.problems.first().map_or("", String::as_str),
            sweep::replay_command(Simulated::in_sweep(options.input.as_deref()), &config)
        ))?;
    }
    let stopped = if summary.stopped {
        " (stopped: the seeds after these did not run)"
    } else {
        ""
    };
    console.line(&format!(
        "sweep: {} seeds, {} failed, faults {}, {} faults met, {:.1} s simulated in {seconds:.1} \
         s ({:.0} seeds/s){stopped}",
        summary.seeds,
        summary.failures.len(),
        options.config.faults,
        summary.faults,
        summary.simulated_ms as f64 / 1000.0,
        summary.seeds as f64 / seconds.max(f64::EPSILON),
    ))
}
