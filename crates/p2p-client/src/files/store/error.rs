//! Why receiving to disk failed, in words for a person: each message names
//! the file (peer-provided names escaped) and says what to do.

use std::io;
use std::path::{Path, PathBuf};

use protocol::path::display_escaped;

use super::MAX_NUMBER;

/// Why receiving to disk failed. Messages name the file (peer-provided
/// names escaped) and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file or folder failed.
    #[error("{}", io_message(.path, .source))]
    Io {
        /// The local file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The download folder's disk has too little free space for the offer.
    #[error(
        "not enough free space for these files: {} needed (with a safety margin), {} available; \
         free some space or choose another download folder",
        human_bytes(*.needed),
        human_bytes(*.available)
    )]
    NoSpace {
        /// Bytes still to receive plus [`SPACE_MARGIN`](super::SPACE_MARGIN).
        needed: u64,
        /// Bytes available to this user on that disk.
        available: u64,
    },
    /// The sender sent more bytes for a file than it announced (or asked to
    /// resume past its end). Nothing of the excess was written.
    #[error(
        "the sender sent more data for \"{path}\" than it announced; the file was not saved, \
         stop this transfer"
    )]
    TooMuchData {
        /// The file, as named by the peer (escaped).
        path: String,
    },
    /// [`PartialFile::finish`](super::PartialFile::finish) was called before every byte arrived.
    #[error(
        "\"{path}\" is incomplete; the data received so far is kept, and sending it again resumes"
    )]
    Incomplete {
        /// The file, as named by the peer (escaped).
        path: String,
    },
    /// A stream (size unknown in advance) did not arrive as the sender read
    /// it. The partial data was deleted.
    #[error(
        "\"{path}\" did not arrive as the sender read it ({reason}) and was deleted; send it again"
    )]
    StreamMismatch {
        /// The stream's name, as given by the peer (escaped).
        path: String,
        /// What differs.
        reason: String,
    },
    /// The received bytes do not match the announced BLAKE3 hash. The
    /// partial data was deleted.
    #[error(
        "\"{path}\" arrived damaged (it does not match the sender's hash) and was deleted; \
         send it again"
    )]
    HashMismatch {
        /// The file, as named by the peer (escaped).
        path: String,
    },
    /// A symlink or a file is in the way of a folder, or a name is unsafe.
    /// Symlinks are never followed.
    #[error("will not write to {}: {reason}", shown(.path))]
    Unsafe {
        /// The local path in the way (or the refused name).
        path: PathBuf,
        /// Why, for a person.
        reason: String,
    },
    /// Every numbered alternative of a name is taken.
    #[error(
        "no free name for \"{name}\" in the download folder (tried {MAX_NUMBER} numbered names); \
         move some files away and try again"
    )]
    NoFreeName {
        /// The name, as named by the peer (escaped).
        name: String,
    },
    /// [`Placement::open`](super::Placement::open) was asked to resume further than the partial
    /// data reaches (it was shortened or deleted meanwhile).
    #[error(
        "cannot resume \"{path}\" at byte {offset}: only {have} bytes of it are on disk; \
         send the file again"
    )]
    PartialTooShort {
        /// The file, as named by the peer (escaped).
        path: String,
        /// Bytes on disk.
        have: u64,
        /// Requested resume offset.
        offset: u64,
    },
    /// Another transfer is writing the same content right now.
    #[error(
        "\"{path}\" is being received by another transfer right now; wait for it to finish and \
         try again"
    )]
    InUse {
        /// The file, as named by the peer (escaped).
        path: String,
    },
}

impl StoreError {
    /// Whether the disk is full: an I/O error saying so (`StorageFull`,
    /// `ENOSPC`), or [`StoreError::NoSpace`] from [`Store::check_space`](super::Store::check_space).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => is_full(source),
            StoreError::NoSpace { .. } => true,
            _ => false,
        }
    }
}

/// Whether an I/O error says the disk is full (`ENOSPC` is 28 on Linux,
/// the BSDs and macOS).
fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// The message of [`StoreError::Io`]: a full disk gets its own, as the
/// remedy differs.
fn io_message(path: &Path, source: &io::Error) -> String {
    if is_full(source) {
        format!(
            "the disk is full (writing {}); free some space and have the files sent again: \
             what arrived is kept and the transfer resumes from there",
            shown(path)
        )
    } else {
        format!(
            "could not read or write {}: {source}; check the download folder's permissions and free space",
            shown(path)
        )
    }
}

/// A local path, escaped for an error message.
fn shown(path: &Path) -> String {
    display_escaped(&path.to_string_lossy(), 300)
}

/// `1.5 GiB`-style size for a person.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}
