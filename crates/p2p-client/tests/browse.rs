//! Browse and fetch on the real binary over loopback: `share DIR`
//! publishes a folder, `ls` lists it, `get` downloads from it; by ticket
//! with no server, and for trusted peers only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use common::{Peer, Running, peer_id, random_file, tree};
use serde_json::Value;

/// `GLOBAL share DIR ARGS`, once it is publishing; its ticket (`--allow
/// ticket`).
fn share_with(
    owner: &Peer,
    global: &[&str],
    dir: &Path,
    args: &[&str],
) -> (Running, Option<String>) {
    let mut cmd = owner.command();
    cmd.args(global).arg("share").arg(dir).args(args);
    let mut running = Running::spawn(cmd);
    let ready = running.wait_event("publishing");
    let ticket = ready["ticket"].as_str().map(str::to_owned);
    (running, ticket)
}

/// `GLOBAL share DIR`.
fn share(owner: &Peer, dir: &Path, global: &[&str]) -> (Running, Option<String>) {
    share_with(owner, global, dir, &[])
}

/// `ls TARGET PATH --json`: exit code, entries, stderr.
fn ls(peer: &Peer, target: &str, path: &str) -> (Option<i32>, Vec<Value>, String) {
    let out = peer.command().args(["ls", target, path]).output().unwrap();
    let entries = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code(),
        entries,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn names(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

/// A published folder: nested folders, an empty one, a symlink out of
/// it, and this app's own state folder.
fn published(root: &Path) -> std::path::PathBuf {
    let dir = root.join("pub");
    std::fs::create_dir_all(dir.join("photos/2024")).unwrap();
    std::fs::create_dir_all(dir.join("photos/empty")).unwrap();
    std::fs::create_dir_all(dir.join(".p2p-share/partial")).unwrap();
    std::fs::write(dir.join(".p2p-share/partial/x.part"), b"partial").unwrap();
    random_file(&dir.join("photos/2024/beach.jpg"), 2_500_000, 3);
    std::fs::write(dir.join("photos/2024/notes.txt"), b"sunny").unwrap();
    std::fs::write(dir.join("readme.txt"), b"hello").unwrap();
    std::fs::write(root.join("secret.txt"), b"not shared").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("secret.txt")).unwrap();
    std::os::unix::fs::symlink(root, dir.join("up")).unwrap();
    dir
}

#[test]
fn a_folder_shared_by_ticket_is_listed_and_fetched_with_no_server() {
    let owner = Peer::new();
    let requester = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let dir = published(src.path());
    let (mut sharing, ticket) = share(&owner, &dir, &[]);
    let ticket = ticket.expect("a ticket");

    let (code, root, stderr) = ls(&requester, &ticket, "");
    assert_eq!(code, Some(0), "{stderr}");
    // No symlinks, no state folder.
    assert_eq!(names(&root), ["photos", "readme.txt"]);
    assert_eq!(root[0]["kind"], "dir");
    assert_eq!(root[1]["kind"], "file");
    assert_eq!(root[1]["size"], 5);
    assert!(root[1]["modified"].as_u64().unwrap() > 1_700_000_000);
    let (code, inner, _) = ls(&requester, &ticket, "photos/2024");
    assert_eq!(code, Some(0));
    assert_eq!(names(&inner), ["beach.jpg", "notes.txt"]);
    assert_eq!(inner[0]["size"], 2_500_000);

    // Download a folder and a file by the paths `ls` showed.
    let out = requester
        .command()
        .args(["get", &ticket, "photos", "readme.txt", "--dir"])
        .arg(requester.dl())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tree(&requester.dl().join("photos")),
        tree(&dir.join("photos"))
    );
    assert!(requester.dl().join("photos/empty").is_dir());
    assert_eq!(
        std::fs::read(requester.dl().join("readme.txt")).unwrap(),
        b"hello"
    );
    // The owner sent it without anyone being asked.
    sharing.wait_event("transfer_done");

    // Fetched again: never over what is there.
    let out = requester
        .command()
        .args(["get", &ticket, "readme.txt", "--dir"])
        .arg(requester.dl())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(requester.dl().join("readme (1).txt")).unwrap(),
        b"hello"
    );
    sharing.kill();
}

