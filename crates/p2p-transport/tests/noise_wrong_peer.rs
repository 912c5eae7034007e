//! A dial through our Noise to an address naming another peer ID than the
//! one that answers fails with `WrongPeerId`, and no connection comes of
//! it; the same dial naming the right peer connects.

#![allow(clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{DialError, SwarmEvent, dummy};
use libp2p::{Multiaddr, PeerId, Swarm, tcp};
use p2p_transport::noise;

/// Only a guard against a hang; nothing here is timed.
const GUARD: Duration = Duration::from_secs(30);

fn swarm() -> Swarm<dummy::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .expect("TCP with our Noise")
        .with_behaviour(|_| dummy::Behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(5)))
        .build()
}

/// A listening swarm on loopback, polled in the background, and its
/// address.
async fn listener() -> (PeerId, Multiaddr) {
    let mut swarm = swarm();
    let peer = *swarm.local_peer_id();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("address"))
        .expect("listen");
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    (peer, addr)
}

/// Dials `addr` with `/p2p/expected` and returns how the dial ended.
async fn dial(addr: Multiaddr, expected: PeerId) -> Result<PeerId, DialError> {
    let mut swarm = swarm();
    swarm
        .dial(addr.with(Protocol::P2p(expected)))
        .expect("dial");
    let ended = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => return Ok(peer_id),
                SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error),
                _ => {}
            }
        }
    };
    tokio::time::timeout(GUARD, ended)
        .await
        .expect("the dial neither connected nor failed")
}

#[tokio::test]
async fn dialling_a_peer_id_other_than_the_one_that_answers_fails() {
    let (peer, addr) = listener().await;
    let impostor_of = PeerId::random();
    match dial(addr.clone(), impostor_of).await {
        Err(DialError::WrongPeerId { obtained, .. }) => assert_eq!(obtained, peer),
        other => panic!("a dial naming {impostor_of} ended as {other:?}"),
    }
    // The same address with the right peer ID connects.
    assert_eq!(dial(addr, peer).await.expect("the right peer"), peer);
}
