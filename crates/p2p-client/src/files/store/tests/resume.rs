//! Partial files: resuming after a stop, expiry, shared content, discard.

use super::*;

#[test]
fn a_crash_resumes_where_it_stopped_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
fn a_partial_already_linked_into_place_is_never_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone(), SENDER);
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

/// Partial data and transfer records belong to the peer that sent them:
/// another peer offering the same content (path, size, hash) neither learns
/// that it is here nor has its files land in the first peer's folder.
#[test]
fn another_peers_offer_of_the_same_content_finds_nothing_of_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let first = Store::new(dir.clone(), b"first peer");
    let other = Store::new(dir.clone(), b"other peer");
    let data = large(31);
    let done = bytes(5000, 32);
    let o = offer(&[("album/a.bin", &data), ("album/done.bin", &done)], &[]);

    // The first peer's transfer: one file complete, one stopped halfway.
    let placement = first.prepare(&o).unwrap();
    let mut part = placement.open(1, &o.files[1], 0).unwrap();
    part.write(&done).unwrap();
    part.finish(&placement).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(&data[..1000]).unwrap();
    drop(part);
    assert_eq!(first.resume_points(&o).len(), 2);

    // The other peer sees no resume point, and gets a folder of its own.
    assert_eq!(other.resume_points(&o), Vec::new());
    let theirs = other.prepare(&o).unwrap();
    assert_eq!(theirs.top_level_name("album"), "album (1)");
    let mut part = theirs.open(0, &o.files[0], 0).unwrap();
    assert_eq!(part.written(), 0);
    part.write(&data).unwrap();
    assert_eq!(part.finish(&theirs).unwrap(), dir.join("album (1)/a.bin"));

    // The first peer's partial data is untouched and still resumes.
    let points = first.resume_points(&o);
    assert!(points.contains(&ResumePoint {
        file: 0,
        offset: 1000,
        prefix_hash: Hash(*blake3::hash(&data[..1000]).as_bytes()),
    }));
    assert_eq!(first.prepare(&o).unwrap().top_level_name("album"), "album");
}
