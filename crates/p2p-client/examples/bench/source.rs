//! The source data: noise files written and synced before the rows, and
//! reading them back to check a copy.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::MIB;

/// Where the `i`th small file lives in the folder tree.
pub(crate) fn tree_file(i: usize) -> PathBuf {
    Path::new(&format!("d{:03}", i / 100)).join(format!("f{i:05}.bin"))
}

pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// Fills `buf` (a multiple of 8 bytes) with noise.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes());
        }
    }
}

/// Writes `size` bytes (a multiple of 1 MiB) of noise; returns their BLAKE3.
pub(crate) fn random_file(path: &Path, size: u64, seed: u64) -> anyhow::Result<blake3::Hash> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let (mut rng, mut hasher, mut buf) = (XorShift(seed), blake3::Hasher::new(), vec![0; 1 << 20]);
    for _ in 0..size / MIB {
        rng.fill(&mut buf);
        hasher.update(&buf);
        file.write_all(&buf)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Written back now, so that no writeback runs during the measurements.
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(hasher.finalize())
}

/// Writes a small source file and fsyncs it (see `random_file`).
pub(crate) fn write_synced(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let written = file.write_all(data).and_then(|()| file.sync_all());
    written.with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn hash_file(path: &Path) -> anyhow::Result<blake3::Hash> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize())
}

pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
