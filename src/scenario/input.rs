//! Reading and validating the input scenario: a JSON array of branch and customer processes.
//!
//! The text is first parsed into a [`serde_json::Value`] and then walked by hand, so that every
//! refusal names its source, its place (process and event) and exactly what is wrong, on one line.
//! Checks run in a fixed order and only the first problem is reported: problems inside an entry
//! (in input order), then duplicate event ids, then duplicate branch ids, customers without a
//! branch, differing initial balances and a missing branch list.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{BranchSpec, CustomerEvent, CustomerSpec, Repeated, Scenario};
use crate::json;
use crate::model::{Action, BranchId, CustomerId, EventId, Visits};
use crate::source::{self, json_kind, split_json_error};

/// A refused input: where it came from, where in it the problem is, and what the problem is.
///
/// Displayed as one line: `<source>: <place>: <problem>` (or `<source>: <problem>` when the place
/// is empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{}", .source_name, place_prefix(.place), .problem)]
pub struct InputError {
    /// The name of the input: a file path as given, or `<stdin>`.
    pub source_name: String,
    /// Where the problem is, e.g. `process 4 (customer): event 7`; may be empty.
    pub place: String,
    /// What is wrong.
    pub problem: Problem,
}

/// Why an input is refused; one variant per kind of refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The input could not be read (why, e.g. `cannot read: No such file or directory`).
    #[error("{0}")]
    Unreadable(String),
    /// The input is not valid JSON (serde_json's message; the place holds line and column).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The top-level value is not an array (the kind of value it is instead).
    #[error("expected a JSON array of processes, got {0}")]
    NotAnArray(&'static str),
    /// A process or event is not an object (the kind of value it is instead).
    #[error("expected a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A required field is absent.
    #[error("missing field \"{0}\"")]
    MissingField(&'static str),
    /// A field holds the wrong kind of value (`type`, `interface`, `events`, `customer-requests`).
    #[error("field \"{field}\" must be {expected}, got {got}")]
    MistypedField {
        /// The field's name.
        field: &'static str,
        /// What it must be, e.g. `a string`.
        expected: &'static str,
        /// The offending value, as compact JSON.
        got: String,
    },
    /// A process or event id is not a positive whole number in range.
    #[error("{field} must be a positive whole number, got {got}")]
    BadId {
        /// The id field's name (`id` or `customer-request-id`).
        field: &'static str,
        /// The offending value, as compact JSON.
        got: String,
    },
    /// A process's `type` is neither `customer` nor `branch`.
    #[error("unknown type {} (expected customer or branch; 2021's client or bank)", quoted(.0))]
    UnknownType(String),
    /// An event's `interface` is neither `query`, `deposit` nor `withdraw`.
    #[error("unknown interface {} (expected query, deposit or withdraw)", quoted(.0))]
    UnknownInterface(String),
    /// A deposit or withdraw amount is not a positive whole number that fits an `i64`.
    #[error("money must be a positive whole number, got {0}")]
    BadMoney(String),
    /// A branch's initial balance is not a whole number of at least 0 that fits an `i64`.
    #[error("balance must be a whole number of at least 0, got {0}")]
    BadBalance(String),
    /// A customer entry has both `events` and `customer-requests`.
    #[error("has both \"events\" and \"customer-requests\" (expected one of them)")]
    BothEventLists,
    /// A customer entry has neither `events` nor `customer-requests`.
    #[error("missing field \"events\" (or \"customer-requests\")")]
    NoEventList,
    /// Two branch entries have the same id.
    #[error("duplicate branch id {0}")]
    DuplicateBranch(u32),
    /// Two events (of any customers) have the same id.
    #[error("duplicate event id {event} (first used by C{first_customer})")]
    DuplicateEvent {
        /// The repeated event id.
        event: u64,
        /// The customer whose event used the id first.
        first_customer: u32,
    },
    /// A customer has no branch with the same id.
    #[error("no branch with id {0}")]
    NoBranchForCustomer(u32),
    /// A branch's initial balance differs from the first branch's (in input order).
    #[error("initial balance {balance} differs from B{first_branch}'s {first_balance}")]
    DifferingBalances {
        /// This branch's initial balance.
        balance: i64,
        /// The first branch in input order.
        first_branch: u32,
        /// The first branch's initial balance.
        first_balance: i64,
    },
    /// The input holds no branch process at all.
    #[error("no branch processes")]
    NoBranches,
    /// The text begins with a UTF-8 byte-order mark, which JSON does not allow.
    #[error(
        "begins with a UTF-8 byte-order mark (U+FEFF), which JSON does not allow: save the file without it"
    )]
    ByteOrderMark,
    /// A field this format does not have (a misspelling, or another format's field).
    #[error("unknown field {}{}", quoted(.field), suggestion(.near, .expected))]
    UnknownField {
        /// The field, as written (cut if long).
        field: String,
        /// A field of this place that it is close to, if any.
        near: Option<&'static str>,
        /// The fields this place has.
        expected: &'static [&'static str],
    },
    /// An event has both `branch` and `dest`.
    #[error("has both \"branch\" and \"dest\" (expected one of them)")]
    BothBranchFields,
    /// An event names its branch with one field where an earlier event used the other.
    #[error(
        "names its branch with \"{field}\", but {first} uses \"{other}\" (expected one of them throughout the input)"
    )]
    MixedBranchFields {
        /// The field this event uses.
        field: &'static str,
        /// The field the first event naming a branch uses.
        other: &'static str,
        /// Where that first event is.
        first: String,
    },
    /// An event names a branch that the input does not have.
    #[error("no branch with id {0}")]
    NoBranchForEvent(u32),
    /// A branch entry with events.
    #[error("a branch has no events (got {0} of them)")]
    BranchEvents(usize),
    /// Some order of the deposits could take a balance beyond what an `i64` holds.
    #[error("the initial balance {balance} plus every deposit ({deposits} in all) could exceed {max}, the largest balance a branch keeps", max = i64::MAX)]
    MayOverflow {
        /// The initial balance.
        balance: i64,
        /// The sum of every deposit.
        deposits: i128,
    },
}

