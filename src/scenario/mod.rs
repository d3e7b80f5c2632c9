//! What a run is given: branches with their initial balance, and customers with their events.
//! A [`Scenario`] is always valid (every refusal happens while reading it, in [`input`]); it
//! comes from an input file, from the built-in [`sample`], or from a seeded [`workload`].

pub mod input;
pub mod sample;
pub mod workload;

use crate::model::{Action, BranchId, CustomerId, EventId, Process, Visits};
use crate::trace::ProcessTable;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The branches, sorted ascending by id; never empty.
    pub branches: Vec<BranchSpec>,
    /// The customers, in order of first appearance in the input, each with all of its events.
    pub customers: Vec<CustomerSpec>,
    /// How many events came without an id and were given their place among the input's
    /// events as id (2021's inputs; or every event, after a repeated id); 0 for most inputs.
    pub numbered: usize,
    /// Where customers are served: each at its own branch, or at the branch each event names.
    pub visits: Visits,
    /// An event id that the input repeats, which it runs with all the same (events are then
    /// numbered by their place); `None` for most inputs.
    pub repeated: Option<Repeated>,
}

/// An event id used twice in a client-centric input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeated {
    /// The repeated id.
    pub event: u64,
    /// The customer whose event repeats it.
    pub customer: CustomerId,
    /// The customer whose event used it first.
    pub first_customer: CustomerId,
}

impl Repeated {
    /// The warning a run prints about it: the input runs all the same.
    pub fn warning(&self, source: &str) -> String {
        format!(
            "{source}: process {} (customer): event {}: warning: event id {} is used twice (first by {}); every event is identified by its place in the input instead (1, 2, 3, ...)",
            self.customer.0, self.event, self.event, self.first_customer
        )
    }
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
    /// The customer's id; a branch with the same id exists unless every event names its branch.
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
    /// The branch the event names (client-centric inputs); `None`: the customer's own.
    pub branch: Option<BranchId>,
}

impl CustomerSpec {
    /// The branch that serves `event` of this customer: the one it names, else its own.
    pub fn branch_of(&self, event: &CustomerEvent) -> BranchId {
        event.branch.unwrap_or(self.id.home_branch())
    }

    /// Every branch this customer is served by, ascending.
    pub fn branches(&self) -> std::collections::BTreeSet<BranchId> {
        self.events
            .iter()
            .map(|event| self.branch_of(event))
            .collect()
    }
}
