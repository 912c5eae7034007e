//! What the signal server sends a client: decoded without panic, and what
//! decodes re-encodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::signal::{decode_server, encode_server};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = decode_server(text) {
        assert_eq!(decode_server(&encode_server(&msg)).ok(), Some(msg));
    }
});
