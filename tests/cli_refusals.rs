//! Runs the binary on bad inputs and checks that each one is refused with exit status 2, nothing
//! on stdout, and exactly one line on stderr: `<source>: <place>: <problem>`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `lamport-bank run <path>`, feeding `stdin` to it.
fn run(path: &str, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args(["run", path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for the binary")
}

/// Asserts that the run was refused with exactly `line` on stderr.
fn assert_refused(output: &Output, line: &str) {
    assert_eq!(
        output.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("{line}\n"));
}

/// Writes `json` to a temporary file, runs the binary on it and expects `<path>: <message>`.
fn refuse(json: &str, message: &str) {
    let mut file = tempfile::NamedTempFile::new().expect("create a temporary file");
    file.write_all(json.as_bytes()).expect("write the input");
    let path = file.path().to_str().expect("a UTF-8 temporary path");
    assert_refused(&run(path, ""), &format!("{path}: {message}"));
}

/// A valid branch 1 with balance 400, to go along with customer 1.
const B1: &str = r#"{"id": 1, "type": "branch", "balance": 400}"#;

/// An input with one customer 1 whose only event is `event`, and branch 1.
fn one_event(event: &str) -> String {
    format!(r#"[{{"id": 1, "type": "customer", "events": [{event}]}}, {B1}]"#)
}

/// Refuses a file that does not exist.
#[test]
fn unreadable_file() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("missing.json");
    let path = path.to_str().expect("a UTF-8 temporary path");
    let message = format!("{path}: cannot read: No such file or directory (os error 2)");
    assert_refused(&run(path, ""), &message);
}

/// Refuses malformed JSON on standard input, naming it `<stdin>`.
#[test]
fn malformed_json_on_stdin() {
    let message = "<stdin>: line 1 column 2: malformed JSON: expected value";
    assert_refused(&run("-", "[}"), message);
}

/// Refuses malformed JSON in a file, with serde_json's line and column.
#[test]
fn malformed_json() {
    refuse(
        "[\n  {\"id\": 1,\n    }\n]",
        "line 3 column 5: malformed JSON: trailing comma",
    );
}

/// Refuses a top-level value that is not an array.
#[test]
fn top_level_not_an_array() {
    refuse(
        r#"{"id": 1}"#,
        "expected a JSON array of processes, got an object",
    );
}

/// Refuses a process that is not an object.
#[test]
fn process_not_an_object() {
    refuse(
        &format!(r#"[{B1}, "branch"]"#),
        "process at index 1: expected a JSON object, got a string",
    );
}

/// Refuses an event that is not an object.
#[test]
fn event_not_an_object() {
    refuse(
        &one_event("[1]"),
        "process 1 (customer): event at index 0: expected a JSON object, got an array",
    );
}

/// Refuses a process without an id.
#[test]
fn missing_process_id() {
    refuse(
        r#"[{"type": "branch", "balance": 1}]"#,
        r#"process at index 0: missing field "id""#,
    );
}

/// Refuses a process id of zero.
#[test]
fn zero_process_id() {
    refuse(
        &format!(r#"[{B1}, {{"id": 0, "type": "branch", "balance": 400}}]"#),
        "process at index 1: id must be a positive whole number, got 0",
    );
}

/// Refuses a negative process id.
#[test]
fn negative_process_id() {
    refuse(
        r#"[{"id": -3, "type": "branch", "balance": 1}]"#,
        "process at index 0: id must be a positive whole number, got -3",
    );
}

/// Refuses a fractional process id.
#[test]
fn fractional_process_id() {
    refuse(
        r#"[{"id": 1.5, "type": "branch", "balance": 1}]"#,
        "process at index 0: id must be a positive whole number, got 1.5",
    );
}

/// Refuses a process id above `u32::MAX`.
#[test]
fn process_id_out_of_range() {
    refuse(
        r#"[{"id": 4294967296, "type": "branch", "balance": 1}]"#,
        "process at index 0: id must be a positive whole number, got 4294967296",
    );
}

/// Refuses a process id given as a string.
#[test]
fn mistyped_process_id() {
    refuse(
        r#"[{"id": "1", "type": "branch", "balance": 1}]"#,
        r#"process at index 0: id must be a positive whole number, got "1""#,
    );
}

/// Refuses a process without a type.
#[test]
fn missing_type() {
    refuse(
        r#"[{"id": 1, "balance": 1}]"#,
        r#"process at index 0: missing field "type""#,
    );
}

/// Refuses a type that is not a string.
#[test]
fn mistyped_type() {
    refuse(
        r#"[{"id": 1, "type": 7}]"#,
        r#"process at index 0: field "type" must be a string, got 7"#,
    );
}

/// Refuses an unknown process type.
#[test]
fn unknown_type() {
    refuse(
        &format!(r#"[{B1}, {B1}, {{"id": 2, "type": "bank"}}]"#),
        r#"process at index 2: unknown type "bank" (expected customer or branch)"#,
    );
}

/// Refuses a branch without a balance.
#[test]
fn missing_balance() {
    refuse(
        r#"[{"id": 3, "type": "branch"}]"#,
        r#"process 3 (branch): missing field "balance""#,
    );
}

/// Refuses a negative initial balance.
#[test]
fn negative_balance() {
    refuse(
        r#"[{"id": 3, "type": "branch", "balance": -1}]"#,
        "process 3 (branch): balance must be a whole number of at least 0, got -1",
    );
}

/// Refuses a fractional initial balance.
#[test]
fn fractional_balance() {
    refuse(
        r#"[{"id": 3, "type": "branch", "balance": 2.0}]"#,
        "process 3 (branch): balance must be a whole number of at least 0, got 2.0",
    );
}

/// Refuses an initial balance that does not fit an `i64`.
#[test]
fn balance_out_of_range() {
    refuse(
        r#"[{"id": 3, "type": "branch", "balance": 9223372036854775808}]"#,
        "process 3 (branch): balance must be a whole number of at least 0, got 9223372036854775808",
    );
}

/// Refuses an initial balance given as a string.
#[test]
fn mistyped_balance() {
    refuse(
        r#"[{"id": 3, "type": "branch", "balance": "5"}]"#,
        r#"process 3 (branch): balance must be a whole number of at least 0, got "5""#,
    );
}

/// Refuses a customer with neither `events` nor `customer-requests`.
#[test]
fn no_event_list() {
    refuse(
        &format!(r#"[{{"id": 1, "type": "customer"}}, {B1}]"#),
        r#"process 1 (customer): missing field "events" (or "customer-requests")"#,
    );
}

/// Refuses a customer with both `events` and `customer-requests`.
#[test]
fn both_event_lists() {
    refuse(
        &format!(
            r#"[{{"id": 1, "type": "customer", "events": [], "customer-requests": []}}, {B1}]"#
        ),
        r#"process 1 (customer): has both "events" and "customer-requests" (expected one of them)"#,
    );
}

/// Refuses an `events` field that is not an array.
#[test]
fn mistyped_events() {
    refuse(
        &format!(r#"[{{"id": 1, "type": "customer", "events": {{}}}}, {B1}]"#),
        r#"process 1 (customer): field "events" must be an array, got {}"#,
    );
}

/// Refuses a `customer-requests` field that is not an array.
#[test]
fn mistyped_customer_requests() {
    refuse(
        &format!(r#"[{{"id": 1, "type": "customer", "customer-requests": 3}}, {B1}]"#),
        r#"process 1 (customer): field "customer-requests" must be an array, got 3"#,
    );
}

/// Refuses an event without an id.
#[test]
fn missing_event_id() {
    refuse(
        &one_event(r#"{"interface": "query"}"#),
        r#"process 1 (customer): event at index 0: missing field "id""#,
    );
}

/// Refuses a customer request without a `customer-request-id`.
#[test]
fn missing_customer_request_id() {
    refuse(
        &format!(
            r#"[{{"id": 1, "type": "customer", "customer-requests": [{{"id": 4, "interface": "query"}}]}}, {B1}]"#
        ),
        r#"process 1 (customer): event at index 0: missing field "customer-request-id""#,
    );
}

/// Refuses an event id of zero.
#[test]
fn zero_event_id() {
    refuse(
        &one_event(r#"{"id": 0, "interface": "query"}"#),
        "process 1 (customer): event at index 0: id must be a positive whole number, got 0",
    );
}

/// Refuses a fractional event id.
#[test]
fn fractional_event_id() {
    refuse(
        &one_event(r#"{"id": 7.0, "interface": "query"}"#),
        "process 1 (customer): event at index 0: id must be a positive whole number, got 7.0",
    );
}

/// Refuses an event id above `u64::MAX` (read by serde_json as a float).
#[test]
fn event_id_out_of_range() {
    refuse(
        &one_event(r#"{"id": 18446744073709551616, "interface": "query"}"#),
        "process 1 (customer): event at index 0: id must be a positive whole number, got 1.8446744073709552e+19",
    );
}

/// Refuses a customer request id given as a string.
#[test]
fn mistyped_customer_request_id() {
    refuse(
        &format!(
            r#"[{{"id": 1, "type": "customer", "customer-requests": [{{"customer-request-id": "2", "interface": "query"}}]}}, {B1}]"#
        ),
        r#"process 1 (customer): event at index 0: customer-request-id must be a positive whole number, got "2""#,
    );
}

/// Refuses an event without an interface.
#[test]
fn missing_interface() {
    refuse(
        &one_event(r#"{"id": 7}"#),
        r#"process 1 (customer): event 7: missing field "interface""#,
    );
}

/// Refuses an interface that is not a string.
#[test]
fn mistyped_interface() {
    refuse(
        &one_event(r#"{"id": 7, "interface": null}"#),
        r#"process 1 (customer): event 7: field "interface" must be a string, got null"#,
    );
}

/// Refuses an unknown interface.
#[test]
fn unknown_interface() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "transfer", "money": 5}"#),
        r#"process 1 (customer): event 7: unknown interface "transfer" (expected query, deposit or withdraw)"#,
    );
}

/// Refuses a deposit without money.
#[test]
fn missing_money() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "deposit"}"#),
        r#"process 1 (customer): event 7: missing field "money""#,
    );
}

/// Refuses a negative withdraw amount.
#[test]
fn negative_money() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "withdraw", "money": -5}"#),
        "process 1 (customer): event 7: money must be a positive whole number, got -5",
    );
}

/// Refuses a zero deposit amount.
#[test]
fn zero_money() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "deposit", "money": 0}"#),
        "process 1 (customer): event 7: money must be a positive whole number, got 0",
    );
}

/// Refuses a fractional deposit amount.
#[test]
fn fractional_money() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "deposit", "money": 2.5}"#),
        "process 1 (customer): event 7: money must be a positive whole number, got 2.5",
    );
}

