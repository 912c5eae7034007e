//! Transfers between two real `p2p-client` processes on loopback, by ticket
//! (no server): content, folders, decline, expiry, resume.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use common::{
    Peer, Running, Tmpfs, kill_then_resume, random_file, receive_cmd, send_by_ticket_between,
    share, share_with, tree,
};

/// Sends `paths` by ticket and checks the receiver got them byte for byte.
fn send_by_ticket(paths: &[&Path]) -> (Peer, serde_json::Value) {
    let receiver = Peer::new();
    let (done, _) = send_by_ticket_between(&Peer::new(), &receiver, paths);
    (receiver, done)
}

#[test]
fn one_file_and_an_empty_file_arrive_identical() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("photo.jpg");
    random_file(&file, 1_234_567, 1);
    let empty = src.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let (receiver, done) = send_by_ticket(&[&file, &empty]);
    assert_eq!(
        std::fs::read(receiver.dl().join("photo.jpg")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert_eq!(std::fs::read(receiver.dl().join("empty.txt")).unwrap(), b"");
    assert_eq!(done["summary"]["files"], 2);
    assert_eq!(done["summary"]["bytes"], 1_234_567);
    assert_eq!(done["summary"]["path"]["relayed"], false);
}

#[test]
fn a_folder_tree_with_empty_folders_and_a_thousand_files_arrives_identical() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("project");
    for i in 0..1000 {
        let dir = root
            .join(format!("d{}", i % 10))
            .join(format!("e{}", i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file number {i}\n").repeat(i % 13),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("empty/nested/deeper")).unwrap();
    std::fs::create_dir_all(root.join("also-empty")).unwrap();
    let (receiver, done) = send_by_ticket(&[&root]);
    assert_eq!(done["summary"]["files"], 1000);
    let sent = tree(src.path());
    let got = tree(receiver.dl());
    assert_eq!(got, sent);
    assert!(receiver.dl().join("project/empty/nested/deeper").is_dir());
    let partial = receiver.dl().join(".p2p-share/partial");
    let left: Vec<_> = std::fs::read_dir(&partial).unwrap().collect();
    assert!(left.is_empty(), "left in {}: {left:?}", partial.display());
}

#[test]
fn a_large_random_file_arrives_identical() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    random_file(&file, 256 * 1024 * 1024, 7);
    let (receiver, done) = send_by_ticket(&[&file]);
    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert_eq!(done["summary"]["transferred"], 256 * 1024 * 1024);
}

/// QUIC alone (our transport: quinn with BBR): a large file and a small
/// one arrive identical, and both ends say the path was QUIC.
#[test]
fn over_quic_alone_files_arrive_identical() {
    const QUIC: &[&str] = &["/ip4/127.0.0.1/udp/0/quic-v1"];
    let src = tempfile::tempdir().unwrap();
    let big = src.path().join("big.bin");
    random_file(&big, 48 * 1024 * 1024, 11);
    let small = src.path().join("note.txt");
    std::fs::write(&small, b"over QUIC").unwrap();
    let receiver = Peer::on(QUIC);
    let (done, events) = send_by_ticket_between(&Peer::on(QUIC), &receiver, &[&big, &small]);
    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert_eq!(done["summary"]["path"]["transport"], "quic", "{done}");
    let sent = events
        .iter()
        .find(|e| e["event"] == "transfer_done")
        .unwrap();
    assert_eq!(sent["summary"]["path"]["transport"], "quic", "{sent}");
    assert_eq!(sent["summary"]["path"]["relayed"], false, "{sent}");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.txt");
    std::fs::write(&file, b"new content").unwrap();
    let sender = Peer::new();
    let receiver = Peer::new();
    std::fs::write(receiver.dl().join("notes.txt"), b"precious").unwrap();
    let (sending, ticket) = share(&sender, &[&file]);
    let (code, stderr, _) = Running::spawn(receive_cmd(&receiver, &ticket, true)).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read(receiver.dl().join("notes.txt")).unwrap(),
        b"precious"
    );
    assert_eq!(
        std::fs::read(receiver.dl().join("notes (1).txt")).unwrap(),
        b"new content"
    );
    assert_eq!(sending.finish().0, Some(0));
}

#[test]
fn a_declined_offer_tells_the_sender_and_writes_nothing() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("secret.pdf");
    random_file(&file, 1000, 3);
    let sender = Peer::new();
    let receiver = Peer::new();
    let (sending, ticket) = share(&sender, &[&file]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, false));
    let offer = receiving.wait_event("offer_received");
    assert_eq!(offer["files"], 1);
    assert_eq!(offer["names"][0], "secret.pdf");
    receiving.answer("n");
    let (code, _, _) = receiving.finish();
    assert_eq!(code, Some(1));
    let (code, stderr, events) = sending.finish();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("declined"), "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "declined"),
        "{events:?}"
    );
    assert_eq!(
        std::fs::read_dir(receiver.dl()).unwrap().count(),
        0,
        "something reached the disk"
    );
}