#[test]
fn nothing_outside_the_shared_folder_can_be_listed_or_fetched() {
    let owner = Peer::new();
    let requester = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let dir = published(src.path());
    let (mut sharing, ticket) = share(&owner, &dir, &[]);
    let ticket = ticket.unwrap();
    for path in [
        "..",
        "../secret.txt",
        "/etc",
        "up",
        "up/secret.txt",
        "secret.txt",
        ".p2p-share",
        "photos/../..",
    ] {
        let (code, entries, stderr) = ls(&requester, &ticket, path);
        assert_eq!(code, Some(1), "ls {path}: {entries:?}");
        assert!(entries.is_empty(), "ls {path}: {entries:?}");
        assert!(stderr.contains("refused"), "ls {path}: {stderr}");
        let out = requester
            .command()
            .args(["get", &ticket, path, "--dir"])
            .arg(requester.dl())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "get {path}: {stderr}");
        assert!(stderr.contains("refused"), "get {path}: {stderr}");
    }
    assert_eq!(tree(requester.dl()), Vec::new(), "something was written");

    // A ticket with another secret is refused.
    let real = protocol::ticket::Ticket::decode(&ticket).unwrap();
    let forged = protocol::ticket::Ticket::new(real.peer_id, &real.addrs, [7; 16]).encode();
    let (code, _, stderr) = ls(&requester, &forged, "");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("holders of its ticket only"), "{stderr}");
    // And so is a peer ID alone.
    let addr = format!("{}/p2p/{}", real.addrs[0], real.peer_id);
    let (code, _, stderr) = ls(&requester, &addr, "");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("holders of its ticket only"), "{stderr}");
    // The owner is still there, and its log names who was refused.
    assert!(sharing.child.try_wait().unwrap().is_none());
    sharing.child.kill().unwrap();
    let (_, stderr, _) = sharing.finish();
    assert!(
        stderr.contains("browse request refused") && stderr.contains(&peer_id(&requester)),
        "{stderr}"
    );
}

#[test]
fn allow_trusted_admits_a_trusted_peer_and_refuses_another() {
    let owner = Peer::new();
    let trusted = Peer::new();
    let stranger = Peer::new();
    std::fs::write(
        owner.config.path().join("config.toml"),
        format!("trusted_peers = [\"{}\"]\n", peer_id(&trusted)),
    )
    .unwrap();
    let src = tempfile::tempdir().unwrap();
    let dir = published(src.path());
    let (mut sharing, ticket) = share_with(&owner, &[], &dir, &["--allow", "trusted"]);
    assert!(ticket.is_none(), "no ticket for trusted peers");
    let listening = sharing.wait_for("a TCP listener", |e| {
        e["event"] == "listening" && e["addr"].as_str().is_some_and(|a| a.contains("/tcp/"))
    });
    let addr = format!(
        "{}/p2p/{}",
        listening["addr"].as_str().unwrap(),
        peer_id(&owner)
    );
    let (code, entries, stderr) = ls(&trusted, &addr, "");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(names(&entries), ["photos", "readme.txt"]);
    let (code, entries, stderr) = ls(&stranger, &addr, "");
    assert_eq!(code, Some(1));
    assert!(entries.is_empty());
    assert!(stderr.contains("trusted peers only"), "{stderr}");
    let out = stranger
        .command()
        .args(["get", &addr, "readme.txt", "--dir"])
        .arg(stranger.dl())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(tree(stranger.dl()), Vec::new());
    sharing.kill();
}

