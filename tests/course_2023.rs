//! The course's output from fall 2023 on (`run --course 2023`, the `messages` clocks): every
//! example's sequential output equals, byte for byte, the three parts an independent oracle
//! here computes from the input by the year's rules; `run` prints part 3; `check` passes each
//! part and the parts together, and the parts and traces of concurrent runs; and it refuses
//! hand-made outputs that break each rule, with the exact line.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{EXAMPLES, examples_dir};
use serde_json::{Value, json};

/// The three parts' file names, in order.
const PARTS: [&str; 3] = [
    "customer_events.json",
    "branch_events.json",
    "all_events.json",
];

fn lamport_bank(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// One logged event: process kind (0 customer, 1 branch) and id, request, clock, interface,
/// comment.
type Logged = ((u8, u64), u64, u64, String, String);

/// A customer's request: id, interface, money.
type Request = (u64, String, i64);

/// The year's rules, run on `input` with the sequential schedule (customers one after another
/// in order of first appearance, each request finished before the next, an origin propagating
/// to its peers in ascending id): a customer ticks on each send and never merges; a branch
/// merges each receive and ticks on each send to each peer; a withdraw the balance does not
/// cover is not propagated. `propagate` is the spelling of the propagations' interface.
fn oracle(input: &Value, propagate: &str) -> [Value; 3] {
    let items = input.as_array().expect("an array");
    let mut branches: Vec<u64> = Vec::new();
    let mut balance = 0;
    let mut customers: Vec<(u64, Vec<Request>)> = Vec::new();
    for item in items {
        let id = item["id"].as_u64().expect("an id");
        if item["type"] == "branch" {
            branches.push(id);
            balance = item["balance"].as_i64().expect("a balance");
            continue;
        }
        let (list, key) = match item.get("events") {
            Some(events) => (events, "id"),
            None => (&item["customer-requests"], "customer-request-id"),
        };
        let events = list.as_array().expect("events").iter().map(|event| {
            let money = event.get("money").and_then(Value::as_i64).unwrap_or(0);
            let interface = event["interface"].as_str().expect("an interface");
            (
                event[key].as_u64().expect("an id"),
                interface.to_string(),
                money,
            )
        });
        match customers.iter_mut().find(|(known, _)| *known == id) {
            Some((_, known)) => known.extend(events),
            None => customers.push((id, events.collect())),
        }
    }
    branches.sort_unstable();
    let mut clocks: BTreeMap<(u8, u64), u64> = BTreeMap::new();
    let mut logs: BTreeMap<(u8, u64), Vec<Logged>> = BTreeMap::new();
    for &id in &branches {
        logs.insert((1, id), Vec::new());
    }
    let mut log = |process: (u8, u64), request: u64, clock: u64, interface: &str, comment| {
        logs.entry(process).or_default().push((
            process,
            request,
            clock,
            interface.to_string(),
            comment,
        ));
    };
    for (customer, events) in &customers {
        for (request, interface, money) in events {
            let sent = *clocks
                .entry((0, *customer))
                .and_modify(|c| *c += 1)
                .or_insert(1);
            let comment = format!("event_sent from customer {customer}");
            log((0, *customer), *request, sent, interface, comment);
            let home = (1, *customer);
            let origin = clocks.entry(home).or_insert(0);
            *origin = (*origin).max(sent) + 1;
            let comment = format!("event_recv from customer {customer}");
            log(home, *request, *origin, interface, comment);
            let propagated = match interface.as_str() {
                "deposit" => {
                    balance += money;
                    true
                }
                "withdraw" if balance >= *money => {
                    balance -= money;
                    true
                }
                _ => false,
            };
            if !propagated {
                continue;
            }
            let propagation = format!("{propagate}_{interface}");
            for &peer in branches.iter().filter(|&&peer| peer != *customer) {
                let stamp = {
                    let origin = clocks.entry(home).or_insert(0);
                    *origin += 1;
                    *origin
                };
                let comment = format!("event_sent to branch {peer}");
                log(home, *request, stamp, &propagation, comment);
                let clock = clocks.entry((1, peer)).or_insert(0);
                *clock = (*clock).max(stamp) + 1;
                let comment = format!("event_recv from branch {customer}");
                log((1, peer), *request, *clock, &propagation, comment);
            }
        }
    }
    let kind = |k: u8| if k == 0 { "customer" } else { "branch" };
    let per_process = |wanted: u8| {
        let entries: Vec<Value> = logs
            .iter()
            .filter(|((k, _), _)| *k == wanted)
            .map(|((k, id), events)| {
                let events: Vec<Value> = events
                    .iter()
                    .map(|(_, request, clock, interface, comment)| {
                        json!({"customer-request-id": request, "logical_clock": clock,
                               "interface": interface, "comment": comment})
                    })
                    .collect();
                json!({"id": id, "type": kind(*k), "events": events})
            })
            .collect();
        Value::Array(entries)
    };
    // Customers before branches, each ascending, each in its order: the ties' order.
    let mut all: Vec<&Logged> = logs.values().flatten().collect();
    all.sort_by_key(|(_, request, clock, _, _)| (*request, *clock));
    let all: Vec<Value> = all
        .into_iter()
        .map(|((k, id), request, clock, interface, comment)| {
            json!({"id": id, "customer-request-id": request, "type": kind(*k),
                   "logical_clock": clock, "interface": interface, "comment": comment})
        })
        .collect();
    [per_process(0), per_process(1), Value::Array(all)]
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("serializes") + "\n"
}

#[test]
fn the_oracle_gives_the_sample_s_clocks_worked_out_by_hand() {
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(examples_dir().join("sample.json")).expect("the sample"),
    )
    .expect("JSON");
    let [_, branches, _] = oracle(&input, "propogate");
    let clocks = |branch: usize| -> Vec<u64> {
        let events = branches[branch]["events"].as_array().expect("events");
        events
            .iter()
            .map(|event| event["logical_clock"].as_u64().expect("a clock"))
            .collect()
    };
    // B2 receives the deposit (2), sends it to B1 (3) and B3 (4), receives the query (5), then
    // B3's withdraw (max(5, 8) + 1 = 9).
    assert_eq!(clocks(0), [2, 4, 8]);
    assert_eq!(clocks(1), [2, 3, 4, 5, 9]);
    assert_eq!(clocks(2), [5, 6, 7, 8, 9]);
}

