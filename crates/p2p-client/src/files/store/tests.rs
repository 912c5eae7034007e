#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::error::human_bytes;
use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef";

fn entry(path: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        size: bytes.len() as u64,
        hash: Hash(*blake3::hash(bytes).as_bytes()),
    }
}

fn offer(files: &[(&str, &[u8])], dirs: &[&str]) -> Offer {
    let files: Vec<FileEntry> = files.iter().map(|(p, b)| entry(p, b)).collect();
    let offer = Offer {
        transfer_id: ID.into(),
        total_bytes: files.iter().map(|f| f.size).sum(),
        files,
        dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
    };
    offer.validate().unwrap();
    offer
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Bytes of a file large enough to be received under a partial name
/// (small ones have none, see [`UNNAMED_BELOW`]).
fn large(seed: u8) -> Vec<u8> {
    bytes(UNNAMED_BELOW as usize + 1000, seed)
}

/// Receives every file of `offer` with `contents[i]` as the bytes of file
/// `i`, in chunks; returns where each landed.
fn receive(placement: &Placement, offer: &Offer, contents: &[&[u8]]) -> Vec<PathBuf> {
    offer
        .files
        .iter()
        .zip(contents)
        .enumerate()
        .map(|(i, (entry, data))| {
            let mut part = placement.open(i as u32, entry, 0).unwrap();
            for chunk in data.chunks(7000) {
                part.write(chunk).unwrap();
            }
            assert_eq!(part.remaining(), 0);
            part.finish(placement).unwrap()
        })
        .collect()
}

fn part_path(dir: &Path, entry: &FileEntry) -> PathBuf {
    dir.join(STATE_DIR)
        .join(PARTIAL_DIR)
        .join(partial_name(entry))
}

/// The names in the folder `dir`, sorted.
pub(super) fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn nothing_is_written_before_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads/sub");
    let store = Store::new(dir.clone());
    let o = offer(&[("a.txt", b"hello"), ("f/b.txt", b"x")], &["f/empty"]);
    assert!(store.resume_points(&o).is_empty());
    store.check_space(&o, &[]).unwrap();
    assert!(!tmp.path().join("downloads").exists());

    // An existing, empty download folder stays empty.
    fs::create_dir_all(&dir).unwrap();
    assert!(store.resume_points(&o).is_empty());
    store.check_space(&o, &[]).unwrap();
    assert!(list(&dir).is_empty());
}

#[test]
fn a_tree_is_received_byte_identical_with_empty_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let store = Store::new(dir.clone());
    let big = bytes(3 * crate::files::HASH_CHUNK + 5, 1);
    let files: [(&str, &[u8]); 4] = [
        ("photos/2024/a.jpg", &big),
        ("photos/b.jpg", b"bbbb"),
        ("notes.txt", b"some notes"),
        ("empty.txt", b""),
    ];
    let o = offer(&files, &["photos/empty/deeper", "nothing"]);
    let placement = store.prepare(&o).unwrap();
    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    let placed = receive(&placement, &o, &contents);
    for ((path, data), at) in files.iter().zip(&placed) {
        assert_eq!(*at, dir.join(path));
        assert_eq!(fs::read(at).unwrap(), *data, "{path}");
    }
    assert!(dir.join("photos/empty/deeper").is_dir());
    assert!(dir.join("nothing").is_dir());
    assert!(list(&dir.join(STATE_DIR).join(PARTIAL_DIR)).is_empty());
    assert_eq!(
        list(&dir),
        [".p2p-share", "empty.txt", "notes.txt", "nothing", "photos"]
    );
}

#[test]
fn taken_names_are_numbered_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    fs::create_dir_all(dir.join("photos")).unwrap();
    fs::write(dir.join("photos/a.jpg"), b"mine").unwrap();
    fs::write(dir.join("notes.txt"), b"my notes").unwrap();
    let store = Store::new(dir.clone());
    let files: [(&str, &[u8]); 3] = [
        ("photos/a.jpg", b"theirs"),
        ("photos/b.jpg", b"bbb"),
        ("notes.txt", b"their notes"),
    ];
    let o = offer(&files, &[]);
    let placement = store.prepare(&o).unwrap();
    assert_eq!(placement.top_level_name("photos"), "photos (1)");
    assert_eq!(placement.top_level_name("notes.txt"), "notes (1).txt");

    // A file appears under a final name after `prepare`: it is kept too.
    fs::write(dir.join("photos (1)/b.jpg"), b"raced").unwrap();

    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    let placed = receive(&placement, &o, &contents);
    assert_eq!(
        placed,
        [
            dir.join("photos (1)/a.jpg"),
            dir.join("photos (1)/b (1).jpg"),
            dir.join("notes (1).txt"),
        ]
    );
    assert_eq!(fs::read(dir.join("photos/a.jpg")).unwrap(), b"mine");
    assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), b"my notes");
    assert_eq!(fs::read(dir.join("photos (1)/b.jpg")).unwrap(), b"raced");
    assert_eq!(fs::read(&placed[1]).unwrap(), b"bbb");
    assert_eq!(fs::read(&placed[2]).unwrap(), b"their notes");
    assert_eq!(list(&dir.join("photos")), ["a.jpg"]);
}

