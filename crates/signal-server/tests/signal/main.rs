//! The signal server end to end: a real server on 127.0.0.1:0 and real
//! WebSocket clients.
//!
//! One test binary; this file holds the helpers, each module one concern:
//! - `registration`: the welcome, ownership proofs, version and timeout.
//! - `rooms`: who sees whom (automatic and named rooms, lookup, trusted
//!   proxies).
//! - `share_codes`: nameplates pair two peers once and expire.
//! - `limits`: bad frames, connections per address, flooding and slow
//!   clients, guessing budgets.
//! - `shutdown`: graceful shutdown with close frames.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod limits;
mod registration;
mod rooms;
mod share_codes;
mod shutdown;

use protocol::signal::{ErrorCode, RoomRequest, ServerMsg};
use signal_server::Config;
use signal_server::testing::{TestClient, TestServer};
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
