//! The receiver: the real `p2p-client receive` binary.

use std::path::PathBuf;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio::task::block_in_place;

use crate::common::{Build, Peer, Running, tree};

/// `p2p-client receive --yes --dir ROOT/downloads`, accepting offers from anyone.
pub(crate) struct Receiver {
    /// Parent of the download folder, to check nothing lands next to it.
    pub(crate) root: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    peer: Peer,
    pub(crate) running: Running,
    pub(crate) peer_id: PeerId,
    pub(crate) addr: Multiaddr,
}

impl Receiver {
    /// Blocking: call inside `block_in_place`.
    pub(crate) fn start() -> Self {
        Self::start_with(true, &[])
    }

    /// `yes`: accept every offer; else ask on stdin, as a person would.
    /// `env`: more environment for the process.
    pub(crate) fn start_with(yes: bool, env: &[(&str, &str)]) -> Self {
        // scripts/windows-test.sh runs these cases against the Windows build.
        let peer = if std::env::var_os("P2P_HOSTILE_WINDOWS").is_some() {
            Peer::windows()
        } else {
            Peer::new()
        };
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("downloads");
        std::fs::create_dir(&dir).unwrap();

        let out = peer.command().arg("id").output().unwrap();
        assert!(
            out.status.success(),
            "p2p-client id failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        let id: Value = serde_json::from_str(line).unwrap();
        let peer_id: PeerId = id["peer_id"].as_str().unwrap().parse().unwrap();

        let mut cmd = peer.command();
        cmd.arg("receive").arg("--dir").arg(peer.path_arg(&dir));
        cmd.envs(env.iter().copied());
        if yes {
            cmd.arg("--yes");
        }
        let mut running = Running::spawn(cmd);
        let listening = running.wait_for("TCP listening", |v| {
            v["event"] == "listening" && v["addr"].as_str().is_some_and(|a| a.contains("/tcp/"))
        });
        let full: Multiaddr = listening["addr"].as_str().unwrap().parse().unwrap();
        let addr: Multiaddr = full
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        Self {
            root,
            dir,
            peer,
            running,
            peer_id,
            addr,
        }
    }

    /// Waits for `transfer_failed` of `transfer_id`; returns its error text.
    pub(crate) fn failed(&mut self, transfer_id: &str) -> String {
        let event = block_in_place(|| {
            self.running.wait_for("transfer_failed", |v| {
                v["event"] == "transfer_failed" && v["transfer_id"] == transfer_id
            })
        });
        event["error"].as_str().unwrap().to_owned()
    }

    /// Waits for `transfer_done` of `transfer_id`.
    pub(crate) fn done(&mut self, transfer_id: &str) -> Value {
        block_in_place(|| {
            self.running.wait_for("transfer_done", |v| {
                v["event"] == "transfer_done" && v["transfer_id"] == transfer_id
            })
        })
    }

    /// `.part` files under `DIR/.p2p-share/partial`, with their sizes.
    pub(crate) fn partials(&self) -> Vec<(String, u64)> {
        let partial = self.dir.join(".p2p-share").join("partial");
        let Ok(entries) = std::fs::read_dir(&partial) else {
            return Vec::new();
        };
        let mut out: Vec<(String, u64)> = entries
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// [`Self::partials`] named by content alone (`<hash>-<size>.part`):
    /// without the sender's key that starts each name.
    pub(crate) fn partials_by_content(&self) -> Vec<(String, u64)> {
        self.partials()
            .into_iter()
            .map(|(name, len)| match name.split_once('-') {
                Some((_sender, content)) => (content.to_owned(), len),
                None => (name, len),
            })
            .collect()
    }

    /// Nothing but the download folder (and `.p2p-share` state inside it)
    /// exists: no file in DIR, nothing in DIR's parent, no partial data.
    pub(crate) fn assert_untouched(&self) {
        assert_eq!(tree(&self.dir), Vec::new(), "files appeared in DIR");
        assert_eq!(self.partials(), Vec::new(), "partial data was written");
        self.assert_nothing_outside();
    }

    /// DIR's parent holds only DIR.
    pub(crate) fn assert_nothing_outside(&self) {
        let mut names: Vec<String> = std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["downloads".to_owned()], "written outside DIR");
    }

    /// Asserts the process is still running (online for other transfers),
    /// then kills it.
    pub(crate) fn assert_alive_and_stop(mut self) {
        let status = self.running.child.try_wait().unwrap();
        assert!(
            status.is_none(),
            "the receiver exited ({status:?}) after hostile input; saw {:?}",
            self.running.seen
        );
        // Its memory stayed bounded whatever it was sent (Linux: peak RSS;
        // under Wine the process holds Wine's own memory too).
        if self.peer.build() == Build::Native
            && let Ok(text) =
                std::fs::read_to_string(format!("/proc/{}/status", self.running.child.id()))
        {
            let peak_kib: u64 = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(peak_kib < 48 * 1024, "receiver peak RSS {peak_kib} KiB");
        }
        self.running.kill();
    }
}
