#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

fn found(peer: PeerId) -> Event {
    Event::PeerFound {
        peer,
        name: Some("bob".into()),
        source: PeerSource::Server,
        os: None,
        publishes: false,
    }
}

fn lost(peer: PeerId) -> Event {
    Event::PeerLost {
        peer,
        source: PeerSource::Server,
    }
}

fn status(url: &str, connected: bool) -> Event {
    Event::ServerStatus {
        url: url.into(),
        connected,
        message: if connected { "connected" } else { "refused" }.into(),
    }
}

fn merge() -> Merge {
    Merge::new(vec!["ws://a/ws".into(), "ws://b/ws".into()])
}

/// Peer IDs of the `PeerLost` events in `events`.
fn losses(events: &[Event]) -> Vec<PeerId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PeerLost { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_on_two_servers_is_lost_only_when_both_lose_it() {
    let mut m = merge();
    let bob = PeerId::random();
    assert_eq!(m.on(0, found(bob)).len(), 1);
    assert_eq!(m.on(1, found(bob)).len(), 1);
    assert!(m.on(0, lost(bob)).is_empty(), "still on the second server");
    assert_eq!(losses(&m.on(1, lost(bob))), [bob]);
    assert!(m.on(1, lost(bob)).is_empty(), "lost once");
}

#[test]
fn a_server_going_down_loses_only_its_own_peers_and_the_node_stays_connected() {
    let mut m = merge();
    let (bob, carol) = (PeerId::random(), PeerId::random());
    m.on(0, status("ws://a/ws", true));
    m.on(1, status("ws://b/ws", true));
    m.on(0, found(bob));
    m.on(1, found(bob));
    m.on(0, found(carol));
    let out = m.on(0, status("ws://a/ws", false));
    assert_eq!(losses(&out), [carol]);
    match out.last().unwrap() {
        Event::ServerStatus {
            url,
            connected,
            message,
        } => {
            assert!(*connected, "the second server is up");
            assert_eq!(url, "ws://b/ws");
            assert!(message.contains("ws://a/ws is down"), "{message}");
        }
        other => panic!("expected a status, got {other:?}"),
    }
    // The last one down: the node is offline, as with one server.
    let out = m.on(1, status("ws://b/ws", false));
    assert_eq!(losses(&out), [bob]);
    assert!(matches!(
        out.last().unwrap(),
        Event::ServerStatus { connected: false, url, .. } if url == "ws://b/ws"
    ));
}

#[test]
fn other_events_pass_unchanged() {
    let mut m = merge();
    let lan = Event::PeerLost {
        peer: PeerId::random(),
        source: PeerSource::Lan,
    };
    let out = m.on(0, lan);
    assert!(matches!(
        out.as_slice(),
        [Event::PeerLost {
            source: PeerSource::Lan,
            ..
        }]
    ));
}
