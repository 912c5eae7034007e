//! Helpers for tests that run the real `p2p-client` binary on loopback.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p-client");

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(120);

/// Which build of `p2p-client` a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// This crate's binary, for this machine.
    Native,
    /// The Windows build named by `P2P_WINDOWS_EXE`, under Wine
    /// (`scripts/windows-test.sh` builds it and sets up Wine).
    Windows,
}

/// Loopback TCP and QUIC.
pub const LOOPBACK: &[&str] = &["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"];

/// A peer: its own config folder (identity) and download folder.
pub struct Peer {
    pub config: tempfile::TempDir,
    pub downloads: tempfile::TempDir,
    /// What [`Peer::command`] listens on.
    listen: &'static [&'static str],
    build: Build,
}

impl Peer {
    /// A peer listening on loopback TCP and QUIC.
    pub fn new() -> Self {
        Self::on(LOOPBACK)
    }

    /// A peer listening on `listen` only.
    pub fn on(listen: &'static [&'static str]) -> Self {
        Self::of(Build::Native, listen)
    }

    /// A peer running the Windows build under Wine, on loopback TCP and QUIC.
    pub fn windows() -> Self {
        Self::of(Build::Windows, LOOPBACK)
    }

    pub fn of(build: Build, listen: &'static [&'static str]) -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            downloads: tempfile::tempdir().unwrap(),
            listen,
            build,
        }
    }

    pub fn build(&self) -> Build {
        self.build
    }

    /// `path` as the peer's program takes it: Wine shows the Linux file
    /// system as drive `Z:`.
    pub fn path_arg(&self, path: &Path) -> std::ffi::OsString {
        match self.build {
            Build::Native => path.into(),
            Build::Windows => {
                let path = std::path::absolute(path).unwrap();
                format!("Z:{}", path.display().to_string().replace('/', "\\")).into()
            }
        }
    }

    /// `p2p-client` with the peer's (loopback) listeners, no mDNS, JSON output.
    pub fn command(&self) -> Command {
        let mut cmd = self.human_command();
        cmd.arg("--json");
        cmd
    }

    /// [`Peer::command`] with the output for a person (no `--json`).
    pub fn human_command(&self) -> Command {
        let mut cmd = match self.build {
            // scripts/package-test.sh points this at an installed package.
            Build::Native => Command::new(std::env::var_os("P2P_CLIENT_BIN").unwrap_or(BIN.into())),
            Build::Windows => wine_command(),
        };
        cmd.args(["--no-mdns", "--config-dir"])
            .arg(self.path_arg(self.config.path()));
        for addr in self.listen {
            cmd.args(["--listen", addr]);
        }
        // P2P_TEST_LOG sets the processes' log filter (shown when a test fails).
        let log = std::env::var("P2P_TEST_LOG").unwrap_or_else(|_| "warn".into());
        cmd.env("RUST_LOG", log)
            .env_remove("P2P_SERVER")
            .env_remove("P2P_CODE");
        cmd
    }

    pub fn dl(&self) -> &Path {
        self.downloads.path()
    }
}

/// `wine64 P2P_WINDOWS_EXE`; Wine's own messages off. The Wine prefix
/// (`WINEPREFIX`) is the caller's, set up by `scripts/windows-test.sh`.
pub fn wine_command() -> Command {
    let exe = std::env::var_os("P2P_WINDOWS_EXE").unwrap_or_else(|| {
        panic!("P2P_WINDOWS_EXE is not set: run these tests with scripts/windows-test.sh")
    });
    let wine = std::env::var_os("P2P_WINE").unwrap_or_else(|| "/usr/lib/wine/wine64".into());
    let mut cmd = Command::new(wine);
    cmd.arg(exe).env("WINEDEBUG", "-all");
    cmd
}

