//! What a sender sends is checked: wrong bytes, too many, too few, hostile
//! names.

use super::*;

#[test]
fn a_file_whose_bytes_do_not_match_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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

    // A small file says the same. On Linux it had no name and leaves
    // nothing behind; elsewhere it is a named partial like a large one,
    // and keeps its prefix for a resume.
    let o = offer(&[("four", b"abcd")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut part = placement.open(0, &o.files[0], 0).unwrap();
    part.write(b"abc").unwrap();
    let err = part.write(b"de").unwrap_err();
    assert!(matches!(&err, StoreError::TooMuchData { path } if path == "four"));
    drop(part);
    if cfg!(target_os = "linux") {
        assert!(!part_path(&dir, &o.files[0]).exists());
    } else {
        assert_eq!(fs::read(part_path(&dir, &o.files[0])).unwrap(), b"abc");
    }
    assert!(!dir.join("four").exists());
}

#[test]
fn finishing_early_is_incomplete_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
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
fn hostile_names_print_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
    let o = offer(&[("f", b"1")], &[]);
    let placement = store.prepare(&o).unwrap();
    let mut hostile = o.files[0].clone();
    hostile.path = "x\u{1b}[31m/../y".into();
    let err = placement.open(0, &hostile, 0).unwrap_err();
    assert!(matches!(err, StoreError::Unsafe { .. }));
    assert!(!err.to_string().contains('\u{1b}'), "{err}");
}
