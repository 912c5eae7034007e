//! A data-stream frame: its length prefix (and a stream's chunk prefix) is
//! bounded and its body decodes without panic; so does a browse listing,
//! which is then checked as a requester checks it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::browse::{ListRequest, Listing, MAX_PAGE};
use protocol::transfer::{
    DataHeader, DataResult, MAX_CHUNK, MAX_FRAME, StreamEnd, chunk_len, decode_frame_body,
    frame_len,
};

fuzz_target!(|data: &[u8]| {
    if let Some((prefix, body)) = data.split_first_chunk::<4>() {
        if let Ok(len) = frame_len(*prefix) {
            assert!(len <= MAX_FRAME);
        }
        if let Ok(len) = chunk_len(*prefix) {
            assert!(len <= MAX_CHUNK);
        }
        let _ = decode_frame_body::<DataHeader>(body);
        let _ = decode_frame_body::<DataResult>(body);
        let _ = decode_frame_body::<StreamEnd>(body);
        if let Ok(listing) = decode_frame_body::<Listing>(body) {
            let request = ListRequest {
                path: String::new(),
                after: None,
                limit: MAX_PAGE,
                secret: None,
            };
            if listing.validate_for(&request).is_ok() {
                assert!(listing.entries.len() <= MAX_PAGE as usize);
            }
        }
    }
});
