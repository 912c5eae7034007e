//! Reads shared by the recipients of one send (`send --to A --to B`,
//! `--receivers N`): each file is read from disk in aligned blocks, once,
//! and every recipient near the same place takes the block from memory.
//!
//! The cache holds at most [`BUDGET`] bytes, oldest block out first, so
//! recipients within that distance of each other share every read; one
//! further behind (a slower path) reads its blocks again rather than
//! holding the others back or growing the memory. Two recipients that want
//! a block at once read it once: the second waits for the first.
//! A send to one recipient does not use this (it reads straight into its
//! buffers, without the copy).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Size of a block, aligned in the file.
pub(crate) const BLOCK: usize = 256 * 1024;

/// Most bytes of blocks kept.
pub(crate) const BUDGET: usize = 16 * 1024 * 1024;

/// Blocks of the files of one send, shared by its recipients' readers.
#[derive(Clone, Default)]
pub struct SharedReads(Arc<Cache>);

impl std::fmt::Debug for SharedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedReads")
    }
}

#[derive(Default)]
struct Cache {
    state: Mutex<State>,
    /// Signalled when a block being read is ready (or failed).
    ready: Condvar,
}

#[derive(Default)]
struct State {
    blocks: HashMap<Key, Slot>,
    /// Ready blocks, oldest first.
    order: VecDeque<Key>,
    bytes: usize,
    disk_reads: u64,
}

/// A file of the offer (its index) and a block of it (its number).
type Key = (usize, u64);

enum Slot {
    Reading,
    Ready(Arc<[u8]>),
}

impl SharedReads {
    /// Block `block` of the offer's file `file`, read from `source` if no
    /// recipient did yet. Shorter than [`BLOCK`] at the file's end; empty
    /// past it.
    ///
    /// # Errors
    /// The read failed (the next caller tries again).
    pub(crate) fn block(&self, file: usize, block: u64, source: &File) -> io::Result<Arc<[u8]>> {
        let key = (file, block);
        let cache = &self.0;
        let mut state = cache.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match state.blocks.get(&key) {
                Some(Slot::Ready(data)) => return Ok(Arc::clone(data)),
                Some(Slot::Reading) => {
                    state = cache
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                None => break,
            }
        }
        state.blocks.insert(key, Slot::Reading);
        state.disk_reads += 1;
        drop(state);
        let read = read_at(source, block.saturating_mul(BLOCK as u64), BLOCK);
        let mut state = cache.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = match read {
            Ok(data) => {
                let data: Arc<[u8]> = data.into();
                state.blocks.insert(key, Slot::Ready(Arc::clone(&data)));
                state.order.push_back(key);
                state.bytes += data.len();
                while state.bytes > BUDGET {
                    let Some(oldest) = state.order.pop_front() else {
                        break;
                    };
                    if let Some(Slot::Ready(gone)) = state.blocks.remove(&oldest) {
                        state.bytes -= gone.len();
                    }
                }
                Ok(data)
            }
            Err(e) => {
                state.blocks.remove(&key);
                Err(e)
            }
        };
        drop(state);
        cache.ready.notify_all();
        result
    }

    /// Blocks read from disk so far (for tests and logs).
    pub fn disk_reads(&self) -> u64 {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .disk_reads
    }

    /// Bytes of blocks held now.
    pub fn held_bytes(&self) -> usize {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

/// Up to `len` bytes of `file` from `offset` (fewer at its end), without
/// moving a file position: every recipient's reader shares the handle's
/// file, not its place in it.
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match positional_read(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(unix)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// Windows' positional read moves the handle's position too; each reader
/// has its own handle and reads only through here, so nothing relies on it.
#[cfg(windows)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        (dir, path, data)
    }

    #[test]
    fn readers_side_by_side_read_each_block_from_disk_once() {
        let (_dir, path, data) = sample(8 * 1024 * 1024 + 100);
        let shared = SharedReads::default();
        let blocks = data.len().div_ceil(BLOCK) as u64;
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let file = File::open(&path).unwrap();
                    let mut got = Vec::new();
                    for block in 0..=blocks {
                        got.extend_from_slice(&shared.block(0, block, &file).unwrap());
                    }
                    assert!(got == data, "a reader got other bytes");
                });
            }
        });
        // One read per block, and one past the end for each file.
        assert_eq!(shared.disk_reads(), blocks + 1);
    }

    #[test]
    fn a_reader_far_behind_reads_again_and_memory_stays_bounded() {
        let (_dir, path, data) = sample(BUDGET + 4 * BLOCK);
        let shared = SharedReads::default();
        let file = File::open(&path).unwrap();
        let blocks = data.len().div_ceil(BLOCK) as u64;
        for block in 0..blocks {
            shared.block(0, block, &file).unwrap();
            assert!(shared.held_bytes() <= BUDGET);
        }
        assert_eq!(shared.disk_reads(), blocks);
        // The first blocks are gone: a reader that far behind reads them again.
        let first = shared.block(0, 0, &file).unwrap();
        assert_eq!(&first[..], &data[..BLOCK]);
        assert_eq!(shared.disk_reads(), blocks + 1);
        // A recent one is still there.
        shared.block(0, blocks - 1, &file).unwrap();
        assert_eq!(shared.disk_reads(), blocks + 1);
        // Blocks of another file are other blocks.
        shared.block(1, blocks - 1, &file).unwrap();
        assert_eq!(shared.disk_reads(), blocks + 2);
    }
}
