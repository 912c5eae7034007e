//! Our own frames played back to us: a peer that echoes the SYN frames
//! that opened our streams must not have them taken as streams it opened,
//! nor their bytes as its data.

#![allow(clippy::unwrap_used, clippy::panic)]

use libp2p::core::muxing::StreamMuxer as _;

use super::frame::{FLAG_SYN, HEADER, TYPE_DATA, TYPE_GO_AWAY, TYPE_PING};
use super::script::{drive, muxer};
use super::*;

/// yamux's go-away code for a protocol error.
const PROTOCOL_ERROR: u32 = 1;

/// The whole frames in `bytes`: each header with, for a data frame, its
/// body.
fn frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= HEADER {
        let body = match rest[1] {
            TYPE_DATA => u32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize,
            _ => 0,
        };
        let (frame, after) = rest.split_at(HEADER + body);
        out.push(frame);
        rest = after;
    }
    assert!(rest.is_empty(), "a frame cut short");
    out
}

fn kind(frame: &[u8]) -> u8 {
    frame[1]
}

fn flags(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[2], frame[3]])
}

fn stream_id(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[4..8].try_into().unwrap())
}

/// The header's length field: a go-away's code.
fn value(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[8..12].try_into().unwrap())
}

fn ready<T>(poll: Poll<Result<T, Error>>) -> T {
    match poll {
        Poll::Ready(Ok(t)) => t,
        Poll::Ready(Err(e)) => panic!("{e}"),
        Poll::Pending => panic!("pending"),
    }
}

#[test]
fn our_syn_frames_reflected_back_are_refused_and_nothing_of_them_is_counted_or_read() {
    for mode in [yamux::Mode::Client, yamux::Mode::Server] {
        let (mut muxer, wire) = muxer(mode);
        let mut cx = Context::from_waker(Waker::noop());
        // Two streams of ours, each opened by its first data frame; one
        // also closed (its FIN, a frame of its own, is not reflected).
        let mut written = ready(Pin::new(&mut muxer).poll_outbound(&mut cx));
        assert!(
            Pin::new(&mut written)
                .poll_write(&mut cx, b"hello")
                .is_ready()
        );
        let mut closed = ready(Pin::new(&mut muxer).poll_outbound(&mut cx));
        assert!(Pin::new(&mut closed).poll_write(&mut cx, b"bye").is_ready());
        assert!(Pin::new(&mut closed).poll_close(&mut cx).is_ready());
        let mut theirs = Vec::new();
        assert!(drive(&mut muxer, &mut theirs, 4, &mut cx).is_none());

        let sent = wire.heard();
        let syns: Vec<&[u8]> = frames(&sent)
            .into_iter()
            .filter(|f| kind(f) != TYPE_PING && flags(f) & FLAG_SYN != 0)
            .collect();
        let ours = [written.0.id().val(), closed.0.id().val()];
        let mut ids: Vec<u32> = syns.iter().map(|f| stream_id(f)).collect();
        ids.sort_unstable();
        assert_eq!(ids, ours, "{mode:?}: the frames that opened our streams");
        for syn in &syns {
            wire.say(syn);
        }

        let failed = drive(&mut muxer, &mut theirs, 8, &mut cx);
        assert!(
            theirs.is_empty(),
            "{mode:?}: a reflected SYN became a stream of the peer's"
        );
        let answer = wire.heard();
        let refused = frames(&answer)
            .into_iter()
            .filter(|f| kind(f) == TYPE_GO_AWAY && value(f) == PROTOCOL_ERROR)
            .count();
        assert!(
            failed.is_some() || refused == syns.len(),
            "{mode:?}: {refused} of {} reflections refused, the connection open",
            syns.len()
        );
        // The reflected body is neither our stream's data nor counted as
        // unread: it would hold the bound on unread bytes for good.
        let mut buf = [0u8; 16];
        let read = Pin::new(&mut written).poll_read(&mut cx, &mut buf);
        assert!(
            !matches!(read, Poll::Ready(Ok(n)) if n > 0),
            "{mode:?}: our stream read its own bytes back"
        );
        assert_eq!(muxer.unread.total(), 0, "{mode:?}: counted as unread");
    }
}
