//! Streams: placed only when size and hash match what the sender read,
//! under a numbered name when taken, and nothing left behind otherwise.

use super::*;
use protocol::transfer::StreamEnd;

fn end_of(data: &[u8]) -> StreamEnd {
    StreamEnd {
        bytes: data.len() as u64,
        hash: Hash(*blake3::hash(data).as_bytes()),
    }
}

/// Files left in the partial folder.
fn partials(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir.join(STATE_DIR).join(PARTIAL_DIR))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn receive_stream(
    store: &Store,
    name: &str,
    data: &[u8],
    end: &StreamEnd,
) -> Result<PathBuf, StoreError> {
    let mut stream = store.begin_stream(ID, name)?;
    for chunk in data.chunks(100_000) {
        stream.write(chunk)?;
    }
    assert_eq!(stream.written(), data.len() as u64);
    stream.finish(end, store)
}

#[test]
fn a_verified_stream_is_placed_never_over_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
    fs::write(tmp.path().join("backup.tar"), b"mine").unwrap();
    let data = bytes(300_000, 9);
    let placed = receive_stream(&store, "backup.tar", &data, &end_of(&data)).unwrap();
    assert_eq!(placed, tmp.path().join("backup (1).tar"));
    assert_eq!(fs::read(&placed).unwrap(), data);
    assert_eq!(fs::read(tmp.path().join("backup.tar")).unwrap(), b"mine");
    assert!(
        partials(tmp.path()).is_empty(),
        "{:?}",
        partials(tmp.path())
    );
    // An empty stream is a file too.
    let empty = receive_stream(&store, "empty", b"", &end_of(b"")).unwrap();
    assert_eq!(fs::read(empty).unwrap(), b"");
}

#[test]
fn a_stream_that_does_not_match_is_deleted_not_placed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
    let data = bytes(200_000, 1);
    let mut wrong_hash = end_of(&data);
    wrong_hash.hash.0[0] ^= 1;
    let err = receive_stream(&store, "s", &data, &wrong_hash).unwrap_err();
    assert!(matches!(err, StoreError::HashMismatch { .. }), "{err}");
    let short = StreamEnd {
        bytes: data.len() as u64 + 1,
        ..end_of(&data)
    };
    let err = receive_stream(&store, "s", &data, &short).unwrap_err();
    assert!(
        err.to_string()
            .contains("200000 bytes arrived, the sender read 200001"),
        "{err}"
    );
    assert!(!tmp.path().join("s").exists());
    assert!(
        partials(tmp.path()).is_empty(),
        "{:?}",
        partials(tmp.path())
    );
}

#[test]
fn a_stream_dropped_midway_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
    let mut stream = store.begin_stream(ID, "s").unwrap();
    stream.write(&bytes(50_000, 2)).unwrap();
    assert_eq!(partials(tmp.path()).len(), 1);
    // The same transfer cannot write the same partial twice at once.
    assert!(store.begin_stream(ID, "s").is_err());
    drop(stream);
    assert!(
        partials(tmp.path()).is_empty(),
        "{:?}",
        partials(tmp.path())
    );
    assert!(!tmp.path().join("s").exists());
}

#[test]
fn hostile_stream_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
    for name in ["../x", "a/b", "", "/etc/passwd", "CON"] {
        assert!(
            matches!(store.begin_stream(ID, name), Err(StoreError::Unsafe { .. })),
            "{name:?}"
        );
    }
    assert!(store.begin_stream("../../x", "s").is_err());
}