/// Refuses a deposit amount given as a string.
#[test]
fn mistyped_money() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "deposit", "money": "10"}"#),
        r#"process 1 (customer): event 7: money must be a positive whole number, got "10""#,
    );
}

/// Refuses a deposit amount that does not fit an `i64`.
#[test]
fn money_out_of_range() {
    refuse(
        &one_event(r#"{"id": 7, "interface": "deposit", "money": 9223372036854775808}"#),
        "process 1 (customer): event 7: money must be a positive whole number, got 9223372036854775808",
    );
}

/// Refuses two branches with the same id.
#[test]
fn duplicate_branch_id() {
    let branch = r#"{"id": 3, "type": "branch", "balance": 400}"#;
    refuse(
        &format!("[{branch}, {B1}, {branch}]"),
        "process 3 (branch): duplicate branch id 3",
    );
}

/// Refuses an event id used twice, across customers and including queries.
#[test]
fn duplicate_event_id() {
    let json = format!(
        r#"[{{"id": 1, "type": "customer", "events": [{{"id": 5, "interface": "query"}}]}},
            {{"id": 2, "type": "customer", "events": [{{"id": 6, "interface": "query"}}, {{"id": 5, "interface": "deposit", "money": 1}}]}},
            {B1}, {{"id": 2, "type": "branch", "balance": 400}}]"#
    );
    refuse(
        &json,
        "process 2 (customer): event 5: duplicate event id 5 (first used by C1)",
    );
}

/// Refuses a customer with no branch of the same id.
#[test]
fn customer_without_branch() {
    refuse(
        &format!(r#"[{{"id": 9, "type": "customer", "events": []}}, {B1}]"#),
        "process 9 (customer): no branch with id 9",
    );
}

/// Refuses branches whose initial balances differ.
#[test]
fn differing_balances() {
    refuse(
        &format!(r#"[{B1}, {{"id": 2, "type": "branch", "balance": 300}}]"#),
        "process 2 (branch): initial balance 300 differs from B1's 400",
    );
}

/// Refuses an input with no branch at all.
#[test]
fn no_branches() {
    refuse("[]", "no branch processes");
}
