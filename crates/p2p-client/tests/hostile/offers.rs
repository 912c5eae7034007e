//! Offers and bytes, and what the download folder holds.

use std::path::Path;
use std::time::{Duration, Instant};

use protocol::offer::{FileEntry, Hash, Offer};
use protocol::transfer::DataHeader;

use crate::common::tree;

pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) fn hash_of(bytes: &[u8]) -> Hash {
    Hash(*blake3::hash(bytes).as_bytes())
}

/// Deterministic pseudo-random bytes.
pub(crate) fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An offer of one file `path` of `size` bytes announced with `hash`.
pub(crate) fn one_file(path: &str, size: usize, hash: Hash) -> Offer {
    Offer {
        transfer_id: new_id(),
        files: vec![FileEntry {
            path: path.into(),
            size: size as u64,
            hash,
        }],
        dirs: Vec::new(),
        total_bytes: size as u64,
        text: None,
        stream: None,
    }
}

pub(crate) fn header(offer: &Offer, starts: Vec<u64>) -> DataHeader {
    DataHeader {
        transfer_id: offer.transfer_id.clone(),
        starts,
    }
}

/// Waits until `check` holds, for at most a few seconds.
pub(crate) fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = tree(dir)
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    names.sort();
    names
}
