//! Connections that send nothing are closed. A branch's listener wraps every connection it
//! accepts so that a read which has waited longer than the limit since the last byte came in
//! fails with `TimedOut`, and the server drops the connection: an idle TCP connection that
//! never starts HTTP/2, or a peer that sent half a frame and went quiet, holds nothing for
//! long. A live caller always has something to send, because the server pings it well within
//! the limit (see [`super::server`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpIncoming};

/// A connection closed once its peer has sent nothing for `limit`.
#[derive(Debug)]
pub struct Watched<IO> {
    io: IO,
    limit: Duration,
    last_read: Instant,
    deadline: Pin<Box<Sleep>>,
}

impl<IO> Watched<IO> {
    /// Watches `io` from now on.
    pub fn new(io: IO, limit: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            limit,
            last_read: now,
            deadline: Box::pin(tokio::time::sleep_until(now + limit)),
        }
    }

    /// Whether the limit has passed since the last byte came in. The timer is moved only when
    /// it fires, not on every read, so reading costs a clock read and no timer update.
    fn poll_silent(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_read + self.limit;
            if due <= Instant::now() {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.poll_silent(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer sent nothing for {:?}", this.limit),
            ))),
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for Watched<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The connections a listener accepts, each [`Watched`] (without a limit, with one too far
/// to matter).
#[derive(Debug)]
pub struct Incoming {
    tcp: TcpIncoming,
    limit: Option<Duration>,
}

impl Incoming {
    /// Watches every connection `tcp` accepts, if `limit` is given.
    pub fn new(tcp: TcpIncoming, limit: Option<Duration>) -> Self {
        Self { tcp, limit }
    }
}

/// A connection [`Incoming`] accepted.
pub type Connection = Watched<TcpStream>;

impl Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        Pin::new(&mut this.tcp).poll_next(cx).map(|accepted| {
            accepted.map(|connection| {
                // Without a limit, one too far to matter: a year.
                let limit = this.limit.unwrap_or(Duration::from_secs(365 * 24 * 3600));
                connection.map(|stream| Watched::new(stream, limit))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_cut_off_after_the_limit_and_a_talking_one_is_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut watched = Watched::new(near, Duration::from_secs(10));
        let mut byte = [0u8; 1];
        // Bytes every 6 s: never 10 s of silence.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(6)).await;
            far.write_all(b"x").await.expect("written");
            watched.read_exact(&mut byte).await.expect("read");
        }
        let started = Instant::now();
        let error = watched.read(&mut byte).await.expect_err("cut off");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
