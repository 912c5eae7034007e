//! A floor under yamux's round-trip estimate, so that a busy stream's
//! receive window grows at once on a lossy path.
//!
//! yamux (0.14) starts every stream's receive window at 256 KiB and doubles
//! it only when the sender used half of it within two round trips since the
//! last window update. The round trip is measured by one ping at connection
//! start and one every 10 s after. On a 40 ms path with 0.5% loss, TCP's
//! loss recovery stretches nearly every half window past 80 ms, so the
//! window stayed at 256 KiB for 10 or 20 s in some runs: 3-5 MB/s on a path
//! that carries 22 (measured: `wan_bench`, the window logged by yamux and
//! unchanged until a ping happened to measure 78 ms). Without loss, the
//! doubling still took the first half second.
//!
//! yamux has no setting for this rule, and the round trip is its only use
//! of the measurement. So this layer, between yamux and Noise, holds back
//! the answer to yamux's own ping until [`FLOOR`] after the ping went out;
//! the frames behind it pass first (frame order across streams carries no
//! meaning in yamux). yamux then sees a round trip of at least `FLOOR`,
//! and a stream that used half its window within `2 * FLOOR` gets it
//! doubled, up to what the connection's receive window allows
//! (see `yamux`). Nothing else is changed, delayed or copied: data frame
//! bodies are read straight into yamux's buffer.
//!
//! Incoming frames are followed to find the answers (type 2 with ACK and
//! the opaque value of one of our pings); outgoing ones to see our pings
//! (type 2 with SYN) leave. See `frame` for the headers.
//!
//! Upstream, this layer would be unnecessary with a yamux setting for the
//! window's growth (a floor under the round-trip estimate, or growth on
//! every window update that finds the window used up, as QUIC
//! implementations do): yamux 0.14's `Config` has none.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use super::frame::{FLAG_ACK, FLAG_SYN, Follower, HEADER, Header, give, parse};

/// The shortest round trip yamux is shown.
pub(super) const FLOOR: Duration = Duration::from_millis(250);

/// Pings remembered; yamux has one outstanding at a time.
const MAX_PINGS: usize = 4;

/// A yamux connection's byte stream with the answers to its pings held
/// until [`FLOOR`] after they were sent.
#[derive(Debug)]
pub(super) struct RttFloor<C> {
    io: C,
    /// Our pings as they left: opaque value and when.
    pings: VecDeque<(u32, Instant)>,
    outgoing: Follower,
    /// Incoming: body bytes of the current data frame still to pass.
    body: u64,
    /// Incoming: the next header, gathered before any of it passes.
    header: [u8; HEADER],
    have: usize,
    /// How much of a whole `header` has passed already.
    given: usize,
    /// An answer to our ping, waiting for its time, and how much of it
    /// has passed.
    held: Option<[u8; HEADER]>,
    held_given: usize,
    release: Option<Pin<Box<Sleep>>>,
    /// Incoming bytes are not yamux's: pass them unread.
    lost: bool,
}

impl<C> RttFloor<C> {
    /// The floor over `io`.
    pub(super) fn new(io: C) -> Self {
        Self {
            io,
            pings: VecDeque::new(),
            outgoing: Follower::default(),
            body: 0,
            header: [0; HEADER],
            have: 0,
            given: 0,
            held: None,
            held_given: 0,
            release: None,
            lost: false,
        }
    }

    /// Whether the held answer may pass now (registering a wake-up if not).
    fn held_due(&mut self, cx: &mut Context<'_>) -> bool {
        if self.held.is_none() {
            return false;
        }
        match self.release.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx).is_ready(),
            None => true,
        }
    }

    /// Hands on the held answer from where it stopped.
    fn give_held(&mut self, buf: &mut [u8]) -> usize {
        let Some(held) = self.held else { return 0 };
        let n = give(&held, &mut self.held_given, buf);
        if self.held_given == HEADER {
            self.held = None;
            self.held_given = 0;
            self.release = None;
        }
        n
    }

    /// Hands on the gathered header from where it stopped.
    fn give_header(&mut self, buf: &mut [u8]) -> usize {
        let n = give(&self.header, &mut self.given, buf);
        if self.given == HEADER {
            self.given = 0;
            self.have = 0;
        }
        n
    }

    /// Whether an incoming ping answer is to be held, and until when.
    fn hold_until(&mut self, flags: u16, opaque: u32) -> Option<Instant> {
        // Holding needs tokio's timer; without a runtime nothing is held.
        if flags & FLAG_ACK == 0 || tokio::runtime::Handle::try_current().is_err() {
            return None;
        }
        let at = self.pings.iter().position(|(id, _)| *id == opaque)?;
        let (_, sent) = self.pings.remove(at)?;
        let release = sent + FLOOR;
        (release > Instant::now()).then_some(release)
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for RttFloor<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if this.held_given > 0 {
                return Poll::Ready(Ok(this.give_held(buf)));
            }
            if this.given > 0 {
                return Poll::Ready(Ok(this.give_header(buf)));
            }
            if this.lost {
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
            if this.body > 0 {
                let len = usize::try_from(this.body).map_or(buf.len(), |b| b.min(buf.len()));
                let part = buf.get_mut(..len).unwrap_or_default();
                let n = ready!(Pin::new(&mut this.io).poll_read(cx, part))?;
                this.body -= n as u64;
                return Poll::Ready(Ok(n));
            }
            // Between frames: the held answer goes first once it is due.
            if this.held_due(cx) {
                return Poll::Ready(Ok(this.give_held(buf)));
            }
            while this.have < HEADER {
                let free = this.header.get_mut(this.have..).unwrap_or_default();
                match Pin::new(&mut this.io).poll_read(cx, free) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(0)) if this.have == 0 => {
                        // The end: a held answer still passes first.
                        if this.held.is_some() {
                            return Poll::Ready(Ok(this.give_held(buf)));
                        }
                        return Poll::Ready(Ok(0));
                    }
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "yamux: the connection closed inside a frame header",
                        )));
                    }
                    Poll::Ready(Ok(n)) => this.have += n,
                }
            }
            match parse(&this.header) {
                Header::Ping { flags, opaque } if this.held.is_none() => {
                    if let Some(release) = this.hold_until(flags, opaque) {
                        this.held = Some(this.header);
                        this.release = Some(Box::pin(tokio::time::sleep_until(release)));
                        this.have = 0;
                        continue;
                    }
                }
                Header::Data { len, .. } => this.body = u64::from(len),
                Header::NotYamux => this.lost = true,
                _ => {}
            }
            return Poll::Ready(Ok(this.give_header(buf)));
        }
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for RttFloor<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        let pings = &mut this.pings;
        this.outgoing
            .feed(buf.get(..n).unwrap_or_default(), |header| {
                if let Header::Ping { flags, opaque } = header
                    && flags & FLAG_SYN != 0
                {
                    if pings.len() == MAX_PINGS {
                        pings.pop_front();
                    }
                    pings.push_back((opaque, Instant::now()));
                }
            });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}

#[cfg(test)]
#[path = "rtt_floor_tests.rs"]
mod tests;
