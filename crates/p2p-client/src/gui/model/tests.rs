#![allow(clippy::unwrap_used)]
use libp2p::PeerId;

use super::*;
use crate::TransportKind;
use crate::event::PeerSource;

/// A fixed peer ID for each name, so events about one peer name one row.
fn peer(seed: u8) -> PeerId {
    let key = libp2p::identity::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
    key.public().to_peer_id()
}

fn peer_a() -> PeerId {
    peer(1)
}

fn peer_p() -> PeerId {
    peer(2)
}

fn started(id: &str) -> Event {
    Event::TransferStarted {
        transfer_id: id.into(),
        peer: peer_p(),
        direction: Direction::Receive,
        files: 2,
        bytes: 1000,
        resumed: 100,
        path: PathInfo {
            relayed: true,
            transport: TransportKind::Quic,
        },
        unknown_size: false,
    }
}

#[test]
fn peers_come_and_go_and_keep_their_names() {
    let mut m = Model::new(true);
    let now = Instant::now();
    m.apply(
        &Event::PeerFound {
            peer: peer_a(),
            name: None,
            source: PeerSource::Lan,
            os: None,
            publishes: false,
        },
        now,
    );
    m.apply(
        &Event::PeerFound {
            peer: peer_a(),
            name: Some("Alice".into()),
            source: PeerSource::Server,
            os: None,
            publishes: false,
        },
        now,
    );
    assert_eq!(m.peers[&peer_a().to_string()].label(), "Alice");
    m.apply(
        &Event::PeerFound {
            peer: peer_a(),
            name: None,
            source: PeerSource::Lan,
            os: None,
            publishes: false,
        },
        now,
    );
    assert_eq!(m.peers[&peer_a().to_string()].label(), "Alice");
    assert_eq!(m.peers[&peer_a().to_string()].reach(), "LAN and server");
    assert_eq!(m.peers.len(), 1);
    // A peer only the server lists goes with it; one on the LAN stays.
    m.apply(
        &Event::PeerFound {
            peer: peer(3),
            name: Some("Bob".into()),
            source: PeerSource::Server,
            os: None,
            publishes: false,
        },
        now,
    );
    m.apply(
        &Event::ServerStatus {
            url: "u".into(),
            connected: false,
            message: "down".into(),
        },
        now,
    );
    assert_eq!(m.peers.len(), 1);
    let alice = &m.peers[&peer_a().to_string()];
    assert_eq!((alice.reach(), alice.label().as_str()), ("LAN", "Alice"));
    assert_eq!(m.server, ServerState::Down("down".into()));
    m.apply(
        &Event::PeerLost {
            peer: peer_a(),
            source: PeerSource::Lan,
        },
        now,
    );
    assert!(m.peers.is_empty());
}

#[test]
fn a_lan_peer_shows_the_name_and_system_it_gives_itself() {
    let mut m = Model::new(false);
    let now = Instant::now();
    for (name, os) in [(None, None), (Some("Carol's Mac"), Some("macos"))] {
        m.apply(
            &Event::PeerFound {
                peer: peer_a(),
                name: name.map(Into::into),
                source: PeerSource::Lan,
                os: os.map(Into::into),
                publishes: false,
            },
            now,
        );
    }
    let row = &m.peers[&peer_a().to_string()];
    assert_eq!(row.label(), "Carol's Mac");
    assert_eq!(row.os.as_deref(), Some("macos"));
}

#[test]
fn a_transfer_moves_from_offer_to_done_with_speed_and_eta() {
    let mut m = Model::new(false);
    let t0 = Instant::now();
    m.apply(
        &Event::OfferReceived {
            transfer_id: "t".into(),
            peer: peer_p(),
            files: 2,
            folders: 0,
            bytes: 1000,
            names: vec!["a".into()],
            text_chars: None,
            unknown_size: false,
            fetched: false,
        },
        t0,
    );
    assert_eq!(m.offers.len(), 1);
    m.apply(&started("t"), t0);
    assert!(
        m.offers.is_empty(),
        "a started transfer is no longer an offer"
    );
    let row = m.transfer("t").unwrap();
    assert_eq!(row.done, 100);
    assert_eq!(row.path.unwrap().to_string(), "relayed, QUIC");
    m.apply(
        &Event::Progress {
            transfer_id: "t".into(),
            done: 600,
            total: 1000,
            file: "a".into(),
            file_done: 500,
            file_size: 900,
        },
        t0 + Duration::from_secs(1),
    );
    let row = m.transfer("t").unwrap();
    assert!((row.speed - 500.0).abs() < 1.0, "{}", row.speed);
    assert_eq!(row.eta().unwrap().as_secs(), 0);
    assert!((row.fraction() - 0.6).abs() < 0.001);
    let summary = Summary {
        files: 2,
        bytes: 1000,
        transferred: 900,
        seconds: 1.0,
        path: row.path.unwrap(),
        saved: vec!["a".into()],
        text: false,
    };
    let finished = m.apply(
        &Event::TransferDone {
            transfer_id: "t".into(),
            summary,
        },
        t0,
    );
    assert!(matches!(finished.unwrap().state, RowState::Done(_)));
    assert!(!m.transfer("t").unwrap().is_active());
}

#[test]
fn failures_and_declines_end_rows() {
    let mut m = Model::new(false);
    let now = Instant::now();
    m.apply(
        &Event::OfferSent {
            transfer_id: "s".into(),
            peer: peer_p(),
            files: 1,
            bytes: 5,
            text: false,
            unknown_size: false,
        },
        now,
    );
    assert_eq!(m.transfer("s").unwrap().state, RowState::WaitingForAnswer);
    let ended = m.apply(
        &Event::Declined {
            transfer_id: "s".into(),
            reason: "no".into(),
        },
        now,
    );
    assert_eq!(ended.unwrap().state, RowState::Declined("no".into()));
    let ended = m.apply(
        &Event::TransferFailed {
            transfer_id: "x".into(),
            peer: peer_p(),
            error: "disk full".into(),
        },
        now,
    );
    assert_eq!(ended.unwrap().state, RowState::Failed("disk full".into()));
}

#[test]
fn finished_rows_are_bounded() {
    let mut m = Model::new(false);
    let now = Instant::now();
    for i in 0..(MAX_FINISHED_ROWS + 10) {
        let id = format!("t{i}");
        m.apply(
            &Event::OfferSent {
                transfer_id: id.clone(),
                peer: peer_p(),
                files: 1,
                bytes: 1,
                text: false,
                unknown_size: false,
            },
            now,
        );
        m.apply(
            &Event::Declined {
                transfer_id: id,
                reason: "no".into(),
            },
            now,
        );
    }
    assert_eq!(m.transfers.len(), MAX_FINISHED_ROWS);
    assert_eq!(short_id("12D3KooWAbcdefghijkl"), "12D3Ko…ijkl");
}
