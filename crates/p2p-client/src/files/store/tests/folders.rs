//! A hostile download folder: symlinks, files in the way, folders removed
//! or swapped while receiving.

use super::*;

#[cfg(unix)]
#[test]
fn symlinks_in_the_download_folder_are_never_followed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(&outside).unwrap();
    symlink(&outside, dir.join("photos")).unwrap();
    // Dangling: following it would create a file outside.
    symlink(outside.join("notes.txt"), dir.join("notes.txt")).unwrap();
    let store = Store::new(dir.clone(), SENDER);
    let files: [(&str, &[u8]); 2] = [("photos/a.jpg", b"aaa"), ("notes.txt", b"nnn")];
    let o = offer(&files, &["photos/empty"]);
    let placement = store.prepare(&o).unwrap();
    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    let placed = receive(&placement, &o, &contents);
    assert_eq!(
        placed,
        [dir.join("photos (1)/a.jpg"), dir.join("notes (1).txt")]
    );
    assert!(dir.join("photos (1)/empty").is_dir());
    assert!(list(&outside).is_empty());
    assert!(
        fs::symlink_metadata(dir.join("notes.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_or_sub_folder_is_refused() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(outside.join("partial")).unwrap();
    symlink(&outside, dir.join(STATE_DIR)).unwrap();
    fs::write(
        outside
            .join("partial")
            .join(partial_name(&Sender::new(SENDER), &entry("f", b"12"))),
        b"1",
    )
    .unwrap();
    let store = Store::new(dir.clone(), SENDER);
    let o = offer(&[("f", b"12")], &[]);
    assert!(store.resume_points(&o).is_empty());
    let err = store.prepare(&o).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    fs::remove_file(dir.join(STATE_DIR)).unwrap();

    // A folder of the transfer replaced by a symlink after `prepare`.
    let o = offer(&[("top/sub/f", b"12")], &[]);
    let placement = store.prepare(&o).unwrap();
    fs::remove_dir(dir.join("top/sub")).unwrap();
    symlink(&outside, dir.join("top/sub")).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"12").unwrap();
    let err = part.finish(&placement).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }), "{err}");
    assert!(!outside.join("f").exists());
}

#[test]
fn a_file_in_the_way_of_a_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    fs::create_dir(dir.join(STATE_DIR)).unwrap();
    fs::write(dir.join(STATE_DIR).join(PARTIAL_DIR), b"not a folder").unwrap();
    let store = Store::new(dir, SENDER);
    let err = store.prepare(&offer(&[("f", b"1")], &[])).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }), "{err}");
}

/// Receives file `index` of `o` completely and places it.
fn receive_one(
    placement: &Placement,
    o: &Offer,
    index: u32,
    bytes: &[u8],
) -> Result<PathBuf, StoreError> {
    let mut part = placement.open(index, &o.files[index as usize], 0)?;
    part.write(bytes)?;
    part.finish(placement)
}

#[test]
fn a_folder_removed_while_receiving_is_made_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let store = Store::new(dir.clone(), SENDER);
    let o = offer(&[("top/sub/a", b"1"), ("top/sub/b", b"2")], &[]);
    let placement = store.prepare(&o).unwrap();
    assert_eq!(
        receive_one(&placement, &o, 0, b"1").unwrap(),
        dir.join("top/sub/a")
    );
    fs::remove_dir_all(dir.join("top/sub")).unwrap();
    assert_eq!(
        receive_one(&placement, &o, 1, b"2").unwrap(),
        dir.join("top/sub/b")
    );
    assert_eq!(fs::read(dir.join("top/sub/b")).unwrap(), b"2");
}

#[cfg(unix)]
#[test]
fn a_folder_swapped_for_a_symlink_while_receiving_is_never_followed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let store = Store::new(dir.clone(), SENDER);
    let o = offer(&[("top/sub/a", b"1"), ("top/sub/b", b"2")], &[]);
    let placement = store.prepare(&o).unwrap();
    receive_one(&placement, &o, 0, b"1").unwrap();
    // After the first file, the folder is moved away and a symlink to a
    // folder outside takes its place.
    fs::rename(dir.join("top/sub"), dir.join("top/moved")).unwrap();
    symlink(&outside, dir.join("top/sub")).unwrap();
    let placed = receive_one(&placement, &o, 1, b"2");
    // Linux holds the folder open: the file goes into the real folder,
    // wherever it was moved. Elsewhere the folder is checked again and the
    // link refused. Never through the link.
    if cfg!(target_os = "linux") {
        placed.unwrap();
        assert_eq!(fs::read(dir.join("top/moved/b")).unwrap(), b"2");
    } else {
        let err = placed.unwrap_err();
        assert!(matches!(err, StoreError::Unsafe { .. }), "{err}");
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}
