//! The real `signal-server` binary: it serves, answers its own health check,
//! and exits 0 after closing clients on SIGTERM and SIGINT.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use protocol::signal::{ErrorCode, RoomRequest, ServerMsg};
use signal_server::testing::TestClient;

const BIN: &str = env!("CARGO_BIN_EXE_signal-server");

struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on free loopback ports and reads its address from the log.
fn start(extra: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--relay-listen",
            "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1",
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("signal server listening addr=").nth(1) {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server logs its address");
    Running { child, addr }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..150 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not exit within 15 s");
}

async fn shuts_down_cleanly_on(sig: &str) {
    let mut server = start(&[]);
    let url = format!("ws://{}/ws", server.addr);
    let (mut client, _) = TestClient::join(&url, "a", RoomRequest::Auto)
        .await
        .unwrap();

    let health = Command::new(BIN)
        .args(["--health-check", "--listen", &server.addr])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");

    signal(&server.child, sig);
    let (frame, seen) = client.recv_until_close().await.unwrap();
    assert!(seen.iter().any(|m| matches!(
        m,
        ServerMsg::Error {
            code: ErrorCode::ServerShutdown,
            ..
        }
    )));
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1001));
    let status = tokio::task::block_in_place(|| wait_exit(&mut server.child));
    assert_eq!(status.code(), Some(0), "exit status after {sig}");

    let health = Command::new(BIN)
        .args(["--health-check", "--listen", &server.addr])
        .output()
        .unwrap();
    assert!(
        !health.status.success(),
        "health check passed against a stopped server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_clients_and_exits_zero() {
    shuts_down_cleanly_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_closes_clients_and_exits_zero() {
    shuts_down_cleanly_on("INT").await;
}

#[test]
fn a_relay_key_file_keeps_the_relay_peer_id_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("relay.key");
    let key = key.to_str().unwrap();
    let first = relay_peer_id(start(&["--relay-key", key]));
    let second = relay_peer_id(start(&["--relay-key", key]));
    assert_eq!(first, second);
    let third = relay_peer_id(start(&[]));
    assert_ne!(first, third);
}

fn relay_peer_id(server: Running) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("ws://{}/ws", server.addr);
        let (_, welcome) = TestClient::join(&url, "k", RoomRequest::Auto)
            .await
            .unwrap();
        match welcome {
            ServerMsg::Welcome {
                relay: Some(relay), ..
            } => relay.peer_id,
            other => panic!("no relay in {other:?}"),
        }
    })
}

#[test]
fn bad_flags_exit_with_usage_error() {
    let out = Command::new(BIN)
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}
