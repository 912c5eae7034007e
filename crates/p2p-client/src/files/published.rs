//! The owner's side of browsing (`p2p-client share DIR`): the published
//! folder, read-only, as peers may see it.
//!
//! Nothing outside the folder is reachable: a path is resolved one
//! component at a time without following symlinks; a symlink, a special
//! file (socket, fifo, device) and this app's state folder
//! ([`STATE_DIR`](super::store::STATE_DIR), where partial downloads wait)
//! are neither listed nor fetched; names another system could not take
//! (`a:b`, `CON`) are not listed. A listing page is built with memory for
//! the page only, however large the folder: one pass over its entries
//! keeps the `limit` smallest names after the cursor.
//!
//! All of it is blocking file-system work: call it from a blocking thread.

use std::collections::BinaryHeap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use protocol::browse::{Entry, EntryKind, Listing};
use protocol::path::SafePath;

use super::store::STATE_DIR;

/// Why a request on the published folder fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No such file or folder that may be shared (missing, a symlink, a
    /// special file, the state folder).
    #[error("{0}: no such file or folder in the shared folder")]
    NotFound(String),
    /// The path names a file where a folder is needed.
    #[error("{0} is a file, not a folder")]
    NotAFolder(String),
    /// Reading the disk failed.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// A folder published read-only.
#[derive(Debug, Clone)]
pub struct Published {
    root: PathBuf,
}

impl Published {
    /// Publishes `dir`, which must be a folder.
    ///
    /// # Errors
    /// [`PublishError::Io`] if it cannot be read, [`PublishError::NotAFolder`].
    pub fn new(dir: &Path) -> Result<Self, PublishError> {
        let root = fs::canonicalize(dir).map_err(|source| PublishError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(PublishError::NotAFolder(dir.display().to_string()));
        }
        Ok(Self { root })
    }

    /// The published folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local path of `rel` (the folder itself for `None`), and what it
    /// is. Every component up to the last must be a real folder, the last a
    /// regular file or a real folder; none may be a symlink or the state
    /// folder.
    ///
    /// # Errors
    /// [`PublishError::NotFound`] or [`PublishError::Io`].
    pub fn resolve(&self, rel: Option<&SafePath>) -> Result<(PathBuf, EntryKind), PublishError> {
        let Some(rel) = rel else {
            return Ok((self.root.clone(), EntryKind::Dir));
        };
        let shown = || protocol::path::display_escaped(&rel.to_string(), 200);
        let mut local = self.root.clone();
        let last = rel.components().len() - 1;
        for (i, component) in rel.components().iter().enumerate() {
            if component == STATE_DIR {
                return Err(PublishError::NotFound(shown()));
            }
            local.push(component);
            let meta = match fs::symlink_metadata(&local) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(PublishError::NotFound(shown()));
                }
                Err(source) => {
                    return Err(PublishError::Io {
                        path: local,
                        source,
                    });
                }
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                if i == last {
                    return Ok((local, EntryKind::Dir));
                }
            } else if kind.is_file() && i == last {
                return Ok((local, EntryKind::File));
            } else {
                // A symlink, a special file, or a file in the middle.
                return Err(PublishError::NotFound(shown()));
            }
        }
        Err(PublishError::NotFound(shown()))
    }

    /// One page of the folder `rel`: at most `limit` entries sorted by
    /// name, each after `after`, and whether more follow.
    ///
    /// # Errors
    /// As [`Published::resolve`]; [`PublishError::NotAFolder`].
    pub fn list(
        &self,
        rel: Option<&SafePath>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Listing, PublishError> {
        let (folder, kind) = self.resolve(rel)?;
        if kind != EntryKind::Dir {
            let shown = rel.map(ToString::to_string).unwrap_or_default();
            return Err(PublishError::NotAFolder(protocol::path::display_escaped(
                &shown, 200,
            )));
        }
        let io_err = |source| PublishError::Io {
            path: folder.clone(),
            source,
        };
        // The `limit + 1` smallest names after the cursor (one more tells
        // whether more follow); the largest is dropped as a smaller comes.
        let mut kept: BinaryHeap<(String, bool)> = BinaryHeap::with_capacity(limit + 2);
        for entry in fs::read_dir(&folder).map_err(io_err)? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if after.is_some_and(|after| name.as_str() <= after) || name == STATE_DIR {
                continue;
            }
            if kept.len() > limit && kept.peek().is_some_and(|(largest, _)| name >= *largest) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if !(kind.is_file() || kind.is_dir()) || !is_shareable_name(&name) {
                continue;
            }
            kept.push((name, kind.is_dir()));
            if kept.len() > limit + 1 {
                kept.pop();
            }
        }
        let mut names = kept.into_sorted_vec();
        let more = names.len() > limit;
        names.truncate(limit);
        let mut entries = Vec::with_capacity(names.len());
        for (name, is_dir) in names {
            // Gone or changed since it was read: left out of the page.
            let Ok(meta) = fs::symlink_metadata(folder.join(&name)) else {
                continue;
            };
            if meta.is_dir() != is_dir || !(meta.is_dir() || meta.is_file()) {
                continue;
            }
            entries.push(Entry {
                name,
                kind: if is_dir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                },
                size: if is_dir { 0 } else { meta.len() },
                modified: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
            });
        }
        Ok(Listing { entries, more })
    }
}

