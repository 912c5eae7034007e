#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use protocol::offer::Hash;

use super::*;
use crate::files::HASH_CHUNK;

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

fn scan_quiet(paths: &[PathBuf]) -> Result<Scanned, ScanError> {
    scan(paths, &|_| {})
}

/// Scans `paths`, returning what the progress callback was told.
fn scan_counting(paths: &[PathBuf]) -> (Scanned, Vec<u64>) {
    let calls = std::sync::Mutex::new(Vec::new());
    let scanned = scan(paths, &|n| calls.lock().unwrap().push(n)).unwrap();
    (scanned, calls.into_inner().unwrap())
}

fn paths(offer: &Offer) -> Vec<&str> {
    offer.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn a_single_file_is_offered_under_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("report.pdf");
    write(&file, b"hello world");
    let (scanned, calls) = scan_counting(std::slice::from_ref(&file));
    let hashed: u64 = calls.iter().sum();
    let offer = &scanned.offer;
    assert_eq!(paths(offer), ["report.pdf"]);
    assert!(offer.dirs.is_empty());
    assert_eq!(offer.files[0].size, 11);
    assert_eq!(
        offer.files[0].hash.0,
        *blake3::hash(b"hello world").as_bytes()
    );
    assert_eq!(offer.total_bytes, 11);
    assert_eq!(hashed, 11);
    assert_eq!(scanned.sources, [file]);
    assert!(scanned.skipped.is_empty());
    assert_eq!(offer.transfer_id.len(), 32);
    assert!(
        offer
            .transfer_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    offer.validate().unwrap();
}

#[test]
fn a_folder_tree_lists_files_and_every_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("photos");
    write(&root.join("b.jpg"), b"bbb");
    write(&root.join("2024/summer/a.jpg"), b"aaaa");
    write(&root.join("2024/z.jpg"), b"z");
    fs::create_dir_all(root.join("empty/deeper")).unwrap();
    let scanned = scan_quiet(std::slice::from_ref(&root)).unwrap();
    let offer = &scanned.offer;
    assert_eq!(
        paths(offer),
        [
            "photos/2024/summer/a.jpg",
            "photos/2024/z.jpg",
            "photos/b.jpg"
        ]
    );
    assert_eq!(
        offer.dirs,
        [
            "photos",
            "photos/2024",
            "photos/2024/summer",
            "photos/empty",
            "photos/empty/deeper"
        ]
    );
    assert_eq!(offer.total_bytes, 8);
    for (entry, source) in offer.files.iter().zip(&scanned.sources) {
        let bytes = fs::read(source).unwrap();
        assert_eq!(entry.size, bytes.len() as u64);
        assert_eq!(entry.hash.0, *blake3::hash(&bytes).as_bytes(), "{source:?}");
        assert!(source.ends_with(entry.path.strip_prefix("photos/").unwrap()));
    }
}

#[test]
fn an_empty_file_and_an_empty_folder_are_offered() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("empty.txt");
    write(&file, b"");
    let dir = tmp.path().join("nothing");
    fs::create_dir(&dir).unwrap();
    let scanned = scan_quiet(&[file, dir]).unwrap();
    assert_eq!(paths(&scanned.offer), ["empty.txt"]);
    assert_eq!(scanned.offer.files[0].size, 0);
    assert_eq!(scanned.offer.files[0].hash.0, *blake3::hash(b"").as_bytes());
    assert_eq!(scanned.offer.dirs, ["nothing"]);
    assert_eq!(scanned.offer.total_bytes, 0);
}

#[test]
fn output_is_sorted_and_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["c.txt", "a.txt", "b/x", "b/a"] {
        write(&tmp.path().join(name), name.as_bytes());
    }
    let args: Vec<PathBuf> = ["c.txt", "b", "a.txt"]
        .iter()
        .map(|n| tmp.path().join(n))
        .collect();
    let first = scan_quiet(&args).unwrap();
    let mut reversed = args.clone();
    reversed.reverse();
    let second = scan_quiet(&reversed).unwrap();
    assert_eq!(paths(&first.offer), ["a.txt", "b/a", "b/x", "c.txt"]);
    assert_eq!(first.offer.files, second.offer.files);
    assert_eq!(first.offer.dirs, second.offer.dirs);
    assert_eq!(first.sources, second.sources);
    assert_ne!(first.offer.transfer_id, second.offer.transfer_id);
}

#[test]
fn large_files_are_hashed_in_chunks() {
    // Under and over the size hashed on several threads at once.
    for size in [2 * HASH_CHUNK + 12345, 5 * HASH_CHUNK + 777] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("big.bin");
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        write(&file, &bytes);
        let (scanned, calls) = scan_counting(std::slice::from_ref(&file));
        assert_eq!(
            scanned.offer.files[0].hash.0,
            *blake3::hash(&bytes).as_bytes(),
            "{size} bytes"
        );
        assert!(calls.len() >= 3, "{calls:?}");
        assert!(calls.iter().all(|&n| n <= HASH_CHUNK as u64));
        assert_eq!(calls.iter().sum::<u64>(), bytes.len() as u64);
    }
}

#[test]
fn many_files_hashed_in_parallel_keep_their_order_and_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("many");
    let mut expected = Vec::new();
    for i in 0..300usize {
        let rel = format!("d{}/f{i:03}", i % 7);
        let bytes = vec![u8::try_from(i % 256).unwrap(); i * 37];
        write(&root.join(&rel), &bytes);
        expected.push((format!("many/{rel}"), *blake3::hash(&bytes).as_bytes()));
    }
    expected.sort();
    let (scanned, calls) = scan_counting(&[root]);
    let got: Vec<_> = scanned
        .offer
        .files
        .iter()
        .map(|f| (f.path.clone(), f.hash.0))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(calls.iter().sum::<u64>(), scanned.offer.total_bytes);
    for (file, source) in scanned.offer.files.iter().zip(&scanned.sources) {
        assert_eq!(fs::metadata(source).unwrap().len(), file.size);
    }
}

