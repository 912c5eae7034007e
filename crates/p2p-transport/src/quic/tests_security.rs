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

/// A listener on loopback, its address, and the results of the handshakes
/// it accepts.
async fn listener(key: &Keypair) -> (Multiaddr, mpsc::Receiver<Accepted>) {
    let mut listener = transport(key);
    let addr: Multiaddr = "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
    listener.listen_on(ListenerId::next(), addr).unwrap();
    let addr = match poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await {
        TransportEvent::NewAddress { listen_addr, .. } => listen_addr,
        _ => panic!("no address first"),
    };
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            if let TransportEvent::Incoming { upgrade, .. } =
                poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await
            {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(upgrade.await).await;
                });
            }
        }
    });
    (addr, rx)
}

const DIAL: DialOpts = DialOpts {
    role: Endpoint::Dialer,
    port_use: PortUse::New,
};

#[tokio::test]
async fn a_dial_to_an_address_naming_another_peer_fails_with_both_peers_named() {
    let listener_key = Keypair::generate_ed25519();
    let listener_peer = listener_key.public().to_peer_id();
    let (addr, mut accepted) = listener(&listener_key).await;
    let mut dialer = transport(&Keypair::generate_ed25519());
    let other = Keypair::generate_ed25519().public().to_peer_id();

    let dial = dialer
        .dial(addr.clone().with(Protocol::P2p(other)), DIAL)
        .unwrap();
    match dial.await {
        Err(Error::WrongPeer(peers)) => {
            assert_eq!(peers.expected, other);
            assert_eq!(peers.got, listener_peer);
        }
        Err(e) => panic!("not the wrong-peer error: {e}"),
        Ok((peer, _)) => panic!("a connection to {peer}, not to {other}"),
    }

    // The same listener, named rightly, and unnamed: both connect.
    for addr in [addr.clone().with(Protocol::P2p(listener_peer)), addr] {
        let (peer, _conn) = dialer.dial(addr, DIAL).unwrap().await.unwrap();
        assert_eq!(peer, listener_peer);
    }
    // Whatever the listener made of the refused dial, both good ones
    // reached it.
    let mut connections = Vec::new();
    while connections.len() < 2 {
        if let Ok(accepted) = accepted.recv().await.unwrap() {
            connections.push(accepted);
        }
    }
}