#[test]
fn a_file_changed_after_the_offer_is_reported_and_not_delivered() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("report.txt");
    std::fs::write(&file, b"first draft").unwrap();
    let sender = Peer::new();
    let receiver = Peer::new();
    let (sending, ticket) = share(&sender, &[&file]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, false));
    receiving.wait_event("offer_received");
    // Same size, other bytes: only the modification time tells.
    std::fs::write(&file, b"final draft").unwrap();
    receiving.answer("y");
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("changed since it was offered"), "{stderr}");
    assert!(stderr.contains("report.txt"), "{stderr}");
    let (code, _, _) = receiving.finish();
    assert_eq!(code, Some(1));
    assert!(
        !receiver.dl().join("report.txt").exists(),
        "a changed file was delivered"
    );
}

#[test]
fn an_unanswered_offer_expires_for_both_sides() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    std::fs::write(&file, b"abc").unwrap();
    let sender = Peer::new();
    let receiver = Peer::new();
    let (sending, ticket) = share(&sender, &[&file]);
    let mut cmd = receive_cmd(&receiver, &ticket, false);
    cmd.env("P2P_DECISION_TIMEOUT_SECS", "1");
    let mut receiving = Running::spawn(cmd);
    receiving.wait_event("offer_received");
    // Nobody answers the prompt.
    let (code, _, events) = receiving.finish();
    assert_eq!(code, Some(1));
    assert!(
        events.iter().any(|e| e["event"] == "declined"),
        "{events:?}"
    );
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("did not answer in time"), "{stderr}");
    assert_eq!(std::fs::read_dir(receiver.dl()).unwrap().count(), 0);
}

