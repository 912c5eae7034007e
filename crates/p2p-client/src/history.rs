//! Finished transfers, kept across restarts in `history.json` in the data
//! folder, written by every view (the app and the CLI) through the engine.
//!
//! [`Recorder`] turns the engine's events into [`Entry`]s without IO;
//! [`History`] reads the file and appends to it under a lock file, so an app
//! and a CLI of the same user can finish transfers at the same time and
//! neither entry is lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// Entries kept; older ones are dropped.
pub const MAX_ENTRIES: usize = 500;

/// Largest history file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Transfers followed at once; the oldest is forgotten past this.
const MAX_PENDING: usize = 1024;

/// Names kept per entry.
const MAX_NAMES: usize = 8;

/// What an entry names for a text (the text itself is not kept).
pub const TEXT_NAME: &str = "(text)";

/// What the sender's entry names for standard input (`send -`).
pub const STDIN_NAME: &str = "(standard input)";

/// The file's name in the data folder.
pub const FILE_NAME: &str = "history.json";

/// One finished transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it ended, in seconds since the Unix epoch.
    pub when: u64,
    /// `send` or `receive`.
    pub direction: String,
    /// The other peer's ID.
    pub peer: String,
    /// Number of files.
    pub files: usize,
    /// Total bytes.
    pub bytes: u64,
    /// `done`, `failed: …` or `declined: …`.
    pub outcome: String,
    /// The first few top-level names (received: where they landed).
    #[serde(default)]
    pub names: Vec<String>,
    /// Received: the folder they landed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Entry {
    /// Whether the transfer completed.
    pub fn succeeded(&self) -> bool {
        self.outcome == "done"
    }
}

/// What is known of a transfer between its offer and its end.
#[derive(Debug, Clone)]
struct Pending {
    direction: &'static str,
    peer: String,
    files: usize,
    bytes: u64,
    names: Vec<String>,
    /// Arrival order, to forget the oldest first.
    seq: u64,
}

/// Follows transfers through the engine's events and says when one ended.
#[derive(Debug)]
pub struct Recorder {
    download_dir: PathBuf,
    pending: HashMap<String, Pending>,
    seq: u64,
}

impl Recorder {
    /// A recorder for an engine that saves into `download_dir`.
    pub fn new(download_dir: PathBuf) -> Self {
        Self {
            download_dir,
            pending: HashMap::new(),
            seq: 0,
        }
    }

    /// Takes one event; returns the entry of a transfer it ended.
    pub fn observe(&mut self, event: &Event, now: SystemTime) -> Option<Entry> {
        let when = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match event {
            Event::OfferSent {
                transfer_id,
                peer,
                files,
                bytes,
                text,
                unknown_size,
            } => {
                let names = if *text {
                    vec![TEXT_NAME.into()]
                } else if *unknown_size {
                    vec![STDIN_NAME.into()]
                } else {
                    Vec::new()
                };
                self.start(transfer_id, "send", peer.to_string(), *files, *bytes, names);
                None
            }
            Event::OfferReceived {
                transfer_id,
                peer,
                files,
                bytes,
                names,
                text_chars,
                ..
            } => {
                let names = if text_chars.is_some() {
                    vec![TEXT_NAME.into()]
                } else {
                    names.iter().take(MAX_NAMES).cloned().collect()
                };
                self.start(
                    transfer_id,
                    "receive",
                    peer.to_string(),
                    *files,
                    *bytes,
                    names,
                );
                None
            }
            Event::TransferDone {
                transfer_id,
                summary,
            } => {
                let pending = self.pending.remove(transfer_id)?;
                let mut entry = self.entry(pending, when, "done".into());
                // A stream's size is known only now.
                entry.bytes = entry.bytes.max(summary.bytes);
                if !summary.saved.is_empty() {
                    entry.names = summary.saved.iter().take(MAX_NAMES).cloned().collect();
                }
                Some(entry)
            }
            Event::TextReceived { transfer_id, .. } => {
                let pending = self.pending.remove(transfer_id)?;
                let mut entry = self.entry(pending, when, "done".into());
                entry.path = None;
                Some(entry)
            }
            Event::TransferFailed {
                transfer_id, error, ..
            } => {
                let pending = self.pending.remove(transfer_id)?;
                Some(self.entry(pending, when, format!("failed: {error}")))
            }
            Event::Declined {
                transfer_id,
                reason,
            } => {
                let pending = self.pending.remove(transfer_id)?;
                Some(self.entry(pending, when, format!("declined: {reason}")))
            }
            _ => None,
        }
    }

    fn start(
        &mut self,
        transfer_id: &str,
        direction: &'static str,
        peer: String,
        files: usize,
        bytes: u64,
        names: Vec<String>,
    ) {
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(transfer_id) {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.pending.remove(&oldest);
            }
        }
        self.seq += 1;
        self.pending.insert(
            transfer_id.to_owned(),
            Pending {
                direction,
                peer,
                files,
                bytes,
                names,
                seq: self.seq,
            },
        );
    }

    fn entry(&self, pending: Pending, when: u64, outcome: String) -> Entry {
        let path =
            (pending.direction == "receive").then(|| self.download_dir.display().to_string());
        Entry {
            when,
            direction: pending.direction.into(),
            peer: pending.peer,
            files: pending.files,
            bytes: pending.bytes,
            outcome,
            names: pending.names,
            path,
        }
    }
}

/// The history file of one data folder.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    /// The history in `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.to_path_buf(),
        }
    }

    /// The entries, oldest first; a missing or damaged file reads as empty.
    pub fn load(&self) -> Vec<Entry> {
        let path = self.dir.join(FILE_NAME);
        std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= MAX_FILE_BYTES)
            .and_then(|_| std::fs::read(&path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Adds `entry` and saves, keeping the newest [`MAX_ENTRIES`]; another
    /// process appending at the same time waits for this one.
    ///
    /// # Errors
    /// The data folder or the file cannot be written.
    pub fn append(&self, entry: Entry) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("history.lock"))?;
        fs4::fs_std::FileExt::lock_exclusive(&lock)?;
        let mut entries = self.load();
        entries.push(entry);
        let excess = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..excess);
        let path = self.dir.join(FILE_NAME);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&entries)?)?;
        let placed = std::fs::rename(&tmp, &path);
        let _ = fs4::fs_std::FileExt::unlock(&lock);
        placed
    }
}

#[cfg(test)]
mod tests;
