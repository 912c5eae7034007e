//! A sender that ends its connection right after its last byte, without
//! closing its data stream first: yamux sends GoAway and closes the socket.
//! The receiver must finish the transfer then, not wait for the stall
//! timeout: when the GoAway comes with the last bytes, and when it comes
//! while the receiver already waits for what follows them. Both with
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
    for (i, pause) in [Duration::ZERO, Duration::from_secs(2)]
        .into_iter()
        .enumerate()
    {
        let hostile = Hostile::connect_with(layers, receiver.peer_id, receiver.addr.clone()).await;
        // Larger than the 16 MiB the receiver grants a connection, so the
        // last bytes leave only as the receiver reads.
        let content = bytes(24 * MIB, 21 + i as u64);
        let name = format!("last-{i}.bin");
        let offer = one_file(&name, content.len(), hash_of(&content));
        assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
        let stream = hostile.write_data(&header(&offer, vec![0]), &content).await;
        tokio::time::sleep(pause).await;
        let closed = Instant::now();
        hostile.disconnect().await;

        let done = receiver.done(&offer.transfer_id);
        let waited = closed.elapsed();
        assert!(
            waited < Duration::from_secs(30),
            "the receiver waited {waited:?} after the connection closed: {done}"
        );
        assert_eq!(std::fs::read(receiver.dir.join(&name)).unwrap(), content);
        assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
        drop(stream);
    }
    receiver.assert_alive_and_stop();
}
