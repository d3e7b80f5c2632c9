//! Verifying runs: the invariants of the README's "Invariants" section over a trace ([`spec`]),
//! what clocks say about causality ([`causality`]), and the `check` command's reading of output
//! and trace files ([`audit`], with the course's fall-2023 output in [`parts`], the clock
//! rules replayed by [`replay`], the money by [`money`], the customers' session guarantees by
//! [`sessions`], and its [`verdict`]). Every check
//! reports [`Finding`]s, one per broken rule. Pure.

pub mod audit;
pub mod causality;
pub mod money;
pub mod parts;
pub mod read;
pub mod recv;
pub mod replay;
pub mod sessions;
pub mod spec;
pub mod verdict;

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{BranchId, Process};

/// Balances to check convergence against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    /// The balance every branch started with.
    pub initial: i64,
    /// Every branch's balance at the end of the run.
    pub finals: BTreeMap<BranchId, i64>,
}

/// Which rule a finding breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Clocks strictly increase on every process, in the order its events happened.
    ClockIncreases,
    /// Each deposit/withdraw happens once at its origin and once on every other branch.
    EventCount,
    /// A cause has a smaller Lamport clock than its effect.
    Causality,
    /// All replicas end with the same, correct balance.
    Convergence,
    /// A process's events are numbered 1, 2, 3, ... in the order they happened.
    Numbering,
    /// A Lamport event is after its predecessor; any other event keeps its predecessor's clock.
    Lamport,
    /// Each vector clock is its predecessor's (merged with the sender's, on a merging receive)
    /// plus one in the own entry.
    Vector,
    /// Every message is sent by one event and received by one event, after it is sent.
    Messages,
    /// A merging receive is after the send of its message in Lamport time.
    ClockCondition,
    /// The per-event entries of an output list exactly the branch entries' sub-events, by clock.
    EventEntries,
    /// Every balance is the one before it plus or minus the change, every query answers its
    /// branch's balance, and a withdraw is accepted exactly when its origin's balance covers it.
    Money,
    /// A customer's query is answered by a branch that has applied every write the customer
    /// made before it.
    ReadYourWrites,
    /// Every branch applies each customer's writes in the order the customer made them.
    MonotonicWrites,
}

impl Rule {
    /// A short name for people.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ClockIncreases => "clocks increase",
            Rule::EventCount => "events happen once everywhere",
            Rule::Causality => "causes come first",
            Rule::Convergence => "replicas converge",
            Rule::Numbering => "events are numbered in order",
            Rule::Lamport => "Lamport clocks follow the rules",
            Rule::Vector => "vector clocks follow the rules",
            Rule::Messages => "one send, one receive, in that order",
            Rule::ClockCondition => "the clock condition",
            Rule::EventEntries => "event entries match the branch entries",
            Rule::Money => "money follows the changes",
            Rule::ReadYourWrites => "read your writes",
            Rule::MonotonicWrites => "monotonic writes",
        }
    }

    /// A stable identifier for programs (the `--json` verdict).
    pub fn id(self) -> &'static str {
        match self {
            Rule::ClockIncreases => "clocks_increase",
            Rule::EventCount => "event_count",
            Rule::Causality => "causality",
            Rule::Convergence => "convergence",
            Rule::Numbering => "numbering",
            Rule::Lamport => "lamport",
            Rule::Vector => "vector",
            Rule::Messages => "messages",
            Rule::ClockCondition => "clock_condition",
            Rule::EventEntries => "event_entries",
            Rule::Money => "money",
            Rule::ReadYourWrites => "read_your_writes",
            Rule::MonotonicWrites => "monotonic_writes",
        }
    }

    /// Whether the rule is one of the README's "Invariants" (checked on any trace, a run's output
    /// too); the others are rules of the clocks and messages a trace file records.
    pub fn is_invariant(self) -> bool {
        matches!(
            self,
            Rule::ClockIncreases
                | Rule::EventCount
                | Rule::Causality
                | Rule::Convergence
                | Rule::ReadYourWrites
                | Rule::MonotonicWrites
        )
    }
}

/// One broken rule, on one process (if it concerns one), explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule broken.
    pub rule: Rule,
    /// The process it is seen on; `None` when it concerns a whole event.
    pub process: Option<Process>,
    /// What is wrong, naming the event(s) and clocks.
    pub message: String,
}

impl fmt::Display for Finding {
    /// `B2: event 4 ...`, or the message alone when no process is named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.process {
            Some(process) => write!(f, "{process}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CustomerId;

    #[test]
    fn a_finding_names_its_process_first() {
        let finding = Finding {
            rule: Rule::EventCount,
            process: None,
            message: "event 4: x".into(),
        };
        assert_eq!(finding.to_string(), "event 4: x");
        let process = Some(Process::Customer(CustomerId(2)));
        assert_eq!(Finding { process, ..finding }.to_string(), "C2: event 4: x");
    }

    #[test]
    fn every_rule_has_an_id_of_its_own() {
        let rules = [
            Rule::ClockIncreases,
            Rule::EventCount,
            Rule::Causality,
            Rule::Convergence,
            Rule::Numbering,
            Rule::Lamport,
            Rule::Vector,
            Rule::Messages,
            Rule::ClockCondition,
            Rule::EventEntries,
            Rule::Money,
            Rule::ReadYourWrites,
            Rule::MonotonicWrites,
        ];
        let ids: std::collections::BTreeSet<&str> = rules.iter().map(|rule| rule.id()).collect();
        assert_eq!(ids.len(), rules.len());
    }
}