/// The fields a branch entry has.
const BRANCH_FIELDS: &[&str] = &["id", "type", "balance", "events"];
/// The fields a customer entry has.
const CUSTOMER_FIELDS: &[&str] = &["id", "type", "events", "customer-requests"];
/// The fields of an event in `events` (`branch` or `dest`: the client-centric project's).
const EVENT_FIELDS: &[&str] = &["id", "interface", "money", "branch", "dest"];
/// The fields of an event in `customer-requests`.
const REQUEST_FIELDS: &[&str] = &["customer-request-id", "interface", "money"];

/// The longest field name the input format has (`customer-request-id`).
const MAX_FIELD_CHARS: usize = 19;

/// "(did you mean ...?)" for a near field, else the fields expected.
fn suggestion(near: &Option<&'static str>, expected: &[&str]) -> String {
    match near {
        Some(near) => format!(" (did you mean \"{near}\"?)"),
        None => format!(" (expected {})", expected.join(", ")),
    }
}

/// Refuses a field of `object` that `expected` does not list, naming the nearest one.
fn known_fields(
    object: &Map<String, Value>,
    expected: &'static [&'static str],
) -> Result<(), Problem> {
    let Some(field) = object
        .keys()
        .find(|field| !expected.contains(&field.as_str()))
    else {
        return Ok(());
    };
    // A long field is near nothing (and its distance would cost time and memory in its length).
    let near = expected
        .iter()
        .filter(|_| field.len() <= 2 * MAX_FIELD_CHARS)
        .map(|name| (strsim::damerau_levenshtein(name, field), *name))
        .filter(|(distance, name)| *distance <= 2 && *distance < name.len())
        .min()
        .map(|(_, name)| name);
    Err(Problem::UnknownField {
        field: json::cut(field),
        near,
        expected,
    })
}

/// Reads and validates the scenario at `path`; `-` reads standard input (named `<stdin>`).
pub fn load(path: &str) -> Result<Scenario, InputError> {
    let source = source::name_of(path);
    let text =
        source::read_to_string(path, source::MAX_INPUT_BYTES).map_err(|error| InputError {
            source_name: source.to_string(),
            place: String::new(),
            problem: Problem::Unreadable(error.to_string()),
        })?;
    parse(source, &text)
}

/// Parses and validates a scenario; `source` is the name shown in errors (a path, or `<stdin>`).
pub fn parse(source: &str, text: &str) -> Result<Scenario, InputError> {
    let fail = |(place, problem): (String, Problem)| InputError {
        source_name: source.to_string(),
        place,
        problem,
    };
    if text.starts_with('\u{feff}') {
        return Err(fail((String::new(), Problem::ByteOrderMark)));
    }
    let root: Value = json::parse(text).map_err(|error| {
        let (place, message) = split_json_error(&error);
        fail((place, Problem::MalformedJson(message)))
    })?;
    let Value::Array(items) = &root else {
        return Err(fail((String::new(), Problem::NotAnArray(json_kind(&root)))));
    };
    let read = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_process(index, item))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let visits = visits(&read).map_err(fail)?;
    let (entries, numbered) = number_events(read, false);
    let (entries, numbered, repeated) = match check_event_ids(&entries) {
        Ok(()) => (entries, numbered, None),
        // The client-centric project's inputs are handed out with a repeated id: such an input
        // runs, its events identified by their place.
        Err((
            _,
            Problem::DuplicateEvent {
                event,
                first_customer,
            },
        )) if visits.roaming() => {
            let customer = first_repeat(&entries, event);
            let (entries, numbered) = number_events(reread(entries), true);
            let repeated = Repeated {
                event,
                customer,
                first_customer: CustomerId(first_customer),
            };
            (entries, numbered, Some(repeated))
        }
        Err(refused) => return Err(fail(refused)),
    };
    let mut scenario = assemble(entries).map_err(fail)?;
    scenario.numbered = numbered;
    scenario.visits = visits;
    scenario.repeated = repeated;
    Ok(scenario)
}

