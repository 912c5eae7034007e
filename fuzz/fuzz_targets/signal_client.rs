//! What a client sends the signal server: decoded without panic, and what
//! decodes re-encodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::signal::{claimed_version, decode_client, encode_client};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = claimed_version(text);
    if let Ok(msg) = decode_client(text) {
        assert_eq!(decode_client(&encode_client(&msg)).ok(), Some(msg));
    }
});
