//! What people do every day, on the real binary over loopback: tickets as
//! QR codes, the transfer history, the words of the offer prompt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{
    Peer, Running, history, peer_id, random_file, receive_cmd, send_by_ticket_between,
    waiting_receiver,
};
use serde_json::Value;

/// Reads a QR code printed in a terminal (two rows of modules per
/// character, light ones drawn) back as a camera would: a greyscale picture
/// handed to a QR decoder.
fn scan_terminal(lines: &[&str]) -> String {
    const PX: usize = 4;
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let width = rows.iter().map(Vec::len).max().unwrap();
    let height = rows.len() * 2;
    let light = |x: usize, y: usize| {
        let c = rows[y / 2].get(x).copied().unwrap_or(' ');
        matches!((c, y % 2), ('█', _) | ('▀', 0) | ('▄', 1))
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width * PX, height * PX, |x, y| {
        if light(x / PX, y / PX) { 255 } else { 0 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in {lines:#?}");
    grids[0].decode().unwrap().1
}

#[test]
fn a_ticket_shown_as_a_qr_code_scans_back_and_fetches_the_file() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("photo.jpg");
    random_file(&file, 300_000, 3);
    let mut cmd = sender.human_command();
    cmd.args(["send", "--qr"]).arg(&file);
    let mut sending = Running::spawn(cmd);
    let lines = sending.wait_line("Waiting for the receiver", |l| {
        l.starts_with("Waiting for the receiver")
    });
    let ticket = lines
        .iter()
        .find_map(|l| l.strip_prefix("Ticket (works without a server): "))
        .unwrap()
        .to_owned();
    // Loopback only: both addresses stay, and the ticket is short.
    assert!(ticket.len() <= 160, "{} characters: {ticket}", ticket.len());
    let qr: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty() && l.chars().all(|c| "█▀▄ ".contains(c)))
        .collect();
    assert!(qr.len() > 10, "no QR code in {lines:#?}");
    let scanned = scan_terminal(&qr);
    assert_eq!(scanned.to_ascii_lowercase(), ticket);

    let mut receiving = Running::spawn(receive_cmd(&receiver, &scanned, true));
    receiving.wait_event("transfer_done");
    let (code, stderr, _) = receiving.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read(receiver.dl().join("photo.jpg")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn both_sides_of_a_cli_transfer_are_in_history_newest_first() {
    let sender = Peer::new();
    let receiver = Peer::new();
    assert!(history(&sender).is_empty());
    let out = sender.human_command().arg("history").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "No transfers yet."
    );

    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.txt");
    std::fs::write(&file, b"first").unwrap();
    send_by_ticket_between(&sender, &receiver, &[&file]);

    // The second offer is declined at the prompt, which counts its files
    // in words.
    let (sending, ticket) = common::share(&sender, &[&file]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, false));
    receiving.wait_event("offer_received");
    receiving.answer("n");
    let (_, stderr, _) = receiving.finish();
    assert!(
        stderr.contains(" offers 1 file, 5 B: notes.txt"),
        "{stderr}"
    );
    let _ = sending.finish();

    let sent = history(&sender);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["direction"], "send");
    assert!(
        sent[0]["outcome"].as_str().unwrap().starts_with("declined"),
        "{sent:?}"
    );
    assert_eq!(sent[1]["outcome"], "done");
    assert_eq!(sent[1]["files"], 1);
    assert_eq!(sent[1]["bytes"], 5);
    let receiver_id = receiver
        .command()
        .arg("id")
        .output()
        .map(|o| serde_json::from_slice::<Value>(&o.stdout).unwrap())
        .unwrap();
    assert_eq!(sent[1]["peer"], receiver_id["peer_id"]);
    assert!(sent[0]["when"].as_u64() >= sent[1]["when"].as_u64());

    let got = history(&receiver);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["direction"], "receive");
    assert_eq!(got[1]["outcome"], "done");
    assert_eq!(got[1]["names"], serde_json::json!(["notes.txt"]));
    assert_eq!(
        got[1]["path"].as_str().unwrap(),
        receiver.dl().display().to_string()
    );

    // For a person: a table, newest first, `-n` the newest only.
    let out = receiver
        .human_command()
        .args(["history", "-n", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("WHEN (UTC)"), "{text}");
    assert!(rows[1].contains("declined"), "{text}");
    assert!(!text.contains(" done "), "{text}");
}

#[test]
fn a_text_is_shown_by_the_receiver_once_accepted_and_never_saved() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let mut cmd = sender.command();
    cmd.args(["send", "--text", "meet at 6\r\nbring \u{1b}[2J snacks"]);
    let mut sending = Running::spawn(cmd);
    let ticket = sending.wait_event("share_ready")["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cmd = receiver.human_command();
    cmd.args(["receive", &ticket, "--dir"]).arg(receiver.dl());
    let mut receiving = Running::spawn(cmd);
    receiving.answer("y");
    let lines = receiving.wait_line("the text", |l| l.contains("snacks"));
    let (code, stderr, _) = receiving.finish();
    assert_eq!(code, Some(0), "{stderr}");
    // Asked first, by length only; then the text, made safe for a terminal.
    assert!(
        stderr.contains("sends you a text of 28 characters"),
        "{stderr}"
    );
    assert!(stderr.contains("Text from "), "{stderr}");
    assert_eq!(
        lines[lines.len() - 2..],
        ["meet at 6", "bring \\u{1b}[2J snacks"]
    );
    let (code, stderr, events) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let done = events
        .iter()
        .find(|e| e["event"] == "transfer_done")
        .unwrap();
    assert_eq!(done["summary"]["text"], true);
    assert_eq!(done["summary"]["files"], 0);
    // Nothing reached the disk, and the history keeps no text.
    let saved: Vec<_> = std::fs::read_dir(receiver.dl())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != ".p2p-share")
        .collect();
    assert!(saved.is_empty(), "{saved:?}");
    let got = history(&receiver);
    assert_eq!(got[0]["names"], serde_json::json!(["(text)"]));
    assert_eq!(got[0]["outcome"], "done");
    assert!(!serde_json::to_string(&got).unwrap().contains("snacks"));
    assert_eq!(history(&sender)[0]["names"], serde_json::json!(["(text)"]));
}

