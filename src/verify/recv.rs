//! Checks customers' results in the form of Project 1 of the course's 2024 documents
//! (`[{"id": 1, "recv": [{"interface": "query", "balance": 400}]}, ...]`), or of the
//! client-centric project (one entry per request, each naming the branch that answered:
//! `{"id": 1, "recv": [{"interface": "query", "branch": 2, "balance": 400}]}`; or each
//! customer's last balance, `[{"id": 1, "balance": 400}]`), against the run's input: every
//! customer answers its requests in order with the right interfaces (at the branches the input
//! names), and every balance a query returned is one that some order of the accepted changes
//! can give. A query sees all of its own customer's earlier accepted changes (read-your-writes:
//! a change is answered only once every replica has applied it, or a branch waits for a
//! customer's writes before serving it), none of its later ones, and any of the other
//! customers'. Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Finding, Rule};
use crate::model::{Action, CustomerId, Process};
use crate::scenario::{CustomerEvent, Scenario};

/// How much work (sums kept, summed over the changes) finding a customer's reachable balances
/// may take before its queries' check gives up (the others' changes are then too many to try
/// every subset of, and its queries are taken as they are).
const MAX_WORK: usize = 1 << 20;

/// What came back for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The request's interface, as the file names it.
    pub interface: String,
    /// Its balance or its result, as the file gives it.
    pub got: Value,
    /// The branch that answered, if the file names it.
    pub branch: Option<u32>,
}

/// Every customer's results as read: its id, and per request what came back, in order (the
/// entries of a customer that has several joined in the order of the file).
pub type Results = Vec<(u32, Vec<Received>)>;

/// Each customer's id and the last balance it read (`None`: it made no query).
pub type LastBalances = Vec<(u32, Option<i64>)>;

/// Whether `items` look like Project 1 results (every entry has `recv`).
pub fn is_recv(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item.get("recv").is_some())
}

/// Whether `items` look like each customer's last balance (`[{"id": 1, "balance": 400}]`).
pub fn is_last_balances(items: &[Value]) -> bool {
    !items.is_empty()
        && items.iter().all(|item| {
            item.as_object().is_some_and(|fields| {
                fields.len() == 2 && fields.contains_key("id") && fields.contains_key("balance")
            })
        })
}

/// Whether any result names the branch that answered it (the client-centric project's form).
pub fn names_branches(results: &Results) -> bool {
    results
        .iter()
        .flat_map(|(_, received)| received)
        .any(|received| received.branch.is_some())
}

/// A positive whole number of `item`'s `field`, or why not.
fn positive_id(item: &Value, field: &str, place: &str) -> Result<u32, (String, String)> {
    item.get(field)
        .and_then(Value::as_u64)
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id > 0)
        .ok_or_else(|| {
            (
                place.to_string(),
                format!("{field} must be a positive whole number"),
            )
        })
}

/// Reads the results, refusing what is not in their form: `Err(place, problem)`.
pub fn read(items: &[Value]) -> Result<Results, (String, String)> {
    let mut results: Results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let id = positive_id(item, "id", &place)?;
        let recv = item["recv"]
            .as_array()
            .ok_or_else(|| (place.clone(), "field \"recv\" must be an array".to_string()))?;
        let mut answers = Vec::with_capacity(recv.len());
        for (at, answer) in recv.iter().enumerate() {
            let place = format!("{place}: recv at index {at}");
            let interface = answer
                .get("interface")
                .and_then(Value::as_str)
                .ok_or_else(|| (place.clone(), "missing field \"interface\"".to_string()))?;
            let got = answer
                .get("balance")
                .or_else(|| answer.get("result"))
                .cloned()
                .ok_or_else(|| (place.clone(), "no \"balance\" or \"result\"".to_string()))?;
            let branch = match answer.get("branch") {
                Some(_) => Some(positive_id(answer, "branch", &place)?),
                None => None,
            };
            answers.push(Received {
                interface: interface.to_string(),
                got,
                branch,
            });
        }
        // A customer's later entries go on from its earlier ones.
        match results.iter_mut().find(|(seen, _)| *seen == id) {
            Some((_, earlier)) => earlier.extend(answers),
            None => results.push((id, answers)),
        }
    }
    Ok(results)
}

fn at(customer: u32, message: String) -> Finding {
    Finding {
        rule: Rule::Money,
        process: Some(Process::Customer(CustomerId(customer))),
        message,
    }
}

/// The signed change an accepted deposit or withdraw makes.
fn signed(action: Action) -> Option<i64> {
    match action {
        Action::Deposit(amount) => Some(amount),
        Action::Withdraw(amount) => amount.checked_neg(),
        Action::Query => None,
    }
}

