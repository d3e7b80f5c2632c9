//! The files a command writes, checked before anything runs and written so that a failure never
//! leaves a half-written file under its final name: each is written to a temporary file in the
//! same folder, then renamed over the final name (so a file that was there stays whole until
//! the new one is complete, even if the program is killed while writing).
//!
//! Checked first, for every path: `-` (standard output) is for `--output` only; the folder
//! exists and a file can be made in it; the path is not a folder; no two flags name the same
//! file.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::AppError;
use crate::model::{ClockModel, Visits};
use crate::picture::window::Window;
use crate::scenario::Scenario;
use crate::trace::{Course, History, Spelling, Trace, parts};

/// The pictures a command was asked to draw (its flags, as `--help` shows them).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct PicturePaths {
    /// Write the space-time diagram as SVG: one lane per process, one dot per event placed by
    /// its Lamport clock, one arrow per message.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained HTML page: the diagram, where clicking an event shows its causal
    /// past, future and concurrent events, and the table of every event.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a log for ShiViz, the vector-clock visualizer: on its input page, put the file's
    /// first line (the parser's regular expression) in the regex field, leave the delimiter
    /// empty, paste the rest of the file in the log box, and press "Visualize".
    #[arg(long, value_name = "FILE")]
    pub shiviz: Option<PathBuf>,
    /// With `--svg`: draw only the events whose Lamport clock is in FROM..TO (both included),
    /// and the messages between them; the subtitle counts what is left out.
    #[arg(long, value_name = "FROM..TO", requires = "svg", conflicts_with_all = ["svg_first", "svg_full"])]
    pub svg_lamport: Option<String>,
    /// With `--svg`: draw only the first N events in causal order, and the messages between
    /// them.
    #[arg(long, value_name = "N", requires = "svg", conflicts_with = "svg_full")]
    pub svg_first: Option<usize>,
    /// With `--svg`: draw the whole run however wide (a picture wider than 20,000 px is
    /// refused without it, or a part of it).
    #[arg(long, requires = "svg")]
    pub svg_full: bool,
}

impl PicturePaths {
    /// Whether any picture was asked for.
    pub fn any(&self) -> bool {
        self.svg.is_some() || self.html.is_some() || self.shiviz.is_some()
    }

    /// The part of the diagram `--svg` draws (`None`: all of it), checked before anything
    /// runs: `--svg-lamport FROM..TO` is refused in one line unless FROM and TO are whole
    /// numbers with FROM at most TO.
    pub fn svg_window(&self) -> Result<Option<Window>, AppError> {
        if let Some(range) = &self.svg_lamport {
            return Window::lamport(range)
                .map(Some)
                .map_err(|problem| AppError::BadInput(format!("--svg-lamport {problem}")));
        }
        Ok(self.svg_first.map(Window::First))
    }
}

/// The files a run was asked to write (its flags, as `--help` shows them). Every path is
/// checked before the run starts; each file is written whole or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct OutputPaths {
    /// Write the JSON output to this file instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the output in a course year's format: `2021` (`pid` keys, `X_broadcast_*` names)
    /// or `2022` (`pid` keys, the course's `X_propogate_*`), both with the `strict` clocks; or
    /// `2023`, with the `messages` clocks, whose output has three parts (every event, by
    /// request id and clock, is the one written as the output; see --output-dir). For an input
    /// whose events name their branch (the client-centric project's), `2023` writes that
    /// project's output of the input's form: one entry per request with the branch that
    /// answered it (`branch`), or the balance each customer read last (`dest`).
    #[arg(long, value_enum, value_name = "YEAR")]
    pub course: Option<Course>,
    /// How `--course 2022` and `--course 2023` spell propagations: `propogate` (the course's
    /// own spelling, the default) or `propagate`.
    #[arg(long, value_enum, value_name = "SPELLING", requires = "course")]
    pub spelling: Option<Spelling>,
    /// With `--course 2023`: also write the three parts of its output in this folder, as
    /// customer_events.json, branch_events.json and all_events.json.
    #[arg(long, value_name = "DIR", requires = "course")]
    pub output_dir: Option<PathBuf>,
    /// Also write a JSON summary: each branch's initial and final balance, each customer's
    /// results, and the verdict of the checks.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Also write each customer's results in the form of Project 1 of the course's 2024
    /// documents: `[{"id": 1, "recv": [{"interface": "query", "balance": 400}]}, ...]`.
    #[arg(long, value_name = "FILE")]
    pub recv: Option<PathBuf>,
    /// Also write the full causal trace as JSON Lines: every event of every process with its
    /// Lamport and vector clocks and message links (see the README for the format).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The pictures.
    #[command(flatten)]
    pub pictures: PicturePaths,
}

