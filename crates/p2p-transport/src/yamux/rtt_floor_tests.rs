//! The floor on crafted frame streams split every way, with tokio's clock
//! paused; and real yamux connections over it.

#![allow(clippy::expect_used)]

use std::future::poll_fn;

use futures::{AsyncReadExt, AsyncWriteExt};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::super::frame::{
    FLAG_ACK, FLAG_SYN, HEADER, TYPE_DATA, TYPE_GO_AWAY, TYPE_PING, VERSION,
};
use super::*;

fn frame(kind: u8, flags: u16, stream: u32, len: u32) -> Vec<u8> {
    let mut out = vec![VERSION, kind];
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out
}

fn data(stream: u32, body: &[u8]) -> Vec<u8> {
    let mut out = frame(
        TYPE_DATA,
        0,
        stream,
        u32::try_from(body.len()).expect("small"),
    );
    out.extend_from_slice(body);
    out
}

fn ping(opaque: u32) -> Vec<u8> {
    frame(TYPE_PING, FLAG_SYN, 0, opaque)
}

fn pong(opaque: u32) -> Vec<u8> {
    frame(TYPE_PING, FLAG_ACK, 0, opaque)
}

/// Gives its bytes in pieces of random size, now and then "not yet"
/// (waking at once); with `then_wait`, never ends but stays pending, as
/// an idle socket does.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    rng: StdRng,
    then_wait: bool,
    written: Vec<u8>,
}