/// A running process whose JSON event lines are read on a thread.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn spawn(cmd: Command) -> Self {
        Self::spawn_fed(cmd, Stdio::piped())
    }

    /// [`Running::spawn`] reading `stdin` (another process's output, `send -`).
    pub fn spawn_fed(mut cmd: Command, stdin: Stdio) -> Self {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits for the first event matching `want`, keeping every event seen.
    pub fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let Ok(value) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    self.seen.push(value.clone());
                    if want(&value) {
                        return value;
                    }
                }
                Err(_) => panic!("no {what} event; saw {:?}", self.seen),
            }
        }
    }

    /// Reads output lines up to the first matching `want`; returns them all,
    /// that one included (for output that is not JSON).
    pub fn wait_line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + STEP;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = want(&line);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("no line with {what}; saw {lines:#?}"),
            }
        }
    }

    pub fn wait_event(&mut self, name: &str) -> Value {
        self.wait_for(name, |v| v["event"] == name)
    }

    /// Writes a line to the process's stdin (an answer to a prompt).
    pub fn answer(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for exit; returns the exit code and stderr, and every event.
    pub fn finish(mut self) -> (Option<i32>, String, Vec<Value>) {
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit; saw {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            if let Ok(value) = serde_json::from_str(&line) {
                self.seen.push(value);
            }
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status.code(), stderr, std::mem::take(&mut self.seen))
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the process logged: the cause of a
        // failure is often on the other side.
        if std::thread::panicking()
            && let Some(stderr) = self.stderr.take().and_then(|h| h.join().ok())
        {
            eprintln!(
                "--- stderr of {:?} ---\n{stderr}--- end ---",
                self.child.id()
            );
        }
    }
}

/// Starts `send PATHS` (no `--to`) and returns it with its ticket.
pub fn share(sender: &Peer, paths: &[&Path]) -> (Running, String) {
    share_with(sender, paths, &[])
}

/// [`share`] with more flags for the sender (`--max-rate 100M`).
pub fn share_with(sender: &Peer, paths: &[&Path], flags: &[&str]) -> (Running, String) {
    let mut cmd = sender.command();
    cmd.args(flags)
        .arg("send")
        .args(paths.iter().map(|p| sender.path_arg(p)));
    let mut running = Running::spawn(cmd);
    let ready = running.wait_event("share_ready");
    let ticket = ready["ticket"].as_str().unwrap().to_owned();
    (running, ticket)
}

/// `receive TICKET --yes` into the peer's download folder.
pub fn receive_cmd(receiver: &Peer, ticket: &str, yes: bool) -> Command {
    let mut cmd = receiver.command();
    cmd.arg("receive")
        .arg(ticket)
        .arg("--dir")
        .arg(receiver.path_arg(receiver.dl()));
    if yes {
        cmd.arg("--yes");
    }
    cmd
}

/// Writes `size` pseudo-random bytes (fast, deterministic per seed).
pub fn random_file(path: &Path, size: u64, seed: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut buf = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = buf.len().min(left as usize);
        file.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
}

