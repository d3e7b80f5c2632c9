//! The seam between tonic and turmoil's simulated network: the branch server accepts simulated
//! connections, and channels connect through a simulated connector. Everything else (branches,
//! customers, clocks) is the same code that runs over real TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::Channel;
use tonic::transport::server::Connected;
use tower::service_fn;

use crate::error::Error;
use crate::net::{self, Caller, Timeouts};

/// The port every simulated branch listens on (each branch is its own simulated host).
pub const BRANCH_PORT: u16 = 50051;

/// A simulated TCP connection, wrapped so that tonic's server traits can be implemented for it
/// (the orphan rule forbids implementing them on turmoil's type directly).
#[derive(Debug)]
pub struct SimStream(turmoil::net::TcpStream);

impl Connected for SimStream {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The connections arriving at `port` of the current simulated host.
pub async fn incoming(port: u16) -> io::Result<impl Stream<Item = io::Result<SimStream>>> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    Ok(futures_util::stream::unfold(listener, |listener| async {
        let accepted = listener.accept().await.map(|(stream, _)| SimStream(stream));
        Some((accepted, listener))
    }))
}

/// A lazily connected channel to `host:port` over the simulated network, set up for `caller`.
/// It must be made inside the simulated host that uses it: tonic spawns its worker there.
pub fn channel(
    host: &str,
    port: u16,
    caller: Caller,
    timeouts: &Timeouts,
) -> Result<Channel, Error> {
    let endpoint = net::endpoint(format!("http://{host}:{port}"), caller, timeouts)?;
    Ok(
        endpoint.connect_with_connector_lazy(service_fn(|uri: http::Uri| async move {
            let authority = uri
                .authority()
                .map(ToString::to_string)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host in uri"))?;
            // turmoil resolves the host name through its own simulated DNS.
            let stream = turmoil::net::TcpStream::connect(authority).await?;
            Ok::<_, io::Error>(TokioIo::new(stream))
        })),
    )
}
