//! Where files land: nothing before accept, whole trees, numbered names
//! for taken ones.

use super::*;

#[test]
fn nothing_is_written_before_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads/sub");
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
        Sender::new(SENDER),
    );
    let rel = SafePath::parse("a/a/f").unwrap();
    assert_eq!(placement.final_path(&rel), Path::new("/d/a (1)/a/f"));
    let rel = SafePath::parse("b").unwrap();
    assert_eq!(placement.final_path(&rel), Path::new("/d/b"));
}

/// Where neither renames that refuse to replace nor hard links work (FAT,
/// exFAT), a name is claimed with a new file before the partial moves
/// there: two placements racing for one name, and a file already there,
/// all keep their bytes.
#[test]
fn placements_racing_for_a_name_without_hard_links_never_replace() {
    use std::sync::{Arc, Barrier};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let parts = tmp.path().join("parts");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(&parts).unwrap();
    let placement = Arc::new(Placement::new(
        dir.clone(),
        HashMap::new(),
        Sender::new(SENDER),
    ));
    let rel = SafePath::parse("same.txt").unwrap();
    for round in 0..40 {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|who| {
                let part = parts.join(format!("{round}-{who}.part"));
                fs::write(&part, format!("round {round} from {who}")).unwrap();
                let (barrier, placement, rel) = (barrier.clone(), placement.clone(), rel.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    place::place_by_path(&part, &rel, &placement, place::Ways::CLAIM_ONLY)
                })
            })
            .collect();
        let placed: Vec<PathBuf> = racers
            .into_iter()
            .map(|racer| racer.join().unwrap().unwrap())
            .collect();
        assert_ne!(placed[0], placed[1], "round {round}");
        for (who, at) in placed.iter().enumerate() {
            assert_eq!(
                fs::read_to_string(at).unwrap(),
                format!("round {round} from {who}")
            );
        }
        if round == 0 {
            let mut names: Vec<PathBuf> = placed.clone();
            names.sort();
            assert_eq!(names, [dir.join("same (1).txt"), dir.join("same.txt")]);
        }
        // Every file placed so far is still there: 2 per round.
        assert_eq!(list(&dir).len(), 2 * (round + 1), "round {round}");
    }
    assert!(list(&parts).is_empty());
}

/// The claim fallback alone (no rename without replacing, no hard link)
/// numbers a name that is taken by a file, a folder or a dangling symlink.
#[test]
fn the_claim_fallback_numbers_taken_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    fs::create_dir_all(dir.join("b.txt")).unwrap();
    fs::write(dir.join("a.txt"), b"mine").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), dir.join("c.txt")).unwrap();
    let placement = Placement::new(dir.clone(), HashMap::new(), Sender::new(SENDER));
    let mut names = vec!["a.txt", "b.txt"];
    if cfg!(unix) {
        names.push("c.txt");
    }
    for name in names {
        let part = tmp.path().join(format!("{name}.part"));
        fs::write(&part, b"theirs").unwrap();
        let rel = SafePath::parse(name).unwrap();
        let at = place::place_by_path(&part, &rel, &placement, place::Ways::CLAIM_ONLY).unwrap();
        assert_eq!(at, dir.join(numbered_name(name, 1)));
        assert_eq!(fs::read(&at).unwrap(), b"theirs");
        assert!(!part.exists());
    }
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"mine");
    assert!(dir.join("b.txt").is_dir());
    assert!(!tmp.path().join("nowhere").exists());
}
