//! A muxer whose peer is played from bytes in memory, polled by hand with
//! no runtime: for the fuzz target (`fuzz/fuzz_targets/yamux_frames.rs`,
//! through `crate::fuzzing`) and for tests that send the muxer frames no
//! yamux peer would. Its [`Wire`] and [`Pieces`] serve the Noise script
//! (`noise/script.rs`) as well.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures::{AsyncRead, AsyncWrite};

use super::frame::{Follower, Header};
use super::{Config, MAX_STREAMS, Muxer, Stream};

/// What the muxer may write before the script takes it (with
/// [`Wire::heard`]); more fails the write.
const MAX_HEARD: usize = 4 * 1024 * 1024;

/// The far end of a muxer's connection: what the script says waits to be
/// read, what the muxer writes is kept until the script takes it. Reads
/// wait while nothing is said, until the script hangs up. Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wire(Arc<Mutex<Ends>>);

#[derive(Debug, Default)]
struct Ends {
    said: VecDeque<u8>,
    heard: Vec<u8>,
    hung_up: bool,
    reader: Option<Waker>,
}

impl Wire {
    fn lock(&self) -> MutexGuard<'_, Ends> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes for the muxer to read.
    pub(crate) fn say(&self, bytes: &[u8]) {
        let mut ends = self.lock();
        ends.said.extend(bytes);
        if let Some(waker) = ends.reader.take() {
            waker.wake();
        }
    }

    /// No more bytes: the muxer reads the end once it has read the rest.
    pub(crate) fn hang_up(&self) {
        let mut ends = self.lock();
        ends.hung_up = true;
        if let Some(waker) = ends.reader.take() {
            waker.wake();
        }
    }

    /// Bytes said and not read yet.
    pub(super) fn unsaid(&self) -> usize {
        self.lock().said.len()
    }

