//! Per-offer records: where a transfer's top-level names went, so that the
//! same files sent again (after a failure) land in the same folder and the
//! files already there are not sent twice.
//!
//! `DIR/.p2p-share/transfers/<fingerprint>.json`, keyed by the sender and
//! the offer's content (another peer's offer never finds it), written when a transfer is
//! prepared, removed when it completes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use protocol::offer::Offer;
use serde::{Deserialize, Serialize};

use super::{STATE_DIR, Sender};

/// Folder of the records under the state folder.
pub(super) const RECORD_DIR: &str = "transfers";

/// Largest record read, in bytes.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// What is remembered of one offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    /// Top-level name in the offer -> name used in the download folder.
    pub(super) top: HashMap<String, String>,
}

/// Identifies an offer by its sender and content (paths, sizes, hashes,
/// folders), not by its transfer ID, which is new for every send.
pub(super) fn fingerprint(sender: &Sender, offer: &Offer) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(sender.0.as_bytes());
    hasher.update(&[0]);
    for file in &offer.files {
        hasher.update(file.path.as_bytes());
        hasher.update(&[0]);
        hasher.update(&file.size.to_le_bytes());
        hasher.update(&file.hash.0);
    }
    hasher.update(&[1]);
    for dir in &offer.dirs {
        hasher.update(dir.as_bytes());
        hasher.update(&[0]);
    }
    hasher.finalize().to_hex()[..32].to_owned()
}

fn path(dir: &Path, sender: &Sender, offer: &Offer) -> PathBuf {
    dir.join(STATE_DIR)
        .join(RECORD_DIR)
        .join(format!("{}.json", fingerprint(sender, offer)))
}

/// The record of `offer`, if an earlier attempt left one.
pub(super) fn load(dir: &Path, sender: &Sender, offer: &Offer) -> Option<Record> {
    let path = path(dir, sender, offer);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_RECORD_BYTES {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
}

/// Saves the record of `offer` (the state folder exists: `prepare` made it).
pub(super) fn save(
    dir: &Path,
    sender: &Sender,
    offer: &Offer,
    record: &Record,
) -> std::io::Result<()> {
    let path = path(dir, sender, offer);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(record)?)?;
    std::fs::rename(&tmp, &path)
}

/// Forgets the record of `offer` (the transfer completed).
pub(super) fn remove(dir: &Path, sender: &Sender, offer: &Offer) {
    let _ = std::fs::remove_file(path(dir, sender, offer));
}
