//! A bound on what a connection's streams hold unread, apart from the
//! receive window.
//!
//! yamux grants a peer credit for what our streams have been read, and a
//! busy stream's window grows towards twice the bandwidth-delay product
//! (see `rtt_floor`). The window a path needs and the memory we may spend
//! are different amounts. 200 Mbit/s at 40 ms wants a stream window well
//! above the 1 MB bandwidth-delay product, since the sender's socket
//! buffer holds up to 4 MiB of the credit (`ss`: the pipe ran dry for
//! 150-250 ms at a time while that buffer held the whole window); with
//! 8 MiB for the connection (4.25 MiB per stream) `wan_bench` gave 87-101%
//! of a plain TCP copy, median 97%, with 16 MiB and this bound 97-112%,
//! median 100%. But a receiver whose disk is slower than the network keeps
//! the whole window buffered: 1 GiB over loopback with 12 MiB for the
//! connection took the receiver's peak RSS from 27 to 33.7 MiB, over the
//! 32 MiB budget; with this bound, 28.8 MiB.
//!
//! So the window is sized for the path, and this bound for memory: the
//! connection's streams count what arrives for them ([`Bounded`], a layer
//! under yamux that follows the frame headers) and what is read from them
//! (the muxer's streams); once [`LIMIT`] is unread, no further frame is
//! read from the socket until a stream is read below it again. The rest stays in the kernel's socket buffer and TCP's
//! own flow control slows the sender, as for any plain TCP reader. A
//! reader that keeps up never meets the bound.
//!
//! [`LIMIT`] is above the initial window of every stream yamux allows us at
//! once (16 × 256 KiB): streams nobody reads yet cannot stop the connection
//! alone; only a stream whose window grew because it was read fast can,
//! and it is read on. Dropping a stream forgets its unread bytes.
//!
//! Upstream, this layer would be unnecessary if yamux let the connection's
//! receive window (what the peer may send) be set apart from the memory
//! its streams may buffer, or if libp2p-yamux exposed the window sizes at
//! all (0.48 does not).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};

use futures::{AsyncRead, AsyncWrite};

use super::frame::{FLAG_RST, FLAG_SYN, Follower, Header};

/// Bytes a connection's streams may hold unread before the connection
/// stops reading frames.
pub(super) const LIMIT: u64 = 5 * 1024 * 1024;

/// What one connection's streams hold unread; clones share it.
#[derive(Debug, Clone, Default)]
pub(super) struct Unread(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    /// Unread bytes of each stream we hold, by yamux stream ID.
    streams: HashMap<u32, u64>,
    total: u64,
    /// The connection, waiting for room.
    waker: Option<Waker>,
}

impl Inner {
    fn wake_if_room(&mut self) {
        if self.total < LIMIT
            && let Some(waker) = self.waker.take()
        {
            waker.wake();
        }
    }
}

impl Unread {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A stream is handed out; its bytes count from now on.
    pub(super) fn open(&self, stream: u32) {
        self.lock().streams.entry(stream).or_insert(0);
    }

    /// A data frame of `len` bytes for `stream` arrived. Frames for streams
    /// not handed out (yet, or any more) are not counted.
    pub(super) fn arrived(&self, stream: u32, len: u32) {
        let mut inner = self.lock();
        if let Some(unread) = inner.streams.get_mut(&stream) {
            *unread += u64::from(len);
            inner.total += u64::from(len);
        }
    }

    /// `n` bytes were read from `stream`.
    pub(super) fn taken(&self, stream: u32, n: usize) {
        let mut inner = self.lock();
        if let Some(unread) = inner.streams.get_mut(&stream) {
            let n = (n as u64).min(*unread);
            *unread -= n;
            inner.total = inner.total.saturating_sub(n);
            inner.wake_if_room();
        }
    }

    /// `stream` was dropped, with whatever it held.
    pub(super) fn close(&self, stream: u32) {
        let mut inner = self.lock();
        if let Some(unread) = inner.streams.remove(&stream) {
            inner.total = inner.total.saturating_sub(unread);
            inner.wake_if_room();
        }
    }

