//! A node built on libp2p's stock Noise, yamux and QUIC
//! (`--stock-transports`) and one built on ours (`p2p-transport`) speak the
//! same wire protocols: a file sent by ticket between them arrives
//! identical, over TCP alone and over QUIC alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Peer, Running, random_file, receive_cmd, tree};

const TCP: &[&str] = &["/ip4/127.0.0.1/tcp/0"];
const QUIC: &[&str] = &["/ip4/127.0.0.1/udp/0/quic-v1"];

/// Which transports a node is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    /// libp2p's: `--stock-transports`.
    Stock,
    /// Ours, the default.
    Ours,
}

/// `cmd` built as `build`, whatever the test's environment says, logging
/// what `p2p-transport` does at debug level (ours logs each Noise handshake
/// and each QUIC listener there; a stock node runs none of it).
fn built(mut cmd: Command, build: Build) -> Command {
    let log = std::env::var("P2P_TEST_LOG").unwrap_or_else(|_| "warn".into());
    cmd.env("RUST_LOG", format!("{log},p2p_transport=debug"));
    match build {
        Build::Stock => cmd.env("P2P_STOCK_TRANSPORTS", "1"),
        Build::Ours => cmd.env_remove("P2P_STOCK_TRANSPORTS"),
    };
    cmd
}

/// What one transfer left behind: each side's `transfer_done` and stderr.
struct Sent {
    sender_done: serde_json::Value,
    sender_log: String,
    receiver_done: serde_json::Value,
    receiver_log: String,
}

/// Sends `file` by ticket from `sender` built as `sender_build` to
/// `receiver` built as `receiver_build`; both must exit 0.
fn send_between(
    (sender, sender_build): (&Peer, Build),
    (receiver, receiver_build): (&Peer, Build),
    file: &Path,
) -> Sent {
    let mut cmd = built(sender.command(), sender_build);
    cmd.arg("send").arg(file);
    let mut sending = Running::spawn(cmd);
    let ready = sending.wait_event("share_ready");
    let ticket = ready["ticket"].as_str().unwrap().to_owned();

    let mut receiving = Running::spawn(built(receive_cmd(receiver, &ticket, true), receiver_build));
    let receiver_done = receiving.wait_event("transfer_done");
    let (code, receiver_log, _) = receiving.finish();
    assert_eq!(code, Some(0), "receiver failed: {receiver_log}");
    let (code, sender_log, events) = sending.finish();
    assert_eq!(code, Some(0), "sender failed: {sender_log}");
    let sender_done = events
        .into_iter()
        .find(|e| e["event"] == "transfer_done")
        .expect("the sender's transfer_done");
    Sent {
        sender_done,
        sender_log,
        receiver_done,
        receiver_log,
    }
}

/// Both sides' summaries name `transport` and a direct path.
fn assert_path(sent: &Sent, transport: &str) {
    for done in [&sent.sender_done, &sent.receiver_done] {
        assert_eq!(done["summary"]["path"]["transport"], transport, "{done}");
        assert_eq!(done["summary"]["path"]["relayed"], false, "{done}");
    }
}

/// A stock node ran none of `p2p-transport`.
fn assert_stock(log: &str) {
    assert!(
        !log.contains("p2p_transport"),
        "a stock node used p2p-transport:\n{log}"
    );
}

#[test]
fn a_stock_sender_sends_to_our_receiver_over_tcp() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("stock-to-ours.bin");
    random_file(&file, 5 * 1024 * 1024 + 4321, 21);
    let (sender, receiver) = (Peer::on(TCP), Peer::on(TCP));

    let sent = send_between((&sender, Build::Stock), (&receiver, Build::Ours), &file);

    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert_eq!(
        sent.receiver_done["summary"]["bytes"],
        5 * 1024 * 1024 + 4321
    );
    assert_path(&sent, "tcp");
    assert_stock(&sent.sender_log);
    // Our Noise did the receiver's handshake, with libp2p's cipher: a
    // stock peer offers no AES-GCM (two of ours would agree on it where
    // the processor has AES instructions).
    let handshake = sent
        .receiver_log
        .lines()
        .find(|l| l.contains("noise handshake done"))
        .unwrap_or_else(|| panic!("no Noise handshake of ours:\n{}", sent.receiver_log));
    assert!(handshake.contains("ChaChaPoly"), "{handshake}");
}

#[test]
fn our_sender_sends_to_a_stock_receiver_over_quic() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("ours-to-stock.bin");
    random_file(&file, 6 * 1024 * 1024 + 17, 22);
    let (sender, receiver) = (Peer::on(QUIC), Peer::on(QUIC));

    let sent = send_between((&sender, Build::Ours), (&receiver, Build::Stock), &file);

    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert_eq!(sent.receiver_done["summary"]["bytes"], 6 * 1024 * 1024 + 17);
    assert_path(&sent, "quic");
    assert_stock(&sent.receiver_log);
    // The sender listened on our QUIC transport (quinn with BBR).
    assert!(
        sent.sender_log.contains("QUIC listening"),
        "our sender did not use our QUIC:\n{}",
        sent.sender_log
    );
}
