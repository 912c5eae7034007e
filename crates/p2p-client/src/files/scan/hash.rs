//! Hashing the files of a scan: on a small pool of threads, large files
//! with BLAKE3's tree spread over it, remembered by size and modification
//! time; and the prefix hash a resume is checked with.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use protocol::offer::Hash;
use rayon::prelude::*;

use super::ScanError;
use crate::files::HASH_CHUNK;

/// Hashes of files by local path, valid while the file has the size and
/// modification time it was hashed with. Bounded: past [`HashCache::MAX`]
/// files it starts again.
#[derive(Debug, Default)]
pub struct HashCache(std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, SystemTime, Hash)>>);

impl HashCache {
    /// Most files remembered.
    pub const MAX: usize = 200_000;

    pub(in crate::files::scan) fn get(
        &self,
        path: &Path,
        size: u64,
        modified: Option<SystemTime>,
    ) -> Option<Hash> {
        let modified = modified?;
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(path)
            .filter(|(s, m, _)| *s == size && *m == modified)
            .map(|(_, _, hash)| *hash)
    }

    pub(in crate::files::scan) fn put(
        &self,
        path: &Path,
        size: u64,
        modified: Option<SystemTime>,
        hash: Hash,
    ) {
        let Some(modified) = modified else { return };
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::MAX && !map.contains_key(path) {
            map.clear();
        }
        map.insert(path.to_path_buf(), (size, modified, hash));
    }

    /// Files remembered now.
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// BLAKE3 of the first `len` bytes of the file at `path`, read in bounded
/// chunks; `None` if the file is shorter than `len`.
///
/// # Errors
/// Any error opening or reading the file.
pub fn prefix_hash(path: &Path, len: u64) -> io::Result<Option<Hash>> {
    let file = File::open(path)?;
    if file.metadata()?.len() < len {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    let read = crate::files::hash_stream(file.take(len), &mut hasher, &mut |_| {})?;
    if read < len {
        return Ok(None);
    }
    Ok(Some(Hash(*hasher.finalize().as_bytes())))
}

/// Told how many more bytes were hashed; called from the hashing threads.
pub type OnHashed<'a> = dyn Fn(u64) + Sync + 'a;

/// Most threads hashing at once while scanning. Each holds at most two
/// buffers of `HASH_CHUNK` bytes (1 MiB).
pub const HASH_THREADS: usize = 4;

/// Files at least this large are hashed on several threads at once (BLAKE3
/// is a tree: its subtrees hash in parallel).
const PARALLEL_FILE: u64 = 4 * HASH_CHUNK as u64;

/// Hashes `files` (offered path, local path) in parallel, each on one
/// thread and large ones on several; results in the order of `files`.
pub(super) fn hash_files(
    files: &[(String, PathBuf)],
    on_hashed: &OnHashed<'_>,
    cache: Option<&HashCache>,
) -> Result<Vec<(Hash, u64, Option<SystemTime>)>, ScanError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(HASH_THREADS);
    let hash_all = || {
        files
            .par_iter()
            .map(|(_, local)| hash_file(local, on_hashed, cache))
            .collect::<Result<Vec<_>, _>>()
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("p2p-hash-{i}"))
        .build()
    {
        Ok(pool) => pool.install(hash_all),
        Err(error) => {
            tracing::warn!(%error, "no threads for hashing; hashing on one");
            files
                .iter()
                .map(|(_, local)| hash_file(local, on_hashed, cache))
                .collect()
        }
    }
}

/// Hashes one file from disk; returns its hash, the bytes actually read and
/// its modification time before reading.
fn hash_file(
    path: &Path,
    on_hashed: &OnHashed<'_>,
    cache: Option<&HashCache>,
) -> Result<(Hash, u64, Option<SystemTime>), ScanError> {
    let io_err = |source| ScanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    let modified = meta.modified().ok();
    if let Some(hash) = cache.and_then(|c| c.get(path, meta.len(), modified)) {
        on_hashed(meta.len());
        return Ok((hash, meta.len(), modified));
    }
    let mut hasher = blake3::Hasher::new();
    let size = if meta.len() >= PARALLEL_FILE {
        hash_parallel(&file, &mut hasher, on_hashed).map_err(io_err)?
    } else {
        // Sized to the file: ten thousand small files cost no large buffers.
        let buf = usize::try_from(meta.len()).map_or(HASH_CHUNK, |len| len.clamp(1, HASH_CHUNK));
        crate::files::hash_stream_with(&file, &mut hasher, &mut |n| on_hashed(n), buf)
            .map_err(io_err)?
    };
    // Sending checks size and time again, when it opens the file and after
    // its last byte.
    if meta.len() != size {
        tracing::warn!(path = %path.display(), read = size, at_open = meta.len(),
            "file changed size while it was hashed; offering the bytes read");
    }
    let hash = Hash(*hasher.finalize().as_bytes());
    if let Some(cache) = cache
        && meta.len() == size
    {
        cache.put(path, size, modified, hash);
    }
    Ok((hash, size, modified))
}

/// Hashes `file` with the BLAKE3 tree spread over the pool's threads, while
/// the next chunk is read; returns the bytes read.
fn hash_parallel(
    mut file: &File,
    hasher: &mut blake3::Hasher,
    on_hashed: &OnHashed<'_>,
) -> io::Result<u64> {
    let mut current = vec![0u8; HASH_CHUNK];
    let mut next = vec![0u8; HASH_CHUNK];
    let mut len = crate::files::read_full(&mut file, &mut current)?;
    let mut total = 0u64;
    while len > 0 {
        let chunk = current.get(..len).unwrap_or(&current);
        let (_, read) = rayon::join(
            || hasher.update_rayon(chunk),
            || crate::files::read_full(&mut file, &mut next),
        );
        total = total.saturating_add(len as u64);
        on_hashed(len as u64);
        len = read?;
        std::mem::swap(&mut current, &mut next);
    }
    Ok(total)
}
