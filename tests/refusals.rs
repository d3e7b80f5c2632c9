//! Every kind of bad input is refused before anything runs: `run` returns the input error (exit
//! status 2), prints nothing, and the error is one line, `<source>: <place>: <problem>`. One
//! table, checked through the library's `run` command (the binary's own statuses and streams are
//! in `tests/binary.rs`).

use std::io::Write;

use lamport_bank::app::Console;
use lamport_bank::app::run::{RunOptions, run};

/// A valid branch 1 with balance 400, to go along with customer 1.
const B1: &str = r#"{"id": 1, "type": "branch", "balance": 400}"#;

/// An input with one customer 1 whose only event is `event`, and branch 1.
fn one_event(event: &str) -> String {
    format!(r#"[{{"id": 1, "type": "customer", "events": [{event}]}}, {B1}]"#)
}

/// Runs the input at `path`; returns the refusal's status and line, and what was printed.
fn refusal(path: &str) -> (u8, String, (String, String)) {
    let mut console = Console::kept();
    let options = RunOptions {
        input: Some(path.to_string()),
        ..RunOptions::default()
    };
    match run(&options, &mut console) {
        Ok(ended) => panic!("{path}: not refused: {ended:?}"),
        Err(error) => (error.status(), error.to_string(), console.printed()),
    }
}

/// Each bad input, and the problem its refusal names (after `<path>: `).
#[test]
fn every_bad_input_is_refused_in_one_line_before_anything_runs() {
    let duplicate_events = format!(
        r#"[{{"id": 1, "type": "customer", "events": [{{"id": 5, "interface": "query"}}]}},
            {{"id": 2, "type": "customer", "events": [{{"id": 6, "interface": "query"}}, {{"id": 5, "interface": "deposit", "money": 1}}]}},
            {B1}, {{"id": 2, "type": "branch", "balance": 400}}]"#
    );
    let branch3 = r#"{"id": 3, "type": "branch", "balance": 400}"#;
    let table: Vec<(&str, String, &str)> = vec![
        (
            "Refuses malformed JSON in a file, with serde_json's line and column",
            "[\n  {\"id\": 1,\n    }\n]".to_string(),
            "line 3 column 5: malformed JSON: trailing comma",
        ),
        (
            "Refuses a top-level value that is not an array",
            r#"{"id": 1}"#.to_string(),
            "expected a JSON array of processes, got an object",
        ),
        (
            "Refuses a process that is not an object",
            format!(r#"[{B1}, "branch"]"#),
            "process at index 1: expected a JSON object, got a string",
        ),
        (
            "Refuses an event that is not an object",
            one_event("[1]"),
            "process 1 (customer): event at index 0: expected a JSON object, got an array",
        ),
        (
            "Refuses a process without an id",
            r#"[{"type": "branch", "balance": 1}]"#.to_string(),
            r#"process at index 0: missing field "id""#,
        ),
        (
            "Refuses a process id of zero",
            format!(r#"[{B1}, {{"id": 0, "type": "branch", "balance": 400}}]"#),
            "process at index 1: id must be a positive whole number, got 0",
        ),
        (
            "Refuses a negative process id",
            r#"[{"id": -3, "type": "branch", "balance": 1}]"#.to_string(),
            "process at index 0: id must be a positive whole number, got -3",
        ),
        (
            "Refuses a fractional process id",
            r#"[{"id": 1.5, "type": "branch", "balance": 1}]"#.to_string(),
            "process at index 0: id must be a positive whole number, got 1.5",
        ),
        (
            "Refuses a process id above `u32::MAX`",
            r#"[{"id": 4294967296, "type": "branch", "balance": 1}]"#.to_string(),
            "process at index 0: id must be a positive whole number, got 4294967296",
        ),
        (
            "Refuses a process id given as a string",
            r#"[{"id": "1", "type": "branch", "balance": 1}]"#.to_string(),
            r#"process at index 0: id must be a positive whole number, got "1""#,
        ),
        (
            "Refuses a process without a type",
            r#"[{"id": 1, "balance": 1}]"#.to_string(),
            r#"process at index 0: missing field "type""#,
        ),
        (
            "Refuses a type that is not a string",
            r#"[{"id": 1, "type": 7}]"#.to_string(),
            r#"process at index 0: field "type" must be a string, got 7"#,
        ),
        (
            "Refuses an unknown process type",
            format!(r#"[{B1}, {B1}, {{"id": 2, "type": "vault"}}]"#),
            r#"process at index 2: unknown type "vault" (expected customer or branch; 2021's client or bank)"#,
        ),
        (
            "Refuses a branch without a balance",
            r#"[{"id": 3, "type": "branch"}]"#.to_string(),
            r#"process 3 (branch): missing field "balance""#,
        ),
        (
            "Refuses a negative initial balance",
            r#"[{"id": 3, "type": "branch", "balance": -1}]"#.to_string(),
            "process 3 (branch): balance must be a whole number of at least 0, got -1",
        ),
        (
            "Refuses a fractional initial balance",
            r#"[{"id": 3, "type": "branch", "balance": 2.0}]"#.to_string(),
            "process 3 (branch): balance must be a whole number of at least 0, got 2.0",
        ),
        (
            "Refuses an initial balance that does not fit an `i64`",
            r#"[{"id": 3, "type": "branch", "balance": 9223372036854775808}]"#.to_string(),
            "process 3 (branch): balance must be a whole number of at least 0, got 9223372036854775808",
        ),
        (
            "Refuses an initial balance given as a string",
            r#"[{"id": 3, "type": "branch", "balance": "5"}]"#.to_string(),
            r#"process 3 (branch): balance must be a whole number of at least 0, got "5""#,
        ),
        (
            "Refuses a customer with neither `events` nor `customer-requests`",
            format!(r#"[{{"id": 1, "type": "customer"}}, {B1}]"#),
            r#"process 1 (customer): missing field "events" (or "customer-requests")"#,
        ),
        (
            "Refuses an `events` field that is not an array",
            format!(r#"[{{"id": 1, "type": "customer", "events": {{}}}}, {B1}]"#),
            r#"process 1 (customer): field "events" must be an array, got {}"#,
        ),
        (
            "Refuses a `customer-requests` field that is not an array",
            format!(r#"[{{"id": 1, "type": "customer", "customer-requests": 3}}, {B1}]"#),
            r#"process 1 (customer): field "customer-requests" must be an array, got 3"#,
        ),
        (
            "Refuses a misspelt field, naming the one it is near",
            one_event(r#"{"id": 3, "interface": "deposit", "mony": 5}"#),
            r#"process 1 (customer): event 3: unknown field "mony" (did you mean "money"?)"#,
        ),
        (
            "Refuses an event id of zero",
            one_event(r#"{"id": 0, "interface": "query"}"#),
            "process 1 (customer): event at index 0: id must be a positive whole number, got 0",
        ),
        (
            "Refuses a fractional event id",
            one_event(r#"{"id": 7.0, "interface": "query"}"#),
            "process 1 (customer): event at index 0: id must be a positive whole number, got 7.0",
        ),
        (
            "Refuses an event id above `u64::MAX` (read by serde_json as a float)",
            one_event(r#"{"id": 18446744073709551616, "interface": "query"}"#),
            "process 1 (customer): event at index 0: id must be a positive whole number, got 1.8446744073709552e+19",
        ),
        (
            "Refuses an event without an interface",
            one_event(r#"{"id": 7}"#),
            r#"process 1 (customer): event 7: missing field "interface""#,
        ),
        (
            "Refuses an interface that is not a string",
            one_event(r#"{"id": 7, "interface": null}"#),
            r#"process 1 (customer): event 7: field "interface" must be a string, got null"#,
        ),
        (
            "Refuses an unknown interface",
            one_event(r#"{"id": 7, "interface": "transfer", "money": 5}"#),
            r#"process 1 (customer): event 7: unknown interface "transfer" (expected query, deposit or withdraw)"#,
        ),
        (
            "Refuses a deposit without money",
            one_event(r#"{"id": 7, "interface": "deposit"}"#),
            r#"process 1 (customer): event 7: missing field "money""#,
        ),
        (
            "Refuses a negative withdraw amount",
            one_event(r#"{"id": 7, "interface": "withdraw", "money": -5}"#),
            "process 1 (customer): event 7: money must be a positive whole number, got -5",
        ),
        (
            "Refuses a zero deposit amount",
            one_event(r#"{"id": 7, "interface": "deposit", "money": 0}"#),
            "process 1 (customer): event 7: money must be a positive whole number, got 0",
        ),
        (
            "Refuses a fractional deposit amount",
            one_event(r#"{"id": 7, "interface": "deposit", "money": 2.5}"#),
            "process 1 (customer): event 7: money must be a positive whole number, got 2.5",
        ),
        (
            "Refuses a deposit amount given as a string",
            one_event(r#"{"id": 7, "interface": "deposit", "money": "10"}"#),
            r#"process 1 (customer): event 7: money must be a positive whole number, got "10""#,
        ),
        (
            "Refuses a deposit amount that does not fit an `i64`",
            one_event(r#"{"id": 7, "interface": "deposit", "money": 9223372036854775808}"#),
            "process 1 (customer): event 7: money must be a positive whole number, got 9223372036854775808",
        ),
        (
            "Refuses a customer with no branch of the same id",
            format!(r#"[{{"id": 9, "type": "customer", "events": []}}, {B1}]"#),
            "process 9 (customer): no branch with id 9",
        ),
        (
            "Refuses branches whose initial balances differ",
            format!(r#"[{B1}, {{"id": 2, "type": "branch", "balance": 300}}]"#),
            "process 2 (branch): initial balance 300 differs from B1's 400",
        ),
        (
            "a customer with both `events` and `customer-requests`",
            format!(
                r#"[{{"id": 1, "type": "customer", "events": [], "customer-requests": []}}, {B1}]"#
            ),
            r#"process 1 (customer): has both "events" and "customer-requests" (expected one of them)"#,
        ),
        (
            "a customer request with an `id` instead of a `customer-request-id`",
            format!(
                r#"[{{"id": 1, "type": "customer", "customer-requests": [{{"id": 4, "interface": "query"}}]}}, {B1}]"#
            ),
            r#"process 1 (customer): event at index 0: unknown field "id" (expected customer-request-id, interface, money)"#,
        ),
        (
            "a customer request id given as a string",
            format!(
                r#"[{{"id": 1, "type": "customer", "customer-requests": [{{"customer-request-id": "2", "interface": "query"}}]}}, {B1}]"#
            ),
            r#"process 1 (customer): event at index 0: customer-request-id must be a positive whole number, got "2""#,
        ),
        (
            "an input with no branch at all",
            "[]".to_string(),
            "no branch processes",
        ),
        (
            "two branches with the same id",
            format!("[{branch3}, {B1}, {branch3}]"),
            "process 3 (branch): duplicate branch id 3",
        ),
        (
            "an event id used twice, across customers and including queries",
            duplicate_events,
            "process 2 (customer): event 5: duplicate event id 5 (first used by C1)",
        ),
    ];
    for (what, json, problem) in table {
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        file.write_all(json.as_bytes()).expect("written");
        let path = file.path().to_str().expect("a UTF-8 temporary path");
        let (status, line, printed) = refusal(path);
        assert_eq!(line, format!("{path}: {problem}"), "{what}");
        assert_eq!(status, 2, "{what}");
        assert_eq!(
            printed,
            (String::new(), String::new()),
            "{what}: nothing printed"
        );
    }
}

/// A file that does not exist is named with the OS's reason.
#[test]
fn a_missing_file_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("missing.json");
    let path = path.to_str().expect("a UTF-8 temporary path");
    let (status, line, _) = refusal(path);
    assert_eq!(status, 2);
    assert_eq!(
        line,
        format!("{path}: cannot read: No such file or directory (os error 2)")
    );
}

/// An input larger than an input may be is refused without being read to its end.
#[test]
fn an_endless_input_is_refused_at_its_limit() {
    let (status, line, _) = refusal("/dev/zero");
    assert_eq!(status, 2);
    assert_eq!(
        line,
        "/dev/zero: larger than the 256 MiB this command reads"
    );
}