#[test]
fn every_example_s_parts_equal_the_oracle_s_and_stdout_is_part_3() {
    for name in EXAMPLES {
        let path = examples_dir().join(format!("{name}.json"));
        let input: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("an example"))
                .expect("JSON");
        for (spelling, propagate) in [("propogate", "propogate"), ("propagate", "propagate")] {
            let dir = tempfile::tempdir().expect("a folder");
            let path = path.to_string_lossy();
            let out = dir.path().to_string_lossy();
            let args = [
                "run",
                &path,
                "--course",
                "2023",
                "--spelling",
                spelling,
                "--output-dir",
                &out,
            ];
            let output = lamport_bank(&args, dir.path());
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            let wanted = oracle(&input, propagate);
            for (file, wanted) in PARTS.iter().zip(&wanted) {
                let written = std::fs::read_to_string(dir.path().join(file)).expect("written");
                let parsed: Value = serde_json::from_str(&written).expect("JSON");
                assert_eq!(&parsed, wanted, "{name}, {propagate}, {file}");
                assert_eq!(
                    written,
                    pretty(wanted),
                    "{name}, {propagate}, {file}: key order"
                );
            }
            assert_eq!(text(&output.stdout), pretty(&wanted[2]), "{name}: stdout");
        }
    }
}

/// `check` on the files `files` in `dir`: its status and stdout (or stderr, when it refuses).
fn check(dir: &Path, files: &[&str]) -> (Option<i32>, String) {
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().copied())
        .collect();
    let output = lamport_bank(&args, dir);
    let printed = match output.status.code() {
        Some(2) => text(&output.stderr),
        _ => text(&output.stdout),
    };
    (output.status.code(), printed)
}

