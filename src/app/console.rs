//! Where a command prints: standard output for what a program reads (the JSON output, a
//! verdict), standard error for what a person reads. Every write can fail (a closed pipe, a full
//! disk), and a failure is an [`AppError`] like any other: a closed pipe ends the command
//! quietly, anything else is reported. Tests give a console that keeps what is printed.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use super::AppError;
use super::outputs::Unwritten;

/// Standard output and standard error, or two buffers.
pub struct Console {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    kept: Option<(Kept, Kept)>,
}

/// A buffer a test console keeps.
type Kept = Arc<Mutex<Vec<u8>>>;

/// A writer into a kept buffer.
struct Keeper(Kept);

impl Write for Keeper {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Console {
    /// The process's standard output and standard error.
    pub fn standard() -> Self {
        Self {
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
            kept: None,
        }
    }

    /// A console that keeps what is printed, for [`Console::printed`].
    pub fn kept() -> Self {
        let (out, err) = (Kept::default(), Kept::default());
        Self {
            out: Box::new(Keeper(out.clone())),
            err: Box::new(Keeper(err.clone())),
            kept: Some((out, err)),
        }
    }

    /// What a kept console printed so far: standard output, then standard error (both empty
    /// for the standard console).
    pub fn printed(&self) -> (String, String) {
        let text = |kept: &Kept| {
            let bytes = kept.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8_lossy(&bytes).into_owned()
        };
        self.kept
            .as_ref()
            .map_or_else(Default::default, |(out, err)| (text(out), text(err)))
    }

    /// Prints `text` on standard output.
    pub fn out(&mut self, text: &str) -> Result<(), AppError> {
        print(&mut self.out, text).map_err(|error| failed("standard output", &error))
    }

    /// Prints `text` on standard error.
    pub fn err(&mut self, text: &str) -> Result<(), AppError> {
        print(&mut self.err, text).map_err(|error| failed("standard error", &error))
    }

    /// Prints `line` and a line ending on standard error.
    pub fn line(&mut self, line: &str) -> Result<(), AppError> {
        self.err(&format!("{line}\n"))
    }
}

/// Writes all of `text` to `stream`, and flushes it.
fn print(stream: &mut Box<dyn Write + Send>, text: &str) -> io::Result<()> {
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// A write to `stream` failed: quietly, for a closed pipe.
fn failed(stream: &'static str, error: &io::Error) -> AppError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        AppError::BrokenPipe
    } else {
        AppError::Unwritable(vec![Unwritten::Stream {
            stream,
            source: io::Error::new(error.kind(), error.to_string()),
        }])
    }
}
