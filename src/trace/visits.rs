//! The outputs of the course's client-centric project, whose customers go from branch to
//! branch: one entry per request with the branch that served it (inputs whose events name it
//! with `branch`), or the balance each customer read last (inputs that name it with `dest`).
//!
//! ```text
//! [{"id": 1, "recv": [{"interface": "deposit", "branch": 1, "result": "success"}]},
//!  {"id": 1, "recv": [{"interface": "query", "branch": 2, "balance": 400}]}]
//! [{"id": 1, "balance": 400}]
//! ```

use serde_json::{Map, Value, json};

use super::records::{Outcome, Trace};
use crate::model::Visits;

impl Trace {
    /// The output of the client-centric project for inputs of `visits`' form: per request
    /// (`Visits::Branch`, and inputs whose customers stay at their branch), or per customer
    /// (`Visits::Dest`: the balance of its last query, `null` if it made none). Customers in
    /// ascending id, each one's requests in the order it made them.
    pub fn visits_output(&self, visits: Visits) -> Value {
        let entries = match visits {
            Visits::Dest => self
                .customers
                .iter()
                .map(|(customer, records)| {
                    let last = records
                        .iter()
                        .rev()
                        .find_map(|record| match record.outcome {
                            Outcome::Balance(balance) => Some(balance),
                            _ => None,
                        });
                    json!({ "id": customer.0, "balance": last })
                })
                .collect(),
            Visits::Branch | Visits::Home => self
                .customers
                .iter()
                .flat_map(|(customer, records)| {
                    records.iter().map(move |record| {
                        let mut entry = Map::new();
                        entry.insert("interface".into(), record.action.interface().into());
                        if let Some(branch) = record.branch {
                            entry.insert("branch".into(), branch.0.into());
                        }
                        match record.outcome {
                            Outcome::Balance(balance) => {
                                entry.insert("balance".into(), balance.into())
                            }
                            outcome => entry.insert("result".into(), outcome.to_json()),
                        };
                        json!({ "id": customer.0, "recv": [entry] })
                    })
                })
                .collect(),
        };
        Value::Array(entries)
    }
}