/// Checks `results` against `scenario`: one finding per broken rule.
pub fn check(results: &Results, scenario: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    let answered = |result: &Value| result.as_str() == Some("success");
    // Every customer's accepted changes (those answered `success`), in its order.
    let mut accepted: Vec<(u32, Vec<i64>)> = Vec::new();
    for (id, answers) in results {
        let Some(customer) = scenario.customers.iter().find(|c| c.id.0 == *id) else {
            out.push(at(*id, "is no customer of the input".to_string()));
            continue;
        };
        if answers.len() != customer.events.len() {
            let plural = |n: usize, what: &str| match n {
                1 => format!("1 {what}"),
                n => format!("{n} {what}s"),
            };
            let message = format!(
                "has {}, but the input gives it {}",
                plural(answers.len(), "result"),
                plural(customer.events.len(), "request")
            );
            out.push(at(*id, message));
        }
        let mut mine = Vec::new();
        for (event, received) in customer.events.iter().zip(answers) {
            let interface = &received.interface;
            if *interface != event.action.interface() {
                let message = format!(
                    "event {}: result for a {interface}, but the input's request is a {}",
                    event.id,
                    event.action.interface()
                );
                out.push(at(*id, message));
            }
            let branch = customer.branch_of(event);
            if let Some(answering) = received.branch.filter(|answering| *answering != branch.0) {
                let message = format!(
                    "event {}: answered by B{answering}, but the input sends it to {branch}",
                    event.id
                );
                out.push(at(*id, message));
            }
            if let Some(change) = signed(event.action).filter(|_| answered(&received.got)) {
                mine.push(change);
            }
        }
        accepted.push((*id, mine));
    }
    for customer in &scenario.customers {
        if !results.iter().any(|(id, _)| *id == customer.id.0) {
            let message = format!(
                "has no results, though the input gives it {} requests",
                customer.events.len()
            );
            out.push(at(customer.id.0, message));
        }
    }
    let initial = scenario.initial_balance();
    for (id, answers) in results {
        let Some(customer) = scenario.customers.iter().find(|c| c.id.0 == *id) else {
            continue;
        };
        let others: Vec<i64> = accepted
            .iter()
            .filter(|(other, _)| other != id)
            .flat_map(|(_, changes)| changes.iter().copied())
            .collect();
        let sums = subset_sums(&others);
        let mut own = Vec::new();
        for (event, received) in customer.events.iter().zip(answers) {
            match event.action {
                Action::Query => {
                    let Some(balance) = received.got.as_i64() else {
                        let message = format!(
                            "event {}: a query's balance must be a whole number",
                            event.id
                        );
                        out.push(at(*id, message));
                        continue;
                    };
                    let read = Read {
                        customer: *id,
                        event,
                        branch: received.branch,
                        balance,
                    };
                    let changes = Changes {
                        initial,
                        own: &own,
                        maybe_own: &[],
                        others: &others,
                    };
                    out.extend(judge_query(&read, &changes, sums.as_ref()));
                }
                action => {
                    if let Some(change) = signed(action).filter(|_| answered(&received.got)) {
                        own.push(change);
                    }
                }
            }
        }
    }
    out
}

/// Reads each customer's last balance: `null` for a customer that made no query.
pub fn read_last_balances(items: &[Value]) -> Result<LastBalances, (String, String)> {
    let mut balances = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let id = positive_id(item, "id", &place)?;
        let balance = match &item["balance"] {
            Value::Null => None,
            value => Some(value.as_i64().ok_or_else(|| {
                (
                    place.clone(),
                    "balance must be a whole number, or null".to_string(),
                )
            })?),
        };
        if balances.iter().any(|(seen, _)| *seen == id) {
            return Err((place, format!("customer {id} is listed twice")));
        }
        balances.push((id, balance));
    }
    Ok(balances)
}

/// Checks each customer's last balance against `scenario`. What became of each change is not in
/// the file: the customer's own deposits before its last query must be in the balance (a
/// deposit is refused only on overflow), its withdraws may or may not be (one may have been
/// refused), and so may any of the other customers' changes.
pub fn check_last_balances(balances: &LastBalances, scenario: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, _) in balances {
        if !scenario.customers.iter().any(|c| c.id.0 == *id) {
            out.push(at(*id, "is no customer of the input".to_string()));
        }
    }
    let initial = scenario.initial_balance();
    for customer in &scenario.customers {
        let id = customer.id.0;
        let last_query = customer
            .events
            .iter()
            .rposition(|event| event.action == Action::Query);
        let listed = balances
            .iter()
            .find(|(seen, _)| *seen == id)
            .map(|(_, b)| *b);
        let (position, balance) = match (last_query, listed) {
            (_, None) => {
                out.push(at(
                    id,
                    "has no balance, though the input gives it requests".into(),
                ));
                continue;
            }
            (None, Some(None)) => continue,
            (None, Some(Some(balance))) => {
                let message = format!("has balance {balance}, but the input gives it no query");
                out.push(at(id, message));
                continue;
            }
            (Some(_), Some(None)) => {
                out.push(at(
                    id,
                    "has no balance, but the input gives it a query".into(),
                ));
                continue;
            }
            (Some(position), Some(Some(balance))) => (position, balance),
        };
        let before = &customer.events[..position];
        let deposits: Vec<i64> = before
            .iter()
            .filter_map(|event| match event.action {
                Action::Deposit(amount) => Some(amount),
                _ => None,
            })
            .collect();
        let withdraws: Vec<i64> = before
            .iter()
            .filter(|event| matches!(event.action, Action::Withdraw(_)))
            .filter_map(|event| signed(event.action))
            .collect();
        let others: Vec<i64> = scenario
            .customers
            .iter()
            .filter(|other| other.id != customer.id)
            .flat_map(|other| other.events.iter().filter_map(|event| signed(event.action)))
            .chain(withdraws.iter().copied())
            .collect();
        let read = Read {
            customer: id,
            event: &customer.events[position],
            branch: None,
            balance,
        };
        let changes = Changes {
            initial,
            own: &deposits,
            maybe_own: &withdraws,
            others: &others,
        };
        out.extend(judge_query(&read, &changes, subset_sums(&others).as_ref()));
    }
    out
}

