//! The server's circuit relay with real libp2p swarms: two peers reserve,
//! connect through it, and move real bytes over the circuit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify, noise, ping, relay, tcp, yamux};
use protocol::signal::RoomRequest;
use signal_server::Config;
use signal_server::testing::{TestClient, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

const PROTO: StreamProtocol = StreamProtocol::new("/p2p-share/test-bytes/1");
const WAIT: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
struct Peer {
    relay: relay::client::Behaviour,
    stream: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

fn new_swarm() -> Swarm<Peer> {
    new_swarm_with(Keypair::generate_ed25519())
}

fn new_swarm_with(key: Keypair) -> Swarm<Peer> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| Peer {
            relay,
            stream: libp2p_stream::Behaviour::new(),
            identify: identify::Behaviour::new(identify::Config::new(
                "/p2p-share/test/1".into(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// What the test wants to know from a swarm running in the background.
#[derive(Debug)]
enum Seen {
    Reserved,
    /// The relay refused the reservation: the circuit listener closed.
    ReservationFailed,
    Connected {
        peer: PeerId,
        addr: Multiaddr,
    },
}

/// Runs a swarm in the background, reporting reservations and connections.
fn spawn(mut swarm: Swarm<Peer>) -> mpsc::Receiver<Seen> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let seen = match swarm.select_next_some().await {
                SwarmEvent::Behaviour(PeerEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => Seen::Reserved,
                SwarmEvent::ListenerClosed { reason: Err(_), .. } => Seen::ReservationFailed,
                SwarmEvent::ConnectionEstablished {
                    peer_id, endpoint, ..
                } => Seen::Connected {
                    peer: peer_id,
                    addr: endpoint.get_remote_address().clone(),
                },
                _ => continue,
            };
            if tx.send(seen).await.is_err() {
                return;
            }
        }
    });
    rx
}

async fn wait_for(rx: &mut mpsc::Receiver<Seen>, want: impl Fn(&Seen) -> bool) -> Seen {
    tokio::time::timeout(WAIT, async {
        loop {
            let seen = rx.recv().await.expect("swarm task alive");
            if want(&seen) {
                return seen;
            }
        }
    })
    .await
    .expect("event in time")
}

/// Byte `i` of the test payload.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Alice reserves on the relay at `relay_addr`; Bob reaches her through it and
/// sends `bytes` bytes over a stream, which Alice checks byte by byte.
async fn relayed_transfer(relay_addr: &str, bytes: u64) {
    let relay_addr: Multiaddr = relay_addr.parse().unwrap();
    let relay_peer = match relay_addr.iter().last() {
        Some(Protocol::P2p(peer)) => peer,
        _ => panic!("relay address without /p2p: {relay_addr}"),
    };

    let mut alice = new_swarm();
    let alice_id = *alice.local_peer_id();
    let mut alice_control = alice.behaviour().stream.new_control();
    let mut incoming = alice_control.accept(PROTO).unwrap();
    alice
        .listen_on(relay_addr.clone().with(Protocol::P2pCircuit))
        .unwrap();
    let mut alice_events = spawn(alice);
    wait_for(&mut alice_events, |s| matches!(s, Seen::Reserved)).await;

    let mut bob = new_swarm();
    let mut bob_control = bob.behaviour().stream.new_control();
    let circuit = relay_addr
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(alice_id));
    bob.dial(circuit).unwrap();
    let mut bob_events = spawn(bob);
    let Seen::Connected { addr, .. } = wait_for(
        &mut bob_events,
        |s| matches!(s, Seen::Connected { peer, .. } if *peer == alice_id),
    )
    .await
    else {
        unreachable!()
    };
    assert!(
        addr.iter().any(|p| p == Protocol::P2pCircuit),
        "Bob reached Alice directly, not through the relay: {addr}"
    );
    assert!(addr.iter().any(|p| p == Protocol::P2p(relay_peer)));

    let receiver = tokio::spawn(async move {
        let (_, mut stream) = tokio::time::timeout(WAIT, incoming.next())
            .await
            .unwrap()
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0u64;
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern(offset + i as u64),
                    "byte {} corrupted",
                    offset + i as u64
                );
            }
            offset += n as u64;
        }
        stream.write_all(b"ok").await.unwrap();
        stream.close().await.unwrap();
        offset
    });

    let mut stream = tokio::time::timeout(WAIT, bob_control.open_stream(alice_id, PROTO))
        .await
        .unwrap()
        .unwrap();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = chunk.len().min((bytes - sent) as usize);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(sent + i as u64);
        }
        stream.write_all(&chunk[..n]).await.unwrap();
        sent += n as u64;
    }
    stream.close().await.unwrap();
    let mut ack = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut ack))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ack, b"ok");
    let received = tokio::time::timeout(WAIT, receiver).await.unwrap().unwrap();
    assert_eq!(received, bytes);
}

fn relay_addr(server: &TestServer, transport: &str) -> String {
    let relay = server.relay.as_ref().expect("relay enabled");
    relay
        .addrs
        .iter()
        .find(|a| a.contains(transport))
        .unwrap_or_else(|| panic!("no {transport} relay address in {:?}", relay.addrs))
        .clone()
}

async fn metrics(server: &TestServer) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn two_peers_meet_through_the_relay_over_tcp_and_move_many_megabytes() {
    let server = TestServer::start(Config::localhost()).await.unwrap();
    // Far beyond libp2p's default relay limit of 128 KiB per circuit.
    relayed_transfer(&relay_addr(&server, "/tcp/"), 32 * 1024 * 1024).await;
    let text = metrics(&server).await;
    assert!(
        text.contains("relay_reservations_accepted_total 1"),
        "{text}"
    );
    assert!(text.contains("relay_circuits_accepted_total 1"), "{text}");
}