impl OutputPaths {
    /// Each path asked for, with the flag that named it (the three files of `--output-dir`
    /// each on its own).
    pub fn flags(&self) -> Vec<(Flag, PathBuf)> {
        let parts = self.part_paths().into_iter().flatten();
        let named = [
            (Flag::Output, &self.output),
            (Flag::Results, &self.results),
            (Flag::Recv, &self.recv),
            (Flag::Trace, &self.trace),
            (Flag::Svg, &self.pictures.svg),
            (Flag::Html, &self.pictures.html),
            (Flag::Shiviz, &self.pictures.shiviz),
        ];
        named
            .into_iter()
            .filter_map(|(flag, path)| Some((flag, path.clone()?)))
            .chain(parts.map(|path| (Flag::OutputDir, path)))
            .collect()
    }

    /// The files `--output-dir` writes the three parts of a 2023 output to, in order.
    pub fn part_paths(&self) -> Option<[PathBuf; 3]> {
        let dir = self.output_dir.as_ref()?;
        Some(parts::FILE_NAMES.map(|name| dir.join(name)))
    }

    /// The clock model the output asks for, given the one asked for with `--clocks` (or the
    /// cluster file's): a course year's format is written with its year's clocks, and refuses
    /// any other.
    pub fn model(&self, asked: Option<ClockModel>) -> Result<Option<ClockModel>, AppError> {
        if self.spelling.is_some() && self.course == Some(Course::Y2021) {
            return Err(AppError::BadInput(
                "--spelling: only with --course 2022 or 2023 (2021 writes X_broadcast_*)"
                    .to_string(),
            ));
        }
        if self.output_dir.is_some() && self.course != Some(Course::Y2023) {
            return Err(AppError::BadInput(
                "--output-dir: only with --course 2023 (the one output in three parts)".to_string(),
            ));
        }
        let Some(course) = self.course else {
            return Ok(asked);
        };
        match asked {
            None => Ok(Some(course.model())),
            Some(asked) if asked == course.model() => Ok(Some(asked)),
            Some(other) => Err(AppError::BadInput(format!(
                "--course {}: its output has the {model} clocks, not the {} ones (leave out \
                 --clocks, or give --clocks {model})",
                course.name(),
                other.name(),
                model = course.model().name(),
            ))),
        }
    }

    /// The run's output as text, in the format asked for (for 2023, its third part; or, for
    /// customers that go from branch to branch, the client-centric project's output of the
    /// input's form).
    pub fn output_text(&self, trace: &Trace, history: &History, visits: Visits) -> String {
        let spelling = self.spelling.unwrap_or_default();
        match self.course {
            Some(Course::Y2023) if visits.roaming() => {
                crate::json::pretty(&trace.visits_output(visits))
            }
            Some(Course::Y2023) => crate::json::pretty(&history.parts(spelling).all),
            Some(course) => trace.course_output_text(course, spelling),
            None => trace.output_text(),
        }
    }

