//! A receiver that drops the sender's first data stream as soon as it is
//! open, as libp2p-stream does when a second inbound stream comes before
//! the first was taken (two senders starting at once): the real sender
//! opens another and the transfer completes, with no second offer.
//!
//! The receiver is a libp2p swarm of the test's own, speaking the protocol
//! by hand, so that it drops exactly the first stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Peer, Running, random_file};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, Swarm, noise, tcp, yamux};
use protocol::offer::MAX_OFFER_BYTES;
use protocol::transfer::{
    CONTROL_PROTOCOL, DATA_PROTOCOL, DataHeader, DataResult, Decision, Request, Response,
    decode_frame_body, encode_frame, frame_len,
};
use tokio::sync::oneshot;

#[derive(NetworkBehaviour)]
struct FakeBehaviour {
    control: request_response::cbor::Behaviour<Request, Response>,
    stream: libp2p_stream::Behaviour,
}

fn swarm() -> Swarm<FakeBehaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| FakeBehaviour {
            control: request_response::Behaviour::with_codec(
                request_response::cbor::codec::Codec::default()
                    .set_request_size_maximum(MAX_OFFER_BYTES as u64 + 64 * 1024),
                [(StreamProtocol::new(CONTROL_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default(),
            ),
            stream: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Reads one length-prefixed frame.
async fn read_frame<T: serde::de::DeserializeOwned>(stream: &mut libp2p::Stream) -> T {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await.unwrap();
    let mut body = vec![0u8; frame_len(prefix).unwrap()];
    stream.read_exact(&mut body).await.unwrap();
    decode_frame_body(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_stream_dropped_at_once_is_opened_again_and_the_transfer_completes() {
    let mut swarm = swarm();
    let receiver = *swarm.local_peer_id();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address.with(Protocol::P2p(receiver));
        }
    };
    let mut incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(StreamProtocol::new(DATA_PROTOCOL))
        .unwrap();
    let offers = Arc::new(AtomicUsize::new(0));
    let (total_tx, total_rx) = oneshot::channel::<u64>();
    let counted = Arc::clone(&offers);
    let network = tokio::spawn(async move {
        let mut total_tx = Some(total_tx);
        loop {
            if let SwarmEvent::Behaviour(FakeBehaviourEvent::Control(
                request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) = swarm.select_next_some().await
                && let Request::Offer(offer) = request
            {
                counted.fetch_add(1, Ordering::SeqCst);
                if let Some(tx) = total_tx.take() {
                    let _ = tx.send(offer.total_bytes);
                }
                let accept = Response::Decision(Decision::Accept { resume: Vec::new() });
                let _ = swarm.behaviour_mut().control.send_response(channel, accept);
            }
        }
    });
    let streams = Arc::new(AtomicUsize::new(0));
    let opened = Arc::clone(&streams);
    let data = tokio::spawn(async move {
        let total = total_rx.await.unwrap();
        loop {
            let (_, mut stream) = incoming.next().await.unwrap();
            if opened.fetch_add(1, Ordering::SeqCst) == 0 {
                // Dropped unread: yamux resets it.
                drop(stream);
                continue;
            }
            let header: DataHeader = read_frame(&mut stream).await;
            assert!(header.starts.iter().all(|s| *s == 0), "{header:?}");
            let mut bytes = vec![0u8; usize::try_from(total).unwrap()];
            stream.read_exact(&mut bytes).await.unwrap();
            stream
                .write_all(&encode_frame(&DataResult::Complete))
                .await
                .unwrap();
            stream.flush().await.unwrap();
            let _ = stream.close().await;
            return bytes;
        }
    });

    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("twice.bin");
    random_file(&file, 3_000_000, 17);
    let sender = Peer::new();
    let (code, stderr, events) = tokio::task::block_in_place(|| {
        let mut cmd = sender.command();
        cmd.arg("send").arg(&file).args(["--to", &addr.to_string()]);
        Running::spawn(cmd).finish()
    });
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "transfer_done"),
        "{events:?}"
    );
    let received = tokio::time::timeout(Duration::from_secs(20), data)
        .await
        .expect("the receiver got no second stream")
        .unwrap();
    assert_eq!(received, std::fs::read(&file).unwrap());
    assert_eq!(streams.load(Ordering::SeqCst), 2, "one dropped, one read");
    assert_eq!(offers.load(Ordering::SeqCst), 1, "offered once");
    network.abort();
}
