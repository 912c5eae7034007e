//! A large file's body written around the page cache (`O_DIRECT`, Linux).
//!
//! A buffered write copies every byte into the kernel's page cache, which
//! later writes it out; on the development machine that copy was a third
//! of the receiver's CPU for a 1 GiB file (`perf`: 0.65 of 2 CPU seconds),
//! and `dd` wrote 1 GiB with fsync in 1.3–2.6 s and 1.0–2.3 CPU seconds
//! buffered, 0.5–1.0 s and 0.2–0.5 CPU seconds direct. A received file is
//! not read again soon, so the cache gains nothing from holding it, and a
//! 50 GB download no longer pushes everything else out of memory.
//!
//! Direct writes need aligned memory, offsets and lengths, so bytes are
//! gathered in an aligned buffer of [`BUFFER`] bytes and written a full
//! buffer at a time; the tail (less than a buffer) is written buffered when
//! the file ends or stops. Only on local file systems known to handle
//! direct writes well (ext4, XFS, Btrfs, F2FS; on network file systems a
//! direct write waits for the server), and only for files with at least
//! [`DIRECT_FROM`] bytes to come. If the system refuses a direct write,
//! the file goes on buffered: never a failure for that.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

/// Alignment of memory, offsets and lengths: the logical block size of
/// nearly every disk (512 or 4096 bytes) divides it.
pub(super) const ALIGN: usize = 4096;

/// Bytes gathered per direct write: `dd` wrote 1 GiB in 0.95–1.16 s with
/// 256 KiB writes, 0.69–0.97 s with 1 MiB ones.
pub(super) const BUFFER: usize = 1024 * 1024;

/// Files with fewer bytes to come are written buffered: for them the
/// cache's copy is cheap and the buffer would cost more than it saves.
pub(super) const DIRECT_FROM: u64 = 4 * 1024 * 1024;

/// `statfs` magic numbers of the file systems we write directly on.
const LOCAL_FILE_SYSTEMS: [u64; 4] = [
    0xEF53,      // ext2/3/4
    0x5846_5342, // XFS
    0x9123_683E, // Btrfs
    0xF2F5_2010, // F2FS
];

/// Whether direct writes are worth trying at byte `at` of `file`, with
/// `left` bytes to come: a large rest, an aligned offset, a local file
/// system.
pub(super) fn worthwhile(file: &File, at: u64, left: u64) -> bool {
    left >= DIRECT_FROM
        && at % ALIGN as u64 == 0
        && rustix::fs::fstatfs(file)
            .is_ok_and(|fs| LOCAL_FILE_SYSTEMS.contains(&(fs.f_type as u64)))
}

/// Direct writes to one file from byte `at` on (see the module
/// documentation). Dropping it writes what is gathered, buffered, so that
/// a stopped transfer keeps every byte it hashed.
#[derive(Debug)]
pub(super) struct Direct {
    /// The file: a second handle on the same open file, so the
    /// `O_DIRECT` flag set here is the file's.
    file: File,
    /// `BUFFER` bytes at an aligned address inside, and room to align.
    memory: Vec<u8>,
    /// Where the aligned buffer starts in `memory`.
    start: usize,
    /// Bytes gathered.
    filled: usize,
    /// Offset in the file of the first gathered byte.
    at: u64,
    /// Whether the file is in direct mode (false once the system refused a
    /// direct write).
    direct: bool,
}

impl Direct {
    /// Puts `file` in direct mode from byte `at` on, which must be the
    /// file's end. `None` if the system refuses (the caller goes on
    /// buffered).
    pub(super) fn start(file: &File, at: u64) -> Option<Self> {
        Self::start_at(file, at, 0)
    }

    /// [`Direct::start`] with memory off the block boundary, which the
    /// kernel refuses to write directly: for testing the way back.
    #[cfg(test)]
    pub(super) fn start_misaligned(file: &File, at: u64) -> Option<Self> {
        Self::start_at(file, at, 512 + 1)
    }

