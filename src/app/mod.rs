//! The commands, as the binary calls them: what each reads, runs, writes and prints, and how it
//! ended ([`Ended`], or an [`AppError`]), from which the binary takes its exit status. Tests
//! call these functions directly, with a [`Console`] that keeps what they print.
//!
//! Exit statuses (the README's "Exit statuses" section lists them too):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done, and every rule holds |
//! | 1 | done, and a rule does not hold (an invariant, a trace rule, replicas that disagree) |
//! | 2 | bad arguments or input: nothing was run |
//! | 3 | the run was done, but an output could not be written (the report was still printed) |
//! | 4 | the run could not be carried out (a server could not start, a task failed) |
//! | 130 | stopped by Ctrl-C or SIGTERM, after printing what was finished |
//! | 141 | standard output or error was closed (a broken pipe): ended quietly |

pub mod bench;
pub mod check;
pub mod console;
pub mod outputs;
pub mod render;
pub mod run;
pub mod serve;
pub mod simulate;

mod interrupt;
mod pictures;
mod progress;

pub use console::Console;
pub use outputs::{OutputPaths, PicturePaths};

use crate::scenario::input::InputError;

/// The clock rules, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Clocks {
    /// The original Python simulator's rules (the default).
    #[default]
    Original,
    /// Lamport's rules to the letter.
    Strict,
    /// The course's rules from fall 2023 on: only sends and receives are events.
    Messages,
}

impl From<Clocks> for crate::model::ClockModel {
    fn from(clocks: Clocks) -> Self {
        match clocks {
            Clocks::Original => crate::model::ClockModel::Original,
            Clocks::Strict => crate::model::ClockModel::Strict,
            Clocks::Messages => crate::model::ClockModel::Messages,
        }
    }
}

/// When an origin answers its customer, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Propagation {
    /// After every other branch has applied the change (the default).
    #[default]
    Sync,
    /// Right after executing it, propagating in the background.
    Async,
}

impl From<Propagation> for crate::model::PropagationMode {
    fn from(propagation: Propagation) -> Self {
        match propagation {
            Propagation::Sync => crate::model::PropagationMode::Sync,
            Propagation::Async => crate::model::PropagationMode::Async,
        }
    }
}

/// Whether branches enforce session guarantees, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Guarantees {
    /// Read-your-writes and monotonic writes: branches wait for what a session needs (the
    /// default).
    #[default]
    Enforced,
    /// Nothing is waited for.
    None,
}

impl From<Guarantees> for crate::model::SessionGuarantees {
    fn from(guarantees: Guarantees) -> Self {
        match guarantees {
            Guarantees::Enforced => crate::model::SessionGuarantees::Enforced,
            Guarantees::None => crate::model::SessionGuarantees::None,
        }
    }
}

/// Under which rules a scenario runs (the flags `run` and `simulate` share, as `--help` shows
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ScenarioArgs {
    /// The clock rules: `original` (the default, or a cluster file's) reproduces the Python
    /// simulator's output exactly; `strict` follows Lamport's rules to the letter (customer
    /// sends tick, the reply is logged); `messages` is the course's from fall 2023 on (only
    /// sends and receives tick).
    #[arg(long, value_enum)]
    pub clocks: Option<Clocks>,
    /// Run all customers at once, and propagate each change to all branches in parallel,
    /// instead of one customer after another and one branch after another.
    #[arg(long)]
    pub concurrent: bool,
    /// When the origin of a deposit or withdraw answers its customer: `sync` (the default)
    /// after every other branch has applied the change; `async` right after executing it,
    /// sending it to every other branch at once in the background (customers that go from
    /// branch to branch then rely on their session guarantees).
    #[arg(long, value_enum, default_value_t = Propagation::Sync)]
    pub propagation: Propagation,
    /// With --propagation async: `enforced` (the default) makes a branch wait until it has
    /// applied every write a customer made before serving it (read-your-writes), and apply each
    /// customer's writes in the order the customer made them (monotonic writes); `none` waits
    /// for nothing, so that you can see what goes wrong without them.
    #[arg(long, value_enum, default_value_t = Guarantees::Enforced)]
    pub session_guarantees: Guarantees,
}

impl ScenarioArgs {
    /// The clock model asked for, if one was.
    pub fn model(&self) -> Option<crate::model::ClockModel> {
        self.clocks.map(Into::into)
    }