#[test]
fn check_passes_each_part_and_the_parts_together_and_says_what_it_read() {
    let dir = tempfile::tempdir().expect("a folder");
    let output = lamport_bank(
        &["run", "--course", "2023", "--output-dir", "."],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0));
    let summary = |what: &str, events: u32, processes: u32| {
        format!(
            "check: output (course 2023: {what}), {events} events of {processes} processes, \
             messages clocks: all invariants hold\n"
        )
    };
    let cases: [(&[&str], String); 5] = [
        (
            &PARTS,
            summary("customer events, branch events and all events", 18, 6),
        ),
        (
            &PARTS[..2],
            summary("customer events and branch events", 18, 6),
        ),
        (
            &PARTS[..1],
            summary("customer events, without the branches' receives", 5, 3),
        ),
        (
            &PARTS[1..2],
            summary("branch events, without the customers' sends", 13, 3),
        ),
        (&PARTS[2..], summary("all events", 18, 6)),
    ];
    for (files, wanted) in cases {
        assert_eq!(check(dir.path(), files), (Some(0), wanted), "{files:?}");
    }
}

#[test]
fn concurrent_runs_pass_check_as_parts_and_as_traces() {
    for name in EXAMPLES {
        let path = examples_dir().join(format!("{name}.json"));
        let path = path.to_string_lossy();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("a folder");
            let args = [
                "run",
                &path,
                "--course",
                "2023",
                "--concurrent",
                "--output-dir",
                ".",
                "--trace",
                "trace.jsonl",
            ];
            let output = lamport_bank(&args, dir.path());
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            let (status, printed) = check(dir.path(), &PARTS);
            assert_eq!(status, Some(0), "{name}: {printed}");
            let (status, printed) = check(dir.path(), &["trace.jsonl"]);
            assert_eq!(status, Some(0), "{name}: {printed}");
            assert!(
                printed.contains("messages clocks: all invariants hold"),
                "{printed}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-made outputs that break a rule

fn sent(request: u64, clock: u64, interface: &str, customer: u64) -> Value {
    json!({"customer-request-id": request, "logical_clock": clock, "interface": interface,
           "comment": format!("event_sent from customer {customer}")})
}

fn event(request: u64, clock: u64, interface: &str, comment: &str) -> Value {
    json!({"customer-request-id": request, "logical_clock": clock, "interface": interface,
           "comment": comment})
}

fn process(kind: &str, id: u64, events: Vec<Value>) -> Value {
    json!({"id": id, "type": kind, "events": events})
}

/// Writes the parts into a new folder and checks them together.
fn check_parts(parts: &[(&str, Value)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("a folder");
    for (file, value) in parts {
        std::fs::write(dir.path().join(file), pretty(value)).expect("written");
    }
    let files: Vec<&str> = parts.iter().map(|(file, _)| *file).collect();
    check(dir.path(), &files)
}

/// Customer 1 deposits 10 at branch 1 of three; the branches' events are `branches`.
fn deposit_run(branches: [Vec<Value>; 3]) -> (Option<i32>, String) {
    let customers = json!([process("customer", 1, vec![sent(1, 1, "deposit", 1)])]);
    let [b1, b2, b3] = branches;
    let branches = json!([
        process("branch", 1, b1),
        process("branch", 2, b2),
        process("branch", 3, b3)
    ]);
    check_parts(&[("c.json", customers), ("b.json", branches)])
}

fn request() -> Value {
    event(1, 2, "deposit", "event_recv from customer 1")
}

fn to(branch: u64, clock: u64) -> Value {
    event(
        1,
        clock,
        "propogate_deposit",
        &format!("event_sent to branch {branch}"),
    )
}

fn from_b1(clock: u64) -> Value {
    event(1, clock, "propogate_deposit", "event_recv from branch 1")
}

fn one_violation(line: &str, events: u32) -> (Option<i32>, String) {
    (
        Some(1),
        format!(
            "{line}\ncheck: output (course 2023: customer events and branch events), {events} \
             events of 4 processes, messages clocks: 1 violation\n"
        ),
    )
}

#[test]
fn a_run_by_the_rules_passes() {
    let (status, printed) = deposit_run([
        vec![request(), to(2, 3), to(3, 4)],
        vec![from_b1(4)],
        vec![from_b1(5)],
    ]);
    assert_eq!(status, Some(0), "{printed}");
}

#[test]
fn a_receive_at_its_send_s_clock_is_named() {
    // The course's graders pass this: B2's clocks increase.
    assert_eq!(
        deposit_run([
            vec![request(), to(2, 3), to(3, 4)],
            vec![from_b1(3)],
            vec![from_b1(5)],
        ]),
        one_violation(
            "B2: #1 propogate_deposit (request 1, event_recv from branch 1) has logical_clock \
             3, but the rule gives max(0, 3) + 1 = 4, merging the stamp of B1 #2 \
             propogate_deposit (request 1, event_sent to branch 2): not after its send",
            6
        )
    );
}

#[test]
fn a_wrong_clock_that_keeps_the_order_is_named_alone() {
    // B1 sends to B3 at 6 instead of 4; B3 merged the 6 it was sent, rightly.
    assert_eq!(
        deposit_run([
            vec![request(), to(2, 3), to(3, 6)],
            vec![from_b1(4)],
            vec![from_b1(7)],
        ]),
        one_violation(
            "B1: #3 propogate_deposit (request 1, event_sent to branch 3) has logical_clock 6, \
             but the rule gives 3 + 1 = 4",
            6
        )
    );
}

#[test]
fn a_missing_propagation_is_named_twice_where_it_is_missed() {
    assert_eq!(
        deposit_run([vec![request(), to(2, 3)], vec![from_b1(4)], vec![]]),
        one_violation(
            "B1: #1 deposit (request 1, event_recv from customer 1) is not propagated to B3",
            4
        )
    );
}

#[test]
fn messages_that_do_not_pair_are_named() {
    let cases: [([Vec<Value>; 3], &str); 5] = [
        // Received, never sent.
        (
            [
                vec![request(), to(2, 3)],
                vec![from_b1(4)],
                vec![from_b1(5)],
            ],
            "B3: #1 propogate_deposit (request 1, event_recv from branch 1) receives a \
             message that B1 never sends\n\
             B1: #1 deposit (request 1, event_recv from customer 1) is not propagated to B3",
        ),
        // Sent, never received.
        (
            [
                vec![request(), to(2, 3), to(3, 4)],
                vec![from_b1(4)],
                vec![],
            ],
            "B1: #3 propogate_deposit (request 1, event_sent to branch 3) is never received",
        ),
        // Sent to itself.
        (
            [
                vec![request(), to(2, 3), to(1, 4)],
                vec![from_b1(4)],
                vec![],
            ],
            "B1: #3 propogate_deposit (request 1, event_sent to branch 1) sends to its own \
             process\n\
             B1: #1 deposit (request 1, event_recv from customer 1) is not propagated to B3",
        ),
        // Received as another interface.
        (
            [
                vec![request(), to(2, 3), to(3, 4)],
                vec![from_b1(4)],
                vec![event(
                    1,
                    5,
                    "propogate_withdraw",
                    "event_recv from branch 1",
                )],
            ],
            "B3: #1 propogate_withdraw (request 1, event_recv from branch 1) receives as \
             propogate_withdraw what B1 #3 propogate_deposit (request 1, event_sent to branch \
             3) sent as propogate_deposit",
        ),
        // Propagated twice.
        (
            [
                vec![request(), to(2, 3), to(3, 4), to(2, 5)],
                vec![from_b1(4), from_b1(6)],
                vec![from_b1(5)],
            ],
            "B1: #4 propogate_deposit (request 1, event_sent to branch 2) propagates this \
             request to it a second time (first as B1 #2 propogate_deposit (request 1, \
             event_sent to branch 2))\n\
             B2: #2 propogate_deposit (request 1, event_recv from branch 1) receives the \
             message of B1 #2 propogate_deposit (request 1, event_sent to branch 2), already \
             received by B2 #1 propogate_deposit (request 1, event_recv from branch 1)",
        ),
    ];
    for (branches, lines) in cases {
        let (status, printed) = deposit_run(branches);
        assert_eq!(status, Some(1), "{printed}");
        let found: Vec<&str> = printed.lines().collect();
        let wanted: Vec<&str> = lines.lines().collect();
        assert_eq!(found[..found.len() - 1], wanted[..]);
    }
}

#[test]
fn a_request_at_another_branch_and_a_half_propagated_withdraw_are_named() {
    // Customer 1's deposit served by branch 2.
    let customers = json!([process("customer", 1, vec![sent(1, 1, "deposit", 1)])]);
    let branches = json!([
        process(
            "branch",
            1,
            vec![event(1, 4, "propogate_deposit", "event_recv from branch 2")]
        ),
        process(
            "branch",
            2,
            vec![
                event(1, 2, "deposit", "event_recv from customer 1"),
                event(1, 3, "propogate_deposit", "event_sent to branch 1")
            ]
        )
    ]);
    let (status, printed) = check_parts(&[("c.json", customers), ("b.json", branches)]);
    assert_eq!(status, Some(1));
    assert!(printed.starts_with(
        "B2: #1 deposit (request 1, event_recv from customer 1) is a request of C1, whose \
         branch is B1\n"
    ));
    // A withdraw that reaches one of two peers.
    let customers = json!([process("customer", 1, vec![sent(1, 1, "withdraw", 1)])]);
    let withdraw_to = |branch: u64| {
        event(
            1,
            3,
            "propogate_withdraw",
            &format!("event_sent to branch {branch}"),
        )
    };
    let branches = json!([
        process(
            "branch",
            1,
            vec![
                event(1, 2, "withdraw", "event_recv from customer 1"),
                withdraw_to(2)
            ]
        ),
        process(
            "branch",
            2,
            vec![event(
                1,
                4,
                "propogate_withdraw",
                "event_recv from branch 1"
            )]
        ),
        process("branch", 3, vec![])
    ]);
    assert_eq!(
        check_parts(&[("c.json", customers), ("b.json", branches)]),
        one_violation(
            "B1: #1 withdraw (request 1, event_recv from customer 1) is propagated to some \
             branches but not to B3 (an accepted withdraw goes to every other branch, a \
             rejected one to none)",
            4
        )
    );
}

#[test]
fn parts_of_one_run_that_disagree_are_named() {
    let dir = tempfile::tempdir().expect("a folder");
    let output = lamport_bank(
        &["run", "--course", "2023", "--output-dir", "."],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0));
    let path = dir.path().join(PARTS[0]);
    let mut customers: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("part 1")).expect("JSON");
    // C2's query printed with clock 3 in part 1 (2 in part 3, and by the rule).
    customers[1]["events"][1]["logical_clock"] = Value::from(3);
    std::fs::write(&path, pretty(&customers)).expect("written");
    let (status, printed) = check(dir.path(), &[PARTS[0], PARTS[2]]);
    assert_eq!(status, Some(1));
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "C2: #2 is request 3, clock 3, query, event_sent from customer 2 in \
             customer_events.json but request 3, clock 2, query, event_sent from customer 2 in \
             all_events.json",
            "C2: #2 query (request 3, event_sent from customer 2) has logical_clock 3, but the \
             rule gives 1 + 1 = 2",
            "check: output (course 2023: customer events and all events), 18 events of 6 \
             processes, messages clocks: 2 violations",
        ]
    );
}

