//! Transfers that meet through a real signal server (in this process, on
//! 127.0.0.1:0): by share code, with a wrong code, and `--to PEER_ID`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{Peer, Running, random_file, tree};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use signal_server::testing::TestServer;

async fn server() -> TestServer {
    TestServer::start(signal_server::Config::localhost())
        .await
        .unwrap()
}

fn with_server(mut cmd: std::process::Command, server: &TestServer) -> std::process::Command {
    cmd.args(["--server", &server.ws_url()]);
    cmd
}

/// Starts `send FILE` with the server and returns it with its share code.
fn share_code(sender: &Peer, server: &TestServer, file: &std::path::Path) -> (Running, String) {
    let mut cmd = with_server(sender.command(), server);
    cmd.arg("send").arg(file);
    let mut sending = Running::spawn(cmd);
    let ready = sending.wait_event("share_ready");
    let code = ready["code"]
        .as_str()
        .expect("a share code with a server")
        .to_owned();
    (sending, code)
}

/// Runs the sender `cmd` to its end and checks that it and `receiving` both
/// report the transfer done and that `saved` holds `content`.
fn sent_and_received(
    cmd: std::process::Command,
    receiving: &mut Running,
    saved: &std::path::Path,
    content: &[u8],
) {
    let (code, stderr, events) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(events.iter().any(|e| e["event"] == "transfer_done"));
    receiving.wait_event("transfer_done");
    assert_eq!(std::fs::read(saved).unwrap(), content);
}