    /// What the muxer wrote since the last call.
    pub(crate) fn heard(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().heard)
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut ends = self.lock();
        if ends.said.is_empty() {
            if ends.hung_up {
                return Poll::Ready(Ok(0));
            }
            ends.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        // Slice by slice: byte by byte, copying took most of a fuzz run.
        let n = ends.said.len().min(buf.len());
        let (front, back) = ends.said.as_slices();
        let first = front.len().min(n);
        if let (Some(to), Some(from)) = (buf.get_mut(..first), front.get(..first)) {
            to.copy_from_slice(from);
        }
        if let (Some(to), Some(from)) = (buf.get_mut(first..n), back.get(..n - first)) {
            to.copy_from_slice(from);
        }
        ends.said.drain(..n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut ends = self.lock();
        if ends.heard.len() + buf.len() > MAX_HEARD {
            return Poll::Ready(Err(io::Error::other("the script's wire is full")));
        }
        ends.heard.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A muxer over a fresh [`Wire`], with our configuration.
pub(super) fn muxer(mode: yamux::Mode) -> (Muxer<Wire>, Wire) {
    let wire = Wire::default();
    (Muxer::new(wire.clone(), Config::default().0, mode), wire)
}

/// Polls `muxer` as the swarm would, `rounds` times: its connection, then
/// its inbound streams (pushed onto `streams`, at most [`MAX_STREAMS`]
/// held, the rest dropped). Returns the connection's error, if it failed.
pub(super) fn drive(
    muxer: &mut Muxer<Wire>,
    streams: &mut Vec<Stream>,
    rounds: usize,
    cx: &mut Context<'_>,
) -> Option<super::Error> {
    use libp2p::core::muxing::StreamMuxer as _;
    for _ in 0..rounds {
        if let Poll::Ready(Err(e)) = Pin::new(&mut *muxer).poll(cx) {
            return Some(e);
        }
        loop {
            match Pin::new(&mut *muxer).poll_inbound(cx) {
                Poll::Ready(Ok(stream)) if streams.len() < MAX_STREAMS => streams.push(stream),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Some(e),
                Poll::Pending => break,
            }
        }
    }
    None
}

/// Sizes of the pieces an input is cut into: a xorshift generator seeded
/// by the input's first byte, up to 2^(0..16) bytes a piece. The Noise
/// script (`noise/script.rs`) cuts its wire with it too.
pub(crate) struct Pieces {
    state: u32,
    max: usize,
}

impl Pieces {
    pub(crate) fn new(seed: u8) -> Self {
        Self {
            state: 0x9e37_79b9 ^ u32::from(seed),
            max: 1 << (seed >> 4),
        }
    }

    pub(crate) fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + (self.state as usize) % self.max
    }
}

/// The headers a [`Follower`] sees in `bytes` fed in `pieces`.
fn followed(bytes: &[u8], pieces: impl IntoIterator<Item = usize>) -> Vec<Header> {
    let mut follower = Follower::default();
    let mut seen = Vec::new();
    let mut rest = bytes;
    for n in pieces {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(n.min(rest.len()));
        follower.feed(piece, |h| seen.push(h));
        rest = after;
    }
    follower.feed(rest, |h| seen.push(h));
    seen
}

/// Most polls per piece of input: more than yamux needs to read what it
/// was given and the muxer to hand out each stream in it.
const ROUNDS_PER_PIECE: usize = 2 * MAX_STREAMS + 4;

/// The fuzz target: `data`'s first byte chooses the muxer's side (its low
/// bit) and how the rest is cut into pieces; the rest is what the peer
/// says, arriving piece by piece, then the end. The muxer has one stream of
/// its own open and written to, and reads from every stream it is given.
/// Anything may fail the connection; nothing may panic. The frame
/// follower, fed the same pieces, must see what it sees fed all at once.
pub(crate) fn frames(data: &[u8]) {
    let Some((&control, said)) = data.split_first() else {
        return;
    };
    let all_at_once = followed(said, []);
    let mut pieces = Pieces::new(control);
    let cut: Vec<usize> = std::iter::from_fn(|| Some(pieces.next()))
        .scan(0usize, |total, n| {
            (*total < said.len()).then(|| {
                *total += n;
                n
            })
        })
        .collect();
    assert_eq!(
        followed(said, cut.iter().copied()),
        all_at_once,
        "cut {cut:?}"
    );

    let mode = if control & 1 == 0 {
        yamux::Mode::Client
    } else {
        yamux::Mode::Server
    };
    let (mut muxer, wire) = muxer(mode);
    let mut cx = Context::from_waker(Waker::noop());
    let mut streams = Vec::new();
    {
        use libp2p::core::muxing::StreamMuxer as _;
        if let Poll::Ready(Ok(mut ours)) = Pin::new(&mut muxer).poll_outbound(&mut cx) {
            let _ = Pin::new(&mut ours).poll_write(&mut cx, b"ours");
            streams.push(ours);
        }
    }
    let mut scratch = [0u8; 4096];
    let mut rest = said;
    for n in cut.into_iter().chain([0]) {
        let (piece, after) = rest.split_at(n.min(rest.len()));
        rest = after;
        if piece.is_empty() {
            wire.hang_up();
        } else {
            wire.say(piece);
        }
        // Polled until it has read all it was given and handed out every
        // stream that came (or is stopped by the bound on unread bytes).
        for _ in 0..ROUNDS_PER_PIECE {
            let held = streams.len();
            if drive(&mut muxer, &mut streams, 1, &mut cx).is_some() {
                return;
            }
            if wire.unsaid() == 0 && streams.len() == held {
                break;
            }
        }
        for stream in &mut streams {
            let _ = Pin::new(stream).poll_read(&mut cx, &mut scratch);
        }
        // After a piece of odd length the oldest stream is dropped (and
        // forgotten by the bound on unread bytes).
        if n % 2 == 1 && !streams.is_empty() {
            streams.remove(0);
        }
        wire.heard();
    }
}
