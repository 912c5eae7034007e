//! The receiver's side of the disk: where accepted files are written,
//! verified and placed.
//!
//! The download folder is `DIR`. The rules, in the order a transfer meets them:
//! - Before the person accepts, nothing is written: [`Store::resume_points`]
//!   and [`Store::check_space`] only read.
//! - [`Store::prepare`] (after accept) creates `DIR/.p2p-share/partial/`,
//!   picks a free name in `DIR` for every top-level file and folder of the
//!   offer (`photos` exists → `photos (1)`), and creates the offer's folders,
//!   never through a symlink.
//! - Bytes go to a partial file,
//!   `DIR/.p2p-share/partial/<sender>-<hash>-<size>.part`, named by the
//!   sender and the content, so the same file sent again by the same peer
//!   (in a new transfer, under another name) resumes where it stopped, and
//!   no other peer learns what that peer sent (see [`Sender`]). A file under [`UNNAMED_BELOW`]
//!   goes to a file without a name in that folder instead (Linux), which
//!   costs a third of the folder updates and leaves nothing behind if the
//!   transfer stops. [`PartialFile`] hashes as it writes and refuses a byte
//!   more than announced.
//! - [`PartialFile::finish`] checks the BLAKE3 hash and only then gives the
//!   file its final name, never over an existing file: a taken name gets a
//!   number (`report (1).pdf`). A mismatch deletes the partial data.
//! - A partial file or transfer record untouched for 30 days belongs to a
//!   transfer that never came back: [`Store::prepare`] removes it (`expire`),
//!   unless a transfer holds it.
//!
//! Every name here was checked by [`SafePath`]; symlinks already in `DIR`
//! are never followed. All of it is blocking file-system work: call it from
//! a blocking thread, never from an async task or a UI frame.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use protocol::offer::{FileEntry, Hash, Offer};
use protocol::path::{SafePath, display_escaped, numbered_name};
use protocol::transfer::ResumePoint;

#[cfg(target_os = "linux")]
mod direct;
mod error;
mod expire;
#[cfg(target_os = "linux")]
mod held;
mod partial;
mod place;
mod placement;
mod quarantine;
mod record;
mod sender;
mod stream;
#[cfg(test)]
mod tests;

pub use error::StoreError;
use partial::{Kind, Locked, create_locked, open_locked};
pub use partial::{PartialFile, VerifiedFile};
use place::place;
#[cfg(target_os = "linux")]
use place::place_unnamed;
pub use placement::Placement;
use sender::Sender;
#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
#[cfg(target_os = "linux")]
use std::sync::{Arc, Mutex};
pub use stream::StreamFile;

/// Folder inside the download folder for this app's own data.
pub const STATE_DIR: &str = ".p2p-share";

/// Folder inside [`STATE_DIR`] for partial files.
const PARTIAL_DIR: &str = "partial";

/// Free space kept on top of what a transfer needs, in bytes.
pub const SPACE_MARGIN: u64 = 16 * 1024 * 1024;

/// Most numbered names tried before giving up (`name (1)` … `name (10000)`).
const MAX_NUMBER: u32 = 10_000;

/// Files smaller than this are received into a file without a name where
/// the system can (Linux, see `held::create_unnamed`), which gets its
/// final name at once when placed: for many small files that is a third of
/// the folder updates of a named partial (create, then rename away), and
/// no lock. The price is no resume inside such a file: at most this much
/// is sent again.
pub const UNNAMED_BELOW: u64 = 1024 * 1024;

/// Buffer between [`PartialFile::write`] and the disk.
const WRITE_BUFFER: usize = 256 * 1024;

/// Bytes between two [`PartialFile::writeback`]s of a file.
const WRITEBACK: u64 = 8 * 1024 * 1024;

/// How many characters of a peer-provided name an error message shows.
const SHOWN_CHARS: usize = 200;

/// The download folder, as seen by one sending peer.
#[derive(Debug, Clone)]
pub struct Store {
    /// `DIR`.
    dir: PathBuf,
    /// The peer whose offers this store takes.
    sender: Sender,
}

