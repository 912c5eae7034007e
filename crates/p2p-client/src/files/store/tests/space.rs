//! Free space: offers that do not fit, disk-full errors.

use super::super::error::human_bytes;
use super::*;

#[test]
fn an_absurd_offer_does_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("not/yet"), SENDER);
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
