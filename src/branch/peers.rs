//! The clients a branch uses to reach the other branches: one per peer, created once and reused
//! (a tonic `Channel` multiplexes calls and reconnects by itself).

use tonic::transport::Channel;

use crate::model::BranchId;
use crate::wire::pb::branch_client::BranchClient;

/// The other branches of the cluster, in ascending id.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    clients: Vec<(BranchId, BranchClient<Channel>)>,
}

impl Peers {
    /// Peers from `(id, channel)` pairs, sorted by id so that propagation order is deterministic.
    pub fn new(channels: impl IntoIterator<Item = (BranchId, Channel)>) -> Self {
        let mut clients: Vec<_> = channels
            .into_iter()
            .map(|(id, channel)| (id, BranchClient::new(channel)))
            .collect();
        clients.sort_by_key(|(id, _)| *id);
        Self { clients }
    }

    /// How many peers there are.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether the branch is alone.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The peers in ascending id, each with a client to call it (cheap to clone).
    pub fn iter(&self) -> impl Iterator<Item = (BranchId, BranchClient<Channel>)> + '_ {
        self.clients
            .iter()
            .map(|(id, client)| (*id, client.clone()))
    }
}
