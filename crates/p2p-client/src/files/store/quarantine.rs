//! On macOS a received file carries the quarantine attribute, as a
//! browser's or AirDrop's downloads do, so that Gatekeeper checks a received
//! program or disk image before it first runs. Set on the partial file,
//! before it gets its final name, so it is never visible without it.
//! Elsewhere this does nothing (Windows' "Mark of the Web" is an alternate
//! data stream that only Explorer's zone policies read; not written here).

use std::fs::File;

/// The attribute's value: flags (0x0081: downloaded, not yet opened), the
/// time in hexadecimal seconds, and the agent.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn value(unix_secs: u64) -> String {
    format!("0081;{unix_secs:08x};p2p-share;")
}

/// Marks `file` as downloaded from elsewhere (macOS); a failure is logged,
/// never fatal: the file itself is intact.
#[cfg(target_os = "macos")]
pub(super) fn mark(file: &File) {
    use xattr::FileExt as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Err(error) = file.set_xattr("com.apple.quarantine", value(now).as_bytes()) {
        tracing::warn!(%error, "cannot mark a received file as quarantined");
    }
}

#[cfg(not(target_os = "macos"))]
pub(super) fn mark(_file: &File) {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_value_has_the_flags_the_time_and_the_agent() {
        assert_eq!(value(0x6571_2a3b), "0081;65712a3b;p2p-share;");
        assert_eq!(value(0x10), "0081;00000010;p2p-share;");
    }

    #[cfg(target_os = "macos")]
    #[test]
    fn a_marked_file_carries_the_attribute() {
        use xattr::FileExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("app.dmg")).unwrap();
        mark(&file);
        let got = file.get_xattr("com.apple.quarantine").unwrap().unwrap();
        assert!(got.starts_with(b"0081;"), "{got:?}");
        assert!(got.ends_with(b";p2p-share;"), "{got:?}");
    }
}
