//! What a run tells a person (a text in the spirit of the original's printout) and a program
//! (the `--results` JSON). Both are built here as values; the binary decides where they go.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::causality;
use crate::cluster::Report;
use crate::input::Scenario;
use crate::model::Action;

/// The person-facing account of a run: processes, addresses, balances before and after, each
/// customer's results, whether the invariants hold, how many event pairs happens-before orders
/// (and how many concurrent ones Lamport clocks still order), and whether the clock condition
/// holds.
pub fn summary(source: &str, scenario: &Scenario, report: &Report) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut text, source, scenario, report);
    text
}

fn write_summary(
    out: &mut String,
    source: &str,
    scenario: &Scenario,
    report: &Report,
) -> std::fmt::Result {
    let config = report.config;
    writeln!(
        out,
        "Input: {source} ({} branches, {} customers; clocks {}, schedule {})",
        scenario.branches.len(),
        scenario.customers.len(),
        config.model.name(),
        config.schedule.name()
    )?;
    writeln!(out, "\nCustomer processes:")?;
    for customer in &scenario.customers {
        let events: Vec<String> = customer
            .events
            .iter()
            .map(|event| format!("{} {}", event.id, describe(event.action)))
            .collect();
        writeln!(out, "    {}: {}", customer.id, events.join(", "))?;
    }
    writeln!(out, "\nBranch processes (initial balance, listening on):")?;
    for branch in &scenario.branches {
        // A simulated run has no addresses: its branches are simulated hosts.
        let addr = report
            .addresses
            .get(&branch.id)
            .map_or_else(|| "simulated".to_string(), ToString::to_string);
        writeln!(out, "    {}: {}, {}", branch.id, branch.balance, addr)?;
    }
    writeln!(out, "\nCustomer results:")?;
    for (customer, records) in &report.trace.customers {
        let results: Vec<String> = records
            .iter()
            .map(|record| {
                format!(
                    "{} {} -> {}",
                    record.event_id,
                    describe(record.action),
                    record.outcome
                )
            })
            .collect();
        writeln!(out, "    {customer}: {}", results.join(", "))?;
    }
    writeln!(out, "\nBranch balances (final):")?;
    for (branch, balance) in &report.balances.finals {
        writeln!(out, "    {branch}: {balance}")?;
    }
    writeln!(out)?;
    if report.violations.is_empty() {
        writeln!(out, "Invariants: all hold (SPEC section 5)")?;
    } else {
        writeln!(out, "Invariants: {} violation(s):", report.violations.len())?;
        for violation in &report.violations {
            writeln!(out, "    {violation}")?;
        }
    }
    let history = &report.history;
    let pairs = causality::count_pairs(history);
    writeln!(
        out,
        "{}",
        causality::describe_pairs(pairs.as_ref(), &history.table)
    )?;
    let condition = causality::verify_clock_condition(history);
    writeln!(
        out,
        "{}",
        causality::describe_clock_condition(&condition, history.model)
    )?;
    Ok(())
}

fn describe(action: Action) -> String {
    match action.change() {
        None => action.interface().to_string(),
        Some((op, money)) => format!("{} {money}", op.name()),
    }
}

/// The `--results` JSON: each branch's initial and final balance, each customer's results in
/// order, and the verdict of the invariant check.
pub fn results(report: &Report) -> Value {
    let branches: Vec<Value> = report
        .balances
        .finals
        .iter()
        .map(|(branch, balance)| {
            json!({
                "id": branch.0,
                "address": report.addresses.get(branch).map(ToString::to_string),
                "initial": report.balances.initial,
                "final": balance,
            })
        })
        .collect();
    let customers: Vec<Value> = report
        .trace
        .customers
        .iter()
        .map(|(customer, records)| {
            let results: Vec<Value> = records
                .iter()
                .map(|record| {
                    json!({
                        "event": record.event_id.0,
                        "interface": record.action.interface(),
                        "result": record.outcome.to_json(),
                    })
                })
                .collect();
            json!({ "id": customer.0, "results": results })
        })
        .collect();
    let violations: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    json!({
        "clocks": report.config.model.name(),
        "schedule": report.config.schedule.name(),
        "branches": branches,
        "customers": customers,
        "invariants": { "hold": violations.is_empty(), "violations": violations },
    })
}
