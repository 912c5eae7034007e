//! A data-stream frame: its length prefix is bounded and its body decodes
//! without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::transfer::{DataHeader, DataResult, MAX_FRAME, decode_frame_body, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Some((prefix, body)) = data.split_first_chunk::<4>() {
        if let Ok(len) = frame_len(*prefix) {
            assert!(len <= MAX_FRAME);
        }
        let _ = decode_frame_body::<DataHeader>(body);
        let _ = decode_frame_body::<DataResult>(body);
    }
});
