//! Files on disk: the sender's scan and the receiver's store.

pub mod blocks;
pub mod published;
pub mod scan;
pub mod store;

use std::io::{self, Read};

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