#[test]
fn a_declined_text_is_not_shown_and_bad_text_arguments_are_refused() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let mut cmd = sender.command();
    cmd.args(["send", "--text", "top secret"]);
    let mut sending = Running::spawn(cmd);
    let ticket = sending.wait_event("share_ready")["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, false));
    receiving.wait_event("offer_received");
    receiving.answer("n");
    let (_, stderr, events) = receiving.finish();
    assert!(!stderr.contains("top secret"), "{stderr}");
    assert!(
        !events.iter().any(|e| e["event"] == "text_received"),
        "{events:?}"
    );
    let (code, _, _) = sending.finish();
    assert_eq!(code, Some(1));

    let out = sender
        .command()
        .args(["send", "--text", "hi", "file.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sender
        .command()
        .args(["send", "--text", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the text is empty"),
        "{out:?}"
    );
    let long = "x".repeat(protocol::offer::MAX_TEXT_BYTES + 1);
    let out = sender
        .command()
        .args(["send", "--text", &long])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("send it as a file"),
        "{out:?}"
    );
}

#[test]
fn one_send_to_several_recipients_gives_each_its_own_offer_and_result() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("slides.pdf");
    random_file(&file, 2_000_000, 5);
    let (alice, dave, bob) = (Peer::new(), Peer::new(), Peer::new());
    let (mut to_alice, alice_addr) = waiting_receiver(&alice, true);
    let (mut to_dave, dave_addr) = waiting_receiver(&dave, true);
    let (mut to_bob, bob_addr) = waiting_receiver(&bob, false);
    // Carol is away: nothing listens where her address points.
    let carol = Peer::new();
    let carol_addr = format!("/ip4/127.0.0.1/tcp/1/p2p/{}", peer_id(&carol));

    let sender = Peer::new();
    let mut cmd = sender.human_command();
    cmd.arg("send").arg(&file);
    for to in [&alice_addr, &bob_addr, &carol_addr, &dave_addr] {
        cmd.args(["--to", to]);
    }
    let mut sending = Running::spawn(cmd);
    to_bob.wait_event("offer_received");
    to_bob.answer("n");
    to_alice.wait_event("transfer_done");
    to_dave.wait_event("transfer_done");
    let lines = sending.wait_line("the results", |l| {
        l.contains(&peer_id(&dave)) && l.contains("Sent")
    });
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("2 of 4 recipients did not get them"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&peer_id(&bob)) && stderr.contains(&peer_id(&carol)),
        "{stderr}"
    );
    assert!(lines.iter().any(|l| l == "To 4 recipients:"), "{lines:#?}");
    for peer in [&alice, &dave] {
        assert_eq!(
            std::fs::read(peer.dl().join("slides.pdf")).unwrap(),
            std::fs::read(&file).unwrap()
        );
    }
    assert!(!bob.dl().join("slides.pdf").exists());
    // Each offer was its own transfer, each in the sender's history.
    let sent = history(&sender);
    assert_eq!(sent.len(), 3, "{sent:?}");
    let mut ids: Vec<&str> = sent.iter().map(|e| e["peer"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut want = vec![peer_id(&alice), peer_id(&bob), peer_id(&dave)];
    want.sort_unstable();
    assert_eq!(ids, want);
    for running in [to_alice, to_bob, to_dave] {
        running.kill();
    }
}

/// `--receivers 3` by ticket, no server: two receivers at once, then a
/// third later; the sender waits for the third and exits.
#[test]
fn one_ticket_for_three_receivers_serves_them_at_once_and_one_after_another() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("album.zip");
    random_file(&file, 1_000_000, 9);
    let sender = Peer::new();
    let mut cmd = sender.command();
    cmd.arg("send").arg(&file).args(["--receivers", "3"]);
    let mut sending = Running::spawn(cmd);
    let ticket = sending.wait_event("share_ready")["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let receivers = [Peer::new(), Peer::new(), Peer::new()];
    let first: Vec<Running> = receivers[..2]
        .iter()
        .map(|r| Running::spawn(receive_cmd(r, &ticket, true)))
        .collect();
    for running in first {
        let (code, stderr, _) = running.finish();
        assert_eq!(code, Some(0), "{stderr}");
    }
    // Two of three came: the sender still waits.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        sending.child.try_wait().unwrap().is_none(),
        "the sender left early"
    );
    let (code, stderr, _) = Running::spawn(receive_cmd(&receivers[2], &ticket, true)).finish();
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
    for receiver in &receivers {
        assert_eq!(
            std::fs::read(receiver.dl().join("album.zip")).unwrap(),
            std::fs::read(&file).unwrap()
        );
    }
    assert_eq!(history(&sender).len(), 3);
    // The default stays one receiver per ticket.
    let out = sender
        .command()
        .args(["send", "--receivers", "0"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `receive` without a code takes offers from two senders at the same time.
#[test]
fn a_waiting_receiver_takes_two_senders_at_once() {
    let receiver = Peer::new();
    let (mut receiving, addr) = waiting_receiver(&receiver, true);
    let src = tempfile::tempdir().unwrap();
    let senders: Vec<(Running, std::path::PathBuf)> = (0..2u64)
        .map(|i| {
            let file = src.path().join(format!("part{i}.bin"));
            random_file(&file, 6_000_000, 20 + i);
            let sender = Peer::new();
            let mut cmd = sender.command();
            // Held to a rate (two seconds each), so that both transfers
            // overlap even on a loaded machine.
            cmd.args(["--max-rate", "3M", "send"])
                .arg(&file)
                .args(["--to", &addr]);
            (Running::spawn(cmd), file)
        })
        .collect();
    let mut started = 0;
    let mut done = 0;
    let mut overlapped = false;
    while done < 2 {
        let event = receiving.wait_for("transfers", |e| {
            e["event"] == "transfer_started" || e["event"] == "transfer_done"
        });
        if event["event"] == "transfer_started" {
            started += 1;
        } else {
            overlapped |= started == 2 && done == 0;
            done += 1;
        }
    }
    assert!(
        overlapped,
        "the second transfer did not start before the first ended"
    );
    for (sending, file) in senders {
        let (code, stderr, _) = sending.finish();
        assert_eq!(code, Some(0), "{stderr}");
        let name = file.file_name().unwrap();
        assert_eq!(
            std::fs::read(receiver.dl().join(name)).unwrap(),
            std::fs::read(&file).unwrap()
        );
    }
    receiving.kill();
}

#[test]
fn receive_stdout_writes_the_one_verified_file_to_standard_output_and_keeps_nothing() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("backup.tar");
    random_file(&file, 3_000_000, 31);
    let (sending, ticket) = common::share(&sender, &[&file]);
    let spool = tempfile::tempdir().unwrap();
    let out = receiver
        .human_command()
        .args(["receive", &ticket, "--stdout", "--yes"])
        .env("TMPDIR", spool.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        out.stdout == std::fs::read(&file).unwrap(),
        "stdout is not the file"
    );
    assert!(stderr.contains("Received 1 file"), "{stderr}");
    // Nothing saved, and the spool folder is gone.
    assert_eq!(std::fs::read_dir(receiver.dl()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn receive_stdout_refuses_a_folder_and_needs_a_code() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("photos");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.jpg"), b"a").unwrap();
    std::fs::write(folder.join("b.jpg"), b"b").unwrap();
    let (sending, ticket) = common::share(&sender, &[&folder]);
    let out = receiver
        .human_command()
        .args(["receive", &ticket, "--stdout", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--stdout takes a single file; the sender offers 2 files in 1 folder"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let (code, _, events) = sending.finish();
    assert_eq!(code, Some(1));
    assert!(
        events.iter().any(|e| e["event"] == "declined"),
        "{events:?}"
    );

    let out = receiver
        .human_command()
        .args(["receive", "--stdout"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
