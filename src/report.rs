//! What a run produced, assembled the same way for a real run and a simulated one
//! ([`Report::assemble`]), and what it tells a person (a text in the spirit of the original's
//! printout) and a program (the `--results` JSON). Both are built here as values; the commands
//! decide where they go.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::model::{Action, BranchId, ClockModel, PropagationMode, Schedule};
use crate::scenario::Scenario;
use crate::trace::{History, Trace};
use crate::verify::{Balances, Finding, audit, causality};

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which clock rules the customers followed.
    pub model: ClockModel,
    /// Customers one after another, or all at once.
    pub schedule: Schedule,
    /// Where each branch listened; empty for a simulated run, whose branches are simulated hosts.
    pub addresses: BTreeMap<BranchId, SocketAddr>,
    /// The initial balance and each branch's final balance.
    pub balances: Balances,
    /// Every event of every process, with its clocks and messages.
    pub history: History,
    /// The branch logs and customer records derived from the history.
    pub trace: Trace,
    /// Every rule the run broke, as `check` would report them on the run's trace file (the
    /// final balances being the branches' own), the invariants first; empty when all hold.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Assembles a run's report from its history and every branch's final balance, checking
    /// it with every rule `check` applies to a trace file.
    pub fn assemble(
        history: History,
        initial_balance: i64,
        finals: BTreeMap<BranchId, i64>,
        addresses: BTreeMap<BranchId, SocketAddr>,
    ) -> Self {
        let trace = history.to_trace();
        let balances = Balances {
            initial: initial_balance,
            finals,
        };
        let mut findings = audit::history_findings(&history, &trace, Some(&balances));
        // The invariants first, the promises a run makes to its customers; then the rules of
        // its clocks and messages, each kind in `check`'s order.
        findings.sort_by_key(|finding| !finding.rule.is_invariant());
        Self {
            model: history.model,
            schedule: history.schedule,
            addresses,
            balances,
            history,
            trace,
            findings,
        }
    }

    /// Whether every rule holds.
    pub fn holds(&self) -> bool {
        self.findings.is_empty()
    }

    /// The person-facing account of the run of `scenario` (read from `source`): processes,
    /// addresses, balances before and after, each customer's results, whether every rule holds,
    /// how many event pairs happens-before orders (and how many concurrent ones Lamport clocks
    /// still order), and whether the clock condition holds.
    pub fn summary(&self, source: &str, scenario: &Scenario) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_summary(&mut text, source, scenario);
        text
    }

    fn write_summary(
        &self,
        out: &mut String,
        source: &str,
        scenario: &Scenario,
    ) -> std::fmt::Result {
        let numbered = match (scenario.numbered, &scenario.repeated) {
            (_, Some(repeated)) => format!(
                "; every event numbered by its place in the input, as event id {} is used twice",
                repeated.event
            ),
            (0, None) => String::new(),
            (n, None) => format!(
                "; {} without an id, numbered by their place in the input",
                count(n, "event", "events")
            ),
        };
        let propagation = match (self.history.propagation, self.history.guarantees) {
            (PropagationMode::Sync, _) => String::new(),
            (mode, guarantees) => format!(
                ", propagation {}, session guarantees {}",
                mode.name(),
                guarantees.name()
            ),
        };
        writeln!(
            out,
            "Input: {source} ({}, {}; clocks {}, schedule {}{propagation}{numbered})",
            count(scenario.branches.len(), "branch", "branches"),
            count(scenario.customers.len(), "customer", "customers"),
            self.model.name(),
            self.schedule.name()
        )?;
        writeln!(out, "\nCustomer processes:")?;
        for customer in &scenario.customers {
            let events: Vec<String> = customer
                .events
                .iter()
                .map(|event| match event.branch {
                    Some(branch) => format!("{} {} at {branch}", event.id, describe(event.action)),
                    None => format!("{} {}", event.id, describe(event.action)),
                })
                .collect();
            writeln!(out, "    {}: {}", customer.id, events.join(", "))?;
        }
        writeln!(out, "\nBranch processes (initial balance, listening on):")?;
        for branch in &scenario.branches {
            // A simulated run has no addresses: its branches are simulated hosts.
            let addr = self
                .addresses
                .get(&branch.id)
                .map_or_else(|| "simulated".to_string(), ToString::to_string);
            writeln!(out, "    {}: {}, {}", branch.id, branch.balance, addr)?;
        }
        writeln!(out, "\nCustomer results:")?;
        // In the order the input lists the customers, as above.
        for customer in &scenario.customers {
            let Some(records) = self.trace.customers.get(&customer.id) else {
                continue;
            };
            let results: Vec<String> = records
                .iter()
                .map(|record| {
                    let at = match record.branch.filter(|_| scenario.visits.roaming()) {
                        Some(branch) => format!(" at {branch}"),
                        None => String::new(),
                    };
                    format!(
                        "{} {}{at} -> {}",
                        record.event_id,
                        describe(record.action),
                        record.outcome
                    )
                })
                .collect();
            writeln!(out, "    {}: {}", customer.id, results.join(", "))?;
        }
        writeln!(out, "\nBranch balances (final):")?;
        for (branch, balance) in &self.balances.finals {
            writeln!(out, "    {branch}: {balance}")?;
        }
        writeln!(out)?;
        if self.findings.is_empty() {
            writeln!(
                out,
                "Invariants: all hold (and every rule `check` applies to this run's trace)"
            )?;
        } else {
            writeln!(out, "Invariants: {} violation(s):", self.findings.len())?;
            for finding in &self.findings {
                writeln!(out, "    {finding}")?;
            }
        }
        let history = &self.history;
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

    /// The `--results` JSON: each branch's initial and final balance, each customer's results in
    /// order, and the verdict of the checks.
    pub fn results(&self) -> Value {
        let branches: Vec<Value> = self
            .balances
            .finals
            .iter()
            .map(|(branch, balance)| {
                json!({
                    "id": branch.0,
                    "address": self.addresses.get(branch).map(ToString::to_string),
                    "initial": self.balances.initial,
                    "final": balance,
                })
            })
            .collect();
        let customers: Vec<Value> = self
            .trace
            .customers
            .iter()
            .map(|(customer, records)| {
                let results: Vec<Value> = records
                    .iter()
                    .map(|record| {
                        let mut result = json!({
                            "event": record.event_id.0,
                            "interface": record.action.interface(),
                            "result": record.outcome.to_json(),
                        });
                        // Which branch answered, when customers go from branch to branch.
                        if let Some(branch) = record.branch.filter(|_| self.trace.roaming) {
                            result["branch"] = branch.0.into();
                        }
                        result
                    })
                    .collect();
                json!({ "id": customer.0, "results": results })
            })
            .collect();
        let violations: Vec<String> = self.findings.iter().map(ToString::to_string).collect();
        json!({
            "clocks": self.model.name(),
            "schedule": self.schedule.name(),
            "propagation": self.history.propagation.name(),
            "session_guarantees": self.history.guarantees.name(),
            "branches": branches,
            "customers": customers,
            "invariants": { "hold": violations.is_empty(), "violations": violations },
        })
    }
}

/// `1 branch`, `3 branches`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn describe(action: Action) -> String {
    match action.change() {
        None => action.interface().to_string(),
        Some((op, money)) => format!("{} {money}", op.name()),
    }
}
