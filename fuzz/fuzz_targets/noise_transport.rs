//! Noise transport messages after the handshake, sealed by our sending end
//! and then cut, rewritten, dropped, doubled or swapped as the input says
//! (or the input's raw bytes as the wire), played to our receiving end: it
//! may fail, nothing may panic, and it returns only bytes that were sealed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    p2p_transport::fuzzing::noise_transport(data);
});
