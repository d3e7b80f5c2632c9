//! Checks customers' results in the form of Project 1 of the course's 2024 documents
//! (`[{"id": 1, "recv": [{"interface": "query", "balance": 400}]}, ...]`) against the run's
//! input: every customer answers its requests in order with the right interfaces, and every
//! balance a query returned is one that some order of the accepted changes can give. A change is
//! answered only once every replica has applied it, so a query sees all of its own customer's
//! earlier accepted changes, none of its later ones, and any of the other customers'. Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Finding, Rule};
use crate::model::{Action, CustomerId, Process};
use crate::scenario::Scenario;

/// How much work (sums kept, summed over the changes) finding a customer's reachable balances
/// may take before its queries' check gives up (the others' changes are then too many to try
/// every subset of, and its queries are taken as they are).
const MAX_WORK: usize = 1 << 20;

/// One customer's results as read: its id, and per request the interface and what came back.
pub type Results = Vec<(u32, Vec<(String, Value)>)>;

/// Whether `items` look like Project 1 results (every entry has `recv`).
pub fn is_recv(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item.get("recv").is_some())
}

/// Reads the results, refusing what is not in their form: `Err(place, problem)`.
pub fn read(items: &[Value]) -> Result<Results, (String, String)> {
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("entry at index {index}");
        let id = item
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .filter(|&id| id > 0)
            .ok_or_else(|| {
                (
                    place.clone(),
                    "id must be a positive whole number".to_string(),
                )
            })?;
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
            answers.push((interface.to_string(), got));
        }
        results.push((id, answers));
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
        for (event, (interface, got)) in customer.events.iter().zip(answers) {
            if interface != event.action.interface() {
                let message = format!(
                    "event {}: result for a {interface}, but the input's request is a {}",
                    event.id,
                    event.action.interface()
                );
                out.push(at(*id, message));
            }
            if let Some(change) = signed(event.action).filter(|_| answered(got)) {
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
        let mut own = 0_i64;
        for (event, (_, got)) in customer.events.iter().zip(answers) {
            match event.action {
                Action::Query => {
                    let Some(balance) = got.as_i64() else {
                        let message = format!(
                            "event {}: a query's balance must be a whole number",
                            event.id
                        );
                        out.push(at(*id, message));
                        continue;
                    };
                    let base = initial.saturating_add(own);
                    let reachable = sums
                        .as_ref()
                        .is_none_or(|sums| sums.contains(&balance.saturating_sub(base)));
                    if !reachable {
                        let others: Vec<String> =
                            others.iter().map(|change| format!("{change:+}")).collect();
                        let others = match others.is_empty() {
                            true => "none".to_string(),
                            false => others.join(", "),
                        };
                        let message = format!(
                            "event {}: query got {balance}, which no order of the accepted \
                             changes gives (initial {initial}, its own earlier changes {own:+}, \
                             any of the others': {others})",
                            event.id
                        );
                        out.push(at(*id, message));
                    }
                }
                action => {
                    if let Some(change) = signed(action).filter(|_| answered(got)) {
                        own = own.saturating_add(change);
                    }
                }
            }
        }
    }
    out
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