    /// Refuses what cannot be written for `scenario`: the three parts of 2023's output are
    /// those of customers at their own branches.
    pub fn check_for(&self, scenario: &Scenario) -> Result<(), AppError> {
        if self.output_dir.is_some() && scenario.visits.roaming() {
            return Err(AppError::BadInput(
                "--output-dir: the three parts of 2023's output are of customers at their own \
                 branches; this input's go from branch to branch (its --course 2023 output is \
                 the client-centric project's)"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// Whether the run keeps its output on standard output.
    pub fn output_to_stdout(&self) -> bool {
        self.output.as_deref().is_none_or(is_stdout)
    }
}

/// The flag an output file was named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--output`.
    Output,
    /// `--output-dir`.
    OutputDir,
    /// `--results`.
    Results,
    /// `--recv`.
    Recv,
    /// `--trace`.
    Trace,
    /// `--svg`.
    Svg,
    /// `--html`.
    Html,
    /// `--shiviz`.
    Shiviz,
}

impl Flag {
    /// The flag as typed, e.g. `--svg`.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Output => "--output",
            Flag::OutputDir => "--output-dir",
            Flag::Results => "--results",
            Flag::Recv => "--recv",
            Flag::Trace => "--trace",
            Flag::Svg => "--svg",
            Flag::Html => "--html",
            Flag::Shiviz => "--shiviz",
        }
    }
}

fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// Refuses, before anything runs, any path of `paths` that could not be written: see the module
/// documentation.
pub fn check(paths: &[(Flag, PathBuf)]) -> Result<(), AppError> {
    let mut seen: Vec<(Flag, PathBuf)> = Vec::new();
    for (flag, path) in paths {
        let (flag, path) = (*flag, path.as_path());
        let refuse = |problem: String| {
            AppError::BadInput(format!("{} {}: {problem}", flag.name(), path.display()))
        };
        if is_stdout(path) {
            if flag == Flag::Output {
                continue;
            }
            return Err(refuse(
                "standard output (-) is only for --output; name a file".to_string(),
            ));
        }
        if path.is_dir() {
            return Err(refuse("is a folder; name a file in it".to_string()));
        }
        if is_special(path) {
            // A device or a pipe (`/dev/null`, a FIFO) is written into, not replaced.
            fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|error| refuse(format!("cannot write: {error}")))?;
            continue;
        }
        let folder = folder_of(path);
        let canonical_folder = fs::canonicalize(folder)
            .map_err(|error| refuse(format!("no folder {}: {error}", folder.display())))?;
        // A file is made and removed at once: the one sure test that the folder takes files.
        tempfile::Builder::new()
            .prefix(".lamport-bank-check")
            .tempfile_in(&canonical_folder)
            .map_err(|error| {
                // The OS's reason alone: tempfile adds the temporary file's path, which the
                // user never named.
                let reason = error.raw_os_error().map(io::Error::from_raw_os_error);
                let reason = reason.map_or_else(|| error.to_string(), |os| os.to_string());
                refuse(format!("cannot write in {}: {reason}", folder.display()))
            })?;
        let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
        let canonical = canonical_folder.join(name);
        if let Some((first, _)) = seen.iter().find(|(_, other)| *other == canonical) {
            return Err(AppError::BadInput(format!(
                "{} and {} both name {}: give each its own file",
                first.name(),
                flag.name(),
                path.display()
            )));
        }
        seen.push((flag, canonical));
    }
    Ok(())
}

/// Whether `path` is something other than a regular file or a folder: a device, a pipe, a
/// socket.
fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// The folder a file is written in: its parent, or the current folder for a bare name.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes a file through `fill`, all or nothing: into a temporary file in the same folder,
/// then renamed over `path`. A file already at `path` keeps its permissions; a new one is
/// readable by everyone, as files a program writes usually are. A device or a pipe at `path`
/// (`/dev/null`, a FIFO) is written into directly: it cannot be replaced, nor half-written.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    if is_special(path) {
        let mut out = BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
        fill(&mut out)?;
        return out.flush();
    }
    let name = path.file_name().map_or_else(
        || "output".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(folder_of(path))?;
    let mut out = BufWriter::new(temporary);
    fill(&mut out)?;
    let temporary = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    temporary.as_file().sync_all()?;
    let permissions = match fs::metadata(path) {
        Ok(existing) => Some(existing.permissions()),
        Err(_) => new_file_permissions(),
    };
    if let Some(permissions) = permissions {
        fs::set_permissions(temporary.path(), permissions)?;
    }
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// `rw-r--r--`: a temporary file is made readable by its owner only.
#[cfg(unix)]
fn new_file_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o644))
}

