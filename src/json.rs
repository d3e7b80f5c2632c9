//! JSON from outside, read strictly: an object that names a key twice is refused (serde_json's
//! own `Value` keeps the last silently, so `"money": -5, "money": 5` would become 5), and a
//! value quoted in a message is cut to a readable length; and JSON written out, indented.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// `value` as the text written to a file or standard output: JSON indented by two spaces,
/// ending with a newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|_| unreachable!("a serde_json::Value always serializes"));
    text.push('\n');
    text
}

/// The longest quotation of a value in a message, in characters.
pub const MAX_SHOWN_CHARS: usize = 60;

/// Parses `text` as one JSON value, refusing a key given twice in one object (the error names
/// the key, with the line and column where it comes again). Nesting is bounded by serde_json's
/// recursion limit.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Strict::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value.0)
}

/// `value` as compact JSON, cut after [`MAX_SHOWN_CHARS`] characters with how long it was.
pub fn shown(value: &Value) -> String {
    cut(&value.to_string())
}

/// `text`, cut after [`MAX_SHOWN_CHARS`] characters with how long it was.
pub fn cut(text: &str) -> String {
    let length = text.chars().count();
    if length <= MAX_SHOWN_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    format!("{head}... ({length} characters)")
}

/// A JSON value built by [`StrictVisitor`].
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

/// Builds a [`Value`] as serde_json does, except that a repeated key is an error.
struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Strict, E> {
        Ok(Strict(
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, value: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(value.to_string())))
    }

    fn visit_string<E>(self, value: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(value)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Strict, A::Error> {
        let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(item)) = items.next_element()? {
            array.push(item);
        }
        Ok(Strict(Value::Array(array)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "key {} given twice in one object",
                    cut(&Value::from(key).to_string())
                )));
            }
            let Strict(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Strict(Value::Object(object)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused_where_it_comes_again() {
        let error = parse("[{\"money\": -5,\n \"money\": 5}]").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "key \"money\" given twice in one object at line 2 column 8"
        );
        let error = parse(r#"{"events": [1], "id": 1, "events": []}"#).expect_err("refused");
        assert!(error.to_string().starts_with("key \"events\" given twice"));
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        let text = r#"[{"id": 1, "b": [true, null, -3, 18446744073709551615, 2.5, "x"]}, {}]"#;
        let expected: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(parse(text).expect("JSON"), expected);
        assert!(parse("[1] x").is_err());
        // Nesting beyond serde_json's limit is refused, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse(&deep).expect_err("refused");
        assert!(
            error.to_string().starts_with("recursion limit exceeded"),
            "{error}"
        );
    }

    #[test]
    fn long_values_are_cut() {
        assert_eq!(cut("short"), "short");
        let long = "9".repeat(500);
        assert_eq!(
            cut(&long),
            format!("{}... (500 characters)", "9".repeat(MAX_SHOWN_CHARS))
        );
    }
}
