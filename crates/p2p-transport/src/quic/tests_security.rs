//! The transport over loopback against peers that are not who the address
//! says.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::future::poll_fn;
use std::pin::Pin;

use libp2p::core::Endpoint;
use libp2p::core::Transport as _;
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportEvent};
use tokio::sync::mpsc;

use super::*;

fn transport(key: &Keypair) -> Transport {
    Transport::new(Config::new(key, 1 << 20).unwrap(), Endpoints::default())
}

/// The result of a handshake the listener accepted.
type Accepted = Result<(PeerId, Connection), Error>;

/// A transport listening on loopback, and its address.
async fn listening(key: &Keypair) -> (Transport, Multiaddr) {
    let mut transport = transport(key);
    let addr: Multiaddr = "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
    transport.listen_on(ListenerId::next(), addr).unwrap();
    match poll_fn(|cx| Pin::new(&mut transport).poll(cx)).await {
        TransportEvent::NewAddress { listen_addr, .. } => (transport, listen_addr),
        _ => panic!("no address first"),
    }
}

/// Polls `transport` from now on; the results of the handshakes it
/// accepts arrive on the receiver.
fn serve(mut transport: Transport) -> mpsc::Receiver<Accepted> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            if let TransportEvent::Incoming { upgrade, .. } =
                poll_fn(|cx| Pin::new(&mut transport).poll(cx)).await
            {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(upgrade.await).await;
                });
            }
        }
    });
    rx
}

/// A listener on loopback, its address, and the results of the handshakes
/// it accepts.
async fn listener(key: &Keypair) -> (Multiaddr, mpsc::Receiver<Accepted>) {
    let (transport, addr) = listening(key).await;
    (addr, serve(transport))
}

const DIAL: DialOpts = DialOpts {
    role: Endpoint::Dialer,
    port_use: PortUse::New,
};

/// Dials `addr` naming `other`, where `listener` listens: the dial fails,
/// naming both.
async fn assert_wrong_peer(
    dialer: &mut Transport,
    addr: &Multiaddr,
    other: PeerId,
    listener: PeerId,
) {
    let dial = dialer
        .dial(addr.clone().with(Protocol::P2p(other)), DIAL)
        .unwrap();
    match dial.await {
        Err(Error::WrongPeer(peers)) => {
            assert_eq!(peers.expected, other);
            assert_eq!(peers.got, listener);
        }
        Err(e) => panic!("not the wrong-peer error: {e}"),
        Ok((peer, _)) => panic!("a connection to {peer}, not to {other}"),
    }
}

#[tokio::test]
async fn a_dial_to_an_address_naming_another_peer_fails_with_both_peers_named() {
    let listener_key = Keypair::generate_ed25519();
    let listener_peer = listener_key.public().to_peer_id();
    let (addr, mut accepted) = listener(&listener_key).await;
    let dialer_key = Keypair::generate_ed25519();
    let dialer_peer = dialer_key.public().to_peer_id();
    let mut dialer = transport(&dialer_key);
    let other = Keypair::generate_ed25519().public().to_peer_id();

    assert_wrong_peer(&mut dialer, &addr, other, listener_peer).await;
    // Refused in the handshake, before our certificate went out: the
    // wrong peer never completed one, nor learnt who dialled.
    if let Ok((peer, _)) = accepted.recv().await.unwrap() {
        panic!("the wrong peer completed the handshake and learnt {peer}");
    }

    // The same listener, named rightly, and unnamed: both connect.
    let mut connections = Vec::new();
    for addr in [
        addr.clone().with(Protocol::P2p(listener_peer)),
        addr.clone(),
    ] {
        let (peer, conn) = dialer.dial(addr, DIAL).unwrap().await.unwrap();
        assert_eq!(peer, listener_peer);
        connections.push(conn);
        let (theirs, conn) = accepted.recv().await.unwrap().unwrap();
        assert_eq!(theirs, dialer_peer);
        connections.push(conn);
    }

    // Once more, after the dialer has connected to it.
    assert_wrong_peer(&mut dialer, &addr, other, listener_peer).await;
}

#[tokio::test]
async fn a_hole_punch_answered_by_another_peer_than_the_address_names_fails() {
    // DCUtR's "dial as listener": we punch towards them and are the QUIC
    // server of their handshake, so the check after it is what refuses
    // them.
    let (mut ours, our_addr) = listening(&Keypair::generate_ed25519()).await;
    let their_key = Keypair::generate_ed25519();
    let their_peer = their_key.public().to_peer_id();
    let (mut theirs, their_addr) = listening(&their_key).await;
    let other = Keypair::generate_ed25519().public().to_peer_id();
    let as_listener = DialOpts {
        role: Endpoint::Listener,
        port_use: PortUse::Reuse,
    };
    let punch = ours
        .dial(their_addr.with(Protocol::P2p(other)), as_listener)
        .unwrap();
    // Our listener hands their handshake to the punch.
    let _inbound = serve(ours);
    let reuse = DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::Reuse,
    };
    let their_dial = theirs.dial(our_addr, reuse).unwrap();
    let (punched, _) = tokio::join!(punch, their_dial);
    match punched {
        Err(Error::WrongPeer(peers)) => {
            assert_eq!(peers.expected, other);
            assert_eq!(peers.got, their_peer);
        }
        Err(e) => panic!("not the wrong-peer error: {e}"),
        Ok((peer, _)) => panic!("a punched connection to {peer}, not to {other}"),
    }
}