    fn start_at(file: &File, at: u64, misalign: usize) -> Option<Self> {
        let file = file.try_clone().ok()?;
        let flags = fcntl_getfl(&file).ok()?;
        if let Err(error) = fcntl_setfl(&file, flags | OFlags::DIRECT) {
            tracing::debug!(%error, "no direct writes; writing through the cache");
            return None;
        }
        let memory = vec![0u8; BUFFER + ALIGN + misalign];
        let start = memory.as_ptr().align_offset(ALIGN) + misalign;
        if start + BUFFER > memory.len() {
            let _ = fcntl_setfl(&file, flags);
            return None;
        }
        Some(Self {
            file,
            memory,
            start,
            filled: 0,
            at,
            direct: true,
        })
    }

    /// Whether writes still go around the cache.
    #[cfg(test)]
    pub(super) fn is_direct(&self) -> bool {
        self.direct
    }

    /// Appends `data`: gathered, and written out a full buffer at a time.
    ///
    /// # Errors
    /// A failed write (the disk full, an I/O error): what was gathered is
    /// then lost from the disk, so the caller must not trust the file's
    /// hash any more.
    pub(super) fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = BUFFER - self.filled;
            let n = room.min(data.len());
            let (now, rest) = data.split_at(n);
            let from = self.start + self.filled;
            self.memory
                .get_mut(from..from + n)
                .ok_or_else(|| io::Error::other("direct buffer out of range"))?
                .copy_from_slice(now);
            self.filled += n;
            data = rest;
            if self.filled == BUFFER {
                self.write_out()?;
            }
        }
        Ok(())
    }

    /// Writes the full buffer at `at`.
    fn write_out(&mut self) -> io::Result<()> {
        let Self {
            file,
            memory,
            start,
            filled,
            at,
            direct,
        } = self;
        let buffer = memory
            .get(*start..*start + *filled)
            .ok_or_else(|| io::Error::other("direct buffer out of range"))?;
        let mut done = 0;
        while done < buffer.len() {
            let part = buffer.get(done..).unwrap_or_default();
            match file.write_at(part, *at + done as u64) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                // A short direct write leaves an aligned rest only if it
                // wrote whole blocks; otherwise the rest goes buffered.
                Ok(n) if *direct && n % ALIGN != 0 => {
                    done += n;
                    end_direct(file, direct);
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EINVAL: this file system or device wants another
                // alignment; write through the cache from here on.
                Err(e) if *direct && e.raw_os_error() == Some(EINVAL) => {
                    tracing::debug!(error = %e, "direct write refused; writing through the cache");
                    end_direct(file, direct);
                }
                Err(e) => return Err(e),
            }
        }
        *at += buffer.len() as u64;
        *filled = 0;
        Ok(())
    }

    /// Writes what is gathered (through the cache: the tail is not a full
    /// aligned block) and leaves direct mode. The file's data is on disk
    /// once the caller syncs it.
    ///
    /// # Errors
    /// As [`Direct::write`].
    pub(super) fn finish(mut self) -> io::Result<()> {
        let result = self.flush_tail();
        // Not again on drop.
        self.filled = 0;
        result
    }

    /// Drops the gathered bytes unwritten (the file is being deleted).
    pub(super) fn forget(mut self) {
        self.filled = 0;
        end_direct(&self.file, &mut self.direct);
    }

    fn flush_tail(&mut self) -> io::Result<()> {
        end_direct(&self.file, &mut self.direct);
        if self.filled == 0 {
            return Ok(());
        }
        let tail = self
            .memory
            .get(self.start..self.start + self.filled)
            .ok_or_else(|| io::Error::other("direct buffer out of range"))?;
        self.file.write_all_at(tail, self.at)?;
        self.at += tail.len() as u64;
        self.filled = 0;
        Ok(())
    }
}

/// `EINVAL`: what a direct write with the wrong alignment fails with.
const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();

/// Leaves direct mode: later writes to `file` go through the cache.
fn end_direct(file: &File, direct: &mut bool) {
    if *direct {
        *direct = false;
        if let Ok(flags) = fcntl_getfl(file) {
            let _ = fcntl_setfl(file, flags - OFlags::DIRECT);
        }
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        if let Err(error) = self.flush_tail() {
            tracing::warn!(%error, "could not write the last received bytes of a stopped file");
        }
    }
}
