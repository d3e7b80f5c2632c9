//! `lamport-bank check FILE`: reads a run's output (ours or the original's) or a trace file
//! (`-`: standard input), checks every rule its content allows, and prints one line per broken
//! rule and a summary (or the verdict as JSON).

use super::{AppError, Clocks, Console, Ended, Outcome};
use crate::source;
use crate::trace::Course;
use crate::verify::audit::{self, Options};

/// What to check and how to print the verdict (the command's arguments, as `--help` shows
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct CheckOptions {
    /// The file to check (`-` reads standard input): a JSON array of branch and event entries,
    /// or a trace file (its first line holds `lamport_bank_trace`). Which one it is is told
    /// from the content.
    pub file: String,
    /// How many branches the run had, for an output file that leaves out a branch with no
    /// events (default: the number of branch entries). A trace lists its processes and
    /// ignores this.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub branches: Option<u32>,
    /// Read an output as a course year's (`2021`: its clocks are checked for their order
    /// only; `2022`: exactly, with the strict rules), instead of the year its names tell.
    #[arg(long, value_enum, value_name = "YEAR")]
    pub course: Option<Course>,
    /// Read an output with these clock rules, instead of those its sub-events tell (`strict`
    /// when an `X_response` appears).
    #[arg(long, value_enum, value_name = "MODEL")]
    pub clocks: Option<Clocks>,
    /// The run's input (`-`: standard input), which Project 1 results (each customer's
    /// `recv` list, as `run --recv` writes them) are checked against.
    #[arg(long, value_name = "FILE")]
    pub input: Option<String>,
    /// Print the verdict as JSON on stdout instead (format, clocks, counts, violations, hold).
    #[arg(long)]
    pub json: bool,
}

/// Checks the file `options` names.
pub fn run(options: &CheckOptions, console: &mut Console) -> Outcome {
    let name = source::name_of(&options.file);
    let refused = |problem: String| AppError::BadInput(format!("{name}: {problem}"));
    let input = source::open(&options.file).map_err(|error| refused(error.to_string()))?;
    let scenario = match &options.input {
        Some(input) => Some(super::load(Some(input))?.1),
        None => None,
    };
    let audit_options = Options {
        branches: options.branches.map(|n| n as usize),
        course: options.course,
        model: options.clocks.map(Into::into),
        scenario,
    };
    let verdict =
        audit::audit(input, &audit_options).map_err(|error| refused(error.to_string()))?;
    if options.json {
        console.out(&format!("{:#}\n", verdict.to_json()))?;
    } else {
        console.out(&verdict.text())?;
    }
    Ok(Ended::from_holds(verdict.holds()))
}
