//! Abandoned state is removed: a partial file or a transfer record that
//! nothing touched for [`MAX_AGE`] belongs to a transfer that never came
//! back, and would otherwise hold its disk space (up to the size of the
//! biggest file ever half-received) for ever.

use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::partial::still_partial;
use super::record::RECORD_DIR;
use super::{PARTIAL_DIR, STATE_DIR};

/// How long a partial file or record is kept after its last write: long
/// enough to resume after a holiday.
pub(super) const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Most entries looked at per folder and sweep, bounding the work one
/// transfer pays.
const MAX_ENTRIES: usize = 10_000;

/// Removes the partial files (`*.part`) and transfer records (`*.json`)
/// under `DIR/.p2p-share` last modified before `now - MAX_AGE`. A partial
/// file another transfer holds (locked) stays, and so does anything that is
/// not a regular file. Best effort: returns how many went; errors are
/// logged, never fatal.
pub(super) fn sweep(dir: &Path, now: SystemTime) -> usize {
    let Some(cutoff) = now.checked_sub(MAX_AGE) else {
        return 0;
    };
    let state = dir.join(STATE_DIR);
    let partials = sweep_folder(&state.join(PARTIAL_DIR), "part", cutoff, remove_partial);
    let records = sweep_folder(&state.join(RECORD_DIR), "json", cutoff, |path| {
        fs::remove_file(path).is_ok()
    });
    if partials + records > 0 {
        tracing::info!(
            partials,
            records,
            days = MAX_AGE.as_secs() / 86_400,
            "removed partial files and records of transfers abandoned long ago"
        );
    }
    partials + records
}

/// Removes (with `remove`) the regular files named `*.EXTENSION` in
/// `folder` last modified before `cutoff`; returns how many went.
fn sweep_folder(
    folder: &Path,
    extension: &str,
    cutoff: SystemTime,
    remove: impl Fn(&Path) -> bool,
) -> usize {
    let Ok(entries) = fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.take(MAX_ENTRIES).flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != extension) {
            continue;
        }
        // `DirEntry::metadata` does not follow a symlink.
        let old = entry.metadata().is_ok_and(|meta| {
            meta.is_file() && meta.modified().is_ok_and(|modified| modified < cutoff)
        });
        if old && remove(&path) {
            removed += 1;
        }
    }
    removed
}

/// Removes the partial file at `path` unless a transfer holds it.
fn remove_partial(path: &Path) -> bool {
    let Some(file) = open_existing(path) else {
        return false;
    };
    // The lock is what a transfer writing this content holds.
    if !fs4::fs_std::FileExt::try_lock_exclusive(&file).unwrap_or(false) {
        return false;
    }
    if !still_partial(&file, path).unwrap_or(false) {
        return false;
    }
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(error) => {
            tracing::debug!(path = %path.display(), %error, "cannot remove an old partial file");
            false
        }
    }
}

/// Opens an existing file for writing (a lock needs it on some systems),
/// never through a symlink.
fn open_existing(path: &Path) -> Option<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options.open(path).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::fs::FileTimes;

    use super::super::tests::list;
    use super::*;

    fn aged(path: &Path, age: Duration) {
        let file = File::options().write(true).open(path).unwrap();
        let when = SystemTime::now() - age;
        file.set_times(FileTimes::new().set_modified(when).set_accessed(when))
            .unwrap();
    }

    fn write(path: &Path, data: &[u8], age: Duration) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
        aged(path, age);
    }

    const OLD: Duration = Duration::from_secs(31 * 24 * 60 * 60);
    const RECENT: Duration = Duration::from_secs(29 * 24 * 60 * 60);

    #[test]
    fn only_old_partials_and_records_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(STATE_DIR);
        let (partial, records) = (state.join(PARTIAL_DIR), state.join(RECORD_DIR));
        write(&partial.join("aa-10.part"), b"old", OLD);
        write(&partial.join("bb-10.part"), b"recent", RECENT);
        write(&partial.join("notes.txt"), b"not ours", OLD);
        write(&records.join("cc.json"), b"{}", OLD);
        write(&records.join("dd.json"), b"{}", RECENT);
        // A file in the download folder itself is never looked at.
        write(&dir.path().join("photo.part"), b"a download", OLD);

        assert_eq!(sweep(dir.path(), SystemTime::now()), 2);
        assert_eq!(list(&partial), ["bb-10.part", "notes.txt"]);
        assert_eq!(list(&records), ["dd.json"]);
        assert!(dir.path().join("photo.part").exists());
    }

    #[test]
    fn a_partial_a_transfer_holds_stays() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir
            .path()
            .join(STATE_DIR)
            .join(PARTIAL_DIR)
            .join("aa-10.part");
        write(&part, b"being resumed", OLD);
        let held = File::options().read(true).write(true).open(&part).unwrap();
        assert!(fs4::fs_std::FileExt::try_lock_exclusive(&held).unwrap());
        assert_eq!(sweep(dir.path(), SystemTime::now()), 0);
        assert!(part.exists());
        drop(held);
        assert_eq!(sweep(dir.path(), SystemTime::now()), 1);
        assert!(!part.exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_neither_followed_nor_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("precious.part");
        write(&target, b"keep me", OLD);
        let partial = dir.path().join(STATE_DIR).join(PARTIAL_DIR);
        fs::create_dir_all(&partial).unwrap();
        std::os::unix::fs::symlink(&target, partial.join("aa-10.part")).unwrap();
        assert_eq!(sweep(dir.path(), SystemTime::now()), 0);
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
        assert!(fs::symlink_metadata(partial.join("aa-10.part")).is_ok());
    }
}
