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
    reg.signature = sign(
        &libp2p::identity::Keypair::generate_ed25519(),
        &c.origin,
        &c.nonce,
    );
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

/// A proof names the server the client dialled: one made for server A (a
/// server that passed on B's challenge) is refused at B, which knows its
/// public URL; a proof made for B registers.
#[tokio::test]
async fn a_proof_made_for_another_server_is_refused() {
    let mut c = config();
    c.public_url = vec!["wss://signal-b.example/ws".parse().unwrap()];
    let s = server(c).await;

    let mut relayed = TestClient::connect(&s.ws_url()).await.unwrap();
    relayed.origin = "ws://signal-a.example:8080".into();
    let reg = relayed.register_msg("victim", RoomRequest::Auto);
    relayed.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut relayed, ErrorCode::BadProof, 1008).await;

    // The address B listens on is not its public URL either.
    let mut direct = TestClient::connect(&s.ws_url()).await.unwrap();
    let reg = direct.register_msg("victim", RoomRequest::Auto);
    direct.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut direct, ErrorCode::BadProof, 1008).await;

    let mut client = TestClient::connect(&s.ws_url()).await.unwrap();
    client.origin = "wss://signal-b.example:443".into();
    let (client, welcome) = client.register("alice", RoomRequest::Auto).await.unwrap();
    assert!(
        matches!(&welcome, ServerMsg::Welcome { peer_id, .. } if *peer_id == client.peer_id()),
        "{welcome:?}"
    );
}

/// Without a public URL the `Host` header the client sent names the server:
/// a proof made for another host is refused, one for this host registers.
#[tokio::test]
async fn without_a_public_url_the_proof_must_name_the_host_dialled() {
    let s = server(config()).await;
    let mut relayed = TestClient::connect(&s.ws_url()).await.unwrap();
    relayed.origin = "ws://signal-a.example:8080".into();
    let reg = relayed.register_msg("victim", RoomRequest::Auto);
    relayed.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut relayed, ErrorCode::BadProof, 1008).await;

    // Same host, other port: another server.
    let mut other_port = TestClient::connect(&s.ws_url()).await.unwrap();
    other_port.origin = format!("ws://127.0.0.1:{}", s.addr.port().wrapping_add(1).max(1));
    let reg = other_port.register_msg("victim", RoomRequest::Auto);
    other_port.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_closed_with(&mut other_port, ErrorCode::BadProof, 1008).await;

    let (_client, welcome) = TestClient::join(&s.ws_url(), "alice", RoomRequest::Auto)
        .await
        .unwrap();
    assert!(matches!(welcome, ServerMsg::Welcome { .. }));
}
