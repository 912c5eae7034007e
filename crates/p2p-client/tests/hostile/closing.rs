//! A sender that ends its connection right after its last byte, without
//! closing its data stream first: yamux sends GoAway and closes the socket.
//! The receiver, which has every byte and waits for what follows them, must
//! finish the transfer then, not wait for the stall timeout. Both with
//! libp2p's own layers (a foreign peer) and with ours (another p2p-client).

use std::time::{Duration, Instant};

use tokio::task::block_in_place;

use crate::MIB;
use crate::offers::{bytes, hash_of, header, one_file};
use crate::receiver::Receiver;
use crate::sender::{Hostile, Layers};

/// Far longer than the test waits: a receiver that waits for it fails.
const STALL_SECS: &str = "600";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_peer_closing_after_the_last_byte_ends_the_transfer_at_once() {
    closed_after_the_last_byte(Layers::Stock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_ours_closing_after_the_last_byte_ends_the_transfer_at_once() {
    closed_after_the_last_byte(Layers::Ours).await;
}

async fn closed_after_the_last_byte(layers: Layers) {
    let mut receiver =
        block_in_place(|| Receiver::start_with(true, &[("P2P_STALL_TIMEOUT_SECS", STALL_SECS)]));
    let hostile = Hostile::connect_with(layers, receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(4 * MIB, 21);
    let offer = one_file("last.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let stream = hostile.write_data(&header(&offer, vec![0]), &content).await;
    // The receiver has every byte once it placed the file (verified), and
    // then waits for what follows them: the stream's end, or here the
    // connection's. Closing before that could lose bytes still in flight
    // (a socket closed with unread data sends a reset), a different case.
    let placed = receiver.dir.join("last.bin");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&placed).map(|m| m.len()).ok() != Some(content.len() as u64) {
        assert!(Instant::now() < deadline, "the file was not placed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = Instant::now();
    hostile.disconnect().await;

    let done = receiver.done(&offer.transfer_id);
    let waited = closed.elapsed();
    assert!(
        waited < Duration::from_secs(30),
        "the receiver waited {waited:?} after the connection closed: {done}"
    );
    assert_eq!(std::fs::read(&placed).unwrap(), content);
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    drop(stream);
    drop(hostile);
    receiver.assert_alive_and_stop();
}
