//! `lamport-bank run [INPUT]` (and the program with no command): runs a scenario on a real
//! cluster on this machine, prints its output as JSON, the account of the run for a person, and
//! writes every file it was asked for.

use super::outputs::{self, Flag, OutputPaths};
use super::serve::TlsArgs;
use super::{AppError, Console, Ended, Outcome, pictures, progress};
use crate::cluster::{self, RunConfig, RunProgress};
use crate::limits;
use crate::model::{ClockModel, PropagationMode, Schedule, SessionGuarantees};
use crate::remote::run as remote;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::trace::{Recording, file as trace_file};

/// What to run, under which rules, and what to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// The input file (`-`: standard input); the built-in sample without one.
    pub input: Option<String>,
    /// The clock rules; without, the cluster file's, else `original`.
    pub model: Option<ClockModel>,
    /// Customers one after another, or all at once.
    pub schedule: Schedule,
    /// Whether changes are answered after they are propagated, or before.
    pub propagation: PropagationMode,
    /// Whether branches enforce their customers' session guarantees.
    pub guarantees: SessionGuarantees,
    /// The files to write.
    pub outputs: OutputPaths,
    /// Run the customers against this cluster of `serve` processes (a cluster file) instead of
    /// branches started here.
    pub cluster: Option<String>,
    /// Mutual TLS towards the cluster's branches (with `cluster` only).
    pub tls: TlsArgs,
}

/// Runs the scenario `options` names and writes everything it asks for.
pub fn run(options: &RunOptions, console: &mut Console) -> Outcome {
    outputs::check(&options.outputs.flags())?;
    options.outputs.pictures.svg_window()?;
    super::check_propagation(options.propagation, options.guarantees)?;
    if let Some(cluster) = &options.cluster {
        return run_on_cluster(options, cluster, console);
    }
    if options.tls != TlsArgs::default() {
        return Err(AppError::BadInput(
            "--tls-cert, --tls-key and --tls-ca: only with --cluster (a run on this machine \
             needs no TLS)"
                .to_string(),
        ));
    }
    let (source, scenario) = super::load(options.input.as_deref(), console)?;
    options.outputs.check_for(&scenario)?;
    limits::raise_open_files();
    let recording = recording_for(&scenario, &options.outputs);
    limits::check(&scenario, recording, limits::room())
        .map_err(|error| AppError::BadInput(format!("{source}: {error}")))?;
    let config = RunConfig {
        model: options.outputs.model(options.model)?.unwrap_or_default(),
        schedule: options.schedule,
        recording,
        propagation: options.propagation,
        guarantees: options.guarantees,
        ..RunConfig::default()
    };
    let runtime = super::runtime()?;
    let bar = progress::bar(
        scenario.customers.len() as u64,
        "{elapsed:>4} [{bar:30}] {pos}/{len} customers done, {msg}",
    );
    let watch = |progress: RunProgress| {
        bar.set_position(progress.customers_done as u64);
        bar.set_message(format!("{} events", progress.events));
    };
    let report = runtime
        .block_on(cluster::run_watched(&scenario, config, watch))
        .map_err(|error| AppError::RunFailed(format!("the run failed: {error}")));
    bar.finish_and_clear();
    let mut report = report?;
    report.history.source = Some(source.clone());
    deliver(&report, &source, &scenario, &options.outputs, console)
}