#[test]
fn a_get_killed_midway_resumes_and_sends_less_than_half_again() {
    let owner = Peer::new();
    let requester = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("pub");
    std::fs::create_dir(&dir).unwrap();
    let size = 12_000_000u64;
    random_file(&dir.join("movie.mkv"), size, 9);
    let (sharing, ticket) = share(&owner, &dir, &["--max-rate", "6M"]);
    let ticket = ticket.unwrap();
    let get = |peer: &Peer| {
        let mut cmd = peer.command();
        cmd.args(["get", &ticket, "movie.mkv", "--dir"])
            .arg(peer.dl());
        Running::spawn(cmd)
    };
    let mut getting = get(&requester);
    getting.wait_for("progress past 55%", |e| {
        e["event"] == "progress" && e["done"].as_u64().unwrap_or(0) > size * 55 / 100
    });
    getting.kill();
    assert!(!requester.dl().join("movie.mkv").exists());

    let mut getting = get(&requester);
    let started = getting.wait_event("transfer_started");
    let done = getting.wait_event("transfer_done");
    assert_eq!(getting.finish().0, Some(0));
    let resumed = started["resumed"].as_u64().unwrap();
    let transferred = done["summary"]["transferred"].as_u64().unwrap();
    assert!(resumed > size / 2, "resumed only {resumed} bytes");
    assert!(
        transferred < size / 2,
        "re-sent {transferred} of {size} bytes"
    );
    assert_eq!(tree(requester.dl()), tree(&dir));
    drop(sharing);
}

#[test]
fn a_file_that_changes_while_it_is_fetched_is_not_placed() {
    let owner = Peer::new();
    let requester = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("pub");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("log.bin");
    random_file(&file, 8_000_000, 5);
    let (_sharing, ticket) = share(&owner, &dir, &["--max-rate", "4M"]);
    let mut cmd = requester.command();
    cmd.args(["get", ticket.as_deref().unwrap(), "log.bin", "--dir"])
        .arg(requester.dl());
    let mut getting = Running::spawn(cmd);
    getting.wait_for("some progress", |e| {
        e["event"] == "progress" && e["done"].as_u64().unwrap_or(0) > 1_000_000
    });
    // The owner's file grows while it is read.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"more"))
        .unwrap();
    let (code, stderr, _) = getting.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the sender stopped"), "{stderr}");
    assert!(stderr.contains("log.bin changed"), "{stderr}");
    assert!(
        !requester.dl().join("log.bin").exists(),
        "a changed file was placed"
    );
}

/// Peak resident memory of a running process, in KiB (Linux).
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `ls --json` of `path` to the end; the entries and the process's peak
/// memory (polled while it runs).
fn ls_measured(peer: &Peer, target: &str, path: &str) -> (usize, u64) {
    let mut child = peer
        .command()
        .args(["ls", target, path])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout).lines().count()
    });
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_kib(child.id()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (counter.join().unwrap(), peak)
}

#[test]
fn a_folder_of_100000_entries_lists_in_pages_with_bounded_memory() {
    let owner = Peer::new();
    let requester = Peer::new();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("pub");
    std::fs::create_dir_all(dir.join("many")).unwrap();
    std::fs::create_dir_all(dir.join("few")).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(dir.join("many").join(format!("file-{i:06}.dat"))).unwrap();
    }
    for i in 0..10 {
        std::fs::File::create(dir.join("few").join(format!("{i}"))).unwrap();
    }
    let (mut sharing, ticket) = share(&owner, &dir, &[]);
    let ticket = ticket.unwrap();
    let owner_pid = sharing.child.id();

    let (few, few_peak) = ls_measured(&requester, &ticket, "few");
    assert_eq!(few, 10);
    let owner_before = peak_kib(owner_pid);
    let (many, many_peak) = ls_measured(&requester, &ticket, "many");
    assert_eq!(many, 100_000, "every entry once");
    // Memory is read from /proc (Linux); elsewhere only the count is checked.
    let (Some(owner_before), Some(owner_after)) = (owner_before, peak_kib(owner_pid)) else {
        sharing.kill();
        return;
    };
    eprintln!(
        "peak KiB: lister {few_peak} (10 entries) -> {many_peak} (100,000); owner {owner_before} -> {owner_after}"
    );
    // Neither side holds the folder: a hundred thousand names (about 2.5 MB
    // as strings, many times that as JSON) would show.
    assert!(
        many_peak <= few_peak + 8 * 1024,
        "the lister grew from {few_peak} KiB to {many_peak} KiB"
    );
    assert!(
        owner_after <= owner_before + 8 * 1024,
        "the owner grew from {owner_before} KiB to {owner_after} KiB"
    );
    assert!(sharing.child.try_wait().unwrap().is_none());
    sharing.kill();
}