#[test]
fn two_arguments_with_the_same_name_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a/x.txt");
    let b = tmp.path().join("b/X.txt");
    write(&a, b"1");
    write(&b, b"2");
    let err = scan_quiet(&[a, b]).unwrap_err();
    assert!(
        matches!(&err, ScanError::DuplicateName(n) if n == "X.txt"),
        "{err}"
    );
    assert!(err.to_string().contains("X.txt"));
}

// Windows cannot make these names (`:` opens a data stream, `aux.txt` is
// the AUX device, a trailing dot is dropped), so only elsewhere can they be
// on disk to be refused.
#[cfg(unix)]
#[test]
fn non_portable_names_are_errors_that_name_the_file_and_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let colon = tmp.path().join("a:b");
    write(&colon, b"x");
    let err = scan_quiet(std::slice::from_ref(&colon)).unwrap_err();
    assert!(matches!(&err, ScanError::NotPortable { path, .. } if *path == colon));
    let text = err.to_string();
    assert!(text.contains("a:b") && text.contains("colon"), "{text}");

    let folder = tmp.path().join("docs");
    write(&folder.join("sub/aux.txt"), b"x");
    let err = scan_quiet(std::slice::from_ref(&folder)).unwrap_err();
    let ScanError::NotPortable { path, reason } = &err else {
        panic!("{err}");
    };
    assert!(path.ends_with("sub/aux.txt"), "{path:?}");
    assert!(reason.contains("reserved"), "{reason}");

    let trailing = tmp.path().join("folder.");
    fs::create_dir(&trailing).unwrap();
    assert!(matches!(
        scan_quiet(&[trailing]),
        Err(ScanError::NotPortable { .. })
    ));
}

#[cfg(unix)]
#[test]
fn symlinks_and_special_files_are_skipped_and_listed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    write(&outside.join("secret.txt"), b"secret");
    let root = tmp.path().join("share");
    write(&root.join("real.txt"), b"real");
    symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    symlink(&outside, root.join("linked-dir")).unwrap();
    let socket_path = root.join("sock");
    let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let top_link = tmp.path().join("top-link");
    symlink(root.join("real.txt"), &top_link).unwrap();

    let scanned = scan_quiet(&[root.clone(), top_link.clone()]).unwrap();
    assert_eq!(paths(&scanned.offer), ["share/real.txt"]);
    assert_eq!(scanned.offer.dirs, ["share"]);
    let mut skipped = scanned.skipped.clone();
    skipped.sort();
    let mut expected = vec![
        root.join("link.txt"),
        root.join("linked-dir"),
        socket_path,
        top_link.clone(),
    ];
    expected.sort();
    assert_eq!(skipped, expected);

    assert!(matches!(scan_quiet(&[top_link]), Err(ScanError::Empty)));
}

#[test]
fn a_missing_path_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.txt");
    let err = scan_quiet(std::slice::from_ref(&missing)).unwrap_err();
    assert!(
        matches!(&err, ScanError::NotFound(p) if *p == missing),
        "{err}"
    );
    assert!(err.to_string().contains("nope.txt"));
    assert!(matches!(scan_quiet(&[]), Err(ScanError::Empty)));
}

#[test]
fn dot_means_the_current_folder_by_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    write(&root.join("f"), b"f");
    let scanned = scan_quiet(&[root.join(".")]).unwrap();
    assert_eq!(paths(&scanned.offer), ["project/f"]);
}

#[test]
fn prefix_hash_covers_the_first_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f.bin");
    let bytes: Vec<u8> = (0..(crate::files::HASH_CHUNK + 100))
        .map(|i| (i % 7) as u8)
        .collect();
    write(&file, &bytes);
    for len in [
        0,
        1,
        50,
        crate::files::HASH_CHUNK,
        crate::files::HASH_CHUNK + 100,
    ] {
        let got = prefix_hash(&file, len as u64).unwrap().unwrap();
        assert_eq!(got.0, *blake3::hash(&bytes[..len]).as_bytes(), "len {len}");
    }
    assert_eq!(
        prefix_hash(&file, crate::files::HASH_CHUNK as u64 + 101).unwrap(),
        None
    );
    assert!(prefix_hash(&tmp.path().join("missing"), 1).is_err());
}

#[test]
fn a_cached_hash_is_used_while_the_file_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.bin");
    write(&file, b"first content");
    let cache = HashCache::default();
    let first = scan_cached(std::slice::from_ref(&file), &|_| {}, Some(&cache)).unwrap();
    assert_eq!(cache.len(), 1);
    // A wrong hash planted under the same size and time is taken: the
    // file is not read again while it is unchanged.
    let meta = std::fs::metadata(&file).unwrap();
    let planted = Hash([9; 32]);
    cache.put(&file, meta.len(), meta.modified().ok(), planted);
    let again = scan_cached(std::slice::from_ref(&file), &|_| {}, Some(&cache)).unwrap();
    assert_eq!(again.offer.files[0].hash, planted);
    // Changed (other size): hashed again, and right.
    write(&file, b"second, longer content");
    let changed = scan_cached(std::slice::from_ref(&file), &|_| {}, Some(&cache)).unwrap();
    assert_eq!(
        changed.offer.files[0].hash,
        Hash(*blake3::hash(b"second, longer content").as_bytes())
    );
    assert_ne!(changed.offer.files[0].hash, first.offer.files[0].hash);
}
