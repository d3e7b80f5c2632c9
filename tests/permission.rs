//! A branch serves only the customer with its own id.

mod common;

use common::example;
use lamport_bank::model::BranchId;
use lamport_bank::wire::pb::{ChangeRequest, QueryRequest, Stamp, branch_client::BranchClient};
use lamport_bank::{Cluster, RunConfig};

/// Customer 3 asking branch 2 gets `PERMISSION_DENIED`, for a query and for a deposit, and the
/// branch's balance and log stay untouched.
#[tokio::test]
async fn a_branch_refuses_another_branchs_customer() {
    let cluster = Cluster::start(&example("sample"), RunConfig::default())
        .await
        .expect("the cluster starts");
    let channel = cluster.channel(BranchId(2)).expect("branch 2 exists");
    let mut client = BranchClient::new(channel);
    let status = client
        .query(QueryRequest {
            customer_id: 3,
            event_id: 1,
            stamp: Some(Stamp::default()),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(status.message(), "B2 serves only C2, not C3");
    let status = client
        .deposit(ChangeRequest {
            customer_id: 3,
            event_id: 2,
            money: 10,
            stamp: Some(Stamp::default()),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(cluster.balances()[&BranchId(2)], 400);
    let history = cluster.history(Default::default(), &example("sample"));
    assert_eq!(history.len(), 0, "nothing was recorded");
    cluster.shutdown().await.expect("clean shutdown");
}
