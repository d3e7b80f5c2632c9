//! Reading the JSON of a checked file: where it is wrong ([`ReadError`], with its place), and
//! the fields and numbers every format's reader takes. Pure.

use std::fmt;

use serde_json::{Map, Value};

/// Why a file could not be checked: where in it, and what is wrong. Displayed as
/// `<place>: <problem>` (or just the problem); the caller puts the file's name in front.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    /// Where, e.g. `line 5` or `entry at index 3: data at index 1`; may be empty.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.place, self.problem)
        }
    }
}

/// A [`ReadError`] at `place`.
pub fn refuse(place: impl Into<String>, problem: impl Into<String>) -> ReadError {
    ReadError {
        place: place.into(),
        problem: problem.into(),
    }
}

/// The field `name` of `object`, which must be there.
pub fn field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    place: &str,
) -> Result<&'a Value, ReadError> {
    object
        .get(name)
        .ok_or_else(|| refuse(place, format!("missing field \"{name}\"")))
}

/// A whole number of at least 0. The Python original prints whole floats (`3.0`) in places, so
/// those count too; a float is only exact up to 2^53.
pub fn whole(value: &Value) -> Option<u64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if let Some(number) = value.as_u64() {
        return Some(number);
    }
    let number = value.as_f64()?;
    // The cast is exact: the number is whole, at least 0 and at most 2^53.
    (number.fract() == 0.0 && (0.0..=EXACT).contains(&number)).then_some(number as u64)
}

/// A whole number from 1 to `max`, else an error naming the field `name`.
pub fn positive(value: &Value, name: &str, max: u64, place: &str) -> Result<u64, ReadError> {
    whole(value)
        .filter(|id| (1..=max).contains(id))
        .ok_or_else(|| {
            refuse(
                place,
                format!("{name} must be a positive whole number, got {value}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(whole(&json!(3)), Some(3));
        assert_eq!(whole(&json!(3.0)), Some(3));
        assert_eq!(whole(&json!(3.5)), None);
        assert_eq!(whole(&json!(-1)), None);
        assert_eq!(whole(&json!(-1.0)), None);
        assert_eq!(whole(&json!(1e300)), None);
        assert_eq!(whole(&json!("3")), None);
    }
}