#[test]
fn numbered_names_avoid_the_offers_own_names_and_the_state_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    fs::write(dir.join("x.txt"), b"mine").unwrap();
    let store = Store::new(dir.clone());
    let files: [(&str, &[u8]); 3] = [
        ("x.txt", b"1"),
        ("x (1).txt", b"2"),
        (".p2p-share/partial/evil.part", b"3"),
    ];
    let o = offer(&files, &[]);
    let placement = store.prepare(&o).unwrap();
    assert_eq!(placement.top_level_name("x.txt"), "x (2).txt");
    assert_eq!(placement.top_level_name("x (1).txt"), "x (1).txt");
    assert_eq!(placement.top_level_name(".p2p-share"), ".p2p-share (1)");
    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    let placed = receive(&placement, &o, &contents);
    assert_eq!(placed[0], dir.join("x (2).txt"));
    assert_eq!(placed[2], dir.join(".p2p-share (1)/partial/evil.part"));
    assert_eq!(fs::read(dir.join("x.txt")).unwrap(), b"mine");
}

#[test]
fn a_file_whose_bytes_do_not_match_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let o = offer(&[("doc.pdf", b"good bytes")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"evil bytes").unwrap();
    let err = part.finish(&placement).unwrap_err();
    assert!(matches!(&err, StoreError::HashMismatch { path } if path == "doc.pdf"));
    assert!(err.to_string().contains("doc.pdf"));
    assert!(!part_path(&dir, &o.files[0]).exists());
    assert!(!dir.join("doc.pdf").exists());
    assert!(store.resume_points(&o).is_empty());
}

#[test]
fn too_much_data_is_refused_and_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = large(4);
    let o = offer(&[("four", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    let (almost, last) = data.split_at(data.len() - 1);
    part.write(almost).unwrap();
    let err = part.write(&[last[0], 0]).unwrap_err();
    assert!(matches!(&err, StoreError::TooMuchData { path } if path == "four"));
    assert_eq!(part.written(), almost.len() as u64);
    assert_eq!(part.remaining(), 1);
    drop(part);
    assert_eq!(fs::read(part_path(&dir, &o.files[0])).unwrap(), almost);
    assert!(matches!(
        placement.open(0, &o.files[0], data.len() as u64 + 1),
        Err(StoreError::TooMuchData { .. })
    ));

    // A small file says the same, and leaves nothing behind.
    let o = offer(&[("four", b"abcd")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"abc").unwrap();
    let err = part.write(b"de").unwrap_err();
    assert!(matches!(&err, StoreError::TooMuchData { path } if path == "four"));
    drop(part);
    assert!(!part_path(&dir, &o.files[0]).exists());
    assert!(!dir.join("four").exists());
}

#[test]
fn finishing_early_is_incomplete_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf());
    let data = large(6);
    let o = offer(&[("f", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(&data[..5]).unwrap();
    let err = part.finish(&placement).unwrap_err();
    assert!(matches!(err, StoreError::Incomplete { .. }), "{err}");
    assert!(!tmp.path().join("f").exists());
    let points = store.resume_points(&o);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].offset, 5);
}

#[test]
fn a_crash_resumes_where_it_stopped_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = bytes(2 * crate::files::HASH_CHUNK + 333, 9);
    let half = data.len() / 2 + 17;
    let o = offer(&[("other.bin", b"zz"), ("movie.mkv", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(1, &o.files[1], 0).unwrap();
    part.write(&data[..half]).unwrap();
    drop(part); // the app dies here

    // Later: a new transfer of the same content under another name.
    let again = offer(&[("renamed.mkv", &data)], &[]);
    let points = store.resume_points(&again);
    assert_eq!(
        points,
        [ResumePoint {
            file: 0,
            offset: half as u64,
            prefix_hash: Hash(*blake3::hash(&data[..half]).as_bytes()),
        }]
    );
    store.check_space(&again, &points).unwrap();
    let placement = store.prepare(&again).unwrap();
    let mut part = placement.open(0, &again.files[0], half as u64).unwrap();
    assert_eq!(part.written(), half as u64);
    assert_eq!(part.remaining(), (data.len() - half) as u64);
    part.write(&data[half..]).unwrap();
    let at = part.finish(&placement).unwrap();
    assert_eq!(at, dir.join("renamed.mkv"));
    assert_eq!(fs::read(&at).unwrap(), data);
    // Until the transfer is complete, the placed file counts as done for a retry.
    let points = store.resume_points(&again);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].offset, data.len() as u64);
    store.complete(&again);
    assert!(store.resume_points(&again).is_empty());
}

#[test]
fn a_partial_abandoned_for_a_month_goes_and_a_recent_one_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf());
    let (old, recent) = (large(21), large(22));
    let (o_old, o_recent) = (
        offer(&[("old.bin", &old)], &[]),
        offer(&[("recent.bin", &recent)], &[]),
    );
    for (o, data) in [(&o_old, &old), (&o_recent, &recent)] {
        let placement = store.prepare(o).unwrap();
        let mut part = placement.open(0, &o.files[0], 0).unwrap();
        part.write(&data[..1000]).unwrap();
        drop(part); // the transfer stopped
    }
    let stale = part_path(tmp.path(), &o_old.files[0]);
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(31 * 86_400);
    File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(month_ago)
        .unwrap();

    // The next accepted transfer, of anything, clears the abandoned one.
    let next = offer(&[("next.txt", b"hello")], &[]);
    receive(&store.prepare(&next).unwrap(), &next, &[b"hello"]);
    assert!(!stale.exists());
    assert!(store.resume_points(&o_old).is_empty());
    assert_eq!(store.resume_points(&o_recent)[0].offset, 1000);
}