/// Every file under `dir` (relative path → content hash), skipping `.p2p-share`.
pub fn tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if rel.starts_with(".p2p-share") {
                continue;
            }
            if path.is_dir() {
                out.push((rel, "dir".into()));
                walk(root, &path, out);
            } else {
                let hash = blake3::hash(&std::fs::read(&path).unwrap())
                    .to_hex()
                    .to_string();
                out.push((rel, hash));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// A tmpfs mounted over a folder for one test (root only), unmounted when
/// dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A small ext4 file system (an image file on a loop device) mounted over a
/// folder for one test: root, `mkfs.ext4` and loop devices needed, `None`
/// without them. Unmounted, and its image deleted, when dropped.
pub struct Ext4 {
    dir: PathBuf,
    _image: tempfile::TempDir,
}

impl Ext4 {
    pub fn mount(dir: &Path, mib: u64) -> Option<Self> {
        let image_dir = tempfile::tempdir().ok()?;
        let image = image_dir.path().join("disk.img");
        std::fs::File::create(&image)
            .ok()?
            .set_len(mib * 1024 * 1024)
            .ok()?;
        let made = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-O", "^has_journal", "-m", "0"])
            .arg(&image)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !made.success() {
            return None;
        }
        let mounted = std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        let disk = mounted.success().then(|| Self {
            dir: dir.to_path_buf(),
            _image: image_dir,
        })?;
        // An empty download folder, as on any other disk.
        std::fs::remove_dir(dir.join("lost+found")).ok()?;
        Some(disk)
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// Sends `paths` by ticket from `sender` to `receiver`; both must succeed.
/// Returns the receiver's `transfer_done` and the sender's events.
pub fn send_by_ticket_between(
    sender: &Peer,
    receiver: &Peer,
    paths: &[&Path],
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let (sending, ticket) = share(sender, paths);
    let mut receiving = Running::spawn(receive_cmd(receiver, &ticket, true));
    let done = receiving.wait_event("transfer_done");
    let (code, stderr, _) = receiving.finish();
    assert_eq!(code, Some(0), "receiver failed: {stderr}");
    let (code, stderr, events) = sending.finish();
    assert_eq!(code, Some(0), "sender failed: {stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "transfer_done"),
        "{events:?}"
    );
    (done, events)
}

/// Sends a file of `size` pseudo-random bytes held to `rate`, kills the
/// receiver (`kill -9`) past 55%, then sends it again with new processes:
/// the receiver resumes from the verified prefix, re-sends less than half
/// and ends with the file whole.
pub fn kill_then_resume(sender: &Peer, receiver: &Peer, size: u64, rate: &str) {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("movie.mkv");
    random_file(&file, size, 11);

    let (sending, ticket) = share_with(sender, &[&file], &["--max-rate", rate]);
    let mut receiving = Running::spawn(receive_cmd(receiver, &ticket, true));
    receiving.wait_for("progress past 55%", |e| {
        e["event"] == "progress" && e["done"].as_u64().unwrap_or(0) > size * 55 / 100
    });
    receiving.kill();
    let (code, _, _) = sending.finish();
    assert_eq!(code, Some(1), "the sender must notice the receiver died");
    assert!(
        !receiver.dl().join("movie.mkv").exists(),
        "an incomplete file got its final name"
    );

    // Second attempt, new processes: resumes from the verified prefix.
    let (sending, ticket) = share(sender, &[&file]);
    let mut receiving = Running::spawn(receive_cmd(receiver, &ticket, true));
    let started = receiving.wait_event("transfer_started");
    let done = receiving.wait_event("transfer_done");
    assert_eq!(receiving.finish().0, Some(0));
    assert_eq!(sending.finish().0, Some(0));
    let resumed = started["resumed"].as_u64().unwrap();
    let transferred = done["summary"]["transferred"].as_u64().unwrap();
    assert!(resumed > size / 2, "resumed only {resumed} bytes");
    assert!(
        transferred < size / 2,
        "re-sent {transferred} of {size} bytes"
    );
    assert_eq!(tree(receiver.dl()), tree(src.path()));
}

/// `history --json` of a peer: its entries, newest first.
pub fn history(peer: &Peer) -> Vec<Value> {
    let out = peer.command().arg("history").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A receiver that waits for offers from anyone (`--yes` or asking), and
/// the `/ip4/…/tcp/…/p2p/…` address to send to it.
pub fn waiting_receiver(peer: &Peer, yes: bool) -> (Running, String) {
    let mut cmd = peer.command();
    cmd.args(["receive", "--dir"]).arg(peer.dl());
    if yes {
        cmd.arg("--yes");
    }
    let mut running = Running::spawn(cmd);
    let listening = running.wait_for("a TCP listener", |e| {
        e["event"] == "listening" && e["addr"].as_str().is_some_and(|a| a.contains("/tcp/"))
    });
    let addr = format!(
        "{}/p2p/{}",
        listening["addr"].as_str().unwrap(),
        peer_id(peer)
    );
    (running, addr)
}

pub fn peer_id(peer: &Peer) -> String {
    let out = peer.command().arg("id").output().unwrap();
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
