//! A file whose size nobody knew in advance (a stream: `send -`, standard
//! input): written and hashed as its chunks arrive, checked against the
//! size and hash the sender reads at the end, and only then placed, under
//! the name it was offered with or a numbered one. There is no resume (the
//! sender cannot read its standard input again): a stream that stops, or
//! that does not match, is deleted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use protocol::offer::{FileEntry, Hash, Offer};
use protocol::path::SafePath;
use protocol::transfer::StreamEnd;

use super::partial::{Kind, Locked, VerifiedFile, create_locked};
use super::{
    PARTIAL_DIR, SHOWN_CHARS, SPACE_MARGIN, STATE_DIR, Store, StoreError, WRITE_BUFFER,
    display_escaped, ensure_dirs, expire, nearest_existing, parse, remove_partial,
};

/// Bytes written between two checks of the free space: a stream has no
/// size to check before it starts.
const SPACE_CHECK_EVERY: u64 = 64 * 1024 * 1024;

/// A stream being received into its partial file. Dropping it (before
/// [`StreamFile::finish`]) deletes the partial data.
#[derive(Debug)]
pub struct StreamFile {
    /// `None` once handed to [`VerifiedFile`] or dropped.
    writer: Option<BufWriter<File>>,
    part: PathBuf,
    rel: SafePath,
    /// The name, escaped for messages.
    name: String,
    hasher: blake3::Hasher,
    written: u64,
    /// `written` at the last free-space check.
    checked_at: u64,
    /// Where the free space is read.
    probe: PathBuf,
    /// A write failed: what is on disk no longer matches the hash.
    failed: bool,
}

impl Store {
    /// Starts receiving the stream `name` (one safe file name) of the
    /// transfer `transfer_id`: creates `DIR/.p2p-share/partial` and a
    /// partial file of its own there.
    ///
    /// # Errors
    /// [`StoreError::Unsafe`] for a name that is not one safe component;
    /// [`StoreError::Io`], also when the partial file exists already (a
    /// transfer ID used twice).
    pub fn begin_stream(&self, transfer_id: &str, name: &str) -> Result<StreamFile, StoreError> {
        let rel = parse(name)?;
        if rel.components().len() != 1 || !transfer_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Unsafe {
                path: PathBuf::from(name),
                reason: "a stream has one file name".into(),
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let partials = ensure_dirs(&self.dir, [STATE_DIR, PARTIAL_DIR])?;
        expire::sweep(&self.dir, std::time::SystemTime::now());
        let part = partials.join(format!("{}-stream-{transfer_id}.part", self.sender.0));
        let file = match create_locked(&part) {
            Ok(Some(file)) => file,
            Ok(None) | Err(Locked::Busy) => {
                return Err(StoreError::Io {
                    path: part,
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "this stream is being received already",
                    ),
                });
            }
            Err(Locked::Io(source)) => return Err(StoreError::Io { path: part, source }),
        };
        Ok(StreamFile {
            writer: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            part,
            name: display_escaped(name, SHOWN_CHARS),
            rel,
            hasher: blake3::Hasher::new(),
            written: 0,
            checked_at: 0,
            probe: nearest_existing(&self.dir),
            failed: false,
        })
    }
}

impl StreamFile {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data` and adds it to the hash; every
    /// [`SPACE_CHECK_EVERY`] bytes, checks that the disk keeps
    /// [`SPACE_MARGIN`] free.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`] when the disk is nearly full;
    /// [`StoreError::Io`] (check [`StoreError::is_disk_full`]). After an
    /// error every later call fails.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        if self.failed {
            return Err(self.io_error(std::io::Error::other(
                "an earlier write to this file failed",
            )));
        }
        let len = data.len() as u64;
        if self.written + len >= self.checked_at + SPACE_CHECK_EVERY {
            self.checked_at = self.written;
            let available = fs4::available_space(&self.probe).unwrap_or(u64::MAX);
            if available < SPACE_MARGIN.saturating_add(len) {
                self.failed = true;
                return Err(StoreError::NoSpace {
                    needed: SPACE_MARGIN.saturating_add(len),
                    available,
                });
            }
        }
        let written = match &mut self.writer {
            Some(writer) => writer.write_all(data),
            None => Err(std::io::Error::other("the file is closed")),
        };
        if let Err(source) = written {
            self.failed = true;
            return Err(self.io_error(source));
        }
        self.hasher.update(data);
        self.written += len;
        Ok(())
    }

    fn io_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.part.clone(),
            source,
        }
    }

    /// Checks what arrived against what the sender read (`end`), then
    /// forces it to disk and gives it its final name in `store`'s folder
    /// (numbered if taken, never over a file). Returns where it is.
    ///
    /// # Errors
    /// [`StoreError::StreamMismatch`] or [`StoreError::HashMismatch`] (the
    /// data is deleted), and those of placing a file; nothing is left
    /// behind after any of them.
    pub fn finish(mut self, end: &StreamEnd, store: &Store) -> Result<PathBuf, StoreError> {
        let verified = self.verify(end)?;
        let part = self.part.clone();
        let entry = FileEntry {
            path: self.rel.to_string(),
            size: end.bytes,
            hash: end.hash,
        };
        let offer = Offer {
            transfer_id: String::new(),
            files: vec![entry],
            dirs: Vec::new(),
            total_bytes: end.bytes,
            text: None,
            stream: None,
        };
        let placed = verified
            .sync()
            .and_then(|()| store.prepare(&offer))
            .and_then(|placement| verified.place(&placement));
        match &placed {
            Ok(_) => store.complete(&offer),
            Err(_) => remove_partial(&part),
        }
        placed
    }

    /// The partial file, checked: every byte the sender read, with its hash.
    fn verify(&mut self, end: &StreamEnd) -> Result<VerifiedFile, StoreError> {
        if self.failed {
            return Err(self.io_error(std::io::Error::other(
                "an earlier write to this file failed",
            )));
        }
        if self.written != end.bytes {
            return Err(StoreError::StreamMismatch {
                path: self.name.clone(),
                reason: format!(
                    "{} bytes arrived, the sender read {}",
                    self.written, end.bytes
                ),
            });
        }
        if Hash(*self.hasher.finalize().as_bytes()) != end.hash {
            tracing::warn!(file = %self.name, "hash mismatch; stream deleted");
            return Err(StoreError::HashMismatch {
                path: self.name.clone(),
            });
        }
        let writer = self
            .writer
            .take()
            .ok_or_else(|| self.io_error(std::io::Error::other("the file is closed")))?;
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e.into_error()))?;
        Ok(VerifiedFile::new(
            file,
            Kind::Named,
            self.part.clone(),
            self.rel.clone(),
            self.name.clone(),
        ))
    }
}

impl Drop for StreamFile {
    fn drop(&mut self) {
        // Still ours (not verified): close it, then delete it.
        if let Some(writer) = self.writer.take() {
            let (file, _unwritten) = writer.into_parts();
            drop(file);
            remove_partial(&self.part);
        }
    }
}
