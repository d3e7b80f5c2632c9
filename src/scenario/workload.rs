//! Seeded workloads: scenarios generated from a seed, so that any run can be replayed. Used by
//! the tests, and by anything that needs many scenarios (benchmarks, sweeps).

use super::{BranchSpec, CustomerEvent, CustomerSpec, Scenario};
use crate::model::{Action, BranchId, CustomerId, EventId};
use crate::rng::SplitMix64;

/// The initial balance of every branch in a generated workload.
pub const DEFAULT_INITIAL_BALANCE: i64 = 100_000;
/// The largest amount a generated deposit or withdraw moves (the smallest is 1).
pub const MAX_AMOUNT: i64 = 20;

/// The shape of a generated workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// The branch ids (one customer per branch, with the same id).
    pub branches: Vec<u32>,
    /// Events per customer: deposits, withdraws and queries, in a seeded mix.
    pub ops_per_customer: usize,
    /// Every branch's initial balance.
    pub initial_balance: i64,
}

/// Generates a scenario: one customer per branch, each with `ops_per_customer` events, about 45 %
/// deposits, 45 % withdraws and 10 % queries, amounts from 1 to [`MAX_AMOUNT`].
pub fn generate(seed: u64, spec: &WorkloadSpec) -> Scenario {
    let mut rng = SplitMix64::new(seed);
    let mut next_event = 1;
    let mut branches: Vec<BranchSpec> = spec
        .branches
        .iter()
        .map(|&id| BranchSpec {
            id: BranchId(id),
            balance: spec.initial_balance,
        })
        .collect();
    branches.sort_by_key(|branch| branch.id);
    branches.dedup_by_key(|branch| branch.id);
    let customers = branches
        .iter()
        .map(|branch| {
            let events = (0..spec.ops_per_customer)
                .map(|_| {
                    let amount = 1 + rng.below(MAX_AMOUNT as u64) as i64;
                    let action = match rng.below(20) {
                        0..=8 => Action::Deposit(amount),
                        9..=17 => Action::Withdraw(amount),
                        _ => Action::Query,
                    };
                    let id = EventId(next_event);
                    next_event += 1;
                    CustomerEvent {
                        id,
                        action,
                        branch: None,
                    }
                })
                .collect();
            CustomerSpec {
                id: CustomerId(branch.id.0),
                events,
            }
        })
        .collect();
    Scenario {
        branches,
        customers,
        numbered: 0,
        visits: super::Visits::Home,
        repeated: None,
    }
}

/// The same scenario with its customers going from branch to branch (the client-centric
/// project's): each event names a branch drawn from `seed`.
pub fn roaming(mut scenario: Scenario, seed: u64) -> Scenario {
    let mut rng = SplitMix64::new(seed ^ 0x0B0A_D1CE);
    let branches: Vec<BranchId> = scenario.branches.iter().map(|branch| branch.id).collect();
    if branches.is_empty() {
        return scenario;
    }
    for event in scenario
        .customers
        .iter_mut()
        .flat_map(|customer| customer.events.iter_mut())
    {
        event.branch = Some(branches[rng.below(branches.len() as u64) as usize]);
    }
    scenario.visits = super::Visits::Branch;
    scenario
}

/// A warm-up for `scenario`'s customers: each deposits 1 and then withdraws 1, so that every
/// connection and stream the scenario's run will use is open before it is timed, and every
/// balance ends as it began (a customer's withdraw follows its own deposit, which every replica
/// has applied before it). Event ids come after the scenario's.
pub fn warm_up(scenario: &Scenario) -> Vec<CustomerSpec> {
    let last = scenario
        .customers
        .iter()
        .flat_map(|customer| customer.events.iter().map(|event| event.id.0))
        .max()
        .unwrap_or(0);
    let mut ids = (last + 1..).map(EventId);
    scenario
        .customers
        .iter()
        .map(|customer| CustomerSpec {
            id: customer.id,
            events: [Action::Deposit(1), Action::Withdraw(1)]
                .into_iter()
                .zip(&mut ids)
                .map(|(action, id)| CustomerEvent {
                    id,
                    action,
                    branch: None,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            branches: vec![3, 1, 12],
            ops_per_customer: 40,
            initial_balance: 500,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        assert_eq!(generate(7, &spec()), generate(7, &spec()));
        assert_ne!(generate(7, &spec()), generate(8, &spec()));
    }

    #[test]
    fn one_customer_per_branch_with_unique_event_ids() {
        let scenario = generate(1, &spec());
        let ids: Vec<u32> = scenario.branches.iter().map(|branch| branch.id.0).collect();
        assert_eq!(ids, [1, 3, 12]);
        assert_eq!(scenario.customers.len(), 3);
        let mut events: Vec<u64> = scenario
            .customers
            .iter()
            .flat_map(|customer| customer.events.iter().map(|event| event.id.0))
            .collect();
        assert_eq!(events.len(), 120);
        events.dedup();
        assert_eq!(events.len(), 120, "event ids are unique (and ascending)");
    }

    #[test]
    fn amounts_are_positive_and_bounded_and_all_kinds_appear() {
        let scenario = generate(2, &spec());
        let actions: Vec<Action> = scenario
            .customers
            .iter()
            .flat_map(|customer| customer.events.iter().map(|event| event.action))
            .collect();
        for action in &actions {
            if let Some((_, amount)) = action.change() {
                assert!((1..=MAX_AMOUNT).contains(&amount));
            }
        }
        assert!(actions.iter().any(|a| matches!(a, Action::Query)));
        assert!(actions.iter().any(|a| matches!(a, Action::Deposit(_))));
        assert!(actions.iter().any(|a| matches!(a, Action::Withdraw(_))));
    }

    #[test]
    fn a_warm_up_moves_nothing_and_reuses_no_event_id() {
        let scenario = generate(3, &spec());
        let warm_up = warm_up(&scenario);
        let customers: Vec<CustomerId> = warm_up.iter().map(|customer| customer.id).collect();
        assert_eq!(customers, [CustomerId(1), CustomerId(3), CustomerId(12)]);
        for customer in &warm_up {
            let actions: Vec<Action> = customer.events.iter().map(|event| event.action).collect();
            assert_eq!(actions, [Action::Deposit(1), Action::Withdraw(1)]);
        }
        let ids: Vec<u64> = warm_up
            .iter()
            .flat_map(|customer| customer.events.iter().map(|event| event.id.0))
            .collect();
        assert_eq!(ids, (121..=126).collect::<Vec<u64>>());
    }
}