/// A problem and the place it was found.
type Located<T> = Result<T, (String, Problem)>;

/// One validated entry of the input array.
enum Entry {
    Branch(BranchSpec),
    Customer(CustomerId, Vec<CustomerEvent>),
}

/// A customer's event as read: its id, unless it came without one.
struct ReadEvent {
    id: Option<EventId>,
    action: Action,
    /// The branch it names, and the field that names it (`branch` or `dest`).
    branch: Option<(BranchId, &'static str)>,
}

/// An entry as read, before the events without an id are numbered.
enum ReadEntry {
    Branch(BranchSpec),
    Customer(CustomerId, Vec<ReadEvent>),
}

/// Gives each event that came without an id (with `every`: each event) its place among all the
/// input's events (from 1, in input order), as 2021's inputs expect; returns the entries and
/// how many were numbered.
fn number_events(read: Vec<ReadEntry>, every: bool) -> (Vec<Entry>, usize) {
    let mut place = 0;
    let mut numbered = 0;
    let entries = read
        .into_iter()
        .map(|entry| match entry {
            ReadEntry::Branch(branch) => Entry::Branch(branch),
            ReadEntry::Customer(id, events) => {
                let events = events
                    .into_iter()
                    .map(|event| {
                        place += 1;
                        let id = match event.id.filter(|_| !every) {
                            Some(id) => id,
                            None => {
                                numbered += 1;
                                EventId(place)
                            }
                        };
                        CustomerEvent {
                            id,
                            action: event.action,
                            branch: event.branch.map(|(branch, _)| branch),
                        }
                    })
                    .collect();
                Entry::Customer(id, events)
            }
        })
        .collect();
    (entries, numbered)
}

/// The entries of `numbered` as read again, to be numbered anew (the fields that named their
/// branches are no longer needed).
fn reread(numbered: Vec<Entry>) -> Vec<ReadEntry> {
    numbered
        .into_iter()
        .map(|entry| match entry {
            Entry::Branch(branch) => ReadEntry::Branch(branch),
            Entry::Customer(id, events) => {
                let events = events.into_iter().map(|event| ReadEvent {
                    id: Some(event.id),
                    action: event.action,
                    branch: event.branch.map(|branch| (branch, "branch")),
                });
                ReadEntry::Customer(id, events.collect())
            }
        })
        .collect()
}

/// The customer whose event repeats the id `event` (the second to use it).
fn first_repeat(entries: &[Entry], event: u64) -> CustomerId {
    let mut users = entries.iter().flat_map(|entry| match entry {
        Entry::Customer(customer, events) => events
            .iter()
            .filter(|candidate| candidate.id.0 == event)
            .map(|_| *customer)
            .collect(),
        Entry::Branch(_) => Vec::new(),
    });
    users.nth(1).unwrap_or(CustomerId(0))
}

/// Where the input's customers are served: at the branches their events name (all with the same
/// field), or each at its own.
fn visits(read: &[ReadEntry]) -> Located<Visits> {
    let mut first: Option<(&'static str, String)> = None;
    for entry in read {
        let ReadEntry::Customer(customer, events) = entry else {
            continue;
        };
        for (index, event) in events.iter().enumerate() {
            let Some((_, field)) = event.branch else {
                continue;
            };
            let place = match event.id {
                Some(id) => format!("process {} (customer): event {id}", customer.0),
                None => format!("process {} (customer): event at index {index}", customer.0),
            };
            match &first {
                None => first = Some((field, place)),
                Some((other, first)) if *other != field => {
                    let problem = Problem::MixedBranchFields {
                        field,
                        other,
                        first: first.clone(),
                    };
                    return Err((place, problem));
                }
                Some(_) => {}
            }
        }
    }
    Ok(match first {
        None => Visits::Home,
        Some(("dest", _)) => Visits::Dest,
        Some(_) => Visits::Branch,
    })
}

fn parse_process(index: usize, item: &Value) -> Located<ReadEntry> {
    let at_index = |problem| (format!("process at index {index}"), problem);
    let object = item
        .as_object()
        .ok_or_else(|| at_index(Problem::NotAnObject(json_kind(item))))?;
    let id = positive_id(object, "id", u64::from(u32::MAX)).map_err(at_index)?;
    let id = u32::try_from(id).map_err(|_| at_index(bad_id("id", &Value::from(id))))?;
    let kind_name = required(object, "type").map_err(at_index)?;
    let kind_name = kind_name
        .as_str()
        .ok_or_else(|| at_index(mistyped("type", "a string", kind_name)))?;
    let place = format!("process {id} ({})", json::cut(kind_name));
    match kind_name {
        // 2021's inputs say "bank" and "client".
        "branch" | "bank" => {
            known_fields(object, BRANCH_FIELDS).map_err(|problem| (place.clone(), problem))?;
            match object.get("events") {
                None => {}
                Some(Value::Array(events)) if events.is_empty() => {}
                Some(Value::Array(events)) => {
                    return Err((place, Problem::BranchEvents(events.len())));
                }
                Some(other) => return Err((place, mistyped("events", "an array", other))),
            }
            let balance =
                required(object, "balance").map_err(|problem| (place.clone(), problem))?;
            match balance.as_i64().filter(|balance| *balance >= 0) {
                Some(balance) => Ok(ReadEntry::Branch(BranchSpec {
                    id: BranchId(id),
                    balance,
                })),
                None => Err((place, Problem::BadBalance(json::shown(balance)))),
            }
        }
        "customer" | "client" => {
            known_fields(object, CUSTOMER_FIELDS).map_err(|problem| (place.clone(), problem))?;
            parse_customer(&place, object).map(|events| ReadEntry::Customer(CustomerId(id), events))
        }
        other => Err(at_index(Problem::UnknownType(json::cut(other)))),
    }
}

fn parse_customer(place: &str, object: &Map<String, Value>) -> Located<Vec<ReadEvent>> {
    let (list_field, id_field, list) = match (object.get("events"), object.get("customer-requests"))
    {
        (Some(list), None) => ("events", "id", list),
        (None, Some(list)) => ("customer-requests", "customer-request-id", list),
        (Some(_), Some(_)) => return Err((place.to_string(), Problem::BothEventLists)),
        (None, None) => return Err((place.to_string(), Problem::NoEventList)),
    };
    let list = list
        .as_array()
        .ok_or_else(|| (place.to_string(), mistyped(list_field, "an array", list)))?;
    let mut events = Vec::with_capacity(list.len());
    for (index, event) in list.iter().enumerate() {
        let event = parse_event(event, id_field).map_err(|(id, problem)| match id {
            Some(id) => (format!("{place}: event {id}"), problem),
            None => (format!("{place}: event at index {index}"), problem),
        })?;
        events.push(event);
    }
    Ok(events)
}

/// Parses one event; on failure, also returns the event's id if it has a valid one.
fn parse_event(event: &Value, id_field: &'static str) -> Result<ReadEvent, (Option<u64>, Problem)> {
    let object = event
        .as_object()
        .ok_or((None, Problem::NotAnObject(json_kind(event))))?;
    let id = match object.get(id_field) {
        // Numbered later, by its place in the input.
        None => None,
        Some(_) => {
            Some(positive_id(object, id_field, u64::MAX).map_err(|problem| (None, problem))?)
        }
    };
    let located = |problem| (id, problem);
    let fields = if id_field == "id" {
        EVENT_FIELDS
    } else {
        REQUEST_FIELDS
    };
    known_fields(object, fields).map_err(located)?;
    let interface = required(object, "interface").map_err(located)?;
    let interface = interface
        .as_str()
        .ok_or_else(|| located(mistyped("interface", "a string", interface)))?;
    let action = match interface {
        "query" => Action::Query,
        "deposit" => Action::Deposit(money(object).map_err(located)?),
        "withdraw" => Action::Withdraw(money(object).map_err(located)?),
        other => return Err(located(Problem::UnknownInterface(json::cut(other)))),
    };
    let branch = match (object.get("branch"), object.get("dest")) {
        (Some(_), Some(_)) => return Err(located(Problem::BothBranchFields)),
        (Some(_), None) => Some("branch"),
        (None, Some(_)) => Some("dest"),
        (None, None) => None,
    };
    let branch = match branch {
        Some(field) => {
            let id = positive_id(object, field, u64::from(u32::MAX)).map_err(located)?;
            // At most u32::MAX, as `positive_id` was told.
            let id = u32::try_from(id).unwrap_or(u32::MAX);
            Some((BranchId(id), field))
        }
        None => None,
    };
    Ok(ReadEvent {
        id: id.map(EventId),
        action,
        branch,
    })
}

fn money(object: &Map<String, Value>) -> Result<i64, Problem> {
    let value = required(object, "money")?;
    value
        .as_i64()
        .filter(|money| *money > 0)
        .ok_or_else(|| Problem::BadMoney(json::shown(value)))
}

fn positive_id(object: &Map<String, Value>, field: &'static str, max: u64) -> Result<u64, Problem> {
    let value = required(object, field)?;
    value
        .as_u64()
        .filter(|id| (1..=max).contains(id))
        .ok_or_else(|| bad_id(field, value))
}

fn required<'a>(object: &'a Map<String, Value>, field: &'static str) -> Result<&'a Value, Problem> {
    object.get(field).ok_or(Problem::MissingField(field))
}

fn bad_id(field: &'static str, value: &Value) -> Problem {
    Problem::BadId {
        field,
        got: json::shown(value),
    }
}

fn mistyped(field: &'static str, expected: &'static str, value: &Value) -> Problem {
    Problem::MistypedField {
        field,
        expected,
        got: json::shown(value),
    }
}

/// Refuses an event id used twice, anywhere in the input.
fn check_event_ids(entries: &[Entry]) -> Located<()> {
    let mut first_user: HashMap<u64, u32> = HashMap::new();
    for entry in entries {
        let Entry::Customer(customer, events) = entry else {
            continue;
        };
        for event in events {
            if let Some(&first_customer) = first_user.get(&event.id.0) {
                let place = format!("process {} (customer): event {}", customer.0, event.id.0);
                return Err((
                    place,
                    Problem::DuplicateEvent {
                        event: event.id.0,
                        first_customer,
                    },
                ));
            }
            first_user.insert(event.id.0, customer.0);
        }
    }
    Ok(())
}

/// Runs the cross-entry checks and builds the scenario.
fn assemble(entries: Vec<Entry>) -> Located<Scenario> {
    let mut branches: Vec<BranchSpec> = Vec::new();
    let mut branch_ids = HashSet::new();
    let mut customers: Vec<CustomerSpec> = Vec::new();
    let mut customer_index: HashMap<CustomerId, usize> = HashMap::new();
    for entry in entries {
        match entry {
            Entry::Branch(branch) => {
                if !branch_ids.insert(branch.id) {
                    let place = format!("process {} (branch)", branch.id.0);
                    return Err((place, Problem::DuplicateBranch(branch.id.0)));
                }
                branches.push(branch);
            }
            Entry::Customer(id, events) => match customer_index.get(&id) {
                Some(&index) => customers[index].events.extend(events),
                None => {
                    customer_index.insert(id, customers.len());
                    customers.push(CustomerSpec { id, events });
                }
            },
        }
    }
    for customer in &customers {
        // A customer is served at its own branch unless every one of its events names another.
        let needs_home = customer.events.is_empty()
            || customer.events.iter().any(|event| event.branch.is_none());
        if needs_home && !branch_ids.contains(&customer.id.home_branch()) {
            let place = format!("process {} (customer)", customer.id.0);
            return Err((place, Problem::NoBranchForCustomer(customer.id.0)));
        }
        let named = customer
            .events
            .iter()
            .filter_map(|event| Some((event, event.branch?)));
        if let Some((event, branch)) = named
            .into_iter()
            .find(|(_, branch)| !branch_ids.contains(branch))
        {
            let place = format!("process {} (customer): event {}", customer.id.0, event.id);
            return Err((place, Problem::NoBranchForEvent(branch.0)));
        }
    }
    let Some(first) = branches.first() else {
        return Err((String::new(), Problem::NoBranches));
    };
    if let Some(branch) = branches
        .iter()
        .find(|branch| branch.balance != first.balance)
    {
        let problem = Problem::DifferingBalances {
            balance: branch.balance,
            first_branch: first.id.0,
            first_balance: first.balance,
        };
        return Err((format!("process {} (branch)", branch.id.0), problem));
    }
    let deposits: i128 = customers
        .iter()
        .flat_map(|customer| &customer.events)
        .map(|event| match event.action {
            Action::Deposit(money) => i128::from(money),
            _ => 0,
        })
        .sum();
    if i128::from(first.balance) + deposits > i128::from(i64::MAX) {
        let problem = Problem::MayOverflow {
            balance: first.balance,
            deposits,
        };
        return Err((String::new(), problem));
    }
    branches.sort_by_key(|branch| branch.id);
    Ok(Scenario {
        branches,
        customers,
        numbered: 0,
        visits: Visits::Home,
        repeated: None,
    })
}

/// A string written as a JSON string literal, quotes and escapes included.
fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

fn place_prefix(place: &str) -> String {
    if place.is_empty() {
        String::new()
    } else {
        format!("{place}: ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Scenario {
        let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
        match load(&path) {
            Ok(scenario) => scenario,
            Err(error) => panic!("{error}"),
        }
    }

    fn event(id: u64, action: Action) -> CustomerEvent {
        CustomerEvent {
            id: EventId(id),
            action,
            branch: None,
        }
    }

    fn refusal(text: &str) -> String {
        match parse("in.json", text) {
            Ok(scenario) => panic!("accepted: {scenario:?}"),
            Err(error) => error.to_string(),
        }
    }

    const BRANCH: &str = r#"{"id": 1, "type": "branch", "balance": 10}"#;

    #[test]
    fn sample_parses() {
        let scenario = example("sample.json");
        let ids: Vec<u32> = scenario.branches.iter().map(|branch| branch.id.0).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(scenario.initial_balance(), 400);
        assert_eq!(scenario.customers.len(), 3);
        assert_eq!(scenario.customers[0].events, [event(1, Action::Query)]);
        assert_eq!(
            scenario.customers[1].events,
            [event(2, Action::Deposit(170)), event(3, Action::Query)]
        );
        assert_eq!(
            scenario.customers[2].events,
            [event(4, Action::Withdraw(70)), event(5, Action::Query)]
        );
    }

    #[test]
    fn wide_parses_with_branches_sorted_and_customers_in_input_order() {
        let scenario = example("wide.json");
        let branches: Vec<u32> = scenario.branches.iter().map(|branch| branch.id.0).collect();
        assert_eq!(branches, [1, 5, 10, 12]);
        let customers: Vec<u32> = scenario
            .customers
            .iter()
            .map(|customer| customer.id.0)
            .collect();
        assert_eq!(customers, [10, 1, 12, 5]);
        assert_eq!(scenario.initial_balance(), 100);
        assert_eq!(
            scenario.customers[0].events,
            [
                event(101, Action::Deposit(25)),
                event(102, Action::Withdraw(500)),
                event(103, Action::Query)
            ]
        );
    }

    #[test]
    fn requests_format_parses() {
        let scenario = example("requests.json");
        assert_eq!(scenario.customers.len(), 3);
        assert_eq!(scenario.customers[2].id, CustomerId(3));
        assert_eq!(
            scenario.customers[2].events,
            [
                event(5, Action::Deposit(10)),
                event(6, Action::Withdraw(10))
            ]
        );
    }

    #[test]
    fn entries_of_one_customer_are_joined_in_input_order() {
        let text = r#"[
            {"id": 2, "type": "customer", "events": [{"id": 5, "interface": "query"}]},
            {"id": 1, "type": "customer", "customer-requests": [
                {"customer-request-id": 9, "interface": "deposit", "money": 3}]},
            {"id": 2, "type": "customer", "customer-requests": [
                {"customer-request-id": 4, "interface": "withdraw", "money": 1}]},
            {"id": 2, "type": "branch", "balance": 0},
            {"id": 1, "type": "branch", "balance": 0}
        ]"#;
        let scenario = match parse("in.json", text) {
            Ok(scenario) => scenario,
            Err(error) => panic!("{error}"),
        };
        let customers: Vec<u32> = scenario
            .customers
            .iter()
            .map(|customer| customer.id.0)
            .collect();
        assert_eq!(customers, [2, 1]);
        assert_eq!(
            scenario.customers[0].events,
            [event(5, Action::Query), event(4, Action::Withdraw(1))]
        );
        assert_eq!(scenario.initial_balance(), 0);
    }

    #[test]
    fn query_money_is_ignored() {
        let text = format!(
            r#"[{{"id": 1, "type": "customer", "events": [{{"id": 1, "interface": "query", "money": "x"}}]}}, {BRANCH}]"#
        );
        assert!(parse("in.json", &text).is_ok());
    }

    #[test]
    fn error_parts_are_exposed() {
        let error = parse("in.json", "[]").err();
        let expected = InputError {
            source_name: "in.json".into(),
            place: String::new(),
            problem: Problem::NoBranches,
        };
        assert_eq!(error, Some(expected));
    }

    #[test]
    fn refusals_read_as_one_line() {
        let money = |money: &str| {
            let customer = format!(
                r#"{{"id": 1, "type": "customer", "events": [{{"id": 7, "interface": "deposit", "money": {money}}}]}}"#
            );
            refusal(&format!("[{customer}, {BRANCH}]"))
        };
        assert_eq!(
            money("2.0"),
            "in.json: process 1 (customer): event 7: money must be a positive whole number, got 2.0"
        );
        assert_eq!(
            money("0"),
            "in.json: process 1 (customer): event 7: money must be a positive whole number, got 0"
        );
        assert_eq!(
            money("null"),
            "in.json: process 1 (customer): event 7: money must be a positive whole number, got null"
        );
        assert_eq!(
            refusal("{}"),
            "in.json: expected a JSON array of processes, got an object"
        );
        assert_eq!(
            refusal("[1]"),
            "in.json: process at index 0: expected a JSON object, got a number"
        );
        assert_eq!(
            refusal(r#"[{"id": 1, "type": "bank\"x"}]"#),
            r#"in.json: process at index 0: unknown type "bank\"x" (expected customer or branch; 2021's client or bank)"#
        );
        assert_eq!(
            refusal("[\n  1,"),
            "in.json: line 2 column 4: malformed JSON: EOF while parsing a value"
        );
        assert_eq!(
            refusal(r#"[{"id": 4294967296, "type": "branch", "balance": 1}]"#),
            "in.json: process at index 0: id must be a positive whole number, got 4294967296"
        );
        assert_eq!(
            refusal(
                r#"[{"id": 1, "type": "customer", "events": [{"id": 1, "interface": "query"}, {"id": 1, "interface": "query"}]}, {"id": 1, "type": "branch", "balance": 1}]"#
            ),
            "in.json: process 1 (customer): event 1: duplicate event id 1 (first used by C1)"
        );
    }

    /// A customer entry of one event, `event` written as JSON, beside [`BRANCH`].
    fn one_event(event: &str) -> String {
        format!(r#"[{{"id": 1, "type": "customer", "events": [{event}]}}, {BRANCH}]"#)
    }

    #[test]
    fn input_that_means_something_else_is_refused_not_guessed() {
        assert_eq!(
            refusal(&one_event(
                r#"{"id": 1, "interface": "deposit", "mony": 5}"#
            )),
            r#"in.json: process 1 (customer): event 1: unknown field "mony" (did you mean "money"?)"#
        );
        assert_eq!(
            refusal(&one_event(r#"{"id": 1, "interfce": "query"}"#)),
            r#"in.json: process 1 (customer): event 1: unknown field "interfce" (did you mean "interface"?)"#
        );
        assert_eq!(
            refusal(r#"[{"id": 1, "type": "branch", "balance": 1, "colour": "red"}]"#),
            r#"in.json: process 1 (branch): unknown field "colour" (expected id, type, balance, events)"#
        );
        assert_eq!(
            refusal(&one_event(
                "{\"id\": 1, \"interface\": \"deposit\", \"money\": -5,\n \"money\": 5}"
            )),
            "in.json: line 2 column 8: malformed JSON: key \"money\" given twice in one object"
        );
        assert_eq!(
            refusal(&format!(
                "\u{feff}{}",
                one_event(r#"{"id": 1, "interface": "query"}"#)
            )),
            "in.json: begins with a UTF-8 byte-order mark (U+FEFF), which JSON does not allow: save the file without it"
        );
        let huge = "9".repeat(500);
        assert_eq!(
            refusal(&one_event(&format!(
                r#"{{"id": 1, "interface": "deposit", "money": "{huge}"}}"#
            ))),
            format!(
                "in.json: process 1 (customer): event 1: money must be a positive whole number, got \"{}... (502 characters)",
                "9".repeat(59)
            )
        );
        // A field of ten million characters is named, cut, and compared with nothing.
        let long = "m".repeat(10_000_000);
        assert_eq!(
            refusal(&one_event(&format!(
                r#"{{"id": 1, "interface": "query", "{long}": 1}}"#
            ))),
            format!(
                "in.json: process 1 (customer): event 1: unknown field \"{}... (10000000 characters)\" (expected id, interface, money, branch, dest)",
                "m".repeat(60)
            )
        );
        assert_eq!(
            refusal(r#"[{"id": 1, "type": "branch", "balance": 1, "events": [{"id": 1}]}]"#),
            "in.json: process 1 (branch): a branch has no events (got 1 of them)"
        );
    }

    #[test]
    fn money_that_could_overflow_is_refused_before_the_run() {
        let max = i64::MAX;
        let text = format!(
            r#"[{{"id": 1, "type": "customer", "events": [{{"id": 1, "interface": "deposit", "money": 4}}, {{"id": 2, "interface": "deposit", "money": 4}}]}}, {{"id": 1, "type": "branch", "balance": {}}}]"#,
            max - 7
        );
        assert_eq!(
            refusal(&text),
            format!(
                "in.json: the initial balance {} plus every deposit (8 in all) could exceed {max}, the largest balance a branch keeps",
                max - 7
            )
        );
        // One less, and the largest balance any order can reach is i64::MAX itself.
        let fits = text.replace(&format!("{}", max - 7), &format!("{}", max - 8));
        assert!(parse("in.json", &fits).is_ok());
    }

    #[test]
    fn inputs_of_2021_read_with_client_bank_and_events_without_ids() {
        let text = r#"[
            {"id": 1, "type": "client", "events": [{"interface": "deposit", "money": 10}, {"interface": "query"}]},
            {"id": 2, "type": "client", "events": [{"interface": "withdraw", "money": 3}]},
            {"id": 1, "type": "bank", "balance": 5},
            {"id": 2, "type": "bank", "balance": 5}
        ]"#;
        let scenario = parse("in.json", text).expect("read");
        assert_eq!(scenario.numbered, 3);
        assert_eq!(
            scenario.customers[0].events,
            [event(1, Action::Deposit(10)), event(2, Action::Query)]
        );
        assert_eq!(
            scenario.customers[1].events,
            [event(3, Action::Withdraw(3))]
        );
        // Numbers given by place may meet an id given by hand: that is a repeat like any other.
        let clash = r#"[{"id": 1, "type": "customer", "events": [{"interface": "query"}, {"id": 1, "interface": "query"}]}, {"id": 1, "type": "branch", "balance": 1}]"#;
        assert_eq!(
            refusal(clash),
            "in.json: process 1 (customer): event 1: duplicate event id 1 (first used by C1)"
        );
    }

    #[test]
    fn client_centric_inputs_name_the_branch_of_each_event() {
        let text = r#"[
            {"id": 1, "type": "customer", "events": [
                {"id": 1, "interface": "deposit", "money": 400, "branch": 1},
                {"id": 2, "interface": "query", "branch": 2}]},
            {"id": 1, "type": "branch", "balance": 0},
            {"id": 2, "type": "branch", "balance": 0}
        ]"#;
        let scenario = parse("in.json", text).expect("read");
        assert_eq!(scenario.visits, Visits::Branch);
        let customer = &scenario.customers[0];
        let branches: Vec<BranchId> = customer
            .events
            .iter()
            .map(|e| customer.branch_of(e))
            .collect();
        assert_eq!(branches, [BranchId(1), BranchId(2)]);
        // `dest`, events without ids, `client` and `bank`; no branch 7 for customer 7 is needed.
        let text = r#"[
            {"id": 7, "type": "client", "events": [
                {"interface": "deposit", "money": 400, "dest": 1},
                {"interface": "query", "dest": 2}]},
            {"id": 1, "type": "bank", "balance": 0},
            {"id": 2, "type": "bank", "balance": 0}
        ]"#;
        let scenario = parse("in.json", text).expect("read");
        assert_eq!(scenario.visits, Visits::Dest);
        assert_eq!(scenario.numbered, 2);
        assert_eq!(scenario.customers[0].events[1].branch, Some(BranchId(2)));
    }

    #[test]
    fn a_repeated_id_in_a_client_centric_input_runs_with_events_numbered_by_place() {
        let text = r#"[
            {"id": 1, "type": "customer", "events": [
                {"id": 5, "interface": "deposit", "money": 10, "branch": 1},
                {"id": 5, "interface": "query", "branch": 2},
                {"id": 9, "interface": "query", "branch": 1}]},
            {"id": 1, "type": "branch", "balance": 0},
            {"id": 2, "type": "branch", "balance": 0}
        ]"#;
        let scenario = parse("in.json", text).expect("read");
        let ids: Vec<u64> = scenario.customers[0]
            .events
            .iter()
            .map(|e| e.id.0)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        let repeated = scenario.repeated.expect("the repeat is noted");
        assert_eq!(
            repeated.warning("in.json"),
            "in.json: process 1 (customer): event 5: warning: event id 5 is used twice (first by C1); every event is identified by its place in the input instead (1, 2, 3, ...)"
        );
        // Without branches named, a repeat is refused as before.
        let plain = text
            .replace(r#", "branch": 1"#, "")
            .replace(r#", "branch": 2"#, "");
        assert_eq!(
            refusal(&plain),
            "in.json: process 1 (customer): event 5: duplicate event id 5 (first used by C1)"
        );
    }

    #[test]
    fn client_centric_refusals_name_the_event() {
        let two = |events: &str| {
            format!(
                r#"[{{"id": 1, "type": "customer", "events": [{events}]}}, {BRANCH}, {{"id": 2, "type": "branch", "balance": 10}}]"#
            )
        };
        assert_eq!(
            refusal(&two(r#"{"id": 3, "interface": "query", "branch": 9}"#)),
            "in.json: process 1 (customer): event 3: no branch with id 9"
        );
        assert_eq!(
            refusal(&two(
                r#"{"id": 3, "interface": "query", "branch": 1, "dest": 1}"#
            )),
            r#"in.json: process 1 (customer): event 3: has both "branch" and "dest" (expected one of them)"#
        );
        assert_eq!(
            refusal(&two(r#"{"id": 3, "interface": "query", "branch": 0}"#)),
            "in.json: process 1 (customer): event 3: branch must be a positive whole number, got 0"
        );
        assert_eq!(
            refusal(&two(r#"{"id": 3, "interface": "query", "dest": "2"}"#)),
            r#"in.json: process 1 (customer): event 3: dest must be a positive whole number, got "2""#
        );
        assert_eq!(
            refusal(&two(
                r#"{"id": 3, "interface": "query", "branch": 1}, {"id": 4, "interface": "query", "dest": 2}"#
            )),
            r#"in.json: process 1 (customer): event 4: names its branch with "dest", but process 1 (customer): event 3 uses "branch" (expected one of them throughout the input)"#
        );
        // A customer with an event that names no branch needs its own.
        let text = r#"[{"id": 4, "type": "customer", "events": [{"id": 1, "interface": "query", "branch": 1}, {"id": 2, "interface": "query"}]}, {"id": 1, "type": "branch", "balance": 1}]"#;
        assert_eq!(
            refusal(text),
            "in.json: process 4 (customer): no branch with id 4"
        );
    }
}
