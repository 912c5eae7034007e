//! Tests of the store, one module per concern; the helpers they share
//! (offers, contents, receiving a whole offer) are here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

mod checks;
mod folders;
mod page_cache;
mod placing;
mod resume;
mod space;
mod stream;
#[cfg(target_os = "linux")]
mod unnamed;

const ID: &str = "0123456789abcdef0123456789abcdef";

/// The sending peer of most tests (a peer ID's bytes, as far as the store
/// is concerned).
const SENDER: &[u8] = b"sender";

fn entry(path: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        size: bytes.len() as u64,
        hash: Hash(*blake3::hash(bytes).as_bytes()),
    }
}

fn offer(files: &[(&str, &[u8])], dirs: &[&str]) -> Offer {
    let files: Vec<FileEntry> = files.iter().map(|(p, b)| entry(p, b)).collect();
    let offer = Offer {
        transfer_id: ID.into(),
        total_bytes: files.iter().map(|f| f.size).sum(),
        text: None,
        stream: None,
        files,
        dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
    };
    offer.validate().unwrap();
    offer
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Bytes of a file large enough to be received under a partial name
/// (small ones have none, see [`UNNAMED_BELOW`]).
fn large(seed: u8) -> Vec<u8> {
    bytes(UNNAMED_BELOW as usize + 1000, seed)
}

/// Receives every file of `offer` with `contents[i]` as the bytes of file
/// `i`, in chunks; returns where each landed.
fn receive(placement: &Placement, offer: &Offer, contents: &[&[u8]]) -> Vec<PathBuf> {
    offer
        .files
        .iter()
        .zip(contents)
        .enumerate()
        .map(|(i, (entry, data))| {
            let mut part = placement.open(i as u32, entry, 0).unwrap();
            for chunk in data.chunks(7000) {
                part.write(chunk).unwrap();
            }
            assert_eq!(part.remaining(), 0);
            part.finish(placement).unwrap()
        })
        .collect()
}

fn part_path(dir: &Path, entry: &FileEntry) -> PathBuf {
    dir.join(STATE_DIR)
        .join(PARTIAL_DIR)
        .join(partial_name(&Sender::new(SENDER), entry))
}

/// The names in the folder `dir`, sorted.
pub(super) fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
