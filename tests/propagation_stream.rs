//! The branch-to-branch stream, spoken directly: a branch applies each propagation once, answers
//! a repeat with the first acknowledgement, and forgets acknowledgements the origin says it has
//! while still knowing their repeats.

mod common;

use common::example;
use lamport_bank::model::BranchId;
use lamport_bank::wire::pb::{
    Operation, PropagateReply, PropagateRequest, Stamp, WriteCount, branch_client::BranchClient,
};
use lamport_bank::{Cluster, RunConfig};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

/// A deposit from branch 1, as its link would send it.
fn deposit(event_id: u64, money: i64, message: u64, acknowledged_through: u64) -> PropagateRequest {
    PropagateRequest {
        origin_id: 1,
        event_id,
        operation: Operation::Deposit.into(),
        money,
        stamp: Some(Stamp {
            clock: message,
            vector: Vec::new(),
            message,
        }),
        sequence: message,
        acknowledged_through,
        // Customer 1's writes at branch 1, one per message.
        customer_id: 1,
        writes: vec![WriteCount {
            branch_id: 1,
            count: message,
        }],
    }
}

/// The message number and vector of an acknowledgement.
fn numbered(reply: &PropagateReply) -> (u64, usize) {
    reply
        .stamp
        .as_ref()
        .map_or((0, 0), |stamp| (stamp.message, stamp.vector.len()))
}

/// Sends `request` and reads its acknowledgement.
async fn exchange(
    outbound: &mpsc::UnboundedSender<PropagateRequest>,
    replies: &mut Streaming<PropagateReply>,
    request: PropagateRequest,
) -> PropagateReply {
    outbound.send(request).expect("the stream is open");
    replies
        .message()
        .await
        .expect("no error")
        .expect("an acknowledgement")
}

/// The sample's cluster, and a propagation stream opened to `branch` (as if from branch 1).
async fn sample_with_stream_to(
    branch: BranchId,
) -> (
    Cluster,
    mpsc::UnboundedSender<PropagateRequest>,
    Streaming<PropagateReply>,
) {
    let cluster = Cluster::start(&example("sample"), RunConfig::default())
        .await
        .expect("the cluster starts");
    let (outbound, replies) = stream_to(&cluster, branch).await;
    (cluster, outbound, replies)
}

/// A propagation stream opened to `branch` of `cluster` (as if from branch 1).
async fn stream_to(
    cluster: &Cluster,
    branch: BranchId,
) -> (
    mpsc::UnboundedSender<PropagateRequest>,
    Streaming<PropagateReply>,
) {
    let channel = cluster.channel(branch).expect("the branch exists");
    let (outbound, messages) = mpsc::unbounded_channel();
    let replies = BranchClient::new(channel)
        .propagate(UnboundedReceiverStream::new(messages))
        .await
        .expect("the stream opens")
        .into_inner();
    (outbound, replies)
}

#[tokio::test]
async fn repeats_are_answered_not_applied_even_after_they_are_forgotten() {
    let (cluster, outbound, mut replies) = sample_with_stream_to(BranchId(2)).await;

    let first = exchange(&outbound, &mut replies, deposit(10, 5, 1, 0)).await;
    assert_eq!((first.balance, first.branch_id), (405, 2));
    assert!(numbered(&first).0 >= 1);
    let again = exchange(&outbound, &mut replies, deposit(10, 5, 1, 0)).await;
    assert_eq!(
        again, first,
        "a repeat gets the first acknowledgement again"
    );

    let second = exchange(&outbound, &mut replies, deposit(11, 7, 2, 1)).await;
    assert_eq!(second.balance, 412);
    let forgotten = exchange(&outbound, &mut replies, deposit(10, 5, 1, 1)).await;
    assert_eq!(
        (numbered(&forgotten), forgotten.balance),
        ((0, 0), 412),
        "a repeat of an acknowledgement the origin has: nothing new, not applied"
    );
    let remembered = exchange(&outbound, &mut replies, deposit(11, 7, 2, 1)).await;
    assert_eq!(remembered, second, "message 2 is not forgotten yet");

    drop((outbound, replies));
    assert_eq!(cluster.balances()[&BranchId(2)], 412);
    let history = cluster.history(Default::default(), &example("sample"));
    assert_eq!(
        history.len(),
        4,
        "two receives and two executes on branch 2"
    );
    cluster.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_refused_propagation_ends_the_stream_with_its_status() {
    let (cluster, outbound, mut replies) = sample_with_stream_to(BranchId(3)).await;
    outbound
        .send(deposit(10, i64::MAX, 1, 0))
        .expect("the stream is open");
    let status = replies.message().await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::OutOfRange);
    assert_eq!(cluster.balances()[&BranchId(3)], 400, "nothing applied");
    drop((outbound, replies));
    cluster.shutdown().await.expect("clean shutdown");
}

