//! What a pending Noise handshake costs in memory: a thousand peers that
//! connect, send a byte or two and go quiet must not hold a full message
//! buffer each for the handshake's 20 seconds.
//!
//! Memory is counted by a global allocator of this test binary's own, so
//! this file holds one test: another running beside it would count too.

#![allow(unsafe_code, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{AsyncWriteExt, poll};
use libp2p::core::upgrade::InboundConnectionUpgrade;
use libp2p::identity::Keypair;
use p2p_transport::noise::Config;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Bytes allocated and not yet freed, by anyone in this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting into [`LIVE`].
struct Counting;

// SAFETY: every call goes to `System` with the caller's arguments unchanged;
// the counter is only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Pending handshakes measured for each opening.
const PENDING: usize = 1_000;

/// What one pending handshake may hold at most. A full message buffer
/// each way (128 KiB) is far above it; the handshake's own state (snow's,
/// the keys, the payload we will send) and the in-memory pipe are below.
const BOUND: usize = 16 * 1024;

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_pending_handshakes_hold_little_memory_each() {
    let config = Config::new(&Keypair::generate_ed25519()).expect("config");
    // What the peers send before going quiet: one byte of a length prefix,
    // and a whole prefix claiming the largest message with one byte of it.
    for opening in [&[0x00][..], &[0xff, 0xff, 0x00][..]] {
        let mut held = Vec::with_capacity(PENDING + 1);
        let mut before = 0;
        for i in 0..=PENDING {
            // The first one warms up what is set up once per process (the
            // runtime's timer, ring's processor check) and is not counted.
            if i == 1 {
                before = LIVE.load(Ordering::SeqCst);
            }
            let (peer, ours) = tokio::io::duplex(1024);
            let mut peer = peer.compat();
            peer.write_all(opening).await.expect("write");
            let mut upgrade = config.clone().upgrade_inbound(ours.compat(), "/noise");
            assert!(
                poll!(&mut upgrade).is_pending(),
                "a handshake ended on {opening:?}"
            );
            held.push((peer, upgrade));
        }
        let after = LIVE.load(Ordering::SeqCst);
        let each = after.saturating_sub(before) / PENDING;
        assert!(
            each < BOUND,
            "{each} bytes per pending handshake after {opening:?}"
        );
        // They are all still waiting for the rest, not failed.
        for (_, upgrade) in &mut held {
            assert!(poll!(upgrade).is_pending());
        }
    }
}
