//! Bytes from a yamux peer, cut into pieces as the input's first byte says,
//! played to our muxer (the yamux upgrade with its frame-following layers):
//! the connection may fail, nothing may panic, and the frame follower sees
//! the same headers however the bytes are cut.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    p2p_transport::fuzzing::yamux_frames(data);
});
