//! The Windows build of `p2p-client` under Wine, against itself and against
//! the Linux build, over loopback: what differs on Windows is the file
//! system (case-insensitive names, `MoveFileEx` replacing by default, no
//! `openat`/`O_TMPFILE`, 260-character paths) and the sockets (quinn-udp's
//! options that Wine refuses; see `p2p_transport::quic`).
//!
//! Ignored in a plain `cargo test`: they need the Windows build and Wine,
//! which `scripts/windows-test.sh` (run by `.ci/run`) builds and sets up
//! before running them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use common::{Peer, Running, kill_then_resume, random_file, send_by_ticket_between, tree};
use serde_json::Value;

/// Sends `paths` by ticket; both must succeed. The receiver's
/// `transfer_done`.
fn transfer(sender: &Peer, receiver: &Peer, paths: &[&Path]) -> Value {
    send_by_ticket_between(sender, receiver, paths).0
}

/// A file, and a folder with nested and empty folders.
fn sample(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let file = root.join("photo.jpg");
    random_file(&file, 3 * 1024 * 1024 + 17, 1);
    let folder = root.join("project");
    for i in 0..40 {
        let dir = folder
            .join(format!("d{}", i % 4))
            .join(format!("e{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("{i}\n").repeat(i)).unwrap();
    }
    std::fs::create_dir_all(folder.join("empty/nested")).unwrap();
    std::fs::write(folder.join("zero.bin"), b"").unwrap();
    (file, folder)
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn windows_to_windows_a_file_and_a_folder_with_empty_folders() {
    let src = tempfile::tempdir().unwrap();
    let (file, folder) = sample(src.path());
    let receiver = Peer::windows();
    let done = transfer(&Peer::windows(), &receiver, &[&file, &folder]);
    assert_eq!(done["summary"]["files"], 42, "{done}");
    assert_eq!(tree(receiver.dl()), tree(src.path()));
    assert!(receiver.dl().join("project/empty/nested").is_dir());
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn windows_to_linux_and_linux_to_windows() {
    let src = tempfile::tempdir().unwrap();
    let (file, folder) = sample(src.path());
    let linux = Peer::new();
    transfer(&Peer::windows(), &linux, &[&file, &folder]);
    assert_eq!(tree(linux.dl()), tree(src.path()));
    let windows = Peer::windows();
    transfer(&Peer::new(), &windows, &[&file, &folder]);
    assert_eq!(tree(windows.dl()), tree(src.path()));
}

/// QUIC alone: under Wine quinn-udp cannot set its socket options, and the
/// plain-datagram fallback must carry the transfer.
#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn over_quic_alone_windows_and_linux_exchange_files() {
    const QUIC: &[&str] = &["/ip4/127.0.0.1/udp/0/quic-v1"];
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    random_file(&file, 8 * 1024 * 1024, 5);
    let linux = Peer::on(QUIC);
    let done = transfer(&Peer::of(common::Build::Windows, QUIC), &linux, &[&file]);
    assert_eq!(done["summary"]["path"]["transport"], "quic", "{done}");
    assert_eq!(tree(linux.dl()), tree(src.path()));
    let windows = Peer::of(common::Build::Windows, QUIC);
    let done = transfer(&Peer::on(QUIC), &windows, &[&file]);
    assert_eq!(done["summary"]["path"]["transport"], "quic", "{done}");
    assert_eq!(tree(windows.dl()), tree(src.path()));
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn a_killed_windows_receiver_resumes_and_resends_less_than_half() {
    // 12 MB/s: 4 s in all, so the kill comes before the end.
    kill_then_resume(&Peer::new(), &Peer::windows(), 48 * 1024 * 1024, "12M");
}

// `a.txt` and `A.TXT` in one offer: a sender refuses to make such an offer
// and a receiver refuses one (names are compared without case on every
// platform); the hostile sender's path cases, which scripts/windows-test.sh
// runs against a Windows receiver too, include it. A name taken on disk in
// another case is `an_existing_file_on_windows_is_never_overwritten`.

/// A path past Windows' old 260-character limit arrives whole.
#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn paths_longer_than_260_characters_arrive_on_windows() {
    let src = tempfile::tempdir().unwrap();
    let mut deep = src.path().join("long");
    for i in 0..6 {
        deep.push(format!("{i}-{}", "folder-name-".repeat(5)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let name = format!("{}.txt", "file".repeat(20));
    std::fs::write(deep.join(&name), b"deep inside").unwrap();
    let rel = deep.join(&name);
    let rel = rel.strip_prefix(src.path()).unwrap();
    assert!(rel.as_os_str().len() > 300, "{}", rel.display());
    let receiver = Peer::windows();
    transfer(&Peer::new(), &receiver, &[&src.path().join("long")]);
    assert_eq!(
        std::fs::read(receiver.dl().join(rel)).unwrap(),
        b"deep inside"
    );
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn an_existing_file_on_windows_is_never_overwritten() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.txt");
    std::fs::write(&file, b"new content").unwrap();
    let receiver = Peer::windows();
    std::fs::write(receiver.dl().join("NOTES.txt"), b"precious").unwrap();
    transfer(&Peer::windows(), &receiver, &[&file]);
    assert_eq!(
        std::fs::read(receiver.dl().join("NOTES.txt")).unwrap(),
        b"precious"
    );
    assert_eq!(
        std::fs::read(receiver.dl().join("notes (1).txt")).unwrap(),
        b"new content"
    );
}

/// A file Windows cannot name is refused by the sender with its name, and
/// nothing is sent.
#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn a_linux_file_named_like_a_windows_device_is_refused_by_name() {
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("odd");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("aux.txt"), b"x").unwrap();
    let sender = Peer::windows();
    let mut cmd = sender.command();
    cmd.arg("send").arg(sender.path_arg(&folder));
    let (code, stderr, _) = Running::spawn(cmd).finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("aux.txt"), "{stderr}");
}

/// `send -` on Windows, received on Windows: standard input read through
/// Wine, the stream's partial file and its placing without `openat`, next
/// to a file of the same name in another case.
#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-test.sh"]
fn standard_input_sent_from_windows_is_saved_on_windows_beside_an_existing_file() {
    let src = tempfile::tempdir().unwrap();
    let input = src.path().join("input");
    random_file(&input, 2 * 1024 * 1024 + 5, 7);
    let sender = Peer::windows();
    let receiver = Peer::windows();
    std::fs::write(receiver.dl().join("DATA.bin"), b"precious").unwrap();
    let mut cmd = sender.command();
    cmd.args(["send", "-", "--name", "data.bin"]);
    let stdin = std::process::Stdio::from(std::fs::File::open(&input).unwrap());
    let mut sending = Running::spawn_fed(cmd, stdin);
    let ticket = sending.wait_event("share_ready")["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut receiving = Running::spawn(common::receive_cmd(&receiver, &ticket, true));
    let done = receiving.wait_event("transfer_done");
    assert_eq!(done["summary"]["saved"][0], "data (1).bin", "{done}");
    let (code, stderr, _) = receiving.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr, _) = sending.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read(receiver.dl().join("data (1).bin")).unwrap(),
        std::fs::read(&input).unwrap()
    );
    assert_eq!(
        std::fs::read(receiver.dl().join("DATA.bin")).unwrap(),
        b"precious"
    );
}
