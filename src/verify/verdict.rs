//! What `check` found and how it says it: the [`Verdict`] (the kind of file, the clock rules
//! applied, the counts and every broken rule) as the report's lines or as JSON, and the
//! [`Options`] that tell `check` what the file does not. Pure.

use serde_json::{Value, json};

use super::Finding;
use crate::model::{ClockModel, PropagationMode};
use crate::scenario::Scenario;
use crate::trace::Course;

/// Which kind of file was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The JSON array of the README's "Output".
    Output,
    /// A `--trace` file (JSON Lines with a header).
    Trace,
    /// Customers' results, as Project 1 of the course's 2024 documents gives them.
    Recv,
    /// Customers' results, one entry per request naming the branch that answered it, as the
    /// client-centric project gives them.
    Visits,
    /// Each customer's last balance, as the client-centric project's other form gives it.
    LastBalances,
    /// The course's output from fall 2023 on: one or more of its three parts.
    Parts,
}

impl Format {
    /// `output` or `trace`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Output => "output",
            Format::Trace => "trace",
            Format::Recv => "Project 1 results",
            Format::Visits => "client-centric results",
            Format::LastBalances => "client-centric balances",
            Format::Parts => "output",
        }
    }
}

/// How the pairs of a trace's events relate (see [`super::causality::count_pairs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pairs {
    /// Pairs ordered by happens-before.
    pub ordered: u64,
    /// Concurrent pairs.
    pub concurrent: u64,
    /// Concurrent pairs with different Lamport clocks.
    pub concurrent_apart: u64,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What kind of file it was.
    pub format: Format,
    /// The course year whose format an output has, if it is one's.
    pub course: Option<Course>,
    /// Whether the clocks were replayed exactly (else only their order was checked: the
    /// year's rules are not known exactly).
    pub exact: bool,
    /// The clock model (from a trace's header, or detected in an output).
    pub model: ClockModel,
    /// Whether the run answered its changes before propagating them (from a trace's header,
    /// the caller, or, for an output in the `original` model, whichever reading of the file
    /// breaks fewer rules).
    pub propagation: PropagationMode,
    /// Events of a trace, or sub-events of an output's branch entries.
    pub events: u64,
    /// Processes of a trace, or branches of an output.
    pub processes: usize,
    /// Pair counts, for a trace with vector clocks.
    pub pairs: Option<Pairs>,
    /// How many events advance a Lamport clock, for a trace.
    pub lamport_events: Option<u64>,
    /// Which parts of a 2023 output were read (`course 2023: customers and branches`), said
    /// instead of the course year alone.
    pub parts: Option<String>,
    /// Every broken rule, in a fixed order; empty when all hold.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.findings.is_empty()
    }

    /// The last line of `check`'s report, e.g. `check: trace, 31 events of 6 processes,
    /// original clocks: all invariants hold`.
    pub fn summary(&self) -> String {
        let (events, processes) = match self.format {
            Format::Output => ("sub-events", "branches"),
            Format::Trace | Format::Parts => ("events", "processes"),
            Format::Recv | Format::Visits => ("results", "customers"),
            Format::LastBalances => ("balances", "customers"),
        };
        let outcome = match self.findings.len() {
            0 => "all invariants hold".to_string(),
            1 => "1 violation".to_string(),
            n => format!("{n} violations"),
        };
        let year = match (&self.parts, self.course) {
            (Some(parts), _) => format!(" ({parts})"),
            (None, Some(course)) => format!(" (course {})", course.name()),
            (None, None) => String::new(),
        };
        let order = match self.format {
            _ if !self.exact => {
                ", checked for their order only (the year's rules are not known exactly)"
            }
            Format::Output if self.model == ClockModel::Original => {
                ", each X_request for its order only (its customer's stamp is not in the file)"
            }
            _ => "",
        };
        let clocks = match (self.format, self.propagation) {
            (Format::Recv | Format::Visits | Format::LastBalances, _) => String::new(),
            (_, PropagationMode::Sync) => format!(", {} clocks", self.model.name()),
            (_, PropagationMode::Async) => format!(
                ", {} clocks, changes answered before they were propagated",
                self.model.name()
            ),
        };
        let processes = match self.processes {
            1 => processes.trim_end_matches('s'),
            _ => processes,
        };
        let events = match self.events {
            1 => events.trim_end_matches('s'),
            _ => events,
        };
        format!(
            "check: {}{year}, {} {events} of {} {processes}{clocks}{order}: {outcome}",
            self.format.name(),
            self.events,
            self.processes,
        )
    }

    /// The report as text: one line per finding, then the summary line.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            text.push_str(&finding.to_string());
            text.push('\n');
        }
        text.push_str(&self.summary());
        text.push('\n');
        text
    }

    /// The verdict as JSON: format, clocks, counts, violations (rule, process, message), hold.
    pub fn to_json(&self) -> Value {
        let violations: Vec<Value> = self
            .findings
            .iter()
            .map(|finding| {
                json!({
                    "rule": finding.rule.id(),
                    "process": finding.process.map(|process| process.to_string()),
                    "message": finding.message,
                })
            })
            .collect();
        let pairs = self.pairs.map(|pairs| {
            json!({
                "ordered": pairs.ordered,
                "concurrent": pairs.concurrent,
                "concurrent_different_lamport": pairs.concurrent_apart,
            })
        });
        json!({
            "format": self.format.name(),
            "course": self.course.map(Course::name),
            "exact": self.exact,
            "clocks": self.model.name(),
            "propagation": self.propagation.name(),
            "events": self.events,
            "processes": self.processes,
            "pairs": pairs,
            "lamport_events": self.lamport_events,
            "parts": self.parts,
            "violations": violations,
            "hold": self.holds(),
        })
    }
}

/// What the caller knows beyond the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// How many branches the run had, for an output file in which a branch with no events is
    /// missing; `None` counts the branch entries. Traces list their processes and ignore it.
    pub branches: Option<usize>,
    /// The course year whose format an output has, instead of the one its names tell.
    pub course: Option<Course>,
    /// The clock model of an output, instead of the one its sub-events tell.
    pub model: Option<ClockModel>,
    /// The run's input, which Project 1 results are checked against.
    pub scenario: Option<Scenario>,
    /// Whether the run's changes were answered before they were propagated: in an output
    /// file (a trace's header says it), the reply then comes right after the execute. `None`:
    /// the reading that breaks fewer rules.
    pub propagation: Option<PropagationMode>,
}