impl Store {
    /// A store for the download folder `dir`, which need not exist yet, for
    /// offers from the peer whose ID is `peer` (its bytes). Nothing is
    /// touched on disk.
    pub fn new(dir: PathBuf, peer: &[u8]) -> Store {
        Store {
            dir,
            sender: Sender::new(peer),
        }
    }

    /// The download folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where partial files are kept.
    fn partial_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR).join(PARTIAL_DIR)
    }

    /// Files of `offer` whose partial data is already on disk, with how much
    /// of each is there and the BLAKE3 of that prefix. Only reads.
    ///
    /// A partial longer than its file is ignored (it will be overwritten
    /// from the start); one as long as its file is reported with
    /// `offset == size`, so only verification remains. When several files
    /// of the offer have the same content, only the first is reported, as
    /// they share one partial. Any I/O error just means no resume.
    pub fn resume_points(&self, offer: &Offer) -> Vec<ResumePoint> {
        let state = self.dir.join(STATE_DIR);
        let partial = self.partial_dir();
        if !is_real_dir(&state) || !is_real_dir(&partial) {
            return Vec::new();
        }
        let mut seen = HashSet::new();
        let mut points = Vec::new();
        // Where an earlier attempt of the same offer put things.
        let earlier = record::load(&self.dir, &self.sender, offer)
            .map(|record| Placement::new(self.dir.clone(), record.top, self.sender.clone()));
        for (index, entry) in offer.files.iter().enumerate() {
            let Ok(file) = u32::try_from(index) else {
                break;
            };
            if let Some(point) = earlier.as_ref().and_then(|p| completed(p, file, entry)) {
                points.push(point);
                continue;
            }
            if !seen.insert((entry.hash, entry.size)) {
                continue;
            }
            let part = partial.join(partial_name(&self.sender, entry));
            match partial_prefix(&part, entry.size) {
                Ok(Some((offset, prefix_hash))) => points.push(ResumePoint {
                    file,
                    offset,
                    prefix_hash,
                }),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(path = %part.display(), %error, "partial data unreadable; no resume");
                }
            }
        }
        points
    }

    /// Forgets the record of a completed transfer.
    pub fn complete(&self, offer: &Offer) {
        record::remove(&self.dir, &self.sender, offer);
    }

    /// Checks that the disk holding the download folder (or, if it does not
    /// exist yet, its nearest existing parent) has room for the bytes still
    /// to receive plus [`SPACE_MARGIN`]. Only reads.
    ///
    /// # Errors
    /// [`StoreError::NoSpace`], or [`StoreError::Io`] if the free space
    /// cannot be read.
    pub fn check_space(&self, offer: &Offer, resume: &[ResumePoint]) -> Result<(), StoreError> {
        // One offset per file, never more than its size.
        let resumed: BTreeMap<u32, u64> = resume
            .iter()
            .filter_map(|point| {
                let entry = offer.files.get(usize::try_from(point.file).ok()?)?;
                Some((point.file, point.offset.min(entry.size)))
            })
            .collect();
        let already = resumed.values().fold(0u64, |sum, &n| sum.saturating_add(n));
        let needed = offer
            .total_bytes
            .saturating_sub(already)
            .saturating_add(SPACE_MARGIN);
        let probe = nearest_existing(&self.dir);
        let available = fs4::available_space(&probe).map_err(|source| StoreError::Io {
            path: probe.clone(),
            source,
        })?;
        if available < needed {
            return Err(StoreError::NoSpace { needed, available });
        }
        Ok(())
    }

    /// Gets the download folder ready for an accepted offer.
    ///
    /// Creates `DIR` and `DIR/.p2p-share/partial`, gives every top-level
    /// file and folder of the offer a name not yet taken in `DIR` (a
    /// dangling symlink counts as taken), and creates every folder of the
    /// offer under it. Top-level folders are claimed with an atomic
    /// `create_dir`, so two transfers never share one.
    ///
    /// # Errors
    /// [`StoreError::Unsafe`] if a symlink or a file is where a folder is
    /// needed, or a path breaks the safe-path rules; [`StoreError::NoFreeName`];
    /// [`StoreError::Io`].
    pub fn prepare(&self, offer: &Offer) -> Result<Placement, StoreError> {
        fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            source,
        })?;
        ensure_dirs(&self.dir, [STATE_DIR, PARTIAL_DIR])?;
        expire::sweep(&self.dir, std::time::SystemTime::now());

        let dirs = offer
            .dirs
            .iter()
            .map(|d| parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let files = offer
            .files
            .iter()
            .map(|f| parse(&f.path))
            .collect::<Result<Vec<_>, _>>()?;

        // Top-level name -> whether it is a folder.
        let mut top: BTreeMap<&str, bool> = BTreeMap::new();
        for dir in &dirs {
            top.insert(first_component(dir), true);
        }
        for file in &files {
            let is_folder = top.entry(first_component(file)).or_insert(false);
            *is_folder |= file.components().len() > 1;
        }
        let reserved: HashSet<String> = top.keys().map(|name| name.to_lowercase()).collect();
        let mut taken = HashSet::new();
        let mut map = HashMap::new();
        // The same files sent again after a failure go back where they went.
        let earlier = record::load(&self.dir, &self.sender, offer).unwrap_or_default();
        for (&name, &is_folder) in &top {
            if let Some(mapped) = earlier.top.get(name)
                && SafePath::parse(mapped).is_ok_and(|p| p.components().len() == 1)
                && (!is_folder || is_real_dir(&self.dir.join(mapped)))
                && taken.insert(mapped.to_lowercase())
            {
                map.insert(name.to_owned(), mapped.clone());
                continue;
            }
            let chosen = self.claim(name, is_folder, &reserved, &mut taken)?;
            if chosen != name {
                tracing::info!(
                    name = %display_escaped(name, SHOWN_CHARS),
                    saved_as = %chosen,
                    "name taken in the download folder; using a numbered one"
                );
            }
            map.insert(name.to_owned(), chosen);
        }
        let record = record::Record { top: map.clone() };
        if let Err(error) = record::save(&self.dir, &self.sender, offer, &record) {
            tracing::warn!(%error, "cannot save the transfer record; a retry will not reuse its folder");
        }
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut placement = Placement::new(self.dir.clone(), map, self.sender.clone());
        #[cfg(target_os = "linux")]
        {
            let partial = held::open_chain(&self.dir, [STATE_DIR, PARTIAL_DIR])?;
            placement.unnamed = held::unnamed_support(&partial);
            placement.partial = Some(Arc::new(partial));
        }

        let folders: BTreeSet<SafePath> = dirs
            .into_iter()
            .chain(files.iter().filter_map(SafePath::parent))
            .collect();
        for folder in &folders {
            ensure_dirs(&self.dir, placement.mapped_components(folder))?;
        }
        Ok(placement)
    }

    /// Picks the first of `name`, `name (1)`, … that is free in `DIR`, is
    /// not another top-level name of the offer and was not picked already;
    /// a folder is created at once to claim it.
    fn claim(
        &self,
        name: &str,
        is_folder: bool,
        reserved: &HashSet<String>,
        taken: &mut HashSet<String>,
    ) -> Result<String, StoreError> {
        for n in 0..=MAX_NUMBER {
            let candidate = numbered_name(name, n);
            let folded = candidate.to_lowercase();
            if taken.contains(&folded) || (n > 0 && reserved.contains(&folded)) {
                continue;
            }
            let path = self.dir.join(&candidate);
            let free = if is_folder {
                match fs::create_dir(&path) {
                    Ok(()) => true,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                    Err(source) => return Err(StoreError::Io { path, source }),
                }
            } else {
                match fs::symlink_metadata(&path) {
                    Ok(_) => false,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                    Err(source) => return Err(StoreError::Io { path, source }),
                }
            };
            if free {
                taken.insert(folded);
                return Ok(candidate);
            }
        }
        Err(StoreError::NoFreeName {
            name: display_escaped(name, SHOWN_CHARS),
        })
    }
}

