//! One file being received: its partial file, written and hashed as bytes
//! arrive, then verified and placed (see the parent module).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use protocol::offer::Hash;
use protocol::path::SafePath;

use super::*;

/// Where a partial file's data is until the file is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Under its partial name, locked: kept for a resume if the transfer
    /// stops.
    Named,
    /// In a file without a name (`O_TMPFILE`), given its final name at
    /// once when placed: no partial name to create, rename away and lock.
    /// It vanishes if the transfer stops, so only small files (below
    /// [`UNNAMED_BELOW`]) are received this way.
    #[cfg(target_os = "linux")]
    Unnamed(held::Link),
}

/// One file being received: bytes are appended to its partial file and
/// hashed on the way. Dropping it keeps the data for a later resume (of a
/// named partial); [`PartialFile::finish`] verifies and places it,
/// [`PartialFile::discard`] deletes it.
#[derive(Debug)]
pub struct PartialFile {
    /// Buffered writer on the partial file, positioned at its end.
    pub(super) writer: BufWriter<File>,
    pub(super) kind: Kind,
    /// Path of the partial file; of the file's final place if unnamed
    /// (for messages).
    pub(super) part: PathBuf,
    /// The file's path in the offer.
    pub(super) rel: SafePath,
    /// The same, escaped for messages.
    pub(super) name: String,
    /// Index of the file in the offer.
    pub(super) index: u32,
    /// Announced size.
    pub(super) size: u64,
    /// Announced hash.
    pub(super) expected: Hash,
    /// Hash of every byte so far, resumed prefix included.
    pub(super) hasher: blake3::Hasher,
    /// Bytes so far, resumed prefix included.
    pub(super) written: u64,
    /// `written` when [`PartialFile::writeback`] last handed out the file.
    pub(super) written_back: u64,
    /// A write failed, so the hash no longer matches what is on disk.
    pub(super) failed: bool,
    /// Where writes switch to going around the page cache (an aligned
    /// offset of a large file), until they do.
    #[cfg(target_os = "linux")]
    pub(super) direct_at: Option<u64>,
    /// Writes going around the page cache (see `direct`).
    #[cfg(target_os = "linux")]
    pub(super) direct: Option<direct::Direct>,
}

impl PartialFile {
    /// Index of the file in the offer.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The file's path in the offer.
    pub fn rel(&self) -> &SafePath {
        &self.rel
    }