/// A balance a customer's query read.
struct Read<'a> {
    customer: u32,
    event: &'a CustomerEvent,
    /// The branch that answered, if the file names it.
    branch: Option<u32>,
    balance: i64,
}

/// The changes a query may have seen: from `initial`, every one of its customer's `own` earlier
/// changes, and any of the `others` (which hold the `maybe_own` ones too).
struct Changes<'a> {
    initial: i64,
    own: &'a [i64],
    maybe_own: &'a [i64],
    others: &'a [i64],
}

/// A query that read a balance no order of the changes gives (`sums`: every subset sum of
/// `changes.others`; `None` when there are too many to find, and the query is taken as it is):
/// a read-your-writes violation when leaving out some of the customer's own changes gives it,
/// else a balance from nowhere.
fn judge_query(
    read: &Read<'_>,
    changes: &Changes<'_>,
    sums: Option<&BTreeSet<i64>>,
) -> Option<Finding> {
    let sums = sums?;
    let own = changes
        .own
        .iter()
        .fold(0_i64, |sum, change| sum.saturating_add(*change));
    let base = changes.initial.saturating_add(own);
    if sums.contains(&read.balance.saturating_sub(base)) {
        return None;
    }
    let list = |changes: &[i64]| match changes.is_empty() {
        true => "none".to_string(),
        false => changes
            .iter()
            .map(|change| format!("{change:+}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let others = changes.others;
    let others_only: Vec<i64> = remove_all(others, changes.maybe_own);
    let (id, balance, initial) = (read.event.id, read.balance, changes.initial);
    let at_branch = read
        .branch
        .map(|branch| format!(" at B{branch}"))
        .unwrap_or_default();
    let without_own: Vec<i64> = others.iter().chain(changes.own).copied().collect();
    let missed = subset_sums(&without_own)
        .is_some_and(|sums| sums.contains(&balance.saturating_sub(initial)));
    let (rule, message) = if missed {
        let message = format!(
            "event {id}: query{at_branch} got {balance}, which misses some of its own earlier \
             changes ({}): with all of them, no order of the accepted changes gives it (initial \
             {initial}, any of the others': {})",
            list(changes.own),
            list(&others_only)
        );
        (Rule::ReadYourWrites, message)
    } else {
        let message = format!(
            "event {id}: query{at_branch} got {balance}, which no order of the accepted changes \
             gives (initial {initial}, its own earlier changes {own:+}, any of the others': {})",
            list(others)
        );
        (Rule::Money, message)
    };
    Some(Finding {
        rule,
        process: Some(Process::Customer(CustomerId(read.customer))),
        message,
    })
}

/// `all` without one of each of `some` (a multiset difference).
fn remove_all(all: &[i64], some: &[i64]) -> Vec<i64> {
    let mut left = all.to_vec();
    for change in some {
        if let Some(position) = left.iter().position(|other| other == change) {
            left.remove(position);
        }
    }
    left
}

/// The sums of every subset of `changes`; `None` when there are too many to find.
fn subset_sums(changes: &[i64]) -> Option<BTreeSet<i64>> {
    let mut sums: BTreeSet<i64> = BTreeSet::from([0]);
    let mut work = 0_usize;
    for &change in changes {
        work = work.saturating_add(sums.len());
        if work > MAX_WORK {
            return None;
        }
        let moved: Vec<i64> = sums.iter().map(|sum| sum.saturating_add(change)).collect();
        sums.extend(moved);
    }
    Some(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_balances_are_the_subset_sums() {
        let sums = subset_sums(&[170, -70]).expect("few");
        assert_eq!(sums.into_iter().collect::<Vec<_>>(), [-70, 0, 100, 170]);
        assert_eq!(subset_sums(&[]), Some(BTreeSet::from([0])));
        // Too many to find: every sum of 1..=40 distinct powers of two.
        let many: Vec<i64> = (0..40).map(|k| 1_i64 << k).collect();
        assert_eq!(subset_sums(&many), None);
    }
}
