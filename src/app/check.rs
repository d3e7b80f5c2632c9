//! `lamport-bank check FILE [FILE...]`: reads a run's output (ours, the original's or a course
//! year's; several files: the parts of one fall-2023 output) or a trace file (`-`: standard
//! input), checks every rule its content allows, and prints one line per broken rule and a
//! summary (or the verdict as JSON).

use super::{AppError, Clocks, Console, Ended, Outcome, Propagation};
use crate::source;
use crate::trace::Course;
use crate::verify::audit::{self, Options};

/// What to check and how to print the verdict (the command's arguments, as `--help` shows
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct CheckOptions {
    /// The file to check (`-` reads standard input): a run's output in any year's form, a
    /// trace file (its first line holds `lamport_bank_trace`), or Project 1 results; which one
    /// it is is told from the content. Several files: the parts of one fall-2023 output
    /// (customer_events.json, branch_events.json, all_events.json), checked together.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// How many branches the run had, for an output in the original's form that leaves out a
    /// branch with no events (default: the number of branch entries). A trace and a fall-2023
    /// output name their processes and ignore this.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub branches: Option<u32>,
    /// Read an output as a course year's (`2021`: its clocks are checked for their order
    /// only; `2022`: exactly, with the strict rules; `2023`: exactly, with the messages
    /// rules), instead of the year its names tell.
    #[arg(long, value_enum, value_name = "YEAR")]
    pub course: Option<Course>,
    /// Read an output with these clock rules, instead of those its sub-events tell (`strict`
    /// when an `X_response` appears).
    #[arg(long, value_enum, value_name = "MODEL")]
    pub clocks: Option<Clocks>,
    /// How the run that wrote an output propagated its changes: `async` when each was answered
    /// right after its execute (`run --propagation async`), so that the reply comes before
    /// the acknowledgements. A trace file's header says it, and this is not needed.
    #[arg(long, value_enum, value_name = "MODE")]
    pub propagation: Option<Propagation>,
    /// The run's input (`-`: standard input), which Project 1 results (each customer's
    /// `recv` list, as `run --recv` writes them) are checked against.
    #[arg(long, value_name = "FILE")]
    pub input: Option<String>,
    /// Print the verdict as JSON on stdout instead (format, clocks, counts, violations, hold).
    #[arg(long)]
    pub json: bool,
}

/// Checks the file(s) `options` names.
pub fn run(options: &CheckOptions, console: &mut Console) -> Outcome {
    let scenario = match &options.input {
        Some(input) => Some(super::load(Some(input), console)?.1),
        None => None,
    };
    let audit_options = Options {
        branches: options.branches.map(|n| n as usize),
        course: options.course,
        model: options.clocks.map(Into::into),
        scenario,
        propagation: options.propagation.map(Into::into),
    };
    let verdict = match options.files.as_slice() {
        [file] => {
            let name = source::name_of(file);
            let refused = |problem: String| AppError::BadInput(format!("{name}: {problem}"));
            let input = source::open(file).map_err(|error| refused(error.to_string()))?;
            audit::audit(input, &audit_options).map_err(|error| refused(error.to_string()))?
        }
        files => {
            if files.iter().filter(|file| *file == "-").count() > 1 {
                let problem = "-: standard input can be read only once";
                return Err(AppError::BadInput(problem.to_string()));
            }
            let mut texts = Vec::with_capacity(files.len());
            for file in files {
                let name = source::name_of(file);
                let text = source::read_to_string(file, source::MAX_FILE_BYTES)
                    .map_err(|error| AppError::BadInput(format!("{name}: {error}")))?;
                texts.push((name, text));
            }
            audit::audit_together(&texts, &audit_options)
                .map_err(|error| AppError::BadInput(error.to_string()))?
        }
    };
    if options.json {
        console.out(&format!("{:#}\n", verdict.to_json()))?;
    } else {
        console.out(&verdict.text())?;
    }
    Ok(Ended::from_holds(verdict.holds()))
}