    /// Appends `data` and adds it to the hash.
    ///
    /// # Errors
    /// [`StoreError::TooMuchData`] if `data` would go past the announced
    /// size (nothing is written then); [`StoreError::Io`] (check
    /// [`StoreError::is_disk_full`]). After an I/O error every later call
    /// fails: drop the file to keep what reached the disk for a resume.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.check_not_failed()?;
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len > self.remaining() {
            return Err(StoreError::TooMuchData {
                path: self.name.clone(),
            });
        }
        if let Err(source) = self.write_out(data) {
            self.failed = true;
            return Err(StoreError::Io {
                path: self.part.clone(),
                source,
            });
        }
        self.hasher.update(data);
        self.written += len;
        Ok(())
    }

    /// Writes `data` at the file's end: buffered, or around the page cache
    /// from `direct_at` on.
    #[cfg(target_os = "linux")]
    fn write_out(&mut self, mut data: &[u8]) -> io::Result<()> {
        let mut at = self.written;
        while !data.is_empty() {
            if let Some(direct) = &mut self.direct {
                return direct.write(data);
            }
            let Some(switch) = self.direct_at else {
                return self.writer.write_all(data);
            };
            if at == switch {
                self.direct_at = None;
                self.writer.flush()?;
                self.direct = direct::Direct::start(self.writer.get_ref(), at);
                continue;
            }
            let before = usize::try_from(switch.saturating_sub(at)).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(before.min(data.len()));
            self.writer.write_all(now)?;
            at += now.len() as u64;
            data = rest;
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn write_out(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data)
    }

    /// Whether writes go around the page cache now.
    #[cfg(all(test, target_os = "linux"))]
    pub(super) fn is_direct(&self) -> bool {
        self.direct.as_ref().is_some_and(direct::Direct::is_direct)
    }

    /// Writes what direct writing has gathered and leaves it.
    #[cfg(target_os = "linux")]
    fn end_direct(&mut self) -> Result<(), StoreError> {
        self.direct_at = None;
        let Some(direct) = self.direct.take() else {
            return Ok(());
        };
        direct.finish().map_err(|source| {
            self.failed = true;
            StoreError::Io {
                path: self.part.clone(),
                source,
            }
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn end_direct(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Once `WRITEBACK` (8 MiB) more bytes were written since it last returned a
    /// file: the buffered bytes written out and a second handle on the
    /// file, for another thread to `sync_data` while writing goes on. The
    /// kernel keeps a large file's data in memory until a sync, so without
    /// this the sync at the file's end waits for all of it to reach the
    /// disk; with it, for the last few MiB. Each sync makes writing wait a
    /// moment, and what the network delivers meanwhile waits in the
    /// connection's window: every 32 MiB took the receiver's memory up by
    /// 3 MiB over QUIC, every 8 MiB by none.
    ///
    /// # Errors
    /// [`StoreError::Io`], as [`PartialFile::write`].
    pub fn writeback(&mut self) -> Result<Option<File>, StoreError> {
        if self.written - self.written_back < WRITEBACK {
            return Ok(None);
        }
        // Direct writes leave nothing in the cache to push out.
        #[cfg(target_os = "linux")]
        if self.direct.is_some() {
            return Ok(None);
        }
        self.check_not_failed()?;
        self.written_back = self.written;
        let io_err = |source| StoreError::Io {
            path: self.part.clone(),
            source,
        };
        if let Err(source) = self.writer.flush() {
            self.failed = true;
            return Err(io_err(source));
        }
        // Without a second handle the file is synced at its end as before.
        Ok(self.writer.get_ref().try_clone().ok())
    }

    /// Bytes of the file received, the resumed prefix included.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes still to receive.
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.written)
    }

    /// Verifies the file and moves it to its final name, never over an
    /// existing file or through a symlink: if the name is taken, the next
    /// free `name (n).ext` is used. Returns where the file now is.
    ///
    /// # Errors
    /// [`StoreError::Incomplete`] if bytes are missing (the data is kept);
    /// [`StoreError::HashMismatch`] if the content is wrong (the data is
    /// deleted); [`StoreError::Unsafe`], [`StoreError::NoFreeName`],
    /// [`StoreError::Io`].
    pub fn finish(self, placement: &Placement) -> Result<PathBuf, StoreError> {
        let verified = self.verify()?;
        verified.sync()?;
        verified.place(placement)
    }

    /// Checks that every byte arrived and that the content hashes as
    /// announced. The result still has its partial name and may not be on
    /// disk yet: [`VerifiedFile::sync`] (or a sync of the whole filesystem)
    /// and then [`VerifiedFile::place`] finish it.
    ///
    /// # Errors
    /// As [`PartialFile::finish`], without the placing ones.
    pub fn verify(mut self) -> Result<VerifiedFile, StoreError> {
        self.check_not_failed()?;
        self.end_direct()?;
        if self.written != self.size {
            return Err(StoreError::Incomplete {
                path: self.name.clone(),
            });
        }
        let PartialFile {
            writer,
            kind,
            part,
            rel,
            name,
            expected,
            hasher,
            ..
        } = self;
        let file = writer.into_inner().map_err(|e| StoreError::Io {
            path: part.clone(),
            source: e.into_error(),
        })?;
        if Hash(*hasher.finalize().as_bytes()) != expected {
            drop(file);
            if kind == Kind::Named {
                remove_partial(&part);
            }
            tracing::warn!(file = %name, "hash mismatch; partial data deleted");
            return Err(StoreError::HashMismatch { path: name });
        }
        Ok(VerifiedFile {
            file,
            kind,
            part,
            rel,
            name,
        })
    }

    /// Deletes the partial data (the transfer is abandoned for good).
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    pub fn discard(mut self) {
        #[cfg(target_os = "linux")]
        if let Some(direct) = self.direct.take() {
            direct.forget();
        }
        let (file, _unwritten) = self.writer.into_parts();
        drop(file);
        if self.kind == Kind::Named {
            remove_partial(&self.part);
        }
    }

    /// Fails if an earlier write failed.
    fn check_not_failed(&self) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Io {
                path: self.part.clone(),
                source: io::Error::other("an earlier write to this file failed"),
            });
        }
        Ok(())
    }
}

/// A received file whose content is verified, still under its partial
/// name (and locked) or without a name. Dropping it keeps the data of a
/// named one for a later resume.
#[derive(Debug)]
pub struct VerifiedFile {
    file: File,
    kind: Kind,
    part: PathBuf,
    rel: SafePath,
    name: String,
}

impl VerifiedFile {
    /// A file verified elsewhere in this module (a stream).
    pub(super) fn new(file: File, kind: Kind, part: PathBuf, rel: SafePath, name: String) -> Self {
        Self {
            file,
            kind,
            part,
            rel,
            name,
        }
    }

