//! The signal server end to end: a real server on 127.0.0.1:0 and real
//! WebSocket clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use protocol::signal::{ClientMsg, ErrorCode, PROTOCOL_VERSION, RoomKind, RoomRequest, ServerMsg};
use signal_server::Config;
use signal_server::testing::{ClientError, TestClient, TestServer, sign};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config() -> Config {
    let mut c = Config::localhost();
    c.no_relay = true;
    c
}

async fn server(config: Config) -> TestServer {
    TestServer::start(config).await.expect("server starts")
}

fn named(name: &str, secret: &str) -> RoomRequest {
    RoomRequest::Named {
        name: name.into(),
        secret: secret.into(),
    }
}

fn error_code(msg: &ServerMsg) -> Option<ErrorCode> {
    match msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    }
}

async fn expect_error(client: &mut TestClient, code: ErrorCode) {
    let msg = client.recv().await.unwrap();
    assert_eq!(error_code(&msg), Some(code), "got {msg:?}");
}

/// The refusal and close frame a server sends before hanging up.
async fn expect_closed_with(client: &mut TestClient, code: ErrorCode, status: u16) {
    let (frame, seen) = client.recv_until_close().await.unwrap();
    assert!(
        seen.iter().any(|m| error_code(m) == Some(code)),
        "expected error {code} before close, got {seen:?}"
    );
    let frame = frame.expect("a close frame");
    assert_eq!(u16::from(frame.code), status);
    assert_eq!(frame.reason.as_str(), code.as_str());
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

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
        .send(&ClientMsg::CodeOpen { nameplate: 42 })
        .await
        .unwrap();
    assert!(matches!(
        sender.recv().await.unwrap(),
        ServerMsg::CodeOpened { nameplate: 42, .. }
    ));
    third
        .send(&ClientMsg::CodeOpen { nameplate: 42 })
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
        .send(&ClientMsg::CodeOpen { nameplate: 9 })
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

#[tokio::test]
async fn oversized_and_malformed_frames_get_errors_and_the_server_stays_up() {
    let s = server(config()).await;
    let (mut c, _) = TestClient::join(&s.ws_url(), "fuzzy", RoomRequest::Auto)
        .await
        .unwrap();

    let big = format!(
        r#"{{"type":"lookup","peer_id":"{}"}}"#,
        "x".repeat(20 * 1024)
    );
    c.send_raw(&big).await.unwrap();
    expect_error(&mut c, ErrorCode::FrameTooLarge).await;
    for bad in [
        "{",
        "null",
        r#"{"type":"teleport"}"#,
        r#"{"type":"code_open","nameplate":"seven"}"#,
    ] {
        c.send_raw(bad).await.unwrap();
        expect_error(&mut c, ErrorCode::BadMessage).await;
    }
    c.send(&ClientMsg::CodeOpen { nameplate: 0 }).await.unwrap();
    expect_error(&mut c, ErrorCode::InvalidField).await;
    c.send(&ClientMsg::Update {
        name: Some("\u{1b}[2Jevil".into()),
        addrs: None,
    })
    .await
    .unwrap();
    expect_error(&mut c, ErrorCode::InvalidField).await;
    // The connection still works.
    c.send(&ClientMsg::Lookup {
        peer_id: "nobody".into(),
    })
    .await
    .unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        ServerMsg::LookupResult { peer: None, .. }
    ));

    // A frame far over the limit is not even read: that connection is dropped...
    let _ = c.send_raw(&"x".repeat(1024 * 1024)).await;
    let (_, seen) = c.recv_until_close().await.unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    // ...and the server stays up for everyone else.
    let (_ok, _) = TestClient::join(&s.ws_url(), "next", RoomRequest::Auto)
        .await
        .unwrap();
    assert!(http_get(s.addr, "/healthz").await.contains("ok"));
    let metrics = http_get(s.addr, "/metrics").await;
    assert!(
        metrics.contains("signal_rejections_total{reason=\"bad_message\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signal_rejections_total{reason=\"frame_too_large\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let mut c = config();
    c.max_connections_per_ip = 3;
    let s = server(c).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TestClient::connect(&s.ws_url()).await.unwrap());
    }
    match TestClient::connect(&s.ws_url()).await {
        Err(ClientError::Ws(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 429);
        }
        Err(other) => panic!("expected HTTP 429, got {other}"),
        Ok(_) => panic!("fourth connection from one address was accepted"),
    }
    // Closing one frees a slot.
    held.pop().unwrap().close().await;
    let mut admitted = false;
    for _ in 0..50 {
        if TestClient::connect(&s.ws_url()).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a freed slot was not reusable");
    let metrics = http_get(s.addr, "/metrics").await;
    assert!(
        metrics.contains("signal_rejections_total{reason=\"too_many_connections\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_flooding_client_is_cut_off_without_hurting_others() {
    let mut c = config();
    c.messages_per_sec = 5;
    c.message_burst = 5;
    let s = server(c).await;
    let (mut flood, _) = TestClient::join(&s.ws_url(), "flood", RoomRequest::Auto)
        .await
        .unwrap();
    let (mut calm, _) = TestClient::join(&s.ws_url(), "calm", named("quiet", "q"))
        .await
        .unwrap();
    for _ in 0..20 {
        if flood
            .send(&ClientMsg::Lookup {
                peer_id: "x".into(),
            })
            .await
            .is_err()
        {
            break;
        }
    }
    let (frame, seen) = flood.recv_until_close().await.unwrap();
    assert!(
        seen.iter()
            .any(|m| error_code(m) == Some(ErrorCode::RateLimited)),
        "{seen:?}"
    );
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
    calm.send(&ClientMsg::Lookup {
        peer_id: "x".into(),
    })
    .await
    .unwrap();
    assert!(matches!(
        calm.recv().await.unwrap(),
        ServerMsg::LookupResult { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_and_never_blocks_its_room() {
    let mut c = config();
    c.send_queue = 256;
    c.write_timeout_secs = 1;
    c.messages_per_sec = 10_000;
    c.message_burst = 10_000;
    let s = server(c).await;
    // The slow client registers and then never reads again.
    let slow = TestClient::connect_small_buffer(s.addr, &s.ws_url())
        .await
        .unwrap();
    let (slow, _) = slow.register("slow", RoomRequest::Auto).await.unwrap();
    let (mut fast, _) = TestClient::join(&s.ws_url(), "fast", RoomRequest::Auto)
        .await
        .unwrap();
    let (mut chatty, _) = TestClient::join(&s.ws_url(), "chatty", RoomRequest::Auto)
        .await
        .unwrap();
    assert!(matches!(
        fast.recv().await.unwrap(),
        ServerMsg::PeerJoined { .. }
    ));
    // Large presence updates fill the slow client's socket and then its queue.
    let addrs: Vec<String> = (0..16)
        .map(|i| format!("/dns4/{}{i}.example/tcp/1", "a".repeat(480)))
        .collect();
    // About 8 MB: far more than the slow client's socket buffers and queue absorb.
    let rounds = 1_000;
    let reader = tokio::spawn(async move {
        let mut updates = 0;
        while updates < rounds {
            match fast.recv().await.unwrap() {
                ServerMsg::PeerUpdated { .. } => updates += 1,
                ServerMsg::PeerLeft { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        fast
    });
    for i in 0..rounds {
        let name = format!("chatty {i}");
        chatty
            .send(&ClientMsg::Update {
                name: Some(name),
                addrs: Some(addrs.clone()),
            })
            .await
            .unwrap();
        if i % 10 == 0 {
            // A busy but not hostile pace: the fast reader keeps up.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The fast peer got every update in time although the slow one read none.
    let _fast = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    let mut dropped = false;
    for _ in 0..100 {
        let metrics = http_get(s.addr, "/metrics").await;
        if metrics.contains("signal_rejections_total{reason=\"slow_consumer\"} 1") {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped, "the slow client was not dropped");
    drop(slow);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut c = config();
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let s = server(c).await;
    async fn join_as(url: &str, ip: &str) -> (TestClient, ServerMsg) {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", ip.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut c = TestClient::from_ws(ws).await.unwrap();
        let reg = c.register_msg("p", RoomRequest::Auto);
        c.send(&ClientMsg::Register(reg)).await.unwrap();
        let welcome = c.recv().await.unwrap();
        (c, welcome)
    }
    let url = s.ws_url();
    let (_a, first) = join_as(&url, "198.51.100.7").await;
    let (_b, same_home) = join_as(&url, "198.51.100.7").await;
    let (_c, other_home) = join_as(&url, "203.0.113.9").await;
    let count = |m: &ServerMsg| match m {
        ServerMsg::Welcome { peers, .. } => peers.len(),
        _ => usize::MAX,
    };
    assert_eq!(count(&first), 0);
    assert_eq!(count(&same_home), 1);
    assert_eq!(count(&other_home), 0);
}

#[tokio::test]
async fn graceful_shutdown_closes_clients_with_a_close_frame() {
    let s = server(Config::localhost()).await;
    let (mut a, _) = TestClient::join(&s.ws_url(), "a", RoomRequest::Auto)
        .await
        .unwrap();
    let (mut b, _) = TestClient::join(&s.ws_url(), "b", named("x", "y"))
        .await
        .unwrap();
    let mut unregistered = TestClient::connect(&s.ws_url()).await.unwrap();
    s.shutdown.cancel();
    for client in [&mut a, &mut b, &mut unregistered] {
        expect_closed_with(client, ErrorCode::ServerShutdown, 1001).await;
    }
    let result = tokio::time::timeout(Duration::from_secs(15), s.task).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "server did not stop cleanly: {result:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(s.addr).await.is_err(),
        "still listening"
    );
}

/// Guessing a room's secret or hunting for open share codes: each guess is
/// refused, the guesses of one address share a small budget, once it is
/// spent even the right answer is refused (or it would tell the guesser),
/// and every refusal is counted in `/metrics`.
#[tokio::test]
async fn guessing_secrets_and_codes_is_limited_per_address_and_counted() {
    let mut c = config();
    c.failed_attempts_per_min = 3;
    let s = server(c).await;
    let (_alice, _) = TestClient::join(&s.ws_url(), "alice", named("family", "right"))
        .await
        .unwrap();
    let mut mallory = TestClient::connect(&s.ws_url()).await.unwrap();
    for guess in ["wrong-1", "wrong-2", "wrong-3"] {
        let reg = mallory.register_msg("mallory", named("family", guess));
        mallory.send(&ClientMsg::Register(reg)).await.unwrap();
        expect_error(&mut mallory, ErrorCode::WrongSecret).await;
    }
    let reg = mallory.register_msg("mallory", named("family", "right"));
    mallory.send(&ClientMsg::Register(reg)).await.unwrap();
    expect_error(&mut mallory, ErrorCode::TooManyAttempts).await;

    // The budget is per address, not per connection: a new connection from
    // the same address, registered in a room of its own, cannot claim codes.
    let (mut hunter, _) = TestClient::join(&s.ws_url(), "hunter", RoomRequest::Auto)
        .await
        .unwrap();
    hunter
        .send(&ClientMsg::CodeClaim { nameplate: 4242 })
        .await
        .unwrap();
    expect_error(&mut hunter, ErrorCode::TooManyAttempts).await;

    let metrics = http_get(s.addr, "/metrics").await;
    assert!(
        metrics.contains("signal_rejections_total{reason=\"wrong_secret\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signal_rejections_total{reason=\"too_many_attempts\"} 2"),
        "{metrics}"
    );
    // The server is still there for everyone else.
    TestClient::join(&s.ws_url(), "bob", RoomRequest::Auto)
        .await
        .unwrap();
}
