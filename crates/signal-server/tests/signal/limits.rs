//! Limits: oversized and malformed frames, connections per address, flooding
//! and slow clients, and the per-address budget of guesses; none of them
//! hurts the other clients.

use std::time::Duration;

use protocol::signal::{ClientMsg, ErrorCode, RoomRequest, ServerMsg};
use signal_server::testing::{ClientError, TestClient};

use crate::{config, error_code, expect_error, http_get, named, server};

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
    c.send(&ClientMsg::CodeOpen {
        nameplate: 0,
        claims: 1,
    })
    .await
    .unwrap();
    expect_error(&mut c, ErrorCode::InvalidField).await;
    c.send(&ClientMsg::Update {
        name: Some("\u{1b}[2Jevil".into()),
        addrs: None,
        publishes: None,
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
                publishes: None,
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
