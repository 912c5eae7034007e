//! Where files land: nothing before accept, whole trees, numbered names
//! for taken ones.

use super::*;

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
