//! `lamport-bank render TRACE`: draws the pictures of a run saved with `--trace` (by `run` or
//! `simulate`; `-`: standard input), the same pictures the run would have drawn.

use super::outputs::{self, OutputPaths, PicturePaths};
use super::{AppError, Console, Ended, Outcome, pictures};
use crate::source;
use crate::trace::file as trace_file;

/// Which trace, and which pictures (the command's arguments, as `--help` shows them).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(group(clap::ArgGroup::new("pictures").required(true).multiple(true).args(["svg", "html", "shiviz"])))]
pub struct RenderOptions {
    /// The trace file written by `run --trace FILE` or `simulate --trace FILE` (`-` reads
    /// standard input).
    pub trace: String,
    /// The pictures to draw; one at least.
    #[command(flatten)]
    pub pictures: PicturePaths,
}

/// Draws the pictures `options` asks for.
pub fn run(options: &RenderOptions, console: &mut Console) -> Outcome {
    let asked = OutputPaths {
        pictures: options.pictures.clone(),
        ..OutputPaths::default()
    };
    outputs::check(&asked.flags())?;
    options.pictures.svg_window()?;
    let name = source::name_of(&options.trace);
    let refused = |problem: String| AppError::BadInput(format!("{name}: {problem}"));
    let input = source::open(&options.trace).map_err(|error| refused(error.to_string()))?;
    let history = trace_file::read(input).map_err(|error| refused(error.to_string()))?;
    let drawn =
        pictures::draw(&history, &options.pictures).map_err(|error| refused(error.to_string()))?;
    let mut failures = Vec::new();
    for picture in &drawn.drawn {
        if let Some(warning) = pictures::warning(picture, history.len()) {
            console.line(&warning)?;
        }
        failures.extend(outputs::write_text(picture.flag, &picture.path, &picture.text).err());
    }
    if !failures.is_empty() {
        return Err(AppError::Unwritable(failures));
    }
    match drawn.refused {
        Some(line) => Err(AppError::BadInput(line)),
        None => Ok(Ended::Holds),
    }
}