/// Outside Unix a temporary file's permissions are already a plain file's.
#[cfg(not(unix))]
fn new_file_permissions() -> Option<fs::Permissions> {
    None
}

/// An output that was not written, after the run.
#[derive(Debug, thiserror::Error)]
pub enum Unwritten {
    /// A file named by a flag.
    #[error("{} {}: cannot write: {source}", flag.name(), path.display())]
    File {
        /// The flag that named it.
        flag: Flag,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Standard output or standard error.
    #[error("cannot write to {stream}: {source}")]
    Stream {
        /// `standard output` or `standard error`.
        stream: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The pictures, which could not be drawn.
    #[error("cannot draw the run's pictures: {0}")]
    Pictures(#[from] crate::picture::PictureError),
}

/// Writes `text` to `path` (see [`write_atomically`]).
pub fn write_text(flag: Flag, path: &Path, text: &str) -> Result<(), Unwritten> {
    write_file(flag, path, |out| out.write_all(text.as_bytes()))
}

/// Writes `path` through `fill` (see [`write_atomically`]).
pub fn write_file(
    flag: Flag,
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Unwritten> {
    write_atomically(path, fill).map_err(|source| Unwritten::File {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[(Flag, &str)]) -> Vec<(Flag, PathBuf)> {
        list.iter()
            .map(|(flag, path)| (*flag, PathBuf::from(path)))
            .collect()
    }

    fn checked(list: &[(Flag, PathBuf)]) -> Result<(), String> {
        check(list).map_err(|error| error.to_string())
    }

    #[test]
    fn paths_are_refused_before_anything_runs() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let folder = dir.path().display().to_string();
        let file = |name: &str| format!("{folder}/{name}");
        assert_eq!(checked(&paths(&[(Flag::Output, "-")])), Ok(()));
        assert_eq!(
            checked(&paths(&[(Flag::Trace, "-")])),
            Err("--trace -: standard output (-) is only for --output; name a file".to_string())
        );
        assert_eq!(
            checked(&paths(&[(Flag::Svg, &folder)])),
            Err(format!("--svg {folder}: is a folder; name a file in it"))
        );
        assert_eq!(
            checked(&paths(&[(Flag::Html, &file("missing/x.html"))])),
            Err(format!(
                "--html {folder}/missing/x.html: no folder {folder}/missing: No such file or \
                 directory (os error 2)"
            ))
        );
        let same = [
            (Flag::Svg, file("a.svg")),
            (Flag::Html, format!("{folder}/./a.svg")),
        ];
        assert_eq!(
            checked(&paths(&[(same[0].0, &same[0].1), (same[1].0, &same[1].1)])),
            Err(format!(
                "--svg and --html both name {folder}/./a.svg: give each its own file"
            ))
        );
        assert_eq!(checked(&paths(&[(Flag::Svg, &file("a.svg"))])), Ok(()));
        let left: Vec<_> = fs::read_dir(dir.path()).expect("listed").collect();
        assert!(left.is_empty(), "checking leaves no file behind: {left:?}");
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file_whole() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("out.json");
        fs::write(&path, "old").expect("written");
        let failed = write_atomically(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("the disk is full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).expect("read"), "old");
        write_atomically(&path, |out| out.write_all(b"new")).expect("written");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        let names: Vec<String> = fs::read_dir(dir.path())
            .expect("listed")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["out.json"], "no temporary file is left");
    }
}