    /// Ready while less than [`LIMIT`] is unread; else wakes the caller
    /// once a read or a drop makes room.
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.total < LIMIT {
            return Poll::Ready(());
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Bytes unread now, for tests.
    #[cfg(test)]
    pub(super) fn total(&self) -> u64 {
        self.lock().total
    }
}

/// A connection's byte stream that reads no further frame while its
/// [`Unread`] is full, and counts each incoming data frame for its stream.
///
/// Reads never cross a frame boundary, so the wait falls between frames.
#[derive(Debug)]
pub(super) struct Bounded<C> {
    io: C,
    incoming: Follower,
    unread: Unread,
}

impl<C> Bounded<C> {
    pub(super) fn new(io: C, unread: Unread) -> Self {
        Self {
            io,
            incoming: Follower::default(),
            unread,
        }
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for Bounded<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.incoming.lost() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        if this.incoming.between_frames() && this.unread.poll_room(cx).is_pending() {
            return Poll::Pending;
        }
        let len = this.incoming.to_boundary().min(buf.len());
        let part = buf.get_mut(..len).unwrap_or_default();
        let n = ready!(Pin::new(&mut this.io).poll_read(cx, part))?;
        let unread = &this.unread;
        this.incoming
            .feed(part.get(..n).unwrap_or_default(), |header| {
                // A frame that opens a stream (SYN) names one not handed
                // out yet, or, naming one of ours (our own frame played
                // back), is refused by yamux; yamux drops the body of one
                // that resets its stream (RST). No read takes their bytes,
                // so counting them would hold the bound for good.
                if let Header::Data { stream, flags, len } = header
                    && flags & (FLAG_SYN | FLAG_RST) == 0
                {
                    unread.arrived(stream, len);
                }
            });
        Poll::Ready(Ok(n))
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Bounded<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    const MIB: u32 = 1024 * 1024;

    #[test]
    fn only_streams_handed_out_count_and_reads_and_drops_uncount() {
        let unread = Unread::default();
        unread.arrived(1, MIB);
        assert_eq!(unread.total(), 0, "a stream not handed out");
        unread.open(1);
        unread.open(3);
        unread.arrived(1, 2 * MIB);
        unread.arrived(3, MIB);
        assert_eq!(unread.total(), u64::from(3 * MIB));
        unread.taken(1, MIB as usize);
        assert_eq!(unread.total(), u64::from(2 * MIB));
        // More read than counted (bytes that came before the stream was
        // handed out) takes the stream to zero, not below.
        unread.taken(3, 2 * MIB as usize);
        assert_eq!(unread.total(), u64::from(MIB));
        unread.close(1);
        assert_eq!(unread.total(), 0);
        unread.arrived(1, MIB);
        assert_eq!(unread.total(), 0, "a dropped stream");
    }

    #[test]
    fn the_connection_waits_at_the_limit_and_is_woken_by_a_read_or_a_drop() {
        let unread = Unread::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        unread.open(1);
        unread.open(2);
        unread.arrived(1, 4 * MIB);
        assert!(unread.poll_room(&mut cx).is_ready());
        unread.arrived(2, MIB);
        assert!(unread.poll_room(&mut cx).is_pending());
        unread.taken(2, 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken by a read");
        unread.arrived(2, 1);
        assert!(unread.poll_room(&mut cx).is_pending());
        unread.close(2);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "woken by a drop");
        assert!(unread.poll_room(&mut cx).is_ready());
    }

    /// A data frame's header.
    fn data(flags: u16, stream: u32, len: u32) -> Vec<u8> {
        let mut out = vec![0, 0];
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out
    }

    #[test]
    fn frames_whose_bytes_no_stream_reads_are_not_counted() {
        use super::super::frame::{FLAG_RST, FLAG_SYN};
        let unread = Unread::default();
        unread.open(1);
        let mut bytes = data(FLAG_SYN, 1, 3);
        bytes.extend_from_slice(b"syn");
        bytes.extend(data(FLAG_RST, 1, 3));
        bytes.extend_from_slice(b"rst");
        bytes.extend(data(0, 1, 4));
        bytes.extend_from_slice(b"data");
        let mut bounded = Bounded::new(futures::io::Cursor::new(bytes), unread.clone());
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0u8; 64];
        while let Poll::Ready(Ok(n @ 1..)) = Pin::new(&mut bounded).poll_read(&mut cx, &mut buf) {
            assert!(n <= buf.len());
        }
        assert_eq!(unread.total(), 4, "only the plain data frame");
    }
}
