//! Bytes as a peer's Noise handshake payload: decoding may fail, nothing
//! may panic, and what decodes re-encodes, no longer, to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    p2p_transport::fuzzing::noise_payload(data);
});