#[test]
fn a_resumed_prefix_that_was_corrupted_fails_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = bytes(1000, 3);
    let o = offer(&[("f.bin", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut bad = data[..400].to_vec();
    bad[10] ^= 1;
    fs::write(part_path(&dir, &o.files[0]), &bad).unwrap();
    let points = store.resume_points(&o);
    assert_eq!(points[0].offset, 400);
    let mut part = placement.open(0, &o.files[0], 400).unwrap();
    part.write(&data[400..]).unwrap();
    assert!(matches!(
        part.finish(&placement),
        Err(StoreError::HashMismatch { .. })
    ));
    assert!(!dir.join("f.bin").exists());
}

#[test]
fn a_complete_partial_resumes_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let o = offer(&[("done.txt", b"all here")], &[]);
    let placement = store.prepare(&o).unwrap();
    fs::write(part_path(&dir, &o.files[0]), b"all here").unwrap();
    let points = store.resume_points(&o);
    assert_eq!(points[0].offset, 8);
    let part = placement.open(0, &o.files[0], 8).unwrap();
    assert_eq!(part.remaining(), 0);
    assert_eq!(part.finish(&placement).unwrap(), dir.join("done.txt"));
}

#[test]
fn a_partial_longer_than_the_file_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let o = offer(&[("f", b"short")], &[]);
    let placement = store.prepare(&o).unwrap();
    fs::write(part_path(&dir, &o.files[0]), b"much longer than that").unwrap();
    assert!(store.resume_points(&o).is_empty());
    let placed = receive(&placement, &o, &[b"short"]);
    assert_eq!(fs::read(&placed[0]).unwrap(), b"short");
}

