//! Text that comes from outside: a file, or standard input (named `-` on the command line and
//! `<stdin>` in every message), read with a bound on what it may make the program allocate, so
//! that `/dev/zero` or a file of one endless line is refused rather than read until memory runs
//! out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

/// How standard input is named in messages and reports.
pub const STDIN_NAME: &str = "<stdin>";

/// The largest input file (`run`, `simulate`) read: far more than any scenario a machine can
/// run needs.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// The largest output or trace file `check` and `render` read whole.
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// The longest line of a trace file: its header lists every process, its event lines one
/// event each.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Why outside text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The OS refused (a missing file, a directory, no permission, ...).
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The text is larger than this reader takes.
    #[error("larger than the {} MiB this command reads", .0 >> 20)]
    TooLarge(u64),
    /// A line is longer than a line may be.
    #[error("line {line} is longer than the {} MiB a line may be", MAX_LINE_BYTES >> 20)]
    LineTooLong {
        /// The line, from 1.
        line: usize,
    },
    /// The text is not UTF-8.
    #[error("not UTF-8 text")]
    NotText,
}

/// How `path` is named in messages: as given, or `<stdin>` for `-`.
pub fn name_of(path: &str) -> &str {
    if path == "-" { STDIN_NAME } else { path }
}

/// Opens `path` (`-`: standard input) for reading.
pub fn open(path: &str) -> Result<Box<dyn BufRead>, SourceError> {
    if path == "-" {
        Ok(Box::new(BufReader::new(io::stdin())))
    } else {
        Ok(Box::new(BufReader::new(File::open(path)?)))
    }
}

/// Reads what is left of `reader` as text into `text`, refusing more than `limit` bytes in all.
pub fn read_rest(reader: &mut impl Read, text: &mut String, limit: u64) -> Result<(), SourceError> {
    let mut bytes = std::mem::take(text).into_bytes();
    let room = limit.saturating_sub(bytes.len() as u64);
    // One byte more than the room: if it comes, the text is too large.
    reader
        .take(room.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(SourceError::TooLarge(limit));
    }
    *text = String::from_utf8(bytes).map_err(|_| SourceError::NotText)?;
    Ok(())
}

/// Reads the whole of `path` (`-`: standard input) as text, up to `limit` bytes.
pub fn read_to_string(path: &str, limit: u64) -> Result<String, SourceError> {
    let mut text = String::new();
    read_rest(&mut open(path)?, &mut text, limit)?;
    Ok(text)
}

/// Reads one line (number `line`, from 1) into `text`, without its line ending; `false` at the
/// end of the input. A line longer than [`MAX_LINE_BYTES`] is refused before it is all read.
pub fn read_line(
    reader: &mut impl BufRead,
    text: &mut String,
    line: usize,
) -> Result<bool, SourceError> {
    let read = read_line_with_ending(reader, text, line)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(read)
}

/// [`read_line`], keeping the line ending (if the line has one: the last may not).
pub fn read_line_with_ending(
    reader: &mut impl BufRead,
    text: &mut String,
    line: usize,
) -> Result<bool, SourceError> {
    text.clear();
    let mut bytes = std::mem::take(text).into_bytes();
    let read = reader
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if read == 0 {
        *text = String::from_utf8(bytes).map_err(|_| SourceError::NotText)?;
        return Ok(false);
    }
    if bytes.last() != Some(&b'\n') && bytes.len() > MAX_LINE_BYTES {
        return Err(SourceError::LineTooLong { line });
    }
    *text = String::from_utf8(bytes).map_err(|_| SourceError::NotText)?;
    Ok(true)
}

/// Splits a serde_json error into its place (`line L column C`, empty if it has none) and its
/// bare message.
pub fn split_json_error(error: &serde_json::Error) -> (String, String) {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    let place = if error.line() == 0 {
        String::new()
    } else {
        format!("line {} column {}", error.line(), error.column())
    };
    (place, message)
}

/// The kind of a JSON value, with its article, for messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_input_is_refused_at_the_limit() {
        let mut text = String::new();
        let mut zeros = io::repeat(0);
        let refused = read_rest(&mut zeros, &mut text, 1000);
        assert!(
            matches!(refused, Err(SourceError::TooLarge(1000))),
            "{refused:?}"
        );
        let mut endless = BufReader::new(io::repeat(b'x'));
        let refused = read_line(&mut endless, &mut text, 1);
        assert!(matches!(refused, Err(SourceError::LineTooLong { line: 1 })));
    }

    #[test]
    fn lines_come_without_their_endings() {
        let mut reader = BufReader::new("a\r\nb\nc".as_bytes());
        let mut text = String::new();
        let mut lines = Vec::new();
        let mut number = 1;
        while read_line(&mut reader, &mut text, number).expect("readable") {
            lines.push(text.clone());
            number += 1;
        }
        assert_eq!(lines, ["a", "b", "c"]);
    }

    #[test]
    fn text_within_the_limit_is_read_whole() {
        let mut text = "ab".to_string();
        read_rest(&mut "cd".as_bytes(), &mut text, 4).expect("within the limit");
        assert_eq!(text, "abcd");
        let refused = read_rest(&mut "e".as_bytes(), &mut text, 4);
        assert!(matches!(refused, Err(SourceError::TooLarge(4))));
    }
}
