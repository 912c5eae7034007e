//! Rooms: peers in one room see each other come, change and go; other rooms
//! stay invisible (lookup still finds anyone); the automatic room follows
//! `X-Forwarded-For` only from trusted proxies.

use std::time::Duration;

use protocol::signal::{ClientMsg, ErrorCode, RoomRequest, ServerMsg};
use signal_server::testing::TestClient;

use crate::{config, expect_error, named, server};

#[tokio::test]
async fn peers_in_one_room_see_each_other_join_and_leave() {
    let s = server(config()).await;
    let (mut alice, _) = TestClient::join(&s.ws_url(), "alice", RoomRequest::Auto)
        .await
        .unwrap();
    let (bob, welcome) = TestClient::join(&s.ws_url(), "bob", RoomRequest::Auto)
        .await
        .unwrap();
    let ServerMsg::Welcome { peers, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer_id, alice.peer_id());
    assert_eq!(peers[0].name, "alice");

    match alice.recv().await.unwrap() {
        ServerMsg::PeerJoined { peer } => {
            assert_eq!(peer.peer_id, bob.peer_id());
            assert_eq!(peer.name, "bob");
        }
        other => panic!("expected peer_joined, got {other:?}"),
    }

    let mut bob = bob;
    let circuit = format!(
        "{}/p2p-circuit",
        "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRelay"
    );
    bob.send(&ClientMsg::Update {
        name: None,
        addrs: Some(vec![circuit.clone()]),
        publishes: None,
    })
    .await
    .unwrap();
    match alice.recv().await.unwrap() {
        ServerMsg::PeerUpdated { peer } => assert_eq!(peer.addrs, vec![circuit]),
        other => panic!("expected peer_updated, got {other:?}"),
    }

    let bob_id = bob.peer_id();
    bob.close().await;
    match alice.recv().await.unwrap() {
        ServerMsg::PeerLeft { peer_id } => assert_eq!(peer_id, bob_id),
        other => panic!("expected peer_left, got {other:?}"),
    }
}

#[tokio::test]
async fn peers_in_different_rooms_do_not_see_each_other() {
    let s = server(config()).await;
    let (mut alice, _) = TestClient::join(&s.ws_url(), "alice", named("red", "a"))
        .await
        .unwrap();
    let (bob, welcome) = TestClient::join(&s.ws_url(), "bob", named("blue", "b"))
        .await
        .unwrap();
    let ServerMsg::Welcome { peers, room, .. } = welcome else {
        unreachable!()
    };
    assert!(peers.is_empty());
    assert_eq!(room.name, "blue");
    // A third peer in the automatic room is not seen either.
    let (_carol, welcome) = TestClient::join(&s.ws_url(), "carol", RoomRequest::Auto)
        .await
        .unwrap();
    let ServerMsg::Welcome { peers, .. } = welcome else {
        unreachable!()
    };
    assert!(peers.is_empty());
    bob.close().await;
    assert!(alice.is_quiet(Duration::from_millis(500)).await);

    // Lookup by peer ID still finds a peer in another room (for `--to`).
    let (carol, _) = TestClient::join(&s.ws_url(), "dave", RoomRequest::Auto)
        .await
        .unwrap();
    let mut carol = carol;
    carol
        .send(&ClientMsg::Lookup {
            peer_id: alice.peer_id(),
        })
        .await
        .unwrap();
    match carol.recv().await.unwrap() {
        ServerMsg::LookupResult {
            peer: Some(peer), ..
        } => assert_eq!(peer.name, "alice"),
        other => panic!("expected a lookup hit, got {other:?}"),
    }
}

#[tokio::test]
async fn named_room_refuses_a_wrong_secret() {
    let s = server(config()).await;
    let (_alice, _) = TestClient::join(&s.ws_url(), "alice", named("family", "right"))
        .await
        .unwrap();
    let mut mallory = TestClient::connect(&s.ws_url()).await.unwrap();
    let reg = mallory.register_msg("mallory", named("family", "wrong"));
    mallory.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_error(&mut mallory, ErrorCode::WrongSecret).await;
    // With the right secret the same connection gets in.
    let reg = mallory.register_msg("mallory", named("family", "right"));
    mallory.send(&ClientMsg::Register(reg)).await.unwrap();
    match mallory.recv().await.unwrap() {
        ServerMsg::Welcome { peers, .. } => assert_eq!(peers.len(), 1),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Connects through a "proxy" on loopback that sent these `X-Forwarded-For`
/// lines, in this order, and registers in the automatic room.
async fn join_forwarded(url: &str, lines: &[&str]) -> (TestClient, ServerMsg) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    for line in lines {
        request
            .headers_mut()
            .append("x-forwarded-for", line.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut c = TestClient::from_ws(ws, url).await.unwrap();
    let reg = c.register_msg("p", RoomRequest::Auto);
    c.send(&ClientMsg::Register(reg)).await.unwrap();
    let welcome = c.recv().await.unwrap();
    (c, welcome)
}

fn peers_seen(m: &ServerMsg) -> Vec<String> {
    match m {
        ServerMsg::Welcome { peers, .. } => peers.iter().map(|p| p.peer_id.clone()).collect(),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let mut c = config();
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let s = server(c).await;
    let url = s.ws_url();
    let (_a, first) = join_forwarded(&url, &["198.51.100.7"]).await;
    let (_b, same_home) = join_forwarded(&url, &["198.51.100.7"]).await;
    let (_c, other_home) = join_forwarded(&url, &["203.0.113.9"]).await;
    assert_eq!(peers_seen(&first).len(), 0);
    assert_eq!(peers_seen(&same_home).len(), 1);
    assert_eq!(peers_seen(&other_home).len(), 0);
}

/// A proxy that adds its own `X-Forwarded-For` line instead of appending to
/// the client's: the client's forged first line must not choose its room.
#[tokio::test]
async fn a_forged_first_forwarded_for_line_does_not_win() {
    let mut c = config();
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let s = server(c).await;
    let url = s.ws_url();
    let (_victim, _) = join_forwarded(&url, &["198.51.100.7"]).await;
    // The attacker claims the victim's address; the proxy adds the real one.
    let (attacker, welcome) = join_forwarded(&url, &["198.51.100.7", "203.0.113.9"]).await;
    assert!(
        peers_seen(&welcome).is_empty(),
        "the forged line put the attacker in the victim's room"
    );
    // The attacker's room is the one of the address the proxy saw.
    let (_neighbour, welcome) = join_forwarded(&url, &["203.0.113.9"]).await;
    assert_eq!(peers_seen(&welcome), vec![attacker.peer_id()]);
}
