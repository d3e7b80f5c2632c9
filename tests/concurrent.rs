//! Concurrent runs: all customers at once, propagations in parallel. The clocks differ from run
//! to run; the invariants of SPEC section 5 must hold on every one.

mod common;

use common::run_cluster;
use lamport_bank::model::{Action, ClockModel, Schedule};
use lamport_bank::scenario::workload::{self, WorkloadSpec};
use lamport_bank::trace::Outcome;

/// Eight branches with non-contiguous ids (some ≥ 10), 50 operations per customer, both models,
/// several seeds: no violation, and every replica ends at initial + accepted deposits − accepted
/// withdrawals, computed here from what the customers were told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_keep_every_invariant() {
    let spec = WorkloadSpec {
        branches: vec![1, 2, 4, 7, 10, 11, 23, 42],
        ops_per_customer: 50,
        initial_balance: 300,
    };
    for seed in 1..=2 {
        let scenario = workload::generate(seed, &spec);
        for model in [ClockModel::Original, ClockModel::Strict] {
            let report = run_cluster(&scenario, model, Schedule::Concurrent).await;
            assert!(
                report.findings.is_empty(),
                "seed {seed}, {}: {:#?}",
                model.name(),
                report.findings
            );
            let mut expected = spec.initial_balance;
            let mut answered = 0;
            for records in report.trace.customers.values() {
                for record in records {
                    answered += 1;
                    match (record.action, record.outcome) {
                        (Action::Deposit(money), Outcome::Success) => expected += money,
                        (Action::Withdraw(money), Outcome::Success) => expected -= money,
                        _ => {}
                    }
                }
            }
            assert_eq!(answered, 8 * 50, "every request was answered");
            for (branch, balance) in &report.balances.finals {
                assert_eq!(*balance, expected, "seed {seed}: {branch}");
            }
            let executes = report
                .trace
                .branches
                .values()
                .flatten()
                .filter(|record| record.sub_event.name().ends_with("propagate_execute"))
                .count();
            let accepted = report
                .trace
                .customers
                .values()
                .flatten()
                .filter(|record| record.outcome == Outcome::Success)
                .count();
            assert_eq!(
                executes,
                accepted * 7,
                "each accepted change reached the 7 others once"
            );
        }
    }
}

/// A withdraw that empties the balance at one branch while others withdraw too: rejected
/// withdraws change nothing anywhere, and the run still converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_withdraws_under_concurrency_change_nothing() {
    let spec = WorkloadSpec {
        branches: vec![3, 5, 9, 12],
        ops_per_customer: 50,
        initial_balance: 10,
    };
    let scenario = workload::generate(99, &spec);
    let report = run_cluster(&scenario, ClockModel::Strict, Schedule::Concurrent).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let rejected = report
        .trace
        .customers
        .values()
        .flatten()
        .filter(|record| record.outcome == Outcome::Fail)
        .count();
    assert!(rejected > 0, "a balance of 10 makes some withdraws fail");
}
