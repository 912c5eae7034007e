//! NAT traversal on real network stacks: namespaces with home routers doing
//! NAT (see `lab`), a real signal server + relay on the public segment, real
//! `p2p-client` processes. Needs root, iproute2 and iptables: outside CI the
//! tests are skipped when the lab cannot be built; with `CI=true` they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod lab;

use std::path::PathBuf;
use std::process::Command;

use common::{BIN, Peer, Running, random_file};
use lab::{Lab, Nat, SERVER_IP, lab_or_skip};

/// The signal-server binary built beside this package's binary.
fn server_bin() -> PathBuf {
    let bin = PathBuf::from(BIN).with_file_name("signal-server");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with --workspace",
        bin.display()
    );
    bin
}

fn url() -> String {
    format!("ws://{SERVER_IP}:8080/ws")
}

/// Starts the signal server and relay on the public segment.
fn start_server(lab: &Lab) -> Running {
    let relay = format!("/ip4/{SERVER_IP}/tcp/4001,/ip4/{SERVER_IP}/udp/4001/quic-v1");
    let mut cmd = lab.command("srv", server_bin().to_str().unwrap());
    cmd.args([
        "--listen",
        &format!("{SERVER_IP}:8080"),
        "--relay-listen",
        &relay,
        "--external-addr",
        &relay,
    ])
    .env("RUST_LOG", "warn");
    let server = Running::spawn(cmd);
    // Wait until it answers its health check inside its namespace.
    for _ in 0..100 {
        let ok = lab
            .command("srv", server_bin().to_str().unwrap())
            .args(["--health-check", "--listen", &format!("{SERVER_IP}:8080")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the signal server did not come up");
}

/// `p2p-client` in namespace `role` with the lab's server, mDNS off.
fn client(lab: &Lab, role: &str, peer: &Peer) -> Command {
    let mut cmd = lab.command(role, BIN);
    cmd.args(["--no-mdns", "--json", "--server", &url(), "--config-dir"])
        .arg(peer.config.path())
        .env("RUST_LOG", "warn")
        .env_remove("P2P_SERVER");
    cmd
}

fn peer_id(peer: &Peer) -> String {
    let out = Command::new(BIN)
        .args(["id", "--config-dir"])
        .arg(peer.config.path())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A receiver online in `role`, registered and holding a relay slot.
fn receiver(lab: &Lab, role: &str, peer: &Peer) -> Running {
    let mut cmd = client(lab, role, peer);
    cmd.args(["receive", "--yes", "--dir"]).arg(peer.dl());
    let mut running = Running::spawn(cmd);
    running.wait_for("server registration", |e| {
        e["event"] == "server_status" && e["connected"] == true
    });
    running.wait_for("a relay circuit address", |e| {
        e["event"] == "listening"
            && e["addr"]
                .as_str()
                .is_some_and(|a| a.contains("p2p-circuit"))
    });
    running
}

/// Sends a file of `size` bytes from `from` to the receiver and returns the
/// sender's summary.
fn send(lab: &Lab, from: &str, to: &Peer, receiving: &mut Running, size: u64) -> serde_json::Value {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("payload.bin");
    random_file(&file, size, 42);
    let sender = Peer::new();
    let mut cmd = client(lab, from, &sender);
    cmd.arg("send").arg(&file).args(["--to", &peer_id(to)]);
    let (code, stderr, events) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "sender failed: {stderr}\n{events:?}");
    receiving.wait_event("transfer_done");
    assert_eq!(
        blake3::hash(&std::fs::read(to.dl().join("payload.bin")).unwrap()),
        blake3::hash(&std::fs::read(&file).unwrap()),
        "received file differs"
    );
    events
        .into_iter()
        .find(|e| e["event"] == "transfer_done")
        .expect("sender transfer_done")["summary"]
        .clone()
}

#[test]
fn symmetric_nats_fall_back_to_the_relay() {
    let Some(lab) = lab_or_skip(Nat::Symmetric, Nat::Symmetric) else {
        return;
    };
    let _server = start_server(&lab);
    let bob = Peer::new();
    let mut receiving = receiver(&lab, "b", &bob);
    let summary = send(&lab, "a", &bob, &mut receiving, 16 * 1024 * 1024);
    assert_eq!(summary["path"]["relayed"], true, "{summary}");
}

#[test]
fn a_peer_behind_nat_reaches_a_public_peer_directly() {
    let Some(lab) = lab_or_skip(Nat::Cone, Nat::Cone) else {
        return;
    };
    let _server = start_server(&lab);
    let public = Peer::new();
    let mut receiving = receiver(&lab, "pub", &public);
    let summary = send(&lab, "a", &public, &mut receiving, 16 * 1024 * 1024);
    assert_eq!(summary["path"]["relayed"], false, "{summary}");
}

#[test]
fn a_direct_transfer_finishes_after_the_signal_server_stops() {
    let Some(lab) = lab_or_skip(Nat::Cone, Nat::Cone) else {
        return;
    };
    let server = start_server(&lab);
    let public = Peer::new();
    let mut receiving = receiver(&lab, "pub", &public);
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("payload.bin");
    random_file(&file, 256 * 1024 * 1024, 9);
    let sender = Peer::new();
    let mut cmd = client(&lab, "a", &sender);
    cmd.arg("send").arg(&file).args(["--to", &peer_id(&public)]);
    let sending = Running::spawn(cmd);
    receiving.wait_event("transfer_started");
    server.kill();
    let (code, stderr, events) = sending.finish();
    assert_eq!(
        code,
        Some(0),
        "sender failed after the server stopped: {stderr}"
    );
    let done = events
        .iter()
        .find(|e| e["event"] == "transfer_done")
        .expect("transfer_done");
    assert_eq!(done["summary"]["path"]["relayed"], false);
    receiving.wait_event("transfer_done");
    assert_eq!(
        blake3::hash(&std::fs::read(public.dl().join("payload.bin")).unwrap()),
        blake3::hash(&std::fs::read(&file).unwrap())
    );
}
