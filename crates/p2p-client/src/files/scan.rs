//! The sender's side of the disk: turn the files and folders a person picked
//! into an [`Offer`].
//!
//! [`scan`] walks every path without following symlinks, checks every name
//! against the receiver's safe-path rules *before* anything is sent (so a
//! name such as `a:b` is reported here, not refused by the peer), hashes every
//! file with BLAKE3 streaming from disk, and returns the offer together with
//! the local file behind each entry. [`prefix_hash`] answers a receiver's
//! resume request: the hash of the first bytes of a file, to compare with the
//! receiver's [`ResumePoint`](protocol::transfer::ResumePoint).
//!
//! Everything here is blocking file-system work: call it from a blocking
//! thread (`tokio::task::spawn_blocking`), never from an async task or a UI
//! frame.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use protocol::offer::{FileEntry, Offer, OfferError};
use protocol::path::{SafePath, display_escaped};
use rand::RngCore;

mod hash;
#[cfg(test)]
mod tests;

use hash::hash_files;
pub use hash::{HASH_THREADS, HashCache, OnHashed, prefix_hash};

/// How many characters of a name an error message shows.
const SHOWN_CHARS: usize = 200;

/// The result of [`scan`]: an offer ready to send and where its bytes live.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The offer: files sorted by path, every folder listed, a fresh transfer ID.
    pub offer: Offer,
    /// `sources[i]` is the local file whose bytes are `offer.files[i]`.
    pub sources: Vec<PathBuf>,
    /// `modified[i]`: when `sources[i]` was last changed as it was hashed
    /// (`None` where the system does not say). The sender checks it again
    /// while sending, so a file changed since it was offered is caught.
    pub modified: Vec<Option<SystemTime>>,
    /// Symlinks and special files (sockets, fifos, devices) that were found
    /// and are not sent, in the order they were found.
    pub skipped: Vec<PathBuf>,
    /// For an offer of a stream ([`Scanned::piped`]): where its bytes come from.
    pub pipe: Option<Pipe>,
    /// For a send to several recipients ([`Scanned::for_many`]): the reads
    /// from disk they share.
    pub shared: Option<crate::files::blocks::SharedReads>,
}

/// The bytes of a stream (`send -`: standard input), read once, by the
/// one transfer that takes them.
#[derive(Clone)]
pub struct Pipe(std::sync::Arc<std::sync::Mutex<Option<Box<dyn Read + Send>>>>);

impl Pipe {
    /// A pipe reading `reader`.
    pub fn new(reader: Box<dyn Read + Send>) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Some(reader))))
    }

    /// The reader, for the first caller only.
    pub fn take(&self) -> Option<Box<dyn Read + Send>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pipe")
    }
}

/// Why the chosen files cannot be offered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A path given to [`scan`] does not exist.
    #[error("{}: no such file or folder; check the path and try again", shown(.0))]
    NotFound(PathBuf),
    /// Reading a file or a folder failed.
    #[error("could not read {}: {source}; check that it exists and that you may read it", shown(.path))]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A name the receiver would refuse, because it does not mean the same
    /// thing on every system (such as `a:b`, `CON` or a name ending in a dot).
    #[error("{} cannot be sent: {reason}; rename it and try again", shown(.path))]
    NotPortable {
        /// The local file or folder with that name.
        path: PathBuf,
        /// The rule it breaks, for a person.
        reason: String,
    },
    /// Two of the things to send would arrive under the same name (names are
    /// compared without case, as Windows and macOS do).
    #[error(
        "two of the files or folders to send are named \"{0}\" (case is ignored); \
         rename one of them or send them separately"
    )]
    DuplicateName(String),
    /// No file or folder is left to send (for example only symlinks were given).
    #[error("there is nothing to send (symlinks and special files are skipped)")]
    Empty,
    /// The offer broke a rule of the protocol (such as too many files).
    #[error("these files cannot be offered: {0}")]
    Invalid(String),
}

/// Scans files and folders into an offer, hashing every file.
///
/// A file is offered under its own name; a folder under its own name with
/// everything below it, folders (empty ones too, and the folder itself)
/// listed in `offer.dirs`. Symlinks are never followed and, like sockets,
/// fifos and devices, are skipped and listed in [`Scanned::skipped`].
/// Entries are sorted by path, so the same files give the same offer (but
/// for its random `transfer_id`).
///
/// Files are hashed on up to [`HASH_THREADS`] threads, a large one on
/// several at once. `on_hashed(n)` is called (from any of them) as `n` more
/// bytes have been hashed, for a progress bar. A file that changes size while it is read is offered with
/// the bytes actually read.
///
/// # Errors
/// A [`ScanError`] naming the file: missing, unreadable, not portable,
/// duplicate names, nothing to send, or an offer the protocol refuses.
pub fn scan(paths: &[PathBuf], on_hashed: &OnHashed<'_>) -> Result<Scanned, ScanError> {
    scan_cached(paths, on_hashed, None)
}