/// Forged propagations are refused, each with its status, and change nothing: one from an
/// origin that is not another branch of the cluster (an unknown one, the branch itself), one
/// that skips ahead of its origin's sequence (with a claim that everything before it was
/// acknowledged), a clock of `u64::MAX`, a vector of 400,000 entries, a session that counts
/// writes at a branch that is not of the run (it would be waited for forever), and one that does
/// not count the write it carries.
#[tokio::test]
async fn forged_propagations_are_refused_and_change_nothing() {
    let forged: Vec<(&str, PropagateRequest, tonic::Code)> = vec![
        (
            "an origin that is no branch",
            PropagateRequest {
                origin_id: 9,
                writes: vec![WriteCount {
                    branch_id: 9,
                    count: 1,
                }],
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::PermissionDenied,
        ),
        (
            "the branch itself as origin",
            PropagateRequest {
                origin_id: 2,
                writes: vec![WriteCount {
                    branch_id: 2,
                    count: 1,
                }],
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::PermissionDenied,
        ),
        (
            "a message that skips ahead",
            PropagateRequest {
                sequence: 1_000_000_000_000_000,
                ..deposit(10, 5, 1_000_000_000_000_000, 999_999_999_999_999)
            },
            tonic::Code::OutOfRange,
        ),
        (
            "a clock of u64::MAX",
            PropagateRequest {
                stamp: Some(Stamp {
                    clock: u64::MAX,
                    vector: Vec::new(),
                    message: 1,
                }),
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::InvalidArgument,
        ),
        (
            "a vector of 400,000 entries",
            PropagateRequest {
                stamp: Some(Stamp {
                    clock: 1,
                    vector: vec![1; 400_000],
                    message: 1,
                }),
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::InvalidArgument,
        ),
        (
            "a session that counts writes at a branch that is not of the run",
            PropagateRequest {
                writes: vec![
                    WriteCount {
                        branch_id: 1,
                        count: 1,
                    },
                    WriteCount {
                        branch_id: 9,
                        count: 1,
                    },
                ],
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::InvalidArgument,
        ),
        (
            "a session that does not count the write it carries",
            PropagateRequest {
                writes: Vec::new(),
                ..deposit(10, 5, 1, 0)
            },
            tonic::Code::InvalidArgument,
        ),
    ];
    for (what, request, code) in forged {
        let (cluster, outbound, mut replies) = sample_with_stream_to(BranchId(2)).await;
        outbound.send(request).expect("the stream is open");
        let status = replies.message().await.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status}");
        drop((outbound, replies));
        // The real first propagation of B1 is still taken, as if nothing had come before.
        let (outbound, mut replies) = stream_to(&cluster, BranchId(2)).await;
        let real = exchange(&outbound, &mut replies, deposit(11, 7, 1, 0)).await;
        assert_eq!(real.balance, 407, "{what}: nothing was applied");
        drop((outbound, replies));
        let history = cluster.history(Default::default(), &example("sample"));
        assert_eq!(history.len(), 2, "{what}: only the real one is recorded");
        cluster.shutdown().await.expect("clean shutdown");
    }
}