    /// One customer after another, or all at once.
    pub fn schedule(&self) -> crate::model::Schedule {
        if self.concurrent {
            crate::model::Schedule::Concurrent
        } else {
            crate::model::Schedule::Sequential
        }
    }

    /// When changes are answered.
    pub fn propagation(&self) -> crate::model::PropagationMode {
        self.propagation.into()
    }

    /// Whether branches enforce the session guarantees.
    pub fn guarantees(&self) -> crate::model::SessionGuarantees {
        self.session_guarantees.into()
    }
}

/// Refuses settings that change nothing: without asynchronous propagation, no request ever
/// waits for a write, so switching the guarantees off would only mislead.
pub fn check_propagation(
    propagation: crate::model::PropagationMode,
    guarantees: crate::model::SessionGuarantees,
) -> Result<(), AppError> {
    if propagation == crate::model::PropagationMode::Sync
        && guarantees == crate::model::SessionGuarantees::None
    {
        return Err(AppError::BadInput(
            "--session-guarantees none: only with --propagation async (a change propagated \
             synchronously is on every branch before its customer hears of it, so nothing is \
             ever waited for)"
                .to_string(),
        ));
    }
    Ok(())
}

/// How a command that ran to its end ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every rule holds.
    Holds,
    /// A rule does not hold; the command printed which.
    Broken,
    /// Stopped by a signal, after printing what was finished.
    Interrupted,
}

impl Ended {
    /// [`Ended::Holds`] if `holds`, else [`Ended::Broken`].
    pub fn from_holds(holds: bool) -> Self {
        if holds { Ended::Holds } else { Ended::Broken }
    }

    /// The exit status.
    pub fn status(self) -> u8 {
        match self {
            Ended::Holds => 0,
            Ended::Broken => 1,
            Ended::Interrupted => 130,
        }
    }
}

/// Why a command stopped short. Each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input file was refused.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Some other argument or file was refused, already phrased `<what>: <problem>`.
    #[error("{0}")]
    BadInput(String),
    /// The run was done, but these outputs could not be written (one line each).
    #[error("{}", lines(.0))]
    Unwritable(Vec<outputs::Unwritten>),
    /// The run could not be carried out.
    #[error("{0}")]
    RunFailed(String),
    /// Standard output or error is closed.
    #[error("standard output is closed")]
    BrokenPipe,
}

impl AppError {
    /// The exit status.
    pub fn status(&self) -> u8 {
        match self {
            AppError::Input(_) | AppError::BadInput(_) => 2,
            AppError::Unwritable(_) => 3,
            AppError::RunFailed(_) => 4,
            AppError::BrokenPipe => 141,
        }
    }
}

/// One line per output not written.
fn lines(unwritten: &[outputs::Unwritten]) -> String {
    let lines: Vec<String> = unwritten.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// What a command returns.
pub type Outcome = Result<Ended, AppError>;

/// The exit status of `outcome`, once the one line of an error is printed (a closed pipe ends
/// quietly; if standard error is gone too, the status alone tells).
pub fn status(outcome: Outcome, console: &mut Console) -> u8 {
    match outcome {
        Ok(ended) => ended.status(),
        Err(AppError::BrokenPipe) => AppError::BrokenPipe.status(),
        Err(error) => {
            let _ = console.line(&error.to_string());
            error.status()
        }
    }
}

/// Starts the async runtime that a run needs.
fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Runtime::new()
        .map_err(|error| AppError::RunFailed(format!("cannot start the async runtime: {error}")))
}

/// Loads the scenario at `input` (`-`: standard input), or the built-in sample without one,
/// warning on `console` of what it runs with all the same (a repeated event id); returns how it
/// is named in messages, and the scenario.
fn load(
    input: Option<&str>,
    console: &mut Console,
) -> Result<(String, crate::scenario::Scenario), AppError> {
    use crate::scenario::{input as file, sample};
    use crate::source;
    let (name, scenario) = match input {
        Some(path) => (source::name_of(path).to_string(), file::load(path)?),
        None => (sample::NAME.to_string(), sample::scenario()?),
    };
    if let Some(repeated) = &scenario.repeated {
        console.line(&repeated.warning(&name))?;
    }
    Ok((name, scenario))
}
