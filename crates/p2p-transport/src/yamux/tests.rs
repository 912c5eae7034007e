//! The muxer against a plain yamux peer over an in-memory pipe: what its
//! streams hold unread stays near `unread::LIMIT` however far a stream's
//! window grew, and reading on or dropping the stream lets the connection
//! go on.

#![allow(clippy::expect_used)]

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::unread::LIMIT;
use super::*;

/// Counts the bytes read through it.
struct Counting<T> {
    io: T,
    read: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counting<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = read {
            this.read.fetch_add(n as u64, Ordering::SeqCst);
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<T> {
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

/// Byte `i` of what the peer sends on a stream.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Reads `n` bytes of `stream`, checking them against [`pattern`] from `at`.
async fn read_checked(stream: &mut Stream, at: &mut u64, n: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let end = *at + n;
    while *at < end {
        let want = usize::try_from(end - *at).map_or(buf.len(), |r| r.min(buf.len()));
        let got = stream.read(&mut buf[..want]).await.expect("read");
        assert!(got > 0, "the stream ended at {at}");
        for (k, byte) in buf[..got].iter().enumerate() {
            assert_eq!(*byte, pattern(*at + k as u64), "byte {}", *at + k as u64);
        }
        *at += got as u64;
    }
}

/// Writes [`pattern`] on `stream` until it fails (the other side dropped
/// it) or `limit` bytes went.
async fn write_pattern(mut stream: yamux::Stream, limit: u64) {
    let mut at = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while at < limit {
        for (k, byte) in buf.iter_mut().enumerate() {
            *byte = pattern(at + k as u64);
        }
        let n = usize::try_from(limit - at).map_or(buf.len(), |r| r.min(buf.len()));
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
        at += n as u64;
    }
    let _ = stream.close().await;
}

#[tokio::test]
async fn a_stream_left_unread_stops_the_reading_near_the_limit_until_read_or_dropped() {
    let (a, b) = tokio::io::duplex(1024 * 1024);
    let socket_read = Arc::new(AtomicU64::new(0));
    let mut ours = Muxer::new(
        Counting {
            io: a.compat(),
            read: Arc::clone(&socket_read),
        },
        Config::default().0,
        yamux::Mode::Server,
    );
    let (inbound_tx, mut inbound) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        poll_fn(|cx| {
            while let Poll::Ready(Ok(stream)) = Pin::new(&mut ours).poll_inbound(cx) {
                if inbound_tx.try_send(stream).is_err() {
                    return Poll::Ready(());
                }
            }
            match Pin::new(&mut ours).poll(cx) {
                Poll::Ready(Err(_)) => Poll::Ready(()),
                _ => Poll::Pending,
            }
        })
        .await;
    });
    let mut theirs =
        yamux::Connection::new(b.compat(), yamux::Config::default(), yamux::Mode::Client);
    let first = poll_fn(|cx| theirs.poll_new_outbound(cx))
        .await
        .expect("open");
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (opened_tx, mut opened) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        poll_fn(|cx| {
            if let Poll::Ready(Some(())) = open_rx.poll_recv(cx)
                && let Poll::Ready(Ok(stream)) = theirs.poll_new_outbound(cx)
            {
                let _ = opened_tx.try_send(stream);
            }
            match theirs.poll_next_inbound(cx) {
                Poll::Ready(None | Some(Err(_))) => Poll::Ready(()),
                _ => Poll::Pending,
            }
        })
        .await;
    });
    tokio::spawn(write_pattern(first, u64::MAX));

    let mut stream = tokio::time::timeout(Duration::from_secs(10), inbound.recv())
        .await
        .expect("a stream in time")
        .expect("a stream");
    // Read at full speed for a second: past the first round trip (at least
    // `rtt_floor::FLOOR`) the window grows to the connection's allowance.
    let mut at = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        read_checked(&mut stream, &mut at, 1024 * 1024).await;
    }
    // Stop reading: the window lets the peer send 12.25 MiB more, but
    // the connection stops at the limit (and one frame of the peer's, 256
    // KiB at most, with headers).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = socket_read.load(Ordering::SeqCst) - at;
    assert!(
        (LIMIT..LIMIT + 512 * 1024).contains(&held),
        "{held} bytes taken from the socket and not read (limit {LIMIT})"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        socket_read.load(Ordering::SeqCst) - at,
        held,
        "the connection went on reading"
    );

    // Reading on, everything arrives in order.
    tokio::time::timeout(
        Duration::from_secs(10),
        read_checked(&mut stream, &mut at, 3 * LIMIT),
    )
    .await
    .expect("reading on in time");

    // Dropping the full stream frees the connection for another stream.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    open_tx.send(()).await.expect("ask to open");
    let second = tokio::time::timeout(Duration::from_secs(10), opened.recv())
        .await
        .expect("opened in time")
        .expect("opened");
    tokio::spawn(write_pattern(second, 2 * LIMIT));
    let mut next = tokio::time::timeout(Duration::from_secs(10), inbound.recv())
        .await
        .expect("a second stream in time")
        .expect("a second stream");
    let mut at = 0;
    tokio::time::timeout(
        Duration::from_secs(10),
        read_checked(&mut next, &mut at, 2 * LIMIT),
    )
    .await
    .expect("the second stream in time");
    let mut rest = [0u8; 1];
    assert_eq!(next.read(&mut rest).await.expect("its end"), 0);
}