#[test]
fn what_is_not_of_the_form_is_refused_with_its_place() {
    let good = || process("customer", 1, vec![sent(1, 1, "deposit", 1)]);
    let cases = [
        (
            json!([process("customer", 1, vec![sent(1, 1, "depost", 1)])]),
            "c.json: entry at index 0: event at index 0: unknown interface \"depost\" (expected \
             query, deposit, withdraw, propogate_deposit or propogate_withdraw)\n",
        ),
        (
            json!([process(
                "branch",
                1,
                vec![event(1, 2, "deposit", "got it from customer 1")]
            )]),
            "c.json: entry at index 0: event at index 0: unknown comment \"got it from \
             customer 1\" (expected \"event_sent from customer N\", \"event_recv from customer \
             N\", \"event_recv from branch N\" or \"event_sent to branch N\")\n",
        ),
        (
            json!([{"id": 1, "type": "customer", "events": [], "balance": 3}, good()]),
            "c.json: entry at index 0: unknown field \"balance\" (expected id, type, events)\n",
        ),
        (
            json!([good(), good()]),
            "c.json: entry at index 1: customer 1 has a second entry\n",
        ),
        (
            json!([process(
                "branch",
                1,
                vec![event(1, 2, "deposit", "event_sent to branch 2")]
            )]),
            "c.json: entry at index 0: event at index 0: interface deposit with comment \
             \"event_sent to branch 2\": that comment goes with propogate_deposit or \
             propogate_withdraw\n",
        ),
    ];
    for (part, line) in cases {
        let other = json!([process("branch", 1, vec![])]);
        assert_eq!(
            check_parts(&[("c.json", part), ("b.json", other)]),
            (Some(2), line.to_string())
        );
    }
    let dir = tempfile::tempdir().expect("a folder");
    std::fs::write(dir.path().join("c.json"), pretty(&json!([good()]))).expect("written");
    let sample = "sample.strict.expected.json";
    std::fs::copy(examples_dir().join(sample), dir.path().join(sample)).expect("copied");
    assert_eq!(
        check(dir.path(), &["c.json", sample]),
        (
            Some(2),
            "sample.strict.expected.json: not a part of a fall-2023 output (events with \
             \"logical_clock\"): only those parts of one run are checked together\n"
                .to_string()
        )
    );
    assert_eq!(
        check(dir.path(), &["c.json", "c.json"]),
        (
            Some(2),
            "c.json: customer 1 is listed here and in c.json\n".to_string()
        )
    );
}

