//! Finished transfers, kept across restarts in `history.json` (data folder).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{RowState, TransferRow};
use crate::event::Direction;

/// Entries kept; older ones are dropped.
const MAX_ENTRIES: usize = 200;

/// Largest history file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One finished transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Entry {
    /// Seconds since the Unix epoch.
    pub when: u64,
    /// `send` or `receive`.
    pub direction: String,
    /// The other peer.
    pub peer: String,
    /// Number of files.
    pub files: usize,
    /// Total bytes.
    pub bytes: u64,
    /// `done`, `failed: …` or `declined: …`.
    pub outcome: String,
}

/// The history and where it lives.
#[derive(Debug)]
pub(super) struct History {
    path: PathBuf,
    /// Entries, oldest first.
    pub entries: Vec<Entry>,
}

impl History {
    /// Loads `history.json` from `data_dir`; a missing or damaged file starts empty.
    pub(super) fn load(data_dir: &Path) -> Self {
        let path = data_dir.join("history.json");
        let entries = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= MAX_FILE_BYTES)
            .and_then(|_| std::fs::read(&path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { path, entries }
    }

    /// Records a finished row and saves the file.
    pub(super) fn record(&mut self, row: &TransferRow, when: u64) -> std::io::Result<()> {
        let outcome = match &row.state {
            RowState::Done(_) => "done".to_owned(),
            RowState::Failed(e) => format!("failed: {e}"),
            RowState::Declined(r) => format!("declined: {r}"),
            RowState::WaitingForAnswer | RowState::Running => return Ok(()),
        };
        self.entries.push(Entry {
            when,
            direction: match row.direction {
                Direction::Send => "send",
                Direction::Receive => "receive",
            }
            .into(),
            peer: row.peer.clone(),
            files: row.files,
            bytes: row.bytes,
            outcome,
        });
        let excess = self.entries.len().saturating_sub(MAX_ENTRIES);
        self.entries.drain(..excess);
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.entries)?)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn history_survives_a_reload_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::load(dir.path());
        assert!(history.entries.is_empty());
        let mut row = super::super::model::Model::new(false);
        let now = std::time::Instant::now();
        for i in 0..(MAX_ENTRIES + 5) {
            let id = format!("t{i}");
            row.apply(
                &crate::event::Event::OfferSent {
                    transfer_id: id.clone(),
                    peer: libp2p::PeerId::random(),
                    files: 1,
                    bytes: 3,
                },
                now,
            );
            let ended = row
                .apply(
                    &crate::event::Event::Declined {
                        transfer_id: id,
                        reason: "no".into(),
                    },
                    now,
                )
                .unwrap();
            history.record(&ended, i as u64).unwrap();
        }
        let again = History::load(dir.path());
        assert_eq!(again.entries.len(), MAX_ENTRIES);
        assert_eq!(again.entries.last().unwrap().outcome, "declined: no");
        std::fs::write(dir.path().join("history.json"), b"{damaged").unwrap();
        assert!(History::load(dir.path()).entries.is_empty());
    }
}