/// Whether a peer could receive a file of this name (see [`SafePath`]).
fn is_shareable_name(name: &str) -> bool {
    SafePath::parse(name).is_ok_and(|p| p.components().len() == 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(listing: &Listing) -> Vec<&str> {
        listing.entries.iter().map(|e| e.name.as_str()).collect()
    }

    fn rel(path: &str) -> SafePath {
        SafePath::parse(path).unwrap()
    }

    #[test]
    fn a_folder_lists_in_sorted_pages_without_what_may_not_be_shared() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("pub");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join(STATE_DIR).join("partial")).unwrap();
        for name in ["b.txt", "a.txt", "d.bin", "c.md"] {
            fs::write(root.join(name), name).unwrap();
        }
        #[cfg(unix)]
        {
            // A name Windows cannot hold: not listed, so a Windows receiver
            // could not fail on it. (On Windows the colon names a stream.)
            fs::write(root.join("x:y"), "x:y").unwrap();
            std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
            // A socket, where the path is short enough for one.
            let _socket = std::os::unix::net::UnixListener::bind(root.join("sock"));
        }
        let published = Published::new(&root).unwrap();
        let first = published.list(None, None, 3).unwrap();
        assert_eq!(names(&first), ["a.txt", "b.txt", "c.md"]);
        assert!(first.more);
        assert_eq!(first.entries[0].size, 5);
        assert!(first.entries[0].modified.is_some());
        let second = published.list(None, Some("c.md"), 3).unwrap();
        assert_eq!(names(&second), ["d.bin", "sub"]);
        assert!(!second.more);
        assert_eq!(second.entries[1].kind, EntryKind::Dir);
        let sub = published.list(Some(&rel("sub")), None, 10).unwrap();
        assert!(sub.entries.is_empty() && !sub.more);
    }

    #[test]
    fn nothing_outside_the_folder_is_reachable() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("pub");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/a.txt"), b"a").unwrap();
        fs::write(tmp.path().join("secret.txt"), b"s").unwrap();
        fs::create_dir_all(root.join(STATE_DIR).join("partial")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
            std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("s.txt")).unwrap();
        }
        let published = Published::new(&root).unwrap();
        assert_eq!(
            published.resolve(Some(&rel("sub/a.txt"))).unwrap().1,
            EntryKind::File
        );
        for path in [
            "up",
            "up/secret.txt",
            "s.txt",
            ".p2p-share",
            ".p2p-share/partial",
            "sub/a.txt/x",
            "nope",
        ] {
            assert!(
                matches!(
                    published.resolve(Some(&rel(path))),
                    Err(PublishError::NotFound(_))
                ),
                "{path}"
            );
        }
        assert!(matches!(
            published.list(Some(&rel("sub/a.txt")), None, 10),
            Err(PublishError::NotAFolder(_))
        ));
    }

    #[test]
    fn a_large_folder_pages_through_every_name_once() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..2500 {
            fs::write(tmp.path().join(format!("f{i:05}")), b"").unwrap();
        }
        let published = Published::new(tmp.path()).unwrap();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = published.list(None, after.as_deref(), 1000).unwrap();
            assert!(page.entries.len() <= 1000);
            seen.extend(page.entries.iter().map(|e| e.name.clone()));
            after = seen.last().cloned();
            if !page.more {
                break;
            }
        }
        let want: Vec<String> = (0..2500).map(|i| format!("f{i:05}")).collect();
        assert_eq!(seen, want);
    }
}
