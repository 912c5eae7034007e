//! Entry points for the fuzz targets (`fuzz/fuzz_targets/`), which reach
//! private parsers through here. Not an API: each may change or go.
//!
//! Each panics only on a bug. The tests below run each over its committed
//! seeds (`fuzz/corpus/TARGET/`), so the normal test command builds and
//! exercises them too.

/// Plays `data` to a yamux muxer of ours as its peer's bytes, cut into
/// pieces and polled without a runtime (see `yamux/script.rs` for the
/// input's layout).
pub fn yamux_frames(data: &[u8]) {
    crate::yamux::script::frames(data);
}

/// Decodes `data` as a peer's Noise handshake payload; what decodes must
/// re-encode to the same fields (see `noise/script.rs`).
pub fn noise_payload(data: &[u8]) {
    crate::noise::script::payload(data);
}

/// Plays `data` to a Noise transport end of ours after the handshake:
/// sealed messages from our other end, cut, tampered with or replaced by
/// raw bytes as `data` says (see `noise/script.rs` for its layout).
pub fn noise_transport(data: &[u8]) {
    crate::noise::script::transport(data);
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use std::path::PathBuf;

    /// Runs `harness` over every file in `fuzz/corpus/target/`, of which
    /// there must be some.
    fn over_seeds(target: &str, harness: fn(&[u8])) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed folder") {
            let path = entry.expect("a seed").path();
            let data = std::fs::read(&path).expect("a seed's bytes");
            eprintln!("{target}: {}", path.display());
            harness(&data);
            seeds += 1;
        }
        assert!(seeds > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn yamux_frames_seeds() {
        over_seeds("yamux_frames", super::yamux_frames);
    }

    #[test]
    fn noise_payload_seeds() {
        over_seeds("noise_payload", super::noise_payload);
    }

    #[test]
    fn noise_transport_seeds() {
        over_seeds("noise_transport", super::noise_transport);
    }
}