/// A file that an earlier attempt of the same offer already placed (at
/// `earlier`), complete and intact: it needs no byte.
fn completed(earlier: &Placement, file: u32, entry: &FileEntry) -> Option<ResumePoint> {
    let rel = SafePath::parse(&entry.path).ok()?;
    let path = earlier.final_path(&rel);
    let meta = fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() != entry.size {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    super::hash_stream(File::open(&path).ok()?, &mut hasher, &mut |_| {}).ok()?;
    (Hash(*hasher.finalize().as_bytes()) == entry.hash).then_some(ResumePoint {
        file,
        offset: entry.size,
        prefix_hash: entry.hash,
    })
}

/// Walks `components` down from `base`, creating missing folders and
/// refusing any component that is a symlink or not a folder. Returns the
/// last folder.
fn ensure_dirs<'a>(
    base: &Path,
    components: impl IntoIterator<Item = &'a str>,
) -> Result<PathBuf, StoreError> {
    let mut current = base.to_path_buf();
    for component in components {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) => check_real_dir(&current, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&current) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&current).map_err(|source| StoreError::Io {
                        path: current.clone(),
                        source,
                    })?;
                    check_real_dir(&current, &meta)?;
                }
                Err(source) => {
                    return Err(StoreError::Io {
                        path: current,
                        source,
                    });
                }
            },
            Err(source) => {
                return Err(StoreError::Io {
                    path: current,
                    source,
                });
            }
        }
    }
    Ok(current)
}

