//! The limit a benchmark is compared with: how many plain gRPC unary calls per second this
//! machine, this build and this process can make right now.
//!
//! A one-branch cluster is started exactly as every benchmark cluster is (same server, same
//! channel settings, same runtime), and its no-op `Ping` rpc is called over one shared channel,
//! first by one caller that waits for each reply before the next call, then by many callers at
//! once. A workload whose operations cost k calls each cannot do better than `calls/s ÷ k`
//! operations per second: that is what the benchmark's ratio measures.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::bench::cpu;
use crate::bench::latency::Percentiles;
use crate::cluster::{Cluster, RunConfig};
use crate::error::Error;
use crate::model::BranchId;
use crate::scenario::{BranchSpec, Scenario};
use crate::trace::Recording;
use crate::wire::pb::{PingRequest, branch_client::BranchClient};

/// Calls made before timing starts, so that the connection is up and warm.
pub const WARM_UP_CALLS: usize = 200;

/// The branch that answers the pings.
const PINGED: BranchId = BranchId(1);

/// What plain unary calls achieve on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// Calls per second of one caller that waits for each reply before the next call.
    pub sequential: f64,
    /// The sequential caller's per-call latencies.
    pub sequential_latency: Percentiles,
    /// CPU time of the process (client and server) per sequential call.
    pub sequential_cpu: Option<Duration>,
    /// Calls per second of `callers` callers at once over one shared channel.
    pub concurrent: f64,
    /// CPU time of the process (clients and server) per concurrent call.
    pub concurrent_cpu: Option<Duration>,
    /// How many concurrent callers.
    pub callers: usize,
    /// How long each of the two measurements ran.
    pub duration: Duration,
}

/// Measures the limit: one sequential caller for `duration`, then `callers` concurrent callers
/// for `duration`.
pub async fn measure(duration: Duration, callers: usize) -> Result<Limit, Error> {
    let scenario = Scenario {
        branches: vec![BranchSpec {
            id: PINGED,
            balance: 0,
        }],
        customers: Vec::new(),
        numbered: 0,
        visits: Default::default(),
        repeated: None,
    };
    let config = RunConfig {
        recording: Recording {
            vectors: false,
            events: false,
        },
        ..RunConfig::default()
    };
    let cluster = Cluster::start(&scenario, config).await?;
    let measured = ping_all(&cluster, duration, callers).await;
    cluster.shutdown().await?;
    measured
}

async fn ping_all(cluster: &Cluster, duration: Duration, callers: usize) -> Result<Limit, Error> {
    let channel = cluster.channel(PINGED)?;
    let mut client = BranchClient::new(channel.clone());
    for _ in 0..WARM_UP_CALLS {
        ping(&mut client).await?;
    }
    let mut latencies = Vec::new();
    let cpu_before = cpu::used();
    let started = Instant::now();
    while started.elapsed() < duration {
        let call = Instant::now();
        ping(&mut client).await?;
        latencies.push(call.elapsed());
    }
    let sequential = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let sequential_cpu = per_call(cpu_before, cpu::used(), latencies.len() as u64);
    let cpu_before = cpu::used();
    let (concurrent, calls) = ping_concurrently(channel, duration, callers.max(1)).await?;
    Ok(Limit {
        sequential,
        sequential_latency: Percentiles::of(&mut latencies),
        sequential_cpu,
        concurrent,
        concurrent_cpu: per_call(cpu_before, cpu::used(), calls),
        callers: callers.max(1),
        duration,
    })
}

/// `callers` tasks, each pinging in a loop over clones of one channel until `duration` has
/// passed; returns the calls per second of all of them together, and the calls.
async fn ping_concurrently(
    channel: Channel,
    duration: Duration,
    callers: usize,
) -> Result<(f64, u64), Error> {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let mut client = BranchClient::new(channel.clone());
        // Spawned, not joined in one task, so that the callers spread over every worker thread.
        tasks.spawn(async move {
            let mut calls: u64 = 0;
            while started.elapsed() < duration {
                ping(&mut client).await?;
                calls += 1;
            }
            Ok::<u64, Error>(calls)
        });
    }
    let mut calls = 0;
    while let Some(done) = tasks.join_next().await {
        calls += done??;
    }
    Ok((calls as f64 / started.elapsed().as_secs_f64(), calls))
}

/// The CPU time between two readings, divided by `calls`.
pub fn per_call(before: Option<Duration>, after: Option<Duration>, calls: u64) -> Option<Duration> {
    let used = after?.checked_sub(before?)?;
    u32::try_from(calls.max(1)).ok().map(|calls| used / calls)
}

async fn ping(client: &mut BranchClient<Channel>) -> Result<(), Error> {
    client
        .ping(PingRequest {})
        .await
        .map(drop)
        .map_err(|status| Error::Ping {
            branch: PINGED,
            status,
        })
}