impl Pieces {
    fn new(bytes: Vec<u8>, seed: u64) -> Self {
        Self {
            bytes,
            at: 0,
            rng: StdRng::seed_from_u64(seed),
            then_wait: false,
            written: Vec::new(),
        }
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.at == this.bytes.len() {
            return if this.then_wait {
                Poll::Pending
            } else {
                Poll::Ready(Ok(0))
            };
        }
        if this.rng.gen_ratio(1, 5) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = this
            .rng
            .gen_range(1..=20)
            .min(buf.len())
            .min(this.bytes.len() - this.at);
        buf[..n].copy_from_slice(&this.bytes[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = this.rng.gen_range(1..=7).min(buf.len());
        this.written.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads `n` bytes in reads of random size.
async fn read_n(io: &mut RttFloor<Pieces>, n: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut buf = vec![0; rng.gen_range(1..=30)];
        let got = io.read(&mut buf).await.expect("read");
        assert_ne!(got, 0, "ended after {} of {n} bytes", out.len());
        out.extend_from_slice(&buf[..got]);
    }
    out
}

/// Frames of every kind, including answers to pings that are not ours.
fn mixed_frames(rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..300 {
        match rng.gen_range(0..5) {
            0 => {
                let body: Vec<u8> = (0..rng.gen_range(0..100)).map(|_| rng.r#gen()).collect();
                bytes.extend(data(i, &body));
            }
            1 => bytes.extend(frame(1, FLAG_SYN, i, 262_144)),
            2 => bytes.extend(ping(i)),
            3 => bytes.extend(pong(i)),
            _ => bytes.extend(frame(TYPE_GO_AWAY, 0, 0, 0)),
        }
    }
    bytes
}

#[tokio::test(start_paused = true)]
async fn frames_pass_unchanged_however_they_are_split() {
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        let bytes = mixed_frames(&mut rng);
        let mut io = RttFloor::new(Pieces::new(bytes.clone(), seed));
        assert_eq!(read_n(&mut io, bytes.len(), &mut rng).await, bytes);
        let mut rest = [0u8; 8];
        assert_eq!(io.read(&mut rest).await.expect("end"), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn written_bytes_pass_unchanged_and_our_pings_are_seen() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = mixed_frames(&mut rng);
    out.extend(ping(0xDEAD_BEEF));
    let mut io = RttFloor::new(Pieces::new(Vec::new(), 7));
    io.write_all(&out).await.expect("write");
    assert_eq!(io.io.written, out);
    // The ping of the mixed frames and ours, the last `MAX_PINGS`.
    assert_eq!(io.pings.len(), MAX_PINGS);
    assert_eq!(io.pings.back().map(|p| p.0), Some(0xDEAD_BEEF));
}

#[tokio::test(start_paused = true)]
async fn the_answer_to_our_ping_waits_for_the_floor_and_frames_behind_it_pass_first() {
    let mut rng = StdRng::seed_from_u64(1);
    let behind = data(3, b"behind the pong");
    let mut incoming = pong(42);
    incoming.extend(&behind);
    let mut source = Pieces::new(incoming, 1);
    source.then_wait = true;
    let mut io = RttFloor::new(source);
    let sent = Instant::now();
    io.write_all(&ping(42)).await.expect("ping");
    tokio::time::advance(Duration::from_millis(40)).await;

    assert_eq!(read_n(&mut io, behind.len(), &mut rng).await, behind);
    assert!(sent.elapsed() < FLOOR, "the data frame waited");
    // Nothing else arrives: the held answer is given when its time comes.
    assert_eq!(read_n(&mut io, HEADER, &mut rng).await, pong(42));
    assert!(sent.elapsed() >= FLOOR, "given after {:?}", sent.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_passes_in_place() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut incoming = pong(5);
    incoming.extend(data(1, b"x"));
    let mut io = RttFloor::new(Pieces::new(incoming.clone(), 2));
    io.write_all(&ping(5)).await.expect("ping");
    tokio::time::advance(FLOOR + Duration::from_millis(1)).await;
    assert_eq!(read_n(&mut io, incoming.len(), &mut rng).await, incoming);
}

#[tokio::test(start_paused = true)]
async fn a_held_answer_passes_before_the_end() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut io = RttFloor::new(Pieces::new(pong(9), 3));
    io.write_all(&ping(9)).await.expect("ping");
    assert_eq!(read_n(&mut io, HEADER, &mut rng).await, pong(9));
    let mut rest = [0u8; 4];
    assert_eq!(io.read(&mut rest).await.expect("end"), 0);
}

#[tokio::test(start_paused = true)]
async fn bytes_that_are_not_yamux_pass_unread() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut incoming = data(1, b"ok");
    incoming.extend(b"\x07 not a yamux header, and then a pong:");
    incoming.extend(pong(11));
    let mut io = RttFloor::new(Pieces::new(incoming.clone(), 4));
    io.write_all(&ping(11)).await.expect("ping");
    assert_eq!(read_n(&mut io, incoming.len(), &mut rng).await, incoming);
}

#[tokio::test]
async fn the_connection_ending_inside_a_header_is_an_error() {
    let mut io = RttFloor::new(Pieces::new(data(1, b"x")[..5].to_vec(), 5));
    let mut buf = [0u8; 32];
    let error = io.read(&mut buf).await.expect_err("a cut header");
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
}

/// Drives a yamux connection, handing out its first inbound stream.
fn drive<C>(mut connection: yamux::Connection<C>) -> tokio::sync::oneshot::Receiver<yamux::Stream>
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        while let Some(Ok(stream)) = poll_fn(|cx| connection.poll_next_inbound(cx)).await {
            if let Some(tx) = tx.take() {
                let _ = tx.send(stream);
            }
        }
    });
    rx
}

#[tokio::test]
async fn real_yamux_over_the_floor_carries_data_both_ways() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let mut ours = yamux::Connection::new(
        RttFloor::new(a.compat()),
        yamux::Config::default(),
        yamux::Mode::Client,
    );
    let theirs = yamux::Connection::new(b.compat(), yamux::Config::default(), yamux::Mode::Server);
    let mut stream = poll_fn(|cx| ours.poll_new_outbound(cx))
        .await
        .expect("open");
    let _ours = drive(ours);
    let inbound = drive(theirs);

    let up: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let down: Vec<u8> = (0..2_000_000u32).map(|i| (i % 241) as u8).collect();
    let (up2, down2) = (up.clone(), down.clone());
    let sending = tokio::spawn(async move {
        stream.write_all(&up2).await.expect("write up");
        stream.close().await.expect("close up");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.expect("read down");
        got
    });
    let mut far = tokio::time::timeout(Duration::from_secs(20), inbound)
        .await
        .expect("a stream in time")
        .expect("a stream");
    let mut got = Vec::new();
    far.read_to_end(&mut got).await.expect("read up");
    assert_eq!(got, up);
    far.write_all(&down2).await.expect("write down");
    far.close().await.expect("close down");
    let back = tokio::time::timeout(Duration::from_secs(20), sending)
        .await
        .expect("done in time")
        .expect("no panic");
    assert_eq!(back, down);
}
