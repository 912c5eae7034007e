//! LAN discovery for real: two network namespaces joined by a veth pair
//! (192.0.2.1 and 192.0.2.2), mDNS on, no server. `peers` lists the other
//! side and `send --to PEER_ID` finds it.
//!
//! Needs root and iproute2. Outside CI the test is skipped (with a message)
//! when namespaces cannot be made; with `CI=true` it fails instead.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::{Command, Output};

use common::{BIN, Peer, Running};

/// Two namespaces and their veth pair; removed on drop, on failure too.
struct Lab {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> std::io::Result<Output> {
    Command::new("ip").args(args).output()
}

impl Lab {
    fn new() -> Result<Self, String> {
        // Unique per lab: the tests of this file run side by side.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let lab = Lab {
            a: format!("p2pmdns-a-{id}"),
            b: format!("p2pmdns-b-{id}"),
        };
        let (va, vb) = (format!("vma{id}"), format!("vmb{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &lab.a],
            vec!["netns", "add", &lab.b],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", &lab.a],
            vec!["link", "set", &vb, "netns", &lab.b],
            vec!["-n", &lab.a, "addr", "add", "192.0.2.1/24", "dev", &va],
            vec!["-n", &lab.b, "addr", "add", "192.0.2.2/24", "dev", &vb],
            vec!["-n", &lab.a, "link", "set", &va, "up"],
            vec!["-n", &lab.b, "link", "set", &vb, "up"],
            vec!["-n", &lab.a, "link", "set", "lo", "up"],
            vec!["-n", &lab.b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let out = ip(&step).map_err(|e| format!("ip {}: {e}", step.join(" ")))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(lab)
    }

    /// `p2p-client` inside namespace `ns`, with mDNS on (the default).
    fn command(ns: &str, peer: &Peer) -> Command {
        let mut cmd = Self::human(ns, peer);
        cmd.arg("--json");
        cmd
    }

    /// [`Lab::command`] with the output for a person.
    fn human(ns: &str, peer: &Peer) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, BIN, "--config-dir"])
            .arg(peer.config.path())
            .env("RUST_LOG", "warn")
            .env_remove("P2P_SERVER");
        cmd
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace kills its end of the veth pair, and so the pair.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn lab_or_skip() -> Option<Lab> {
    match Lab::new() {
        Ok(lab) => Some(lab),
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!(
                "SKIPPED: cannot build network namespaces here ({e}); run as root with iproute2"
            );
            None
        }
        Err(e) => panic!("CI=true but the namespace lab cannot be built: {e}"),
    }
}

#[test]
fn peers_and_send_to_find_each_other_by_mdns_without_a_server() {
    let Some(lab) = lab_or_skip() else { return };
    let sender = Peer::new();
    let receiver = Peer::new();
    let id = Command::new(BIN)
        .args(["id", "--config-dir"])
        .arg(receiver.config.path())
        .output()
        .unwrap();
    let receiver_id = String::from_utf8(id.stdout).unwrap().trim().to_owned();
    // The name mDNS alone cannot carry: identify brings it.
    std::fs::write(
        receiver.config.path().join("config.toml"),
        "name = \"Kitchen PC\"\n",
    )
    .unwrap();

    let mut cmd = Lab::command(&lab.a, &receiver);
    cmd.args(["receive", "--yes", "--dir"]).arg(receiver.dl());
    let mut receiving = Running::spawn(cmd);
    receiving.wait_event("listening");

    // `peers` in the other namespace sees the receiver on the LAN.
    let mut cmd = Lab::command(&lab.b, &sender);
    cmd.args(["peers", "--wait", "4"]);
    let (code, stderr, events) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "peer_found"
            && e["peer"] == receiver_id.as_str()
            && e["source"] == "lan"
            && e["name"] == "Kitchen PC"
            && e["os"] == std::env::consts::OS),
        "receiver not found by mDNS with its name: {events:?}"
    );
    // For a person: one line with the name, how it is reached and its system.
    let out = Lab::human(&lab.b, &sender)
        .args(["peers", "--wait", "4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&receiver_id))
        .unwrap_or_default();
    assert!(
        line.contains("LAN") && line.contains(&format!("Kitchen PC ({})", std::env::consts::OS)),
        "{text}"
    );

    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("lan.txt");
    std::fs::write(&file, b"found on the LAN").unwrap();
    let mut cmd = Lab::command(&lab.b, &sender);
    cmd.arg("send").arg(&file).args(["--to", &receiver_id]);
    let (code, stderr, events) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{stderr}");
    let done = events
        .iter()
        .find(|e| e["event"] == "transfer_done")
        .expect("transfer_done");
    assert_eq!(done["summary"]["path"]["relayed"], false);
    receiving.wait_event("transfer_done");
    assert_eq!(
        std::fs::read(receiver.dl().join("lan.txt")).unwrap(),
        b"found on the LAN"
    );
    drop(receiving);
    drop(lab);
}

/// A peer that shares a folder says so on the LAN (identify), with no
/// server: `peers` marks it, and `ls`/`get` by peer ID reach it by mDNS.
#[test]
fn a_folder_shared_on_the_lan_is_marked_and_browsed_by_peer_id() {
    let Some(lab) = lab_or_skip() else { return };
    let owner = Peer::new();
    let requester = Peer::new();
    let requester_id = String::from_utf8(
        Command::new(BIN)
            .args(["id", "--config-dir"])
            .arg(requester.config.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    std::fs::write(
        owner.config.path().join("config.toml"),
        format!("trusted_peers = [\"{requester_id}\"]\n"),
    )
    .unwrap();
    let owner_id = String::from_utf8(
        Command::new(BIN)
            .args(["id", "--config-dir"])
            .arg(owner.config.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("menu.txt"), b"soup").unwrap();
    let mut cmd = Lab::command(&lab.a, &owner);
    cmd.arg("share")
        .arg(src.path())
        .args(["--allow", "trusted"]);
    let mut sharing = Running::spawn(cmd);
    sharing.wait_event("listening");

    let mut cmd = Lab::command(&lab.b, &requester);
    cmd.args(["peers", "--wait", "4"]);
    let (code, stderr, events) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "peer_found"
            && e["peer"] == owner_id.as_str()
            && e["source"] == "lan"
            && e["publishes"] == true),
        "the owner is not marked as sharing: {events:?}"
    );
    let mut cmd = Lab::command(&lab.b, &requester);
    cmd.args(["get", &owner_id, "menu.txt", "--dir"])
        .arg(requester.dl());
    let (code, stderr, _) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read(requester.dl().join("menu.txt")).unwrap(),
        b"soup"
    );
    drop(sharing);
    drop(lab);
}
