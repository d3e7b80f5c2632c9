//! Concurrent runs: all customers at once, propagations in parallel. The clocks differ from run
//! to run; the invariants (the README's "Invariants") must hold on every one.

mod common;

use common::run_cluster;
use lamport_bank::model::{Action, ClockModel, Schedule, Step};
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
                .filter(|record| record.sub_event.step == Step::PropagateExecute)
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

/// A query from outside the run (a process posing as customer 1, at its branch, in the middle
/// of the run) leaves a receive that no customer's send explains: the run's own verdict names
/// it, as `check` on the run's trace does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_checks_itself_as_check_checks_its_trace() {
    use lamport_bank::report::Report;
    use lamport_bank::wire::pb::{QueryRequest, Stamp, branch_client::BranchClient};
    use lamport_bank::{Cluster, RunConfig};

    let scenario = common::example("sample");
    let cluster = Cluster::start(&scenario, RunConfig::default())
        .await
        .expect("the cluster starts");
    let outsider = cluster
        .channel(lamport_bank::model::BranchId(1))
        .expect("a channel");
    BranchClient::new(outsider)
        .query(QueryRequest {
            customer_id: 1,
            event_id: 99,
            stamp: Some(Stamp {
                clock: 0,
                vector: Vec::new(),
                message: 7,
            }),
            writes: Vec::new(),
        })
        .await
        .expect("answered");
    let logs = cluster
        .run_customers(&scenario.customers)
        .await
        .expect("the customers ran");
    let (finals, history) = (cluster.balances(), cluster.history(logs, &scenario));
    cluster.shutdown().await.expect("clean shutdown");
    let report = Report::assemble(history, 400, finals, Default::default());
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.contains(
            &"B1: #1 query_request (event 99) receives C1:7, which no event sends".to_string()
        ),
        "{findings:#?}"
    );
}
