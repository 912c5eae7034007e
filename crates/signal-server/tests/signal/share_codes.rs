//! Share codes: a nameplate pairs exactly two peers, once, and expires.

use protocol::signal::{ClientMsg, ErrorCode, RoomRequest, ServerMsg};
use signal_server::testing::TestClient;

use crate::{config, expect_error, named, server};

#[tokio::test]
async fn share_code_pairs_exactly_two_peers_once() {
    let s = server(config()).await;
    let (mut sender, _) = TestClient::join(&s.ws_url(), "sender", named("a", "a"))
        .await
        .unwrap();
    let (mut receiver, _) = TestClient::join(&s.ws_url(), "receiver", named("b", "b"))
        .await
        .unwrap();
    let (mut third, _) = TestClient::join(&s.ws_url(), "third", named("c", "c"))
        .await
        .unwrap();

    sender
        .send(&ClientMsg::CodeOpen {
            nameplate: 42,
            claims: 1,
        })
        .await
        .unwrap();
    assert!(matches!(
        sender.recv().await.unwrap(),
        ServerMsg::CodeOpened { nameplate: 42, .. }
    ));
    third
        .send(&ClientMsg::CodeOpen {
            nameplate: 42,
            claims: 1,
        })
        .await
        .unwrap();
    expect_error(&mut third, ErrorCode::CodeInUse).await;

    receiver
        .send(&ClientMsg::CodeClaim { nameplate: 42 })
        .await
        .unwrap();
    match receiver.recv().await.unwrap() {
        ServerMsg::CodePaired {
            nameplate: 42,
            peer,
        } => assert_eq!(peer.peer_id, sender.peer_id()),
        other => panic!("expected code_paired, got {other:?}"),
    }
    match sender.recv().await.unwrap() {
        ServerMsg::CodePaired {
            nameplate: 42,
            peer,
        } => assert_eq!(peer.peer_id, receiver.peer_id()),
        other => panic!("expected code_paired, got {other:?}"),
    }
    // Once only.
    third
        .send(&ClientMsg::CodeClaim { nameplate: 42 })
        .await
        .unwrap();
    expect_error(&mut third, ErrorCode::CodeNotFound).await;
}

#[tokio::test]
async fn share_code_expires() {
    let mut c = config();
    c.code_ttl_secs = 1;
    let s = server(c).await;
    let (mut sender, _) = TestClient::join(&s.ws_url(), "sender", RoomRequest::Auto)
        .await
        .unwrap();
    let (mut receiver, _) = TestClient::join(&s.ws_url(), "receiver", named("x", "y"))
        .await
        .unwrap();
    sender
        .send(&ClientMsg::CodeOpen {
            nameplate: 9,
            claims: 1,
        })
        .await
        .unwrap();
    assert!(matches!(
        sender.recv().await.unwrap(),
        ServerMsg::CodeOpened {
            nameplate: 9,
            expires_in_secs: 1
        }
    ));
    assert!(matches!(
        sender.recv().await.unwrap(),
        ServerMsg::CodeExpired { nameplate: 9 }
    ));
    receiver
        .send(&ClientMsg::CodeClaim { nameplate: 9 })
        .await
        .unwrap();
    expect_error(&mut receiver, ErrorCode::CodeNotFound).await;
}
