//! yamux over TCP and relayed connections, with frames sized for bulk data.
//!
//! libp2p-yamux keeps yamux's default 16 KiB send frames and offers no
//! setting to change them. Every frame is flushed through Noise on its own,
//! so a 1 GiB transfer became 65,000 Noise frames and 65,000 `send` calls,
//! the largest cost on a fast path. This upgrade speaks the same protocol
//! (`/yamux/1.0.0`, interoperable with any yamux peer: their decoders take
//! frames up to 1 MiB) and sends data in frames of [`SEND_FRAME`] bytes.
//!
//! Two layers sit between yamux and the connection below it (Noise):
//! `unread` bounds what the streams hold unread apart from the receive
//! window, and `rtt_floor` keeps yamux's round-trip estimate from falling
//! below what lets a busy stream's window grow on a lossy path. Each module
//! names the upstream setting that would make it unnecessary.
//!
//! # Layout
//! - this file: [`Config`] (the upgrade), [`Muxer`] (a connection as
//!   libp2p's `StreamMuxer`), [`Stream`];
//! - `frame`: yamux's frame headers, followed as the bytes pass;
//! - `unread`: the count of unread bytes per stream, and the layer that
//!   stops reading frames while it is full;
//! - `rtt_floor`: the layer that holds back the answers to yamux's pings;
//! - `script`: a muxer whose peer is played from bytes in memory, for the
//!   fuzz target and tests.
//!
//! Upstream, [`SEND_FRAME`] would need libp2p-yamux to expose yamux's
//! `set_split_send_size` (0.48 does not).

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::{AsyncRead, AsyncWrite, future};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};

mod frame;
mod rtt_floor;
pub(crate) mod script;
mod unread;

use rtt_floor::RttFloor;
use unread::{Bounded, Unread};

/// Largest data frame we send: with yamux's 12-byte header, exactly four
/// full Noise frames (65,535 bytes less a 16-byte tag each). Measured on
/// 1 GiB over loopback against one Noise frame per yamux frame (64 KiB):
/// a third of the context switches and about 15% less CPU on both sides,
/// with the same peak memory.
pub const SEND_FRAME: usize = 4 * (65_535 - 16) - 12;

/// Streams open at once on one connection. A pair of peers needs a few
/// (offers, data, identify, ping, hole punching); yamux's 512 would reserve
/// 128 MiB of receive window (256 KiB per stream, see below).
const MAX_STREAMS: usize = 16;

/// Credit a peer may have towards us over one connection, across all its
/// streams. yamux reserves 256 KiB per stream of this (4 MiB for 16) and
/// lets busy streams grow their window into the rest, towards twice the
/// bandwidth-delay product: here up to 12.25 MiB. That is sized for the
/// path, not for memory: the sender's socket buffer holds up to 4 MiB of
/// the credit, so 200 Mbit/s at 40 ms ran at a median 97% of a plain TCP
/// copy with 4.25 MiB per stream and 100% with 12.25 (`wan_bench`). What
/// we buffer is bounded by `unread::LIMIT` instead. QUIC has its own
/// bound (see `behaviour`).
const RECEIVE_WINDOW: usize = 16 * 1024 * 1024;

/// Inbound streams held while nobody asks for them; more are reset. Equal to
/// yamux's own ACK backlog, so a well-behaved peer never reaches it.
const MAX_WAITING_INBOUND: usize = 256;

/// Upgrade to a yamux connection. `Config::default()` is what we use.
#[derive(Debug, Clone)]
pub struct Config(yamux::Config);

impl Default for Config {
    fn default() -> Self {
        let mut config = yamux::Config::default();
        config.set_split_send_size(SEND_FRAME);
        // In this order: yamux checks that the window leaves every stream
        // its 256 KiB.
        config.set_max_num_streams(MAX_STREAMS);
        config.set_max_connection_receive_window(Some(RECEIVE_WINDOW));
        Self(config)
    }
}

impl UpgradeInfo for Config {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once("/yamux/1.0.0")
    }
}

impl<C> InboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Muxer<C>, io::Error>>;

    fn upgrade_inbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(io, self.0, yamux::Mode::Server)))
    }
}

impl<C> OutboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Muxer<C>, io::Error>>;

    fn upgrade_outbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(io, self.0, yamux::Mode::Client)))
    }
}

/// One yamux connection as libp2p's [`StreamMuxer`].
///
/// yamux makes progress only through `poll_next_inbound`, which the swarm
/// drives from [`StreamMuxer::poll`]; streams that arrive there wait in a
/// bounded queue until [`StreamMuxer::poll_inbound`] takes them.
#[derive(Debug)]
pub struct Muxer<C> {
    connection: yamux::Connection<RttFloor<Bounded<C>>>,
    unread: Unread,
    waiting: VecDeque<Stream>,
    inbound_waker: Option<Waker>,
}

impl<C> Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    fn new(io: C, config: yamux::Config, mode: yamux::Mode) -> Self {
        let unread = Unread::default();
        Self {
            connection: yamux::Connection::new(
                RttFloor::new(Bounded::new(io, unread.clone())),
                config,
                mode,
            ),
            unread,
            waiting: VecDeque::new(),
            inbound_waker: None,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        match self.connection.poll_next_inbound(cx) {
            Poll::Ready(Some(Ok(stream))) => Poll::Ready(Ok(Stream::new(stream, &self.unread))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Err(Error(e))),
            Poll::Ready(None) => Poll::Ready(Err(Error(yamux::ConnectionError::Closed))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<C> StreamMuxer for Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        let this = self.get_mut();
        if let Some(stream) = this.waiting.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        if let Poll::Ready(next) = this.poll_next(cx) {
            return Poll::Ready(next);
        }
        this.inbound_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_outbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        let this = self.get_mut();
        this.connection
            .poll_new_outbound(cx)
            .map(|r| r.map(|s| Stream::new(s, &this.unread)).map_err(Error))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().connection.poll_close(cx).map_err(Error)
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, Error>> {
        let this = self.get_mut();
        let stream = match this.poll_next(cx) {
            Poll::Ready(Ok(stream)) => stream,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        if this.waiting.len() >= MAX_WAITING_INBOUND {
            tracing::warn!(stream = %stream.0, "too many inbound streams waiting; resetting one");
            drop(stream);
        } else {
            this.waiting.push_back(stream);
            if let Some(waker) = this.inbound_waker.take() {
                waker.wake();
            }
        }
        // Come back at once: yamux has more to do, and others get a turn first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A yamux stream, counted in its connection's [`Unread`].
#[derive(Debug)]
pub struct Stream(yamux::Stream, Unread);

impl Stream {
    fn new(stream: yamux::Stream, unread: &Unread) -> Self {
        unread.open(stream.id().val());
        Self(stream, unread.clone())
    }

    fn count(&self, read: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = read {
            self.1.taken(self.0.id().val(), n);
        }
        read
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.1.close(self.0.id().val());
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.0).poll_read(cx, buf);
        this.count(read)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.0).poll_read_vectored(cx, bufs);
        this.count(read)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

/// A yamux connection error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(yamux::ConnectionError);

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e.0 {
            yamux::ConnectionError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_reflection;