#[test]
fn flags_that_contradict_2023_are_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("a folder");
    let out = dir.path().to_string_lossy();
    let cases: [(&[&str], &str); 5] = [
        (
            &["run", "--course", "2022", "--output-dir", &out],
            "--output-dir: only with --course 2023 (the one output in three parts)\n",
        ),
        (
            &["run", "--course", "2023", "--clocks", "strict"],
            "--course 2023: its output has the messages clocks, not the strict ones (leave \
             out --clocks, or give --clocks messages)\n",
        ),
        (
            &["check", "--clocks", "strict", "all_events.json"],
            "all_events.json: --clocks strict: an output of the fall-2023 form has the \
             messages clocks\n",
        ),
        (
            &["check", "--course", "2022", "all_events.json"],
            "all_events.json: --course 2022: this is an output of the fall-2023 form (events \
             with logical_clock), which is --course 2023's\n",
        ),
        (
            &["check", "--course", "2023", "sample.strict.expected.json"],
            "sample.strict.expected.json: --course 2023: this is not an output of the \
             fall-2023 form (its parts list events with \"logical_clock\")\n",
        ),
    ];
    let sample = "sample.strict.expected.json";
    std::fs::copy(examples_dir().join(sample), dir.path().join(sample)).expect("copied");
    let output = lamport_bank(
        &["run", "--course", "2023", "--output-dir", "."],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0));
    for (args, line) in cases {
        let output = lamport_bank(args, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&output.stderr), line, "{args:?}");
    }
}