/// `receive -` with the code typed on stdin (it never appears in argv).
fn receive_typed(receiver: &Peer, server: &TestServer, code: &str) -> Running {
    let mut cmd = with_server(receiver.command(), server);
    cmd.args(["receive", "-", "--yes", "--dir"])
        .arg(receiver.dl());
    let mut receiving = Running::spawn(cmd);
    receiving.answer(code);
    receiving
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_code_typed_at_the_prompt_moves_the_file() {
    let server = server().await;
    tokio::task::block_in_place(|| {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("report.pdf");
        random_file(&file, 3_000_000, 5);
        let sender = Peer::new();
        let receiver = Peer::new();
        let (sending, code) = share_code(&sender, &server, &file);
        assert!(protocol::code::ShareCode::parse(&code).is_ok(), "{code}");
        let mut receiving = receive_typed(&receiver, &server, &code);
        receiving.wait_event("transfer_done");
        let (code, stderr, _) = receiving.finish();
        assert_eq!(code, Some(0), "{stderr}");
        let (code, stderr, _) = sending.finish();
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(tree(receiver.dl()), tree(src.path()));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_aborts_both_sides_and_writes_nothing() {
    let server = server().await;
    tokio::task::block_in_place(|| {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("private.txt");
        std::fs::write(&file, b"for the right person only").unwrap();
        let sender = Peer::new();
        let receiver = Peer::new();
        let (sending, code) = share_code(&sender, &server, &file);
        // Same nameplate (so the server pairs us), wrong words.
        let nameplate = code.split('-').next().unwrap();
        let wrong = format!("{nameplate}-wrong-words-here");
        let wrong = if protocol::code::ShareCode::parse(&wrong).is_ok() {
            wrong
        } else {
            let good = protocol::code::ShareCode::parse(&code).unwrap();
            let mut rng = rand::rngs::OsRng;
            let mut other =
                protocol::code::ShareCode::generate(&mut rng, good.nameplate(), 3).unwrap();
            while other == good {
                other = protocol::code::ShareCode::generate(&mut rng, good.nameplate(), 3).unwrap();
            }
            other.to_string()
        };
        let receiving = receive_typed(&receiver, &server, &wrong);
        let (code, stderr, events) = receiving.finish();
        assert_eq!(code, Some(1));
        assert!(stderr.contains("share code does not match"), "{stderr}");
        assert!(
            !events.iter().any(|e| e["event"] == "offer_received"),
            "the offer leaked: {events:?}"
        );
        let (code, stderr, _) = sending.finish();
        assert_eq!(code, Some(1));
        assert!(stderr.contains("share code does not match"), "{stderr}");
        assert_eq!(std::fs::read_dir(receiver.dl()).unwrap().count(), 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_peer_id_found_through_the_server() {
    let server = server().await;
    tokio::task::block_in_place(|| {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("hello.txt");
        std::fs::write(&file, b"hello over the server").unwrap();
        let sender = Peer::new();
        let receiver = Peer::new();
        // The receiver waits for offers from anyone, registered on the server.
        let mut cmd = with_server(receiver.command(), &server);
        cmd.args(["receive", "--yes", "--dir"]).arg(receiver.dl());
        let mut receiving = Running::spawn(cmd);
        receiving.wait_for("server connection", |e| {
            e["event"] == "server_status" && e["connected"] == true
        });
        let id = std::process::Command::new(common::BIN)
            .args(["id", "--config-dir"])
            .arg(receiver.config.path())
            .output()
            .unwrap();
        let receiver_id = String::from_utf8(id.stdout).unwrap().trim().to_owned();
        // Listed by the server with its system, as on the LAN.
        let mut cmd = with_server(sender.command(), &server);
        let listed = cmd.args(["peers", "--wait", "3"]).output().unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(
            listed.lines().any(|line| {
                let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                event["event"] == "peer_found"
                    && event["peer"] == receiver_id.as_str()
                    && event["os"] == std::env::consts::OS
            }),
            "{listed}"
        );
        let mut cmd = with_server(sender.command(), &server);
        cmd.arg("send").arg(&file).args(["--to", &receiver_id]);
        sent_and_received(
            cmd,
            &mut receiving,
            &receiver.dl().join("hello.txt"),
            b"hello over the server",
        );
    });
}

/// `--receivers 2`: two receivers run their own PAKE with one code, at
/// once, and each gets the file; the code then takes no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_for_two_receivers_serves_both_and_then_no_one() {
    let server = server().await;
    tokio::task::block_in_place(|| {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("minutes.pdf");
        random_file(&file, 1_500_000, 8);
        let sender = Peer::new();
        let mut cmd = with_server(sender.command(), &server);
        cmd.arg("send").arg(&file).args(["--receivers", "2"]);
        let mut sending = Running::spawn(cmd);
        let share = sending.wait_event("share_ready")["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let (bob, carol) = (Peer::new(), Peer::new());
        let mut to_bob = receive_typed(&bob, &server, &share);
        let mut to_carol = receive_typed(&carol, &server, &share);
        to_bob.wait_event("transfer_done");
        to_carol.wait_event("transfer_done");
        for (running, peer) in [(to_bob, &bob), (to_carol, &carol)] {
            let (code, stderr, _) = running.finish();
            assert_eq!(code, Some(0), "{stderr}");
            assert_eq!(tree(peer.dl()), tree(src.path()));
        }
        let (code, stderr, events) = sending.finish();
        assert_eq!(code, Some(0), "{stderr}");
        let sent = events
            .iter()
            .filter(|e| e["event"] == "transfer_done")
            .count();
        assert_eq!(sent, 2, "{events:?}");
        // Used up: a third receiver finds no open code.
        let dave = Peer::new();
        let (code, stderr, _) = receive_typed(&dave, &server, &share).finish();
        assert_eq!(code, Some(1));
        assert!(stderr.contains("no open share code"), "{stderr}");
    });
}

/// `share DIR --allow room`: the server tells the room that the owner
/// publishes something (and nothing more); a peer of the room lists and
/// fetches by peer ID alone, through the server; a peer of another room
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_shared_with_the_room_is_browsed_by_peer_id_through_the_server() {
    let server = server().await;
    tokio::task::block_in_place(|| {
        let src = tempfile::tempdir().unwrap();
        let dir = src.path().join("pub");
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        random_file(&dir.join("docs/report.pdf"), 1_500_000, 8);
        let owner = Peer::new();
        let member = Peer::new();
        let outsider = Peer::new();
        std::fs::write(
            outsider.config.path().join("config.toml"),
            "room_name = \"elsewhere\"\nroom_secret = \"s3cret\"\n",
        )
        .unwrap();
        let mut cmd = with_server(owner.command(), &server);
        cmd.arg("share").arg(&dir).args(["--allow", "room"]);
        let mut sharing = Running::spawn(cmd);
        sharing.wait_event("publishing");
        sharing.wait_for("server connection", |e| {
            e["event"] == "server_status" && e["connected"] == true
        });
        let owner_id = common::peer_id(&owner);

        // The room sees that it publishes.
        let listed = with_server(member.command(), &server)
            .args(["peers", "--wait", "3"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(
            listed.lines().any(|line| {
                let e: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                e["event"] == "peer_found"
                    && e["peer"] == owner_id.as_str()
                    && e["publishes"] == true
            }),
            "{listed}"
        );
        let ls = |peer: &Peer, path: &str| {
            with_server(peer.command(), &server)
                .args(["ls", &owner_id, path])
                .output()
                .unwrap()
        };
        let out = ls(&member, "docs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("report.pdf"));
        let out = with_server(member.command(), &server)
            .args(["get", &owner_id, "docs", "--dir"])
            .arg(member.dl())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(member.dl()), tree(&dir));

        let out = ls(&outsider, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("server room only"), "{stderr}");
        sharing.kill();
    });
}

/// Two servers, each with its relay: the receiver registers with both and
/// holds a reservation on each relay; after one server is shut down, it
/// still counts as connected, and a sender that knows both servers finds
/// it through the other and sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_servers_a_transfer_still_connects_after_one_is_shut_down() {
    let first = server().await;
    let second = server().await;
    let urls = [first.ws_url(), second.ws_url()];
    let both = |mut cmd: std::process::Command| {
        for url in &urls {
            cmd.args(["--server", url]);
        }
        cmd
    };
    let receiver = Peer::new();
    let sender = Peer::new();
    let relays: Vec<String> = [&first, &second]
        .iter()
        .map(|s| s.relay.as_ref().expect("a relay").peer_id.clone())
        .collect();
    let (mut receiving, receiver_id) = tokio::task::block_in_place(|| {
        let mut cmd = both(receiver.command());
        cmd.args(["receive", "--yes", "--dir"]).arg(receiver.dl());
        let mut receiving = Running::spawn(cmd);
        // The circuits come in any order.
        let mut reserved = std::collections::HashSet::new();
        while reserved.len() < relays.len() {
            let listening = receiving.wait_for("a circuit through each relay", |e| {
                e["event"] == "listening"
                    && e["addr"]
                        .as_str()
                        .is_some_and(|a| a.contains("p2p-circuit"))
            });
            let addr = listening["addr"].as_str().unwrap_or_default();
            reserved.extend(relays.iter().filter(|r| addr.contains(r.as_str())));
        }
        (receiving, common::peer_id(&receiver))
    });

    first.shutdown.cancel();
    let _ = first.task.await;

    tokio::task::block_in_place(|| {
        let status = receiving.wait_for("the status after one server went away", |e| {
            e["event"] == "server_status"
                && e["message"].as_str().is_some_and(|m| m.contains("is down"))
        });
        assert_eq!(status["connected"], true, "{status}");
        assert_eq!(status["url"], urls[1].as_str(), "{status}");

        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("after.bin");
        random_file(&file, 2_000_000, 41);
        let mut cmd = both(sender.command());
        cmd.arg("send").arg(&file).args(["--to", &receiver_id]);
        sent_and_received(
            cmd,
            &mut receiving,
            &receiver.dl().join("after.bin"),
            &std::fs::read(&file).unwrap(),
        );
    });
}

/// Kills every TCP socket to `port` on loopback (`ss -K`, as root, where
/// the kernel has socket destruction); says whether one was killed.
#[cfg(target_os = "linux")]
fn kill_tcp_to(port: u16) -> bool {
    let filter = format!("dport = :{port}");
    let out = std::process::Command::new("ss")
        .args(["-K", "-t", "-n", "dst", "127.0.0.1"])
        .arg(&filter)
        .output();
    let Ok(out) = out else { return false };
    // `ss -K` lists what it killed; a kernel without socket destruction
    // lists nothing (and says "Operation not supported" on stderr).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.contains(&format!(":{port}")))
}

/// The TCP connection to the relay breaks while the WebSocket stays up:
/// the client takes a new reservation by itself, and a peer that knows it
/// only by its circuit address through the relay reaches it and sends.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_connection_that_breaks_under_a_live_websocket_gets_a_new_reservation() {
    let server = server().await;
    let relay = server.relay.clone().expect("a relay");
    let relay_tcp: Multiaddr = relay
        .addrs
        .iter()
        .filter_map(|a| a.parse::<Multiaddr>().ok())
        .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .expect("a TCP relay address");
    let port = relay_tcp
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    tokio::task::block_in_place(|| {
        let receiver = Peer::new();
        let mut cmd = with_server(receiver.command(), &server);
        cmd.args(["receive", "--yes", "--dir"]).arg(receiver.dl());
        let mut receiving = Running::spawn(cmd);
        let circuit = |e: &serde_json::Value| {
            e["event"] == "listening"
                && e["addr"].as_str().is_some_and(|a| {
                    a.contains("p2p-circuit") && a.contains(&format!("/tcp/{port}/"))
                })
        };
        let first = receiving.wait_for("a circuit through the relay", circuit);
        if !kill_tcp_to(port) {
            eprintln!(
                "skipped: `ss -K` cannot destroy sockets here (needs root and a kernel with INET_DIAG_DESTROY)"
            );
            return;
        }
        let again = receiving.wait_for("a new circuit after the break", circuit);
        assert_eq!(again["addr"], first["addr"], "{again}");

        // A sender that knows nothing but the circuit address.
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("through-the-relay.bin");
        random_file(&file, 1_000_000, 43);
        let sender = Peer::new();
        let mut cmd = sender.command();
        cmd.arg("send")
            .arg(&file)
            .args(["--to", again["addr"].as_str().unwrap()]);
        let (code, stderr, _) = Running::spawn(cmd).finish();
        assert_eq!(code, Some(0), "{stderr}");
        receiving.wait_event("transfer_done");
        assert_eq!(
            std::fs::read(receiver.dl().join("through-the-relay.bin")).unwrap(),
            std::fs::read(&file).unwrap()
        );
    });
}
