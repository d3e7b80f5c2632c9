//! The other branches as a branch sees them: one [`Link`] per peer, started once and reused for
//! every propagation.

use std::sync::Arc;

use tokio_util::task::TaskTracker;
use tonic::transport::Channel;

use super::link::{Link, LinkConfig};
use crate::model::BranchId;

/// The other branches of the cluster, in ascending id, each with its link.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    links: Arc<[(BranchId, Link)]>,
}

impl Peers {
    /// Starts a link from `origin` to every peer of `channels` (`(id, channel)` pairs), each a
    /// task of `tasks`, sorted by id so that propagation order is deterministic. Must be called
    /// inside a tokio runtime.
    pub fn connect(
        origin: BranchId,
        channels: impl IntoIterator<Item = (BranchId, Channel)>,
        config: &LinkConfig,
        tasks: &TaskTracker,
    ) -> Self {
        let mut links: Vec<_> = channels
            .into_iter()
            .map(|(peer, channel)| (peer, Link::start(origin, peer, channel, config, tasks)))
            .collect();
        links.sort_by_key(|(peer, _)| *peer);
        Self {
            links: links.into(),
        }
    }

    /// Whether there is no other branch.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The peers in ascending id, each with its link.
    pub fn iter(&self) -> impl Iterator<Item = (BranchId, &Link)> + '_ {
        self.links.iter().map(|(peer, link)| (*peer, link))
    }
}
