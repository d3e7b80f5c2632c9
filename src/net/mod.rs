//! How branches and customers reach each other: the timeouts every call obeys, the server and
//! client settings that notice a dead connection, and real TCP listeners and channels. The
//! simulated network ([`crate::sim::net`]) plugs in here with its own listener and connector.
//! A real listener closes connections that go silent ([`silence`]).

pub mod silence;

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

use crate::error::Error;
use silence::Incoming;

/// How many requests (streams) one connection may have open at once; a client at the limit
/// waits for one to end. A run's customers share one connection per branch.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1024;

/// The largest header block a request may carry (HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`).
pub const MAX_HEADER_BYTES: u32 = 16 * 1024;

/// The largest message a branch decodes (tonic's default, stated): a propagation with the
/// widest vector clock allowed ([`crate::wire::MAX_VECTOR`] entries) takes at most 640 KiB.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The largest branch log a run collects (one message per branch, from the branches it
/// chose to trust): 1 GiB, where tonic's default of 4 MiB would fail a long run.
pub const MAX_LOG_BYTES: usize = 1 << 30;

/// How long calls may take and how dead connections are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a propagation may go unacknowledged: then its stream is dropped and it is sent
    /// again on a new one (see `branch::link`).
    pub propagation: Duration,
    /// The deadline of a customer's request; a late one is recorded as indeterminate.
    pub customer: Duration,
    /// How often an idle HTTP/2 connection is pinged, and how long a ping may go unanswered
    /// before the connection is dropped (and then re-made on the next call).
    pub keepalive: Duration,
    /// The first pause before retrying a failed propagation; doubled after every failure.
    pub first_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
    /// When a branch stops: how long the customer calls in flight (and their propagations) may
    /// take to finish before the branch stops its links anyway.
    pub drain: Duration,
    /// When a branch stops, after the calls in flight: how long connections may stay open
    /// (an idle one, a peer's open stream, a half-sent call) before they are closed.
    pub grace: Duration,
    /// A connection to a branch that sends nothing for this long is closed: one that never
    /// starts HTTP/2, or stops in the middle of a frame. The branch pings its callers every
    /// third of it, which a live caller answers. `None` in the simulation, whose held links
    /// delay the answers to pings as they delay everything.
    pub silence: Option<Duration>,
}

impl Timeouts {
    /// The timeouts of a real run on one machine.
    pub const REAL: Timeouts = Timeouts {
        propagation: Duration::from_secs(5),
        customer: Duration::from_secs(120),
        keepalive: Duration::from_secs(10),
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(2),
        drain: Duration::from_secs(10),
        grace: Duration::from_secs(2),
        silence: Some(Duration::from_secs(30)),
    };

    /// The pause before attempt `attempt` (from 2): exponential, capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        self.first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::REAL
    }
}

/// A branch's server, with the limits of [`MAX_STREAMS_PER_CONNECTION`] and
/// [`MAX_HEADER_BYTES`], and calls cancelled after `timeouts.customer` (a call whose request
/// never ends, half sent, is cancelled then; an honest call is over by then, since its customer
/// gives up at that deadline). With `timeouts.silence`
/// (real networks), it pings every connection that has been quiet for a third of it and drops
/// one whose ping goes unanswered as long, so that a live caller always has something to send
/// and a dead one is noticed. Without (the simulation), it sends no pings: a server that
/// closed a connection held up by a slow link would fail a customer's call that was only late.
pub fn server(timeouts: &Timeouts) -> Server {
    let server = Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_max_header_list_size(MAX_HEADER_BYTES)
        .timeout(timeouts.customer);
    match timeouts.silence {
        Some(silence) => server
            .http2_keepalive_interval(Some(silence / 3))
            .http2_keepalive_timeout(Some(silence / 3)),
        None => server,
    }
}

/// Who is on the calling side of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A branch propagating: its channels ping (also while idle), so that a connection killed
    /// by a partition is noticed and made anew on the next attempt.
    Branch,
    /// A customer: its channel does not ping, so a slow (held) link only delays the reply,
    /// which the customer's deadline bounds.
    Customer,
}

/// An endpoint for `uri`, set up for `caller`.
pub fn endpoint(uri: String, caller: Caller, timeouts: &Timeouts) -> Result<Endpoint, Error> {
    let endpoint =
        Endpoint::from_shared(uri.clone()).map_err(|source| Error::Endpoint { uri, source })?;
    Ok(match caller {
        Caller::Branch => endpoint
            .connect_timeout(timeouts.propagation)
            .http2_keep_alive_interval(timeouts.keepalive)
            .keep_alive_timeout(timeouts.keepalive)
            .keep_alive_while_idle(true),
        Caller::Customer => endpoint,
    })
}

/// A listener on `addr` (port 0: a free port), with the address it got. Its connections do
/// not wait to gather small writes (`serve_with_incoming` ignores `Server::tcp_nodelay`, and
/// without this, Nagle's algorithm stalls small replies by 40 ms), and are closed after
/// `timeouts.silence` without a byte.
pub fn bind(addr: SocketAddr, timeouts: &Timeouts) -> Result<(SocketAddr, Incoming), Error> {
    let listen_error = |source| Error::Listen { addr, source };
    let incoming = TcpIncoming::bind(addr)
        .map_err(listen_error)?
        .with_nodelay(Some(true));
    let local = incoming.local_addr().map_err(listen_error)?;
    Ok((local, Incoming::new(incoming, timeouts.silence)))
}

/// A lazily connected channel to the real TCP server at `addr`.
pub fn tcp_channel(
    addr: SocketAddr,
    caller: Caller,
    timeouts: &Timeouts,
) -> Result<Channel, Error> {
    Ok(endpoint(format!("http://{addr}"), caller, timeouts)?.connect_lazy())
}

/// Whether a failed call may succeed if tried again: the network's failures, not the peer's
/// refusals (a refusal would be refused again).
pub fn is_transient(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Aborted
            | Code::ResourceExhausted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let timeouts = Timeouts::REAL;
        assert_eq!(timeouts.backoff(2), Duration::from_millis(20));
        assert_eq!(timeouts.backoff(3), Duration::from_millis(40));
        assert_eq!(timeouts.backoff(5), Duration::from_millis(160));
        assert_eq!(timeouts.backoff(40), Duration::from_secs(2));
    }
}