/// Runs the input's customers against the cluster the file at `path` describes, then writes
/// and prints what a run on this machine would.
fn run_on_cluster(options: &RunOptions, path: &str, console: &mut Console) -> Outcome {
    if options.propagation != PropagationMode::Sync {
        return Err(AppError::BadInput(
            "--propagation async: branches served on their own propagate synchronously; run \
             it without --cluster (or with simulate)"
                .to_string(),
        ));
    }
    let cluster = super::serve::load_cluster(path)?;
    let (source, scenario) = super::load(options.input.as_deref(), console)?;
    if scenario.visits.roaming() {
        return Err(AppError::BadInput(format!(
            "{source}: its customers go from branch to branch, which branches served on their \
             own do not allow yet: run it without --cluster (or with simulate)"
        )));
    }
    cluster
        .matches(&scenario)
        .map_err(|mismatch| AppError::BadInput(format!("{source}: {mismatch}")))?;
    let tls = options.tls.load()?;
    if let (Some(tls), Some(cert)) = (&tls, &options.tls.tls_cert) {
        let refused = scenario
            .customers
            .iter()
            .map(|customer| customer.id)
            .find(|&id| !tls.identity().may_act_for(id));
        if let Some(customer) = refused {
            return Err(AppError::BadInput(format!(
                "--tls-cert {cert}: it names {}, so it may not act for {customer} of {source} \
                 (it needs customer-{} or customers)",
                tls.identity(),
                customer.0
            )));
        }
    }
    let config = RunConfig {
        model: options
            .outputs
            .model(options.model.or(cluster.clocks))?
            .unwrap_or_default(),
        schedule: options.schedule,
        ..RunConfig::default()
    };
    let runtime = super::runtime()?;
    let report = runtime
        .block_on(remote::run(&cluster, &scenario, config, tls.as_ref()))
        .map_err(|error| {
            if error.is_refusal() {
                AppError::BadInput(error.to_string())
            } else {
                AppError::RunFailed(format!("the run failed: {error}"))
            }
        });
    let mut report = report?;
    report.history.source = Some(source.clone());
    deliver(&report, &source, &scenario, &options.outputs, console)
}

/// What the run keeps: vector clocks when a trace or a picture asks for them, or for the
/// happens-before count of the report as long as they fit in memory; the events always (the
/// output is made of them).
pub fn recording_for(scenario: &Scenario, outputs: &OutputPaths) -> Recording {
    let asked = outputs.trace.is_some() || outputs.pictures.any();
    let fits = limits::check(scenario, Recording::FULL, limits::room()).is_ok();
    Recording {
        vectors: asked || fits,
        events: true,
    }
}

/// Writes and prints what a finished run produced: the output (standard output, or
/// `--output`), the results, the trace and the pictures, then the account for a person. A file
/// that cannot be written costs only itself: everything else is still written and printed, and
/// the failures come last, one line each.
pub fn deliver(
    report: &Report,
    source: &str,
    scenario: &Scenario,
    outputs: &OutputPaths,
    console: &mut Console,
) -> Outcome {
    let mut failures = Vec::new();
    let output = outputs.output_text(&report.trace, &report.history, scenario.visits);
    match outputs.output.as_deref() {
        Some(path) if !outputs.output_to_stdout() => {
            failures.extend(outputs::write_text(Flag::Output, path, &output).err());
        }
        _ => console.out(&output)?,
    }
    if let Some(paths) = outputs.part_paths() {
        let texts = report
            .history
            .parts(outputs.spelling.unwrap_or_default())
            .texts();
        for (path, text) in paths.iter().zip(texts) {
            failures.extend(outputs::write_text(Flag::OutputDir, path, &text).err());
        }
    }
    if let Some(path) = &outputs.results {
        let text = format!("{:#}\n", report.results());
        failures.extend(outputs::write_text(Flag::Results, path, &text).err());
    }
    if let Some(path) = &outputs.recv {
        let text = format!("{:#}\n", report.trace.recv_output());
        failures.extend(outputs::write_text(Flag::Recv, path, &text).err());
    }
    if let Some(path) = &outputs.trace {
        let written = outputs::write_file(Flag::Trace, path, |mut out| {
            trace_file::write(&report.history, &mut out)
        });
        failures.extend(written.err());
    }
    let mut refused = None;
    match pictures::draw(&report.history, &outputs.pictures) {
        Ok(drawn) => {
            refused = drawn.refused;
            for picture in &drawn.drawn {
                if let Some(warning) = pictures::warning(picture, report.history.len()) {
                    console.line(&warning)?;
                }
                failures
                    .extend(outputs::write_text(picture.flag, &picture.path, &picture.text).err());
            }
        }
        Err(error) => failures.push(error.into()),
    }
    console.err(&report.summary(source, scenario))?;
    if !failures.is_empty() {
        return Err(AppError::Unwritable(failures));
    }
    match refused {
        Some(line) => Err(AppError::BadInput(line)),
        None => Ok(Ended::from_holds(report.holds())),
    }
}