/// Fails unless `meta` (from `symlink_metadata`) is a folder, not a symlink.
fn check_real_dir(path: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    let kind = meta.file_type();
    if kind.is_dir() {
        return Ok(());
    }
    let reason = if kind.is_symlink() {
        "a symbolic link is where a folder is needed, and links are never followed; \
         move it away and try again"
    } else {
        "a file is where a folder is needed; move it away and try again"
    };
    Err(StoreError::Unsafe {
        path: path.to_path_buf(),
        reason: reason.into(),
    })
}

/// Whether `path` is a folder and not a symlink.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_dir())
}

/// Length and prefix hash of the partial `part` for a file of `size` bytes,
/// if it is a usable resume point (a regular file, 0 < length <= size).
fn partial_prefix(part: &Path, size: u64) -> io::Result<Option<(u64, Hash)>> {
    let meta = match fs::symlink_metadata(part) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = meta.len();
    if !meta.is_file() || len == 0 {
        return Ok(None);
    }
    if len > size {
        tracing::debug!(path = %part.display(), len, size, "partial longer than its file; ignored");
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    let read = super::hash_stream(File::open(part)?.take(len), &mut hasher, &mut |_| {})?;
    if read != len {
        return Ok(None);
    }
    Ok(Some((len, Hash(*hasher.finalize().as_bytes()))))
}

/// Deletes a partial file; a failure is logged, as nothing else can be done.
fn remove_partial(part: &Path) {
    match fs::remove_file(part) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %part.display(), %error, "could not delete partial data");
        }
    }
}

/// File name of the partial data for `entry` from `sender`: by sender and
/// content, not by name.
fn partial_name(sender: &Sender, entry: &FileEntry) -> String {
    format!("{}-{}-{}.part", sender.0, entry.hash, entry.size)
}

/// Checks a peer-provided path again (the offer was validated, but this
/// module does not rely on it).
fn parse(path: &str) -> Result<SafePath, StoreError> {
    SafePath::parse(path).map_err(|rule| StoreError::Unsafe {
        path: PathBuf::from(path),
        reason: rule.to_string(),
    })
}

/// The first component of a path.
fn first_component(path: &SafePath) -> &str {
    path.components().first().map_or("", String::as_str)
}

/// `dir` if it exists, else its nearest existing ancestor (`.` for a
/// relative path none of whose ancestors exist).
fn nearest_existing(dir: &Path) -> PathBuf {
    let mut current = dir;
    loop {
        if current.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
        if fs::metadata(current).is_ok() {
            return current.to_path_buf();
        }
        match current.parent() {
            Some(parent) => current = parent,
            None => return current.to_path_buf(),
        }
    }
}
