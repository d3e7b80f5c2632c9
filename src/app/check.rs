//! `lamport-bank check FILE`: reads a run's output (ours or the original's) or a trace file
//! (`-`: standard input), checks every rule its content allows, and prints one line per broken
//! rule and a summary (or the verdict as JSON).

use super::{AppError, Console, Ended, Outcome};
use crate::source;
use crate::verify::audit::{self, Options};

/// What to check and how to print the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// The file (`-`: standard input).
    pub file: String,
    /// How many branches the run had, for an output file that leaves out a silent one.
    pub branches: Option<usize>,
    /// Print the verdict as JSON on standard output instead of text.
    pub json: bool,
}

/// Checks the file `options` names.
pub fn run(options: &CheckOptions, console: &mut Console) -> Outcome {
    let name = source::name_of(&options.file);
    let refused = |problem: String| AppError::BadInput(format!("{name}: {problem}"));
    let input = source::open(&options.file).map_err(|error| refused(error.to_string()))?;
    let audit_options = Options {
        branches: options.branches,
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
