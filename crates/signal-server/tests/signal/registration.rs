//! Registration: the welcome, forged and replayed proofs, wrong versions and
//! clients that never register.

use protocol::signal::{ClientMsg, ErrorCode, PROTOCOL_VERSION, RoomKind, RoomRequest, ServerMsg};
use signal_server::Config;
use signal_server::testing::{TestClient, sign};

use crate::{config, expect_closed_with, http_get, server};

#[tokio::test]
async fn registration_welcomes_with_relay_and_limits() {
    let s = server(Config::localhost()).await;
    let (client, welcome) = TestClient::join(&s.ws_url(), "alice", RoomRequest::Auto)
        .await
        .unwrap();
    let ServerMsg::Welcome {
        peer_id,
        room,
        peers,
        relay,
        limits,
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!(peer_id, client.peer_id());
    assert_eq!(room.kind, RoomKind::Auto);
    assert!(peers.is_empty());
    let relay = relay.expect("relay info");
    assert_eq!(relay.addrs.len(), 2, "TCP and QUIC: {:?}", relay.addrs);
    assert!(
        relay
            .addrs
            .iter()
            .all(|a| a.ends_with(&format!("/p2p/{}", relay.peer_id)))
    );
    assert!(relay.addrs.iter().any(|a| a.contains("/quic-v1/")));
    assert_eq!(limits.max_frame, protocol::signal::MAX_CLIENT_FRAME);
    assert_eq!(relay, s.relay.clone().unwrap());
}

#[tokio::test]
async fn forged_replayed_and_mismatched_proofs_are_refused() {
    let s = server(config()).await;
    let url = s.ws_url();

    // Signed with another key than the one presented.
    let mut c = TestClient::connect(&url).await.unwrap();
    let mut reg = c.register_msg("mallory", RoomRequest::Auto);
    reg.signature = sign(&libp2p::identity::Keypair::generate_ed25519(), &c.nonce);
    c.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut c, ErrorCode::BadProof, 1008).await;

    // A valid proof from one connection replayed on another.
    let victim = TestClient::connect(&url).await.unwrap();
    let stolen = victim.register_msg("victim", RoomRequest::Auto);
    let mut c = TestClient::connect(&url).await.unwrap();
    c.send(&ClientMsg::Register(stolen)).await.unwrap();
    expect_closed_with(&mut c, ErrorCode::BadProof, 1008).await;

    // My key and signature, someone else's peer ID.
    let mut c = TestClient::connect(&url).await.unwrap();
    let mut reg = c.register_msg("mallory", RoomRequest::Auto);
    reg.peer_id = victim.peer_id();
    c.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut c, ErrorCode::BadProof, 1008).await;

    // The victim can still register with its own proof.
    let mut victim = victim;
    let reg = victim.register_msg("victim", RoomRequest::Auto);
    victim.send(&ClientMsg::Register(reg)).await.unwrap();
    assert!(matches!(
        victim.recv().await.unwrap(),
        ServerMsg::Welcome { .. }
    ));

    let metrics = http_get(s.addr, "/metrics").await;
    assert!(
        metrics.contains("signal_rejections_total{reason=\"bad_proof\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn wrong_version_and_late_registration_are_refused() {
    let mut c = config();
    c.register_timeout_secs = 1;
    let s = server(c).await;
    let mut c = TestClient::connect(&s.ws_url()).await.unwrap();
    let mut reg = c.register_msg("old", RoomRequest::Auto);
    reg.version = PROTOCOL_VERSION + 1;
    c.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut c, ErrorCode::UnsupportedVersion, 1008).await;

    let mut c = TestClient::connect(&s.ws_url()).await.unwrap();
    expect_closed_with(&mut c, ErrorCode::Timeout, 1008).await;
    let metrics = http_get(s.addr, "/metrics").await;
    for reason in ["unsupported_version", "timeout"] {
        assert!(
            metrics.contains(&format!("signal_rejections_total{{reason=\"{reason}\"}} 1")),
            "{metrics}"
        );
    }
}
