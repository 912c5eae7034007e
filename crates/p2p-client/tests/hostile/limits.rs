//! One peer's limits: a flood of offers, a stalled stream.

use std::time::{Duration, Instant};

use futures::AsyncWriteExt;
use libp2p::StreamProtocol;
use protocol::offer::Offer;
use protocol::transfer::{DATA_PROTOCOL, DataResult, Decision, Refusal, Response, encode_frame};
use tokio::task::block_in_place;

use crate::MIB;
use crate::offers::{bytes, eventually, file_names, hash_of, header, one_file};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_flood_the_prompt_with_offers() {
    let mut receiver = block_in_place(|| Receiver::start_with(false, &[]));
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let offers: Vec<Offer> = (0..3)
        .map(|i| {
            let content = bytes(1000, 40 + i);
            one_file(&format!("offer-{i}.bin"), content.len(), hash_of(&content))
        })
        .collect();
    // All three at once: two may wait for the person, the third is refused
    // while they wait. The person then declines the two.
    let running = &mut receiver.running;
    let person = async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        block_in_place(|| {
            for _ in 0..2 {
                running.wait_event("offer_received");
                running.answer("n");
            }
        });
    };
    let (first, second, third, ()) = tokio::join!(
        hostile.offer(&offers[0]),
        hostile.offer(&offers[1]),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            hostile.offer(&offers[2]).await
        },
        person,
    );
    match &third {
        Response::Refused { reason, .. } => assert_eq!(*reason, Refusal::Busy, "{third:?}"),
        other => panic!("a third waiting offer from one peer was not refused: {other:?}"),
    }
    for answer in [&first, &second] {
        assert!(
            matches!(answer, Response::Decision(Decision::Decline { .. })),
            "{answer:?}"
        );
    }
    drop(hostile);
    let shown = receiver
        .running
        .seen
        .iter()
        .filter(|e| e["event"] == "offer_received")
        .count();
    assert!(shown <= 2, "{shown} offers reached the prompt");
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_times_out_while_another_transfer_goes_on() {
    // The other transfer below must finish inside the stalled stream's
    // timeout: 4 s leaves room for a loaded CI machine (2 s failed once).
    let mut receiver =
        block_in_place(|| Receiver::start_with(true, &[("P2P_STALL_TIMEOUT_SECS", "4")]));
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let stalled = bytes(MIB, 50);
    let stalled_offer = one_file("stalled.bin", stalled.len(), hash_of(&stalled));
    assert_eq!(hostile.offer_accepted(&stalled_offer).await, Vec::new());
    let mut control = hostile.streams.clone();
    let mut stream = control
        .open_stream(receiver.peer_id, StreamProtocol::new(DATA_PROTOCOL))
        .await
        .unwrap();
    stream
        .write_all(&encode_frame(&header(&stalled_offer, vec![0])))
        .await
        .unwrap();
    stream.write_all(&stalled[..200_000]).await.unwrap();
    stream.flush().await.unwrap();
    // ...and then nothing, with the stream left open.

    // Meanwhile another transfer from the same peer completes.
    let other = bytes(300_000, 51);
    let other_offer = one_file("other.bin", other.len(), hash_of(&other));
    assert_eq!(hostile.offer_accepted(&other_offer).await, Vec::new());
    assert_eq!(
        hostile
            .send_data(&header(&other_offer, vec![0]), &other)
            .await,
        Ok(DataResult::Complete)
    );
    receiver.done(&other_offer.transfer_id);

    let started = Instant::now();
    let error = receiver.failed(&stalled_offer.transfer_id);
    assert!(error.contains("stalled for 4 seconds"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(12));
    drop(stream);
    assert_eq!(file_names(&receiver.dir), ["other.bin"]);
    assert_eq!(
        std::fs::read(receiver.dir.join("other.bin")).unwrap(),
        other
    );
    // What arrived of the stalled file is kept for a resume.
    let part = format!("{}-{}.part", hash_of(&stalled), stalled.len());
    block_in_place(|| {
        eventually(
            "the stalled file's partial should hold what arrived",
            || receiver.partials_by_content() == [(part.clone(), 200_000)],
        );
    });
    receiver.assert_nothing_outside();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

/// Whether the node closed `socket` (end of stream or reset) within `wait`;
/// bytes or silence mean it is still open.
async fn closed_within(socket: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(wait, socket.read(&mut buf)).await {
            Err(_elapsed) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// One address cannot hold more than its share of connections: the 33rd
/// from one IP is refused before its handshake while another IP still gets
/// in, and the slots come back when the connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_32_connections() {
    use tokio::io::AsyncWriteExt as _;
    let receiver = block_in_place(Receiver::start);
    let port = receiver
        .addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let connect_from = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        let mut stream = socket.connect(target).await.unwrap();
        // One byte of a handshake that never goes on.
        stream.write_all(b"/").await.unwrap();
        stream
    };
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(connect_from([127, 0, 0, 1]).await);
    }
    let mut one_too_many = connect_from([127, 0, 0, 1]).await;
    assert!(
        closed_within(&mut one_too_many, Duration::from_secs(5)).await,
        "the 33rd connection from one address should be refused"
    );
    // Another address is not affected, and the first 32 are still open.
    let mut other = connect_from([127, 0, 0, 2]).await;
    assert!(!closed_within(&mut other, Duration::from_millis(500)).await);
    for socket in held.iter_mut().take(3) {
        assert!(!closed_within(socket, Duration::from_millis(100)).await);
    }

    // Once they close, a real peer from the first address gets in.
    drop(held);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(1000, 60);
    let offer = one_file("after.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    drop((hostile, other));
    receiver.assert_alive_and_stop();
}
