//! A listen address that cannot be opened is reported with its reason and
//! the node goes on with the others (a machine where UDP is blocked, a
//! platform whose sockets lack an option); a node that can listen nowhere
//! says why and stops.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Peer, Running, random_file, receive_cmd};

/// A TCP port on loopback that is taken (while the listener lives), and
/// its multiaddr.
fn taken_port() -> (std::net::TcpListener, String) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    (taken, format!("/ip4/127.0.0.1/tcp/{port}"))
}

#[test]
fn a_transport_that_cannot_listen_is_reported_and_the_others_carry_the_transfer() {
    // A TCP port that is taken: the sender's TCP listener fails there.
    let (taken, busy) = taken_port();

    let sender = Peer::on(&[]);
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("data.bin");
    random_file(&file, 1 << 20, 7);
    let mut cmd = sender.command();
    cmd.args([
        "--listen",
        &busy,
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
    ])
    .arg("send")
    .arg(&file);
    let mut running = Running::spawn(cmd);
    // The share may be announced before or after the failure.
    let ready = running.wait_event("share_ready");
    let ticket = ready["ticket"].as_str().unwrap().to_owned();
    let failed = match running.seen.iter().find(|e| e["event"] == "listen_failed") {
        Some(failed) => failed.clone(),
        None => running.wait_event("listen_failed"),
    };
    assert_eq!(failed["addr"], busy.as_str(), "{failed}");
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("in use"), "the reason is named: {reason}");
    assert!(
        !ticket.is_empty()
            && running.seen.iter().all(
                |e| e["event"] != "listening" || !e["addr"].as_str().unwrap().contains("/tcp/")
            ),
        "no TCP listener: {:?}",
        running.seen
    );

    let receiver = Peer::new();
    let (code, stderr, _) = Running::spawn(receive_cmd(&receiver, &ticket, true)).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read(receiver.dl().join("data.bin")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let (code, stderr, _) = running.finish();
    assert_eq!(code, Some(0), "{stderr}");
    drop(taken);
}

#[test]
fn a_node_that_can_listen_nowhere_says_why_and_stops() {
    let (taken, busy) = taken_port();
    let peer = Peer::on(&[]);
    let mut cmd = peer.command();
    cmd.args(["--listen", &busy, "receive", "--dir"])
        .arg(peer.dl());
    let (code, stderr, _) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot listen on any address") && stderr.contains(&busy),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    drop(taken);
}
