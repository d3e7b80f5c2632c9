//! What a run recorded, as the output and the checks see it: every branch's sub-events and every
//! customer's requests, each with its Lamport clock, in the order they happened; and the output
//! format (the README's "Output" section).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Action, BranchId, ClockModel, CustomerId, EventId, SubEvent};

/// One sub-event recorded by a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchRecord {
    /// The deposit or withdraw this sub-event belongs to.
    pub event_id: EventId,
    /// Which operation and step.
    pub sub_event: SubEvent,
    /// The branch's Lamport clock after the event.
    pub clock: u64,
    /// The other branch involved: the origin for `propagate_request`/`propagate_execute`, the
    /// replying peer for `propagate_response`; `None` for the origin's own steps, or when the
    /// source (an output file) does not say.
    pub peer: Option<BranchId>,
}

/// What a customer got back for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A query's answer: the balance of the branch's replica.
    Balance(i64),
    /// The deposit or withdraw was applied everywhere.
    Success,
    /// The withdraw was rejected (or the change would have overflowed): nothing changed.
    Fail,
    /// No reply came before the deadline: the change may or may not have been applied.
    Indeterminate,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Balance(balance) => write!(f, "{balance}"),
            Outcome::Success => f.write_str("success"),
            Outcome::Fail => f.write_str("fail"),
            Outcome::Indeterminate => f.write_str("indeterminate"),
        }
    }
}

impl Outcome {
    /// The result as the report shows it: the balance read, `success` or `fail`.
    pub fn to_json(self) -> Value {
        match self {
            Outcome::Balance(balance) => json!(balance),
            Outcome::Success => json!("success"),
            Outcome::Fail => json!("fail"),
            Outcome::Indeterminate => json!("indeterminate"),
        }
    }
}

/// One request of a customer, from send to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// The event id from the input.
    pub event_id: EventId,
    /// What was asked.
    pub action: Action,
    /// The Lamport stamp the request carried (the customer's clock at sending).
    pub sent: u64,
    /// The Lamport stamp the branch's reply carried.
    pub reply_stamp: u64,
    /// The customer's clock after handling the reply.
    pub received: u64,
    /// What came back.
    pub outcome: Outcome,
    /// The branch that answered; `None` when no answer came, or the source does not say.
    pub branch: Option<BranchId>,
}

/// Everything a run recorded, in the order it happened on each process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// The clock model the run used.
    pub model: ClockModel,
    /// Every branch's sub-events in the order they happened, the reply tick (`X_response`)
    /// included in both models; [`Trace::output`] leaves it out in the `original` model.
    pub branches: BTreeMap<BranchId, Vec<BranchRecord>>,
    /// Every customer's requests in the order they were made; empty when the source (an
    /// output file) does not record customers.
    pub customers: BTreeMap<CustomerId, Vec<CustomerRecord>>,
    /// Branches of the run that recorded nothing and that the source leaves out (an output
    /// file may, when told how many branches the run had): they count as peers all the same.
    pub silent_branches: usize,
    /// Whether customers went from branch to branch, rather than each to its own.
    pub roaming: bool,
    /// Whether origins answered after propagating (so that each acknowledgement comes before
    /// the reply) or before.
    pub propagation: crate::model::PropagationMode,
}

impl Trace {
    /// How many branches the run had: those with records, and the silent ones.
    pub fn branch_count(&self) -> usize {
        self.branches.len().saturating_add(self.silent_branches)
    }

    /// The branch records that the model shows in the output (the reply tick only in `strict`).
    pub fn shown(&self, records: &[BranchRecord]) -> Vec<BranchRecord> {
        records
            .iter()
            .filter(|record| self.shown_step(record))
            .cloned()
            .collect()
    }

    fn shown_step(&self, record: &BranchRecord) -> bool {
        record.sub_event.step != crate::model::Step::Response || self.model.logs_response()
    }

    /// The output (the README's "Output" section): one entry per branch in ascending id with its events in
    /// order, then one entry per deposit/withdraw event id in ascending id with its sub-events
    /// from all branches, sorted by clock (ties: branch log order, branches in ascending id).
    pub fn output(&self) -> Value {
        self.output_named("id", SubEvent::name)
    }

    /// [`Trace::output`], with branch entries keyed `branch_key` and sub-events called by
    /// `name` (a course year's output differs in only these).
    pub(super) fn output_named(
        &self,
        branch_key: &str,
        name: impl Fn(SubEvent) -> String,
    ) -> Value {
        let mut entries = Vec::new();
        let mut by_event: BTreeMap<EventId, Vec<&BranchRecord>> = BTreeMap::new();
        for (branch, records) in &self.branches {
            let mut data = Vec::new();
            for record in records.iter().filter(|record| self.shown_step(record)) {
                data.push(json!({
                    "id": record.event_id.0,
                    "name": name(record.sub_event),
                    "clock": record.clock,
                }));
                by_event.entry(record.event_id).or_default().push(record);
            }
            entries.push(json!({ branch_key: branch.0, "data": data }));
        }
        for (event_id, mut records) in by_event {
            // A stable sort keeps branch log order, branches in ascending id, for equal clocks.
            records.sort_by_key(|record| record.clock);
            let data: Vec<Value> = records
                .iter()
                .map(|record| json!({ "name": name(record.sub_event), "clock": record.clock }))
                .collect();
            entries.push(json!({ "eventid": event_id.0, "data": data }));
        }
        Value::Array(entries)
    }

    /// Each customer's results in the form of Project 1 of the course's 2024 documents: per
    /// customer, `{"id": 2, "recv": [{"interface": "deposit", "result": "success"},
    /// {"interface": "query", "balance": 570}]}`, in the order of its requests.
    pub fn recv_output(&self) -> Value {
        let customers: Vec<Value> = self
            .customers
            .iter()
            .map(|(customer, records)| {
                let recv: Vec<Value> = records
                    .iter()
                    .map(|record| {
                        let interface = record.action.interface();
                        match record.outcome {
                            Outcome::Balance(balance) => {
                                json!({ "interface": interface, "balance": balance })
                            }
                            outcome => {
                                json!({ "interface": interface, "result": outcome.to_json() })
                            }
                        }
                    })
                    .collect();
                json!({ "id": customer.0, "recv": recv })
            })
            .collect();
        Value::Array(customers)
    }

    /// [`Trace::output`] as the text written to a file or standard output: JSON indented by two
    /// spaces, ending with a newline.
    pub fn output_text(&self) -> String {
        crate::json::pretty(&self.output())
    }
}
