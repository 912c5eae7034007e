//! A peer's offer: decoded and validated without panic; an accepted offer
//! is valid, its paths are safe, and it re-encodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::offer::{decode_offer, encode_offer};
use protocol::path::SafePath;

fuzz_target!(|data: &[u8]| {
    if let Ok(offer) = decode_offer(data) {
        assert!(offer.validate().is_ok());
        for file in &offer.files {
            assert!(SafePath::parse(&file.path).is_ok());
        }
        assert_eq!(decode_offer(&encode_offer(&offer)).ok(), Some(offer));
    }
});