/// `--max-rate` holds the sender to the rate on the wire, and the file
/// still arrives whole.
#[test]
fn a_send_with_a_rate_limit_takes_as_long_as_the_rate_says() {
    let size: u64 = 6_000_000;
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.bin");
    random_file(&file, size, 5);
    let receiver = Peer::new();
    let (sending, ticket) = share_with(&Peer::new(), &[&file], &["--max-rate", "2M"]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
    receiving.wait_event("transfer_started");
    let started = std::time::Instant::now();
    let done = receiving.wait_event("transfer_done");
    let took = started.elapsed();
    assert_eq!(receiving.finish().0, Some(0));
    assert_eq!(sending.finish().0, Some(0));
    // 6 MB at 2 MB/s is 3 s, less at most 0.1 s of burst.
    assert!(took >= Duration::from_millis(2800), "took only {took:?}");
    assert_eq!(done["summary"]["transferred"], size);
    assert_eq!(
        std::fs::read(receiver.dl().join("notes.bin")).unwrap(),
        std::fs::read(&file).unwrap()
    );
}

#[test]
fn a_killed_receiver_resumes_and_resends_less_than_half() {
    // The sender is held to 80 MB/s (3.4 s in all) so the kill comes before
    // the end however fast loopback is and however late this thread sees
    // the event.
    kill_then_resume(&Peer::new(), &Peer::new(), 256 * 1024 * 1024, "80M");
}

#[test]
fn a_folder_sent_again_after_a_kill_resumes_in_the_same_folder() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("album");
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let each: u64 = 8 * 1024 * 1024;
    for i in 0..24 {
        random_file(&root.join(format!("photo-{i:02}.raw")), each, 100 + i);
    }
    let total = 24 * each;
    let sender = Peer::new();
    let receiver = Peer::new();

    // 64 MB/s: 3.1 s in all, so the kill comes well before the end.
    let (sending, ticket) = share_with(&sender, &[&root], &["--max-rate", "64M"]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
    receiving.wait_for("progress past 55%", |e| {
        e["event"] == "progress" && e["done"].as_u64().unwrap_or(0) > total * 55 / 100
    });
    receiving.kill();
    assert_eq!(sending.finish().0, Some(1));

    let (sending, ticket) = share(&sender, &[&root]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
    let started = receiving.wait_event("transfer_started");
    let done = receiving.wait_event("transfer_done");
    assert_eq!(receiving.finish().0, Some(0));
    assert_eq!(sending.finish().0, Some(0));
    assert!(
        started["resumed"].as_u64().unwrap() > total / 2,
        "{started}"
    );
    assert!(
        done["summary"]["transferred"].as_u64().unwrap() < total / 2,
        "{done}"
    );
    assert!(
        !receiver.dl().join("album (1)").exists(),
        "the retry went into a new folder"
    );
    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert!(
        std::fs::read_dir(receiver.dl().join(".p2p-share/transfers"))
            .map_or(true, |d| d.count() == 0),
        "the record of a completed transfer was kept"
    );
}

/// `kill -9` of the receiver at random points (by time or by progress) in
/// 20 runs: no file ever shows wrong content under its final name, and each
/// run goes on from what the runs before left.
#[test]
fn twenty_random_kills_never_leave_a_wrong_file_and_the_last_run_completes() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("album");
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..120 {
        random_file(&root.join(format!("small-{i:03}.bin")), 40_000, 500 + i);
    }
    for i in 0..4 {
        random_file(
            &root.join(format!("big-{i}.bin")),
            48 * 1024 * 1024,
            900 + i,
        );
    }
    let expected: std::collections::HashSet<_> = tree(src.path()).into_iter().collect();
    let sender = Peer::new();
    let receiver = Peer::new();
    let seed: u64 = rand::random();
    eprintln!("kill points from seed {seed}");
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut completed = false;
    let mut kills = 0;
    for run in 0..20 {
        let (sending, ticket) = share(&sender, &[&root]);
        let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
        if run % 4 == 0 {
            // By time: during start-up, the offer or the first bytes.
            std::thread::sleep(Duration::from_millis(next() % 200));
        } else {
            // While bytes flow: up to 150 ms of a transfer that takes longer.
            receiving.wait_event("transfer_started");
            std::thread::sleep(Duration::from_millis(next() % 150));
        }
        receiving.kill();
        // A receiver killed before it connected leaves the sender waiting.
        sending.kill();
        for entry in tree(receiver.dl()) {
            assert!(
                expected.contains(&entry),
                "run {run} (seed {seed}): {} has wrong content or should not exist",
                entry.0.display()
            );
        }
        if tree(receiver.dl()).len() == expected.len() {
            completed = true;
            break;
        }
        kills += 1;
    }
    eprintln!("{kills} runs killed before the end");
    if !completed {
        // One run left alone finishes what the killed ones began.
        let (sending, ticket) = share(&sender, &[&root]);
        let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
        let started = receiving.wait_event("transfer_started");
        receiving.wait_event("transfer_done");
        assert_eq!(receiving.finish().0, Some(0));
        assert_eq!(sending.finish().0, Some(0));
        assert!(
            started["resumed"].as_u64().unwrap() > 0,
            "nothing was resumed: {started}"
        );
    }
    assert_eq!(tree(receiver.dl()), tree(src.path()));
}

/// The receiver's disk fills up while bytes flow: the receiver stops and
/// says why, and the sender, still sending, stops at once with that reason
/// (not after waiting for the stream to stall).
#[test]
fn a_full_disk_at_the_receiver_stops_the_sender_with_the_reason() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("backup.img");
    random_file(&file, 160 * 1024 * 1024, 77);
    let sender = Peer::new();
    let receiver = Peer::new();
    let Some(_disk) = Tmpfs::mount(receiver.dl(), "192m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    // At 100 MB/s the 160 MiB take 1.7 s: the disk fills long before.
    let (sending, ticket) = share_with(&sender, &[&file], &["--max-rate", "100M"]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
    receiving.wait_event("transfer_started");
    // 160 MiB plus the 16 MiB margin fitted in 192; now whatever is left
    // is taken.
    let mut filler = std::fs::File::create(receiver.dl().join("filler")).unwrap();
    let block = vec![0u8; 1024 * 1024];
    while filler.write_all(&block).is_ok() {}
    let started = std::time::Instant::now();
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("disk is full"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sender took {:?} to stop",
        started.elapsed()
    );
    let (code, _, _) = receiving.finish();
    assert_eq!(code, Some(1));
    assert!(!receiver.dl().join("backup.img").exists());
}

/// The sender's file is rewritten while it is being sent: the sender
/// notices once it has read it, says so, and nothing is delivered as good.
#[test]
fn a_file_changed_while_it_is_sent_is_reported_and_not_delivered() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("growing.log");
    let size = 96 * 1024 * 1024;
    random_file(&file, size, 13);
    let sender = Peer::new();
    let receiver = Peer::new();
    // 64 MB/s: 1.6 s in all, so the change lands while the file is sent.
    let (sending, ticket) = share_with(&sender, &[&file], &["--max-rate", "64M"]);
    let mut receiving = Running::spawn(receive_cmd(&receiver, &ticket, true));
    receiving.wait_for("the first progress", |e| e["event"] == "progress");
    // Rewrite the start in place: same size, new bytes, new modification time.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.write_all(&[0xee; 4096]).unwrap();
        f.sync_all().unwrap();
    }
    let (code, stderr, events) = receiving.finish();
    let (sent, sender_err, _) = sending.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(sent, Some(1), "{sender_err}");
    assert!(
        sender_err.contains("changed while it was being sent"),
        "{sender_err}"
    );
    assert!(
        !receiver.dl().join("growing.log").exists(),
        "{stderr} {events:?}"
    );
}
