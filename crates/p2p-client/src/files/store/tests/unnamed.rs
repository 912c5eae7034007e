//! Small files written without a name (Linux `O_TMPFILE`) until placed.

use super::*;

#[cfg(target_os = "linux")]
#[test]
fn a_small_file_has_no_partial_name_and_vanishes_if_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone(), SENDER);
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
    assert_eq!(
        list(&partial),
        [partial_name(&Sender::new(SENDER), &o.files[1])]
    );

    // A small file stopped halfway leaves nothing, so nothing resumes.
    let again = offer(&[("t/small", &small)], &[]);
    let placement = store.prepare(&again).unwrap();
    let mut part = placement.open(0, &again.files[0], 0).unwrap();
    part.write(&small[..100]).unwrap();
    drop(part);
    assert_eq!(
        list(&partial),
        [partial_name(&Sender::new(SENDER), &o.files[1])]
    );
    assert_eq!(store.resume_points(&again), Vec::new());
    assert_eq!(list(&dir.join("t")), ["small"]);
}

#[cfg(target_os = "linux")]
#[test]
fn small_files_find_taken_names_and_never_replace_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone(), SENDER);
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
