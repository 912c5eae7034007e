//! How bytes reach the disk: writeback of cached writes, and direct writes
//! around the page cache (Linux).

use super::*;

#[test]
fn a_large_file_is_handed_out_for_writeback_with_its_bytes_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().to_path_buf(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
    let store = Store::new(dir.clone(), SENDER);
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
