//! Files on disk: the sender's scan and the receiver's store.

pub mod scan;
pub mod store;

use std::io::{self, Read};

/// Open files this process should be allowed: a receive of many small files
/// holds up to 512 of them open while they wait for their sync (see
/// `engine::receive::disk`), and the common default limit of 1024 (256 on
/// macOS) would fail a second such receive at once.
const OPEN_FILES: u64 = 8192;

/// Raises this process's limit on open files to [`OPEN_FILES`], or as far
/// as the system lets it (the hard limit); never lowers it. A failure only
/// leaves the limit as it was.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let want = limit.maximum.map_or(OPEN_FILES, |max| max.min(OPEN_FILES));
        // `None` is no limit.
        if limit.current.is_none_or(|current| current >= want) {
            return;
        }
        let raised = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(from = ?limit.current, to = want, "open file limit raised"),
            Err(error) => tracing::debug!(%error, "cannot raise the open file limit"),
        }
    }
}

/// Bytes read per step when hashing from disk.
pub(crate) const HASH_CHUNK: usize = 1024 * 1024;

/// Feeds `reader` into `hasher` in chunks of [`HASH_CHUNK`] bytes, calling
/// `on_chunk` with each chunk's length; returns the bytes read.
pub(crate) fn hash_stream(
    reader: impl Read,
    hasher: &mut blake3::Hasher,
    on_chunk: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    hash_stream_with(reader, hasher, on_chunk, HASH_CHUNK)
}

/// [`hash_stream`] with a buffer of `buf_len` bytes.
pub(crate) fn hash_stream_with(
    mut reader: impl Read,
    hasher: &mut blake3::Hasher,
    on_chunk: &mut dyn FnMut(u64),
    buf_len: usize,
) -> io::Result<u64> {
    let mut buf = vec![0u8; buf_len.max(1)];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or(&buf);
        hasher.update(chunk);
        total = total.saturating_add(n as u64);
        on_chunk(n as u64);
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
