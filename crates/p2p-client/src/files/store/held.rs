//! Folders held open (Linux): partial files are created, and verified files
//! placed, relative to an open folder; small files are received into files
//! without a name ([`create_unnamed`]) that are linked into place. Each folder is opened one component
//! at a time without following symlinks, so nothing swapped in after the
//! check can redirect a write, and no path is walked again for every file.

use std::os::fd::{AsFd, AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, linkat, mkdirat, openat, unlinkat};
use rustix::io::Errno;

use super::{StoreError, check_real_dir};

/// Flags of a folder opened to work in.
fn dir_flags() -> OFlags {
    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC
}

/// Opens `base` (as given: the person chose it), then each of `components`
/// below it without following a symlink, creating missing folders.
///
/// # Errors
/// [`StoreError::Unsafe`] if a component is a symlink or not a folder;
/// [`StoreError::Io`].
pub(super) fn open_chain<'a>(
    base: &Path,
    components: impl IntoIterator<Item = &'a str>,
) -> Result<OwnedFd, StoreError> {
    let mut shown = base.to_path_buf();
    let mut fd = openat(CWD, base, dir_flags(), Mode::empty()).map_err(|e| io_err(&shown, e))?;
    for component in components {
        shown.push(component);
        fd = open_child(&fd, component, &shown)?;
    }
    Ok(fd)
}

/// Opens the folder `name` in `parent`, creating it if missing, refusing a
/// symlink or anything else that is not a folder.
fn open_child(parent: &OwnedFd, name: &str, shown: &Path) -> Result<OwnedFd, StoreError> {
    // Twice at most: a folder created in between by someone else is fine.
    for _ in 0..2 {
        match openat(parent, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => match mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(shown, e)),
            },
            // A symlink (with O_NOFOLLOW) or a file where a folder belongs.
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_a_folder(shown)),
            Err(e) => return Err(io_err(shown, e)),
        }
    }
    Err(not_a_folder(shown))
}

/// The refusal for `path`, which is not a folder: it says what is there.
fn not_a_folder(path: &Path) -> StoreError {
    let unsafe_err = || StoreError::Unsafe {
        path: path.to_path_buf(),
        reason: "something other than a folder is where a folder is needed; \
                 move it away and try again"
            .into(),
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check_real_dir(path, &meta).err().unwrap_or_else(unsafe_err),
        Err(_) => unsafe_err(),
    }
}

pub(super) fn io_err(path: &Path, errno: Errno) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

/// The folder files were last placed in, kept open for the next ones
/// (files arrive sorted, so most share it).
#[derive(Debug, Default)]
pub(super) struct LastFolder(Option<(PathBuf, OwnedFd)>);

impl LastFolder {
    /// The open folder at `path` (`base` joined with `components`), opened
    /// now unless it is the one kept.
    pub(super) fn get<'a>(
        &mut self,
        path: &Path,
        base: &Path,
        components: impl IntoIterator<Item = &'a str>,
    ) -> Result<&OwnedFd, StoreError> {
        if self.0.as_ref().is_none_or(|(kept, _)| kept != path) {
            self.0 = None;
            let fd = open_chain(base, components)?;
            self.0 = Some((path.to_path_buf(), fd));
        }
        match &self.0 {
            Some((_, fd)) => Ok(fd),
            None => Err(not_a_folder(path)),
        }
    }

    /// Forgets the folder kept (it was removed, say).
    pub(super) fn forget(&mut self) {
        self.0 = None;
    }
}

/// How a file created without a name (`O_TMPFILE`) is given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// `linkat` on the open file itself (`AT_EMPTY_PATH`): Linux 6.10 on
    /// allows it to the process that created the file, earlier ones only
    /// with `CAP_DAC_READ_SEARCH`.
    EmptyPath,
    /// `linkat` on `/proc/self/fd/N`, for the kernels before that.
    ProcFd,
}

/// Creates a file without a name in `dir` (`O_TMPFILE`): it gets a name
/// only by [`link_unnamed`], and vanishes if it never does.
pub(super) fn create_unnamed(dir: &OwnedFd) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    openat(dir, ".", flags, Mode::from_raw_mode(0o666))
}

/// Gives the unnamed `file` the name `name` in `folder`; `EEXIST` if the
/// name is taken (never replaces).
pub(super) fn link_unnamed(
    file: &impl AsFd,
    folder: &OwnedFd,
    name: &str,
    link: Link,
) -> rustix::io::Result<()> {
    match link {
        Link::EmptyPath => linkat(file, "", folder, name, AtFlags::EMPTY_PATH),
        Link::ProcFd => {
            let path = format!("/proc/self/fd/{}", file.as_fd().as_raw_fd());
            linkat(CWD, path.as_str(), folder, name, AtFlags::SYMLINK_FOLLOW)
        }
    }
}

/// Whether files can be created without a name in `dir` and named later,
/// and how: tried once, on a file named and removed again at once. `None`
/// where the file system has no `O_TMPFILE` or the kernel lets neither
/// [`Link`] name it.
pub(super) fn unnamed_support(dir: &OwnedFd) -> Option<Link> {
    static PROBES: AtomicU32 = AtomicU32::new(0);
    let probe = format!(
        "probe-{}-{}.tmp",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    );
    let file = create_unnamed(dir)
        .map_err(|error| tracing::debug!(%error, "no files without a name here"))
        .ok()?;
    for link in [Link::EmptyPath, Link::ProcFd] {
        // A probe left by a process that died with this number.
        let _ = unlinkat(dir, probe.as_str(), AtFlags::empty());
        match link_unnamed(&file, dir, &probe, link) {
            Ok(()) => {
                let _ = unlinkat(dir, probe.as_str(), AtFlags::empty());
                return Some(link);
            }
            Err(error) => tracing::debug!(?link, %error, "cannot name a file made without one"),
        }
    }
    None
}