#[test]
fn resuming_past_the_partial_data_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf());
    let o = offer(&[("f", b"0123456789")], &[]);
    let placement = store.prepare(&o).unwrap();
    let err = placement.open(0, &o.files[0], 4).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PartialTooShort {
                have: 0,
                offset: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn files_with_the_same_content_share_one_partial_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = large(5);
    let o = offer(&[("a/copy1", &data), ("b/copy2", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    fs::write(part_path(&dir, &o.files[0]), &data[..100]).unwrap();
    let points = store.resume_points(&o);
    assert_eq!(points.len(), 1);
    assert_eq!((points[0].file, points[0].offset), (0, 100));

    // Two transfers writing one content at once: the second is refused.
    let first = placement.open(0, &o.files[0], 100).unwrap();
    assert!(matches!(
        placement.open(1, &o.files[1], 0),
        Err(StoreError::InUse { .. })
    ));
    drop(first);

    let mut part = placement.open(0, &o.files[0], 100).unwrap();
    part.write(&data[100..]).unwrap();
    part.finish(&placement).unwrap();
    let mut part = placement.open(1, &o.files[1], 0).unwrap();
    part.write(&data).unwrap();
    part.finish(&placement).unwrap();
    assert_eq!(fs::read(dir.join("a/copy1")).unwrap(), data);
    assert_eq!(fs::read(dir.join("b/copy2")).unwrap(), data);
}

#[test]
fn discard_deletes_the_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let o = offer(&[("f", b"0123456789")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"0123").unwrap();
    part.discard();
    assert!(!part_path(&dir, &o.files[0]).exists());
    assert!(store.resume_points(&o).is_empty());
}

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
    let store = Store::new(dir.clone());
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
            .join(partial_name(&entry("f", b"12"))),
        b"1",
    )
    .unwrap();
    let store = Store::new(dir.clone());
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
    let store = Store::new(dir);
    let err = store.prepare(&offer(&[("f", b"1")], &[])).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }), "{err}");
}

#[test]
fn an_absurd_offer_does_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("not/yet"));
    let mut o = offer(&[("huge", b"")], &[]);
    o.files[0].size = u64::MAX / 2;
    o.total_bytes = u64::MAX / 2;
    let err = store.check_space(&o, &[]).unwrap_err();
    let StoreError::NoSpace { needed, available } = err else {
        panic!("{err}");
    };
    assert_eq!(needed, u64::MAX / 2 + SPACE_MARGIN);
    assert!(available < needed);
    let err = StoreError::NoSpace { needed, available };
    assert!(err.is_disk_full());
    assert!(err.to_string().contains("EiB"), "{err}");
    assert!(!tmp.path().join("not").exists());

    // Resumed bytes are not needed again.
    o.files[0].size = 1000;
    o.total_bytes = 1000;
    let resume = [ResumePoint {
        file: 0,
        offset: 999,
        prefix_hash: Hash([0; 32]),
    }];
    store.check_space(&o, &resume).unwrap();
}

#[test]
fn disk_full_errors_are_recognised() {
    let full = StoreError::Io {
        path: PathBuf::from("x"),
        source: io::Error::from_raw_os_error(28),
    };
    assert!(full.is_disk_full());
    let other = StoreError::Io {
        path: PathBuf::from("x"),
        source: io::Error::from(io::ErrorKind::PermissionDenied),
    };
    assert!(!other.is_disk_full());
    assert_eq!(human_bytes(1023), "1023 bytes");
    assert_eq!(human_bytes(1536), "1.5 KiB");
}

#[test]
fn final_path_maps_only_the_top_level_name() {
    let placement = Placement::new(
        PathBuf::from("/d"),
        HashMap::from([("a".to_owned(), "a (1)".to_owned())]),
    );
    let rel = SafePath::parse("a/a/f").unwrap();
    assert_eq!(placement.final_path(&rel), Path::new("/d/a (1)/a/f"));
    let rel = SafePath::parse("b").unwrap();
    assert_eq!(placement.final_path(&rel), Path::new("/d/b"));
}

#[test]
fn hostile_names_print_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf());
    let o = offer(&[("f", b"1")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut hostile = o.files[0].clone();
    hostile.path = "x\u{1b}[31m/../y".into();
    let err = placement.open(0, &hostile, 0).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }));
    assert!(!err.to_string().contains('\u{1b}'), "{err}");
}

