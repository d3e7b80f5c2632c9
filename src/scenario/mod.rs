//! What a run is given: branches with their initial balance, and customers with their events.
//! A [`Scenario`] is always valid (every refusal happens while reading it, in [`input`]); it
//! comes from an input file, from the built-in [`sample`], or from a seeded [`workload`].

pub mod input;
pub mod sample;
pub mod workload;

use crate::model::{Action, BranchId, CustomerId, EventId, Process};
use crate::trace::ProcessTable;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The branches, sorted ascending by id; never empty.
    pub branches: Vec<BranchSpec>,
    /// The customers, in order of first appearance in the input, each with all of its events.
    pub customers: Vec<CustomerSpec>,
    /// How many events came without an id and were given their place among the input's
    /// events as id (2021's inputs); 0 for most inputs.
    pub numbered: usize,
}

impl Scenario {
    /// The initial balance, which all branches share.
    pub fn initial_balance(&self) -> i64 {
        self.branches.first().map_or(0, |branch| branch.balance)
    }

    /// The processes of the scenario: every branch and every customer.
    pub fn process_table(&self) -> ProcessTable {
        let branches = self
            .branches
            .iter()
            .map(|branch| Process::Branch(branch.id));
        let customers = self
            .customers
            .iter()
            .map(|customer| Process::Customer(customer.id));
        ProcessTable::new(branches.chain(customers))
    }

    /// How many deposits, withdraws and queries the customers make, in all.
    pub fn operations(&self) -> usize {
        self.customers
            .iter()
            .map(|customer| customer.events.len())
            .sum()
    }
}

/// One branch process and its initial balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSpec {
    /// The branch's id.
    pub id: BranchId,
    /// The branch's initial balance (at least 0).
    pub balance: i64,
}

/// One customer and its events, joined in input order over all of its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSpec {
    /// The customer's id; a branch with the same id exists.
    pub id: CustomerId,
    /// The customer's events, in input order.
    pub events: Vec<CustomerEvent>,
}

/// One customer event: a query, deposit or withdraw with an id unique in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEvent {
    /// The event's id.
    pub id: EventId,
    /// What the customer asks of its branch.
    pub action: Action,
}