    /// Forces the file's data to disk.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_all().map_err(|source| StoreError::Io {
            path: self.part.clone(),
            source,
        })
    }

    /// Forces the data of every file of `files` to disk: one file alone by
    /// its own sync; more (on Linux) by one sync of the file system they
    /// are on, one flush for the whole batch instead of one each.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn sync_batch(files: &[VerifiedFile]) -> Result<(), StoreError> {
        match files {
            [] => Ok(()),
            [one] => one.sync(),
            #[cfg(target_os = "linux")]
            [first, ..] => rustix::fs::syncfs(&first.file).map_err(|e| StoreError::Io {
                path: first.part.clone(),
                source: e.into(),
            }),
            #[cfg(not(target_os = "linux"))]
            all => all.iter().try_for_each(VerifiedFile::sync),
        }
    }

    /// Moves the file to its final name (see [`PartialFile::finish`]); call
    /// it only once the data is on disk.
    ///
    /// # Errors
    /// [`StoreError::Unsafe`], [`StoreError::NoFreeName`], [`StoreError::Io`].
    pub fn place(self, placement: &Placement) -> Result<PathBuf, StoreError> {
        // The lock is held until the partial has left its name (renamed, or
        // linked and unlinked), so no other transfer can open and cut it
        // meanwhile.
        quarantine::mark(&self.file);
        let target = match self.kind {
            Kind::Named => place(&self.part, &self.rel, placement)?,
            #[cfg(target_os = "linux")]
            Kind::Unnamed(link) => place_unnamed(&self.file, link, &self.rel, placement)?,
        };
        drop(self.file);
        tracing::info!(file = %self.name, path = %target.display(), "file verified and saved");
        Ok(target)
    }
}

/// Why [`open_locked`] failed.
pub(super) enum Locked {
    /// Another transfer holds the partial file.
    Busy,
    /// The file could not be opened.
    Io(io::Error),
}

/// Creates the partial file `part`, which must not exist yet, and locks
/// it: `None` if it exists (then [`open_locked`] it). `O_EXCL` never follows
/// a symlink, and a new file needs none of the checks an existing one does.
pub(super) fn create_locked(part: &Path) -> Result<Option<File>, Locked> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(part)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(Locked::Io(e)),
    };
    lock_new(file, part).map(Some)
}

/// [`create_locked`] for the file `name` in the folder `dir` held open.
#[cfg(target_os = "linux")]
pub(super) fn create_locked_at(
    dir: &std::os::fd::OwnedFd,
    name: &std::ffi::OsStr,
) -> Result<Option<File>, Locked> {
    use rustix::fs::{Mode, OFlags, openat};
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match openat(dir, name, flags, Mode::from_raw_mode(0o666)) {
        Ok(fd) => lock_new(File::from(fd), Path::new(name)).map(Some),
        Err(rustix::io::Errno::EXIST) => Ok(None),
        Err(e) => Err(Locked::Io(e.into())),
    }
}

/// Locks a partial file just created.
fn lock_new(file: File, part: &Path) -> Result<File, Locked> {
    match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
        Ok(true) => Ok(file),
        // Another transfer opened it in the moment since.
        Ok(false) => Err(Locked::Busy),
        Err(error) => {
            tracing::debug!(path = %part.display(), %error, "cannot lock partial file; going on");
            Ok(file)
        }
    }
}

/// Opens (creating) the partial file `part` for reading and writing and
/// locks it, so that one transfer at a time writes one content. Nothing is
/// cut or written here.
pub(super) fn open_locked(part: &Path) -> Result<File, Locked> {
    // A transfer finishing the same content links the partial into place and
    // unlinks it while holding the lock; a handle opened just before that
    // points at the placed file, so check and open again.
    for _ in 0..3 {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(part)
            .map_err(Locked::Io)?;
        match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            Ok(true) => {}
            Ok(false) => return Err(Locked::Busy),
            Err(error) => {
                tracing::debug!(path = %part.display(), %error, "cannot lock partial file; going on");
            }
        }
        if still_partial(&file, part).map_err(Locked::Io)? {
            return Ok(file);
        }
    }
    Err(Locked::Busy)
}

/// Whether the open `file` is still the partial file at `part`, and not
/// also a file placed under its final name.
#[cfg(unix)]
pub(super) fn still_partial(file: &File, part: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    let Ok(at_path) = fs::symlink_metadata(part) else {
        return Ok(false);
    };
    Ok(open.nlink() == 1 && open.dev() == at_path.dev() && open.ino() == at_path.ino())
}

/// Whether the open `file` is still the partial file at `part` (not
/// checked on this platform).
#[cfg(not(unix))]
pub(super) fn still_partial(_file: &File, _part: &Path) -> io::Result<bool> {
    Ok(true)
}