#[cfg(unix)]
#[test]
fn a_partial_already_linked_into_place_is_never_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = large(7);
    let o = offer(&[("f", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    // What another transfer finishing the same content leaves for an
    // instant: the partial linked under a final name, not yet unlinked.
    let part = part_path(&dir, &o.files[0]);
    fs::write(&part, &data).unwrap();
    fs::hard_link(&part, dir.join("placed")).unwrap();
    assert!(matches!(
        placement.open(0, &o.files[0], 0),
        Err(StoreError::InUse { .. })
    ));
    assert_eq!(fs::read(dir.join("placed")).unwrap(), data);
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
    let store = Store::new(dir.clone());
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

#[test]
fn a_folder_swapped_for_a_symlink_while_receiving_is_never_followed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let store = Store::new(dir.clone());
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

#[test]
fn a_large_file_is_handed_out_for_writeback_with_its_bytes_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf());
    let data = bytes(3 * WRITEBACK as usize, 9);
    let o = offer(&[("big", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    // Written through the page cache, as where direct writes are not used.
    #[cfg(target_os = "linux")]
    {
        part.direct_at = None;
    }
    let mut handed_out = Vec::new();
    for chunk in data.chunks(1024 * 1024 - 3) {
        part.write(chunk).unwrap();
        if let Some(file) = part.writeback().unwrap() {
            // Nothing the writer buffered is left out of the sync.
            assert_eq!(file.metadata().unwrap().len(), part.written());
            file.sync_data().unwrap();
            handed_out.push(part.written());
        }
    }
    assert_eq!(
        handed_out.len(),
        2,
        "once per {WRITEBACK} bytes: {handed_out:?}"
    );
    assert!(handed_out[0] >= WRITEBACK && handed_out[1] - handed_out[0] >= WRITEBACK);
    let landed = part.finish(&placement).unwrap();
    assert_eq!(fs::read(landed).unwrap(), data);
}

#[cfg(target_os = "linux")]
#[test]
fn a_small_file_has_no_partial_name_and_vanishes_if_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let (small, big) = (bytes(UNNAMED_BELOW as usize - 1, 1), large(2));
    let o = offer(&[("t/small", &small), ("t/big", &big)], &[]);
    let placement = store.prepare(&o).unwrap();
    assert!(
        placement.unnamed.is_some(),
        "this file system has O_TMPFILE"
    );
    let partial = dir.join(STATE_DIR).join(PARTIAL_DIR);

    // Written, verified and synced, a small file has no name anywhere...
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(&small).unwrap();
    let verified = part.verify().unwrap();
    verified.sync().unwrap();
    assert_eq!(list(&partial), Vec::<String>::new());
    assert_eq!(list(&dir.join("t")), Vec::<String>::new());
    // ...until it is placed, under its own name.
    assert_eq!(verified.place(&placement).unwrap(), dir.join("t/small"));
    assert_eq!(fs::read(dir.join("t/small")).unwrap(), small);

    // A large one is written under its partial name, for a resume.
    let mut part = placement.open(1, &o.files[1], 0).unwrap();
    part.write(&big[..10]).unwrap();
    drop(part);
    assert_eq!(list(&partial), [partial_name(&o.files[1])]);

    // A small file stopped halfway leaves nothing, so nothing resumes.
    let again = offer(&[("t/small", &small)], &[]);
    let placement = store.prepare(&again).unwrap();
    let mut part = placement.open(0, &again.files[0], 0).unwrap();
    part.write(&small[..100]).unwrap();
    drop(part);
    assert_eq!(list(&partial), [partial_name(&o.files[1])]);
    assert_eq!(store.resume_points(&again), Vec::new());
    assert_eq!(list(&dir.join("t")), ["small"]);
}

#[cfg(target_os = "linux")]
#[test]
fn small_files_find_taken_names_and_never_replace_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let o = offer(&[("a.txt", b"new")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"new").unwrap();
    let verified = part.verify().unwrap();
    // Taken after `prepare` chose the name, before the file is placed.
    fs::write(dir.join("a.txt"), b"mine").unwrap();
    fs::write(dir.join("a (1).txt"), b"mine too").unwrap();
    assert_eq!(verified.place(&placement).unwrap(), dir.join("a (2).txt"));
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"mine");
    assert_eq!(fs::read(dir.join("a (1).txt")).unwrap(), b"mine too");
    assert_eq!(fs::read(dir.join("a (2).txt")).unwrap(), b"new");
    assert_eq!(
        list(&dir.join(STATE_DIR).join(PARTIAL_DIR)),
        Vec::<String>::new()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn both_ways_of_naming_a_file_made_without_one_work_and_never_replace() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = held::open_chain(tmp.path(), []).unwrap();
    fs::write(tmp.path().join("taken"), b"mine").unwrap();
    for (link, name) in [(held::Link::EmptyPath, "one"), (held::Link::ProcFd, "two")] {
        let mut file = File::from(held::create_unnamed(&dir).unwrap());
        file.write_all(name.as_bytes()).unwrap();
        assert_eq!(
            held::link_unnamed(&file, &dir, "taken", link),
            Err(rustix::io::Errno::EXIST)
        );
        held::link_unnamed(&file, &dir, name, link).unwrap();
        assert_eq!(fs::read(tmp.path().join(name)).unwrap(), name.as_bytes());
    }
    assert_eq!(fs::read(tmp.path().join("taken")).unwrap(), b"mine");
    assert_eq!(list(tmp.path()), ["one", "taken", "two"]);
}

/// A temporary folder on the disk the project is on (the system's temporary
/// folder may be in memory, where nothing is written around a cache).
#[cfg(target_os = "linux")]
fn on_disk() -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    tempfile::tempdir_in(if target.is_dir() {
        target
    } else {
        std::env::temp_dir()
    })
    .unwrap()
}

/// Whether files in `dir` are written around the page cache (a local file
/// system that takes direct writes).
#[cfg(target_os = "linux")]
fn takes_direct_writes(dir: &Path) -> bool {
    let probe = File::create(dir.join("probe")).unwrap();
    let yes = direct::worthwhile(&probe, 0, direct::DIRECT_FROM)
        && direct::Direct::start(&probe, 0).is_some();
    fs::remove_file(dir.join("probe")).unwrap();
    if !yes {
        eprintln!(
            "{} takes no direct writes: checking the cached path only",
            dir.display()
        );
    }
    yes
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_file_is_written_around_the_page_cache_and_verified() {
    let tmp = on_disk();
    let dir = tmp.path().to_path_buf();
    let direct = takes_direct_writes(&dir);
    let store = Store::new(dir.clone());
    // Not a whole number of direct buffers, written in odd pieces.
    let data = bytes(direct::DIRECT_FROM as usize + 2 * direct::BUFFER + 777, 5);
    let o = offer(&[("big.bin", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    for chunk in data.chunks(7001) {
        part.write(chunk).unwrap();
        // Nothing is left in the cache to push out early.
        assert!(!direct || part.writeback().unwrap().is_none());
    }
    assert_eq!(part.is_direct(), direct);
    let at = part.finish(&placement).unwrap();
    assert_eq!(at, dir.join("big.bin"));
    assert_eq!(fs::read(&at).unwrap(), data);
}

#[cfg(target_os = "linux")]
#[test]
fn a_stopped_direct_file_keeps_every_byte_and_resumes_at_any_offset() {
    let tmp = on_disk();
    let dir = tmp.path().to_path_buf();
    let direct = takes_direct_writes(&dir);
    let store = Store::new(dir.clone());
    let data = bytes(3 * direct::DIRECT_FROM as usize + 4321, 6);
    let o = offer(&[("movie.mkv", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    // Part way into a direct buffer, and not at a block boundary.
    let stop = direct::DIRECT_FROM as usize + direct::BUFFER / 2 + 123;
    part.write(&data[..stop]).unwrap();
    assert_eq!(part.is_direct(), direct);
    drop(part); // the transfer stops: the gathered bytes are written

    let points = store.resume_points(&o);
    assert_eq!(
        points,
        [ResumePoint {
            file: 0,
            offset: stop as u64,
            prefix_hash: Hash(*blake3::hash(&data[..stop]).as_bytes()),
        }]
    );
    // Resumed at that unaligned offset: cached up to the next block, then
    // direct again.
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], stop as u64).unwrap();
    let (first, rest) = data[stop..].split_at(10_000);
    part.write(first).unwrap();
    assert_eq!(part.is_direct(), direct);
    part.write(rest).unwrap();
    let at = part.finish(&placement).unwrap();
    assert_eq!(fs::read(&at).unwrap(), data);
}

#[cfg(target_os = "linux")]
#[test]
fn discarding_a_direct_file_deletes_it() {
    let tmp = on_disk();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone());
    let data = bytes(direct::DIRECT_FROM as usize + 99, 7);
    let o = offer(&[("gone.bin", &data)], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(&data[..data.len() - 1]).unwrap();
    part.discard();
    assert_eq!(
        list(&dir.join(STATE_DIR).join(PARTIAL_DIR)),
        Vec::<String>::new()
    );
    assert!(store.resume_points(&o).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_refused_direct_write_goes_on_through_the_cache() {
    let tmp = on_disk();
    if !takes_direct_writes(tmp.path()) {
        return;
    }
    let path = tmp.path().join("file");
    let file = File::create(&path).unwrap();
    // Memory off the block boundary: the kernel refuses the direct write.
    let mut direct = direct::Direct::start_misaligned(&file, 0).unwrap();
    let data = bytes(3 * direct::BUFFER + 5, 8);
    for chunk in data.chunks(100_000) {
        direct.write(chunk).unwrap();
    }
    assert!(!direct.is_direct());
    direct.finish().unwrap();
    assert_eq!(fs::read(&path).unwrap(), data);
}
