//! `send -` (standard input, size unknown in advance) on the real binary
//! over loopback: a tar stream through `receive --stdout` into `tar x`, a
//! stream to a waiting receiver that saves it, a sender that dies in the
//! middle, and the arguments a stream cannot take.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::{Command, Stdio};

use common::{Peer, Running, history, random_file, tree, waiting_receiver};

/// `send - FLAGS` fed by `stdin`; returns it once it is waiting with its ticket.
fn send_stdin(sender: &Peer, stdin: Stdio, flags: &[&str]) -> (Running, String) {
    let mut cmd = sender.command();
    cmd.args(["send", "-"]).args(flags);
    let mut running = Running::spawn_fed(cmd, stdin);
    let ready = running.wait_event("share_ready");
    (running, ready["ticket"].as_str().unwrap().to_owned())
}

#[test]
fn tar_piped_into_send_dash_comes_out_of_receive_stdout_into_tar() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let project = src.path().join("project");
    std::fs::create_dir_all(project.join("sub/empty")).unwrap();
    random_file(&project.join("a.bin"), 3_000_000, 41);
    std::fs::write(project.join("sub/notes.txt"), b"hello").unwrap();

    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(src.path())
        .args(["-c", "project"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar is installed");
    let tar_out = tar.stdout.take().unwrap();
    let (sending, ticket) = send_stdin(&sender, Stdio::from(tar_out), &["--name", "project.tar"]);

    let spool = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut receiving = receiver
        .human_command()
        .args(["receive", &ticket, "--stdout", "--yes"])
        .env("TMPDIR", spool.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(out.path())
        .stdin(Stdio::from(receiving.stdout.take().unwrap()))
        .status()
        .unwrap();
    let received = receiving.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&received.stderr);
    assert!(received.status.success(), "{stderr}");
    assert!(untar.success());
    assert!(tar.wait().unwrap().success());
    assert_eq!(tree(&out.path().join("project")), tree(&project));
    assert!(stderr.contains("Receiving a stream"), "{stderr}");
    assert!(stderr.contains("Received 1 file"), "{stderr}");
    // Nothing saved, and the spool folder is gone.
    assert_eq!(std::fs::read_dir(receiver.dl()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);

    let (code, stderr, events) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let done = events
        .iter()
        .find(|e| e["event"] == "transfer_done")
        .expect("the sender's transfer_done");
    assert!(
        done["summary"]["bytes"].as_u64().unwrap() > 3_000_000,
        "{done}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "transfer_started" && e["unknown_size"] == true),
        "{events:?}"
    );
}

#[test]
fn a_stream_to_a_waiting_receiver_is_saved_under_its_name_never_over_a_file() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let input = src.path().join("input");
    random_file(&input, 5_000_000, 42);
    std::fs::write(receiver.dl().join("data.bin"), b"mine").unwrap();
    let (mut receiving, addr) = waiting_receiver(&receiver, true);

    let mut cmd = sender.command();
    cmd.args(["send", "-", "--name", "data.bin", "--to", &addr]);
    let stdin = Stdio::from(std::fs::File::open(&input).unwrap());
    let sending = Running::spawn_fed(cmd, stdin);
    let offered = receiving.wait_event("offer_received");
    assert_eq!(offered["unknown_size"], true, "{offered}");
    assert_eq!(offered["files"], 1, "{offered}");
    assert_eq!(offered["names"][0], "data.bin", "{offered}");
    let done = receiving.wait_event("transfer_done");
    assert_eq!(done["summary"]["bytes"], 5_000_000, "{done}");
    assert_eq!(done["summary"]["saved"][0], "data (1).bin", "{done}");
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
    receiving.kill();

    assert_eq!(
        std::fs::read(receiver.dl().join("data (1).bin")).unwrap(),
        std::fs::read(&input).unwrap()
    );
    assert_eq!(
        std::fs::read(receiver.dl().join("data.bin")).unwrap(),
        b"mine"
    );
    let partial = receiver.dl().join(".p2p-share/partial");
    assert_eq!(std::fs::read_dir(partial).unwrap().count(), 0);

    // Both sides are in the history, with the size known at the end.
    let received = &history(&receiver)[0];
    assert_eq!(received["bytes"], 5_000_000, "{received}");
    assert_eq!(received["names"][0], "data (1).bin", "{received}");
    let sent = &history(&sender)[0];
    assert_eq!(sent["bytes"], 5_000_000, "{sent}");
    assert_eq!(sent["names"][0], "(standard input)", "{sent}");
    assert_eq!(sent["outcome"], "done", "{sent}");
}

#[test]
fn a_sender_that_dies_mid_stream_leaves_nothing_at_the_receiver() {
    let sender = Peer::new();
    let receiver = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let input = src.path().join("input");
    random_file(&input, 20_000_000, 43);
    let (mut receiving, addr) = waiting_receiver(&receiver, true);

    let mut cmd = sender.command();
    cmd.args(["--max-rate", "2M", "send", "-", "--to", &addr]);
    let stdin = Stdio::from(std::fs::File::open(&input).unwrap());
    let sending = Running::spawn_fed(cmd, stdin);
    receiving.wait_for("progress past 1 MB", |e| {
        e["event"] == "progress" && e["done"].as_u64().is_some_and(|d| d > 1_000_000)
    });
    sending.kill();
    let failed = receiving.wait_event("transfer_failed");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("nothing of it was kept"), "{error}");
    assert_eq!(tree(receiver.dl()), Vec::new());
    let partial = receiver.dl().join(".p2p-share/partial");
    assert_eq!(std::fs::read_dir(partial).unwrap().count(), 0);
    // Still waiting for offers.
    assert!(receiving.child.try_wait().unwrap().is_none());
    receiving.kill();
}

#[test]
fn standard_input_goes_alone_to_one_receiver_under_a_safe_name() {
    let sender = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let other = src.path().join("other.txt");
    std::fs::write(&other, b"x").unwrap();
    let usage: [&[&str]; 3] = [
        &["send", "-", other.to_str().unwrap()],
        &["send", "-", "--receivers", "2"],
        &[
            "send",
            "-",
            "--to",
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWEkY9eJd6njHmJJ3MENWpRH2D3hk4sEL9f3FEjyw6bUyf",
            "--to",
            "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
        ],
    ];
    for args in usage {
        let out = sender
            .human_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("sent alone, to one receiver"), "{stderr}");
    }
    let out = sender
        .human_command()
        .args(["send", "-", "--name", "../up.tar"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("up.tar"), "{stderr}");
}