#[tokio::test]
async fn two_peers_meet_through_the_relay_over_quic() {
    let server = TestServer::start(Config::localhost()).await.unwrap();
    relayed_transfer(&relay_addr(&server, "/quic-v1/"), 1024 * 1024).await;
}

#[tokio::test]
async fn a_peer_that_never_reserved_cannot_be_reached_through_the_relay() {
    let server = TestServer::start(Config::localhost()).await.unwrap();
    let relay_addr: Multiaddr = relay_addr(&server, "/tcp/").parse().unwrap();
    let stranger = PeerId::random();
    let mut bob = new_swarm();
    bob.dial(
        relay_addr
            .with(Protocol::P2pCircuit)
            .with(Protocol::P2p(stranger)),
    )
    .unwrap();
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            match bob.select_next_some().await {
                SwarmEvent::OutgoingConnectionError {
                    peer_id: Some(p), ..
                } if p == stranger => return true,
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == stranger => {
                    return false;
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(failed, "reached a peer with no reservation");
    let text = metrics(&server).await;
    assert!(text.contains("relay_circuits_denied_total 1"), "{text}");
}

/// Peer IDs are free: one address may hold only so many connections to the
/// relay (and so reservations), and the next is refused before its
/// handshake and counted.
#[tokio::test]
async fn one_address_gets_only_so_many_relay_connections() {
    let mut config = Config::localhost();
    config.relay.connections_per_ip = 2;
    let server = TestServer::start(config).await.unwrap();
    let relay_addr: Multiaddr = relay_addr(&server, "/tcp/").parse().unwrap();
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut peer = new_swarm();
        peer.dial(relay_addr.clone()).unwrap();
        tokio::time::timeout(WAIT, async {
            loop {
                match peer.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { .. } => return,
                    SwarmEvent::OutgoingConnectionError { error, .. } => panic!("{error}"),
                    _ => {}
                }
            }
        })
        .await
        .unwrap();
        // Kept connected in the background; aborting the task drops it.
        kept.push(tokio::spawn(async move {
            loop {
                peer.select_next_some().await;
            }
        }));
    }
    // A third identity from the same address.
    let mut third = new_swarm();
    third.dial(relay_addr.clone()).unwrap();
    let connected = tokio::time::timeout(WAIT, async {
        loop {
            match third.select_next_some().await {
                SwarmEvent::OutgoingConnectionError { .. } => return false,
                SwarmEvent::ConnectionEstablished { .. } => return true,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(
        !connected,
        "a third connection from one address got through"
    );
    let text = metrics(&server).await;
    assert!(text.contains("relay_connections_denied_total 1"), "{text}");

    // Once one of the two leaves, the address has room again.
    if let Some(task) = kept.pop() {
        task.abort();
    }
    let mut fourth = new_swarm();
    let reconnected = tokio::time::timeout(WAIT, async {
        loop {
            // The relay notices the closed connection a moment later.
            fourth.dial(relay_addr.clone()).unwrap();
            loop {
                match fourth.select_next_some().await {
                    SwarmEvent::OutgoingConnectionError { .. } => break,
                    SwarmEvent::ConnectionEstablished { .. } => return,
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(reconnected.is_ok(), "the address never got room again");
}

/// Asks the relay at `relay_addr` for a reservation as `key`; true if granted.
async fn reserve(relay_addr: &Multiaddr, key: Keypair) -> bool {
    let mut swarm = new_swarm_with(key);
    swarm
        .listen_on(relay_addr.clone().with(Protocol::P2pCircuit))
        .unwrap();
    let mut events = spawn(swarm);
    matches!(
        wait_for(&mut events, |s| matches!(
            s,
            Seen::Reserved | Seen::ReservationFailed
        ))
        .await,
        Seen::Reserved
    )
}

/// `--relay-registered-only`: a peer gets a reservation only while it is
/// registered on the WebSocket service with a valid ownership proof.
#[tokio::test]
async fn registered_only_refuses_strangers_and_admits_registered_peers() {
    let mut config = Config::localhost();
    config.relay.registered_only = true;
    let server = TestServer::start(config).await.unwrap();
    let relay_addr: Multiaddr = relay_addr(&server, "/tcp/").parse().unwrap();

    let stranger = Keypair::generate_ed25519();
    assert!(
        !reserve(&relay_addr, stranger).await,
        "an unregistered peer got a reservation"
    );

    let alice = Keypair::generate_ed25519();
    let mut client = TestClient::connect(&server.ws_url()).await.unwrap();
    client.key = alice.clone();
    let (_registered, _) = client.register("alice", RoomRequest::Auto).await.unwrap();
    assert!(
        reserve(&relay_addr, alice).await,
        "a registered peer was refused"
    );

    // The refusal (long done by now) is counted.
    let text = metrics(&server).await;
    assert!(text.contains("relay_reservations_denied_total 1"), "{text}");
}

#[tokio::test]
async fn without_registered_only_a_stranger_may_reserve() {
    let server = TestServer::start(Config::localhost()).await.unwrap();
    let relay_addr: Multiaddr = relay_addr(&server, "/tcp/").parse().unwrap();
    assert!(reserve(&relay_addr, Keypair::generate_ed25519()).await);
}
