//! Giving a verified file its final name: the name it was offered under in
//! its folder, or the first free numbered one (`report (1).pdf`), never over
//! an existing file and never through a symlink.

use std::fs;
#[cfg(target_os = "linux")]
use std::fs::File;
use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
#[cfg(target_os = "linux")]
use std::sync::PoisonError;

use protocol::path::{SafePath, display_escaped, numbered_name};

#[cfg(target_os = "linux")]
use super::held;
use super::{MAX_NUMBER, Placement, SHOWN_CHARS, StoreError, ensure_dirs, remove_partial};

/// Where `rel` goes: its folders below the download folder and its name,
/// the top-level one mapped (see [`Placement::top_level_name`]).
fn target<'a>(rel: &'a SafePath, placement: &'a Placement) -> (Vec<&'a str>, &'a str) {
    let mut folders: Vec<&str> = placement.mapped_components(rel).collect();
    let name = folders.pop().unwrap_or(rel.file_name());
    (folders, name)
}

/// Moves the verified partial `part` to the final place of `rel`, trying
/// numbered names while the name is taken, never over an existing file (see
/// [`place_by_path`]).
pub(super) fn place(
    part: &Path,
    rel: &SafePath,
    placement: &Placement,
) -> Result<PathBuf, StoreError> {
    #[cfg(target_os = "linux")]
    {
        let (folders, mapped_name) = target(rel, placement);
        if let Some(placed) = place_at(part, rel, &folders, mapped_name, placement)? {
            return Ok(placed);
        }
    }
    place_by_path(part, rel, placement, Ways::ALL)
}

/// The ways [`place_by_path`] may try, in this order, each until the file
/// system refuses it: all the platform has, except in tests that force a
/// fallback.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ways {
    /// A rename that fails if the name is taken (Linux `RENAME_NOREPLACE`).
    rename_no_replace: bool,
    /// A hard link to the new name, then removing the partial's name.
    hard_link: bool,
}

impl Ways {
    pub(super) const ALL: Ways = Ways {
        rename_no_replace: cfg!(target_os = "linux"),
        hard_link: true,
    };

    /// Only the last way, which every file system has (FAT, exFAT).
    #[cfg(test)]
    pub(super) const CLAIM_ONLY: Ways = Ways {
        rename_no_replace: false,
        hard_link: false,
    };
}

/// [`place`] by path: a rename that refuses to replace, else a hard link,
/// else claiming the name with a new empty file (`create_new`, which fails
/// if the name is taken) and moving the partial over that claim. Each of
/// them fails rather than replace a file someone else put there, even one
/// that appears meanwhile, so two placements racing for a name both end up
/// with a name of their own.
pub(super) fn place_by_path(
    part: &Path,
    rel: &SafePath,
    placement: &Placement,
    ways: Ways,
) -> Result<PathBuf, StoreError> {
    let (folders, mapped_name) = target(rel, placement);
    // The folders were made by `prepare`; check again that none was
    // replaced by a symlink (and make any that were removed).
    let parent = ensure_dirs(&placement.dir, folders)?;
    let original = rel.file_name();
    let Ways {
        mut rename_no_replace,
        mut hard_link,
    } = ways;
    for n in 0..=MAX_NUMBER {
        let name = if n == 0 {
            mapped_name.to_owned()
        } else {
            numbered_name(original, n)
        };
        if n > 0 && name == mapped_name {
            continue;
        }
        let target = parent.join(&name);
        if rename_no_replace {
            match rename_no_replace_at(part, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    tracing::debug!(%error, "rename without replacing failed; using hard links");
                    rename_no_replace = false;
                }
            }
        }
        if hard_link {
            match fs::hard_link(part, &target) {
                Ok(()) => {
                    remove_partial(part);
                    return Ok(target);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    tracing::debug!(%error, "hard link failed; claiming names with new files");
                    hard_link = false;
                }
            }
        }
        match claim_then_move(part, &target) {
            Ok(()) => return Ok(target),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(StoreError::Io {
                    path: target,
                    source,
                });
            }
        }
    }
    Err(StoreError::NoFreeName {
        name: display_escaped(rel.as_str(), SHOWN_CHARS),
    })
}