/// [`scan`], taking the hash of a file from `cache` while its size and
/// modification time are those it was hashed with, and keeping every new
/// hash there (a published folder: a file costs its hashing once).
///
/// # Errors
/// As [`scan`].
pub fn scan_cached(
    paths: &[PathBuf],
    on_hashed: &OnHashed<'_>,
    cache: Option<&HashCache>,
) -> Result<Scanned, ScanError> {
    let mut found = Found::default();
    // Lower-cased top-level names seen so far.
    let mut top_names: HashSet<String> = HashSet::new();
    for path in paths {
        let meta = fs::symlink_metadata(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                ScanError::NotFound(path.clone())
            } else {
                ScanError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_dir() {
            tracing::info!(path = %path.display(), "skipping a symlink or special file");
            found.skipped.push(path.clone());
            continue;
        }
        let name = top_level_name(path)?;
        if !top_names.insert(name.to_lowercase()) {
            return Err(ScanError::DuplicateName(display_escaped(
                &name,
                SHOWN_CHARS,
            )));
        }
        if kind.is_dir() {
            found.walk(path, &name)?;
        } else {
            found.files.push((name, path.clone()));
        }
    }
    found.into_scanned(on_hashed, cache)
}

/// What the walk found, before hashing.
#[derive(Default)]
struct Found {
    /// (relative path with `/`, local file).
    files: Vec<(String, PathBuf)>,
    /// Relative paths of folders.
    dirs: Vec<String>,
    /// Symlinks and special files.
    skipped: Vec<PathBuf>,
}

impl Found {
    /// Records the folder `local` under the relative path `rel` and
    /// everything below it. Recursion depth is bounded: a relative path
    /// deeper than [`protocol::path::MAX_DEPTH`] fails [`SafePath::parse`]
    /// before its folder is entered.
    fn walk(&mut self, local: &Path, rel: &str) -> Result<(), ScanError> {
        check_portable(local, rel)?;
        self.dirs.push(rel.to_owned());
        let io_err = |source| ScanError::Io {
            path: local.to_path_buf(),
            source,
        };
        let mut children = Vec::new();
        for entry in fs::read_dir(local).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            // From the directory entry where the filesystem records it (no
            // stat per file); like `symlink_metadata`, links are not followed.
            let kind = entry.file_type().map_err(|source| ScanError::Io {
                path: entry.path(),
                source,
            })?;
            children.push((entry.path(), kind));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        for (child, kind) in children {
            if !kind.is_file() && !kind.is_dir() {
                tracing::info!(path = %child.display(), "skipping a symlink or special file");
                self.skipped.push(child);
                continue;
            }
            let name = utf8_name(&child)?;
            let child_rel = format!("{rel}/{name}");
            if kind.is_dir() {
                self.walk(&child, &child_rel)?;
            } else {
                check_portable(&child, &child_rel)?;
                self.files.push((child_rel, child));
            }
        }
        Ok(())
    }

    /// Sorts, hashes and builds the offer.
    fn into_scanned(
        mut self,
        on_hashed: &OnHashed<'_>,
        cache: Option<&HashCache>,
    ) -> Result<Scanned, ScanError> {
        if self.files.is_empty() && self.dirs.is_empty() {
            return Err(ScanError::Empty);
        }
        self.files.sort();
        self.dirs.sort();
        let hashed = hash_files(&self.files, on_hashed, cache)?;
        let mut entries = Vec::with_capacity(self.files.len());
        let mut sources = Vec::with_capacity(self.files.len());
        let mut modified = Vec::with_capacity(self.files.len());
        let mut total_bytes = 0u64;
        for ((rel, local), (hash, size, changed)) in self.files.into_iter().zip(hashed) {
            modified.push(changed);
            total_bytes = total_bytes.saturating_add(size);
            entries.push(FileEntry {
                path: rel,
                size,
                hash,
            });
            sources.push(local);
        }
        let offer = Offer {
            transfer_id: new_transfer_id()?,
            files: entries,
            dirs: self.dirs,
            total_bytes,
            text: None,
            stream: None,
        };
        offer.validate().map_err(|e| match e {
            OfferError::Duplicate(name) => ScanError::DuplicateName(name),
            OfferError::Empty => ScanError::Empty,
            other => ScanError::Invalid(other.to_string()),
        })?;
        Ok(Scanned {
            offer,
            sources,
            modified,
            skipped: self.skipped,
            pipe: None,
            shared: None,
        })
    }
}

/// The name a path given to [`scan`] is offered under: its last component
/// (or, for `.` and `..`, the name of the folder it means).
fn top_level_name(path: &Path) -> Result<String, ScanError> {
    let named = if path.file_name().is_some() {
        path.to_path_buf()
    } else {
        fs::canonicalize(path).map_err(|source| ScanError::Io {
            path: path.to_path_buf(),
            source,
        })?
    };
    let name = utf8_name(&named).map_err(|e| match e {
        ScanError::NotPortable { reason, .. } => ScanError::NotPortable {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    })?;
    check_portable(path, &name)?;
    Ok(name)
}

/// The last component of `path` as UTF-8.
fn utf8_name(path: &Path) -> Result<String, ScanError> {
    let Some(name) = path.file_name() else {
        return Err(ScanError::NotPortable {
            path: path.to_path_buf(),
            reason: "it has no name (a file system root cannot be sent as a folder)".into(),
        });
    };
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ScanError::NotPortable {
            path: path.to_path_buf(),
            reason: "its name is not valid UTF-8".into(),
        })
}

/// Checks the relative path `rel` (of the local `path`) against the rules
/// the receiver applies.
fn check_portable(path: &Path, rel: &str) -> Result<(), ScanError> {
    SafePath::parse(rel)
        .map(drop)
        .map_err(|rule| ScanError::NotPortable {
            path: path.to_path_buf(),
            reason: rule.to_string(),
        })
}

impl Scanned {
    /// The same files (hashed once) as a new transfer, for another
    /// recipient: only the transfer ID differs.
    ///
    /// # Errors
    /// The system gave no random numbers.
    pub fn renewed(&self) -> Result<Self, ScanError> {
        let mut next = self.clone();
        next.offer.transfer_id = new_transfer_id()?;
        Ok(next)
    }

    /// The same, for several recipients at once: this and every
    /// [`Scanned::renewed`] copy read each block of the files from disk
    /// once, while their recipients are near each other (see
    /// [`crate::files::blocks`]).
    pub fn for_many(mut self) -> Self {
        self.shared = Some(crate::files::blocks::SharedReads::default());
        self
    }

    /// An offer of `text` instead of files (`send --text`).
    ///
    /// # Errors
    /// The text is empty or over [`protocol::offer::MAX_TEXT_BYTES`].
    pub fn text(text: String) -> Result<Self, ScanError> {
        let offer = Offer {
            transfer_id: new_transfer_id()?,
            files: Vec::new(),
            dirs: Vec::new(),
            total_bytes: 0,
            text: Some(text),
            stream: None,
        };
        offer.validate().map_err(|e| match e {
            OfferError::Empty => ScanError::Invalid("the text is empty".into()),
            other => ScanError::Invalid(other.to_string()),
        })?;
        Ok(Self {
            offer,
            sources: Vec::new(),
            modified: Vec::new(),
            skipped: Vec::new(),
            pipe: None,
            shared: None,
        })
    }

    /// An offer of one file of unknown size named `name`, whose bytes
    /// `reader` gives (`send -`: standard input). It can go to one
    /// receiver only: the bytes are read once.
    ///
    /// # Errors
    /// The name is not one portable file name.
    pub fn piped(name: &str, reader: Box<dyn Read + Send>) -> Result<Self, ScanError> {
        let offer = Offer {
            transfer_id: new_transfer_id()?,
            files: Vec::new(),
            dirs: Vec::new(),
            total_bytes: 0,
            text: None,
            stream: Some(name.to_owned()),
        };
        offer.validate().map_err(|e| {
            ScanError::Invalid(format!("{e}: {}", display_escaped(name, SHOWN_CHARS)))
        })?;
        Ok(Self {
            offer,
            sources: Vec::new(),
            modified: Vec::new(),
            skipped: Vec::new(),
            pipe: Some(Pipe::new(reader)),
            shared: None,
        })
    }
}

/// 16 random bytes from the operating system as 32 lowercase hex digits.
fn new_transfer_id() -> Result<String, ScanError> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ScanError::Invalid(format!("the system gave no random numbers: {e}")))?;
    Ok(data_encoding::HEXLOWER.encode(&bytes))
}

/// A local path, escaped for an error message.
fn shown(path: &Path) -> String {
    display_escaped(&path.to_string_lossy(), 300)
}