/// Creates `to` as a new empty file (`AlreadyExists` if the name is taken,
/// by a file, a folder or a symlink), then renames `from` over it. The
/// rename replaces only that claim, which is ours (on Windows `rename` is
/// `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING`, which a claim needs).
fn claim_then_move(from: &Path, to: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    fs::rename(from, to).inspect_err(|_| {
        // Give the name back: nothing of ours is in it.
        let _ = fs::remove_file(to);
    })
}

/// [`place`] with the partial folder and the destination folder held open
/// (see `dirs`): a rename that refuses to replace, with no path walked.
/// `Ok(None)` where that cannot be done (no folder held open, or a file
/// system without such renames): then [`place`] goes on by path.
#[cfg(target_os = "linux")]
fn place_at(
    part: &Path,
    rel: &SafePath,
    folders: &[&str],
    mapped_name: &str,
    placement: &Placement,
) -> Result<Option<PathBuf>, StoreError> {
    use rustix::fs::{RenameFlags, renameat_with};
    let (Some(partial), Some(part_name)) = (placement.partial.as_deref(), part.file_name()) else {
        return Ok(None);
    };
    name_at(rel, folders, mapped_name, placement, |folder, name| {
        renameat_with(partial, part_name, folder, name, RenameFlags::NOREPLACE)
    })
}

/// Gives the verified file without a name (`file`) its final place: the
/// name of `rel`, or a numbered one where that is taken, in the folder held
/// open, never over an existing file.
#[cfg(target_os = "linux")]
pub(super) fn place_unnamed(
    file: &File,
    link: held::Link,
    rel: &SafePath,
    placement: &Placement,
) -> Result<PathBuf, StoreError> {
    let (folders, mapped_name) = target(rel, placement);
    let named = name_at(rel, &folders, mapped_name, placement, |folder, name| {
        held::link_unnamed(file, folder, name, link)
    })?;
    // `unnamed_support` named a file the same way before this one was made.
    named.ok_or_else(|| StoreError::Io {
        path: placement.final_path(rel),
        source: io::Error::other("this file system refused to name the received file"),
    })
}

/// Tries `name_in(folder, name)` with the name of `rel` in its folder held
/// open (`folders` under the download folder), then with numbered names
/// while `EEXIST` says the name is taken. Returns the path given; `Ok(None)`
/// if the file system does not support the operation.
#[cfg(target_os = "linux")]
fn name_at(
    rel: &SafePath,
    folders: &[&str],
    mapped_name: &str,
    placement: &Placement,
    mut name_in: impl FnMut(&OwnedFd, &str) -> rustix::io::Result<()>,
) -> Result<Option<PathBuf>, StoreError> {
    use rustix::io::Errno;
    let mut parent = placement.dir.clone();
    parent.extend(folders);
    let mut last = placement
        .last_folder
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let original = rel.file_name();
    let mut reopened = false;
    let mut n = 0;
    while n <= MAX_NUMBER {
        let name = if n == 0 {
            mapped_name.to_owned()
        } else {
            numbered_name(original, n)
        };
        n += 1;
        if n > 1 && name == mapped_name {
            continue;
        }
        let folder = last.get(&parent, &placement.dir, folders.iter().copied())?;
        match name_in(folder, &name) {
            Ok(()) => return Ok(Some(parent.join(&name))),
            Err(Errno::EXIST) => {}
            // The folder held open was removed meanwhile: open (make) it again.
            Err(Errno::NOENT) if !reopened => {
                reopened = true;
                last.forget();
                n -= 1;
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => return Ok(None),
            Err(e) => return Err(held::io_err(&parent.join(&name), e)),
        }
    }
    Err(StoreError::NoFreeName {
        name: display_escaped(rel.as_str(), SHOWN_CHARS),
    })
}

/// Renames `from` to `to` unless `to` exists (`AlreadyExists` then), in one
/// atomic step.
#[cfg(target_os = "linux")]
fn rename_no_replace_at(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// Not available here: [`place_by_path`] uses hard links.
#[cfg(not(target_os = "linux"))]
fn rename_no_replace_at(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}
