//! A typed share code: parsed without panic; a parsed code prints in a form
//! that parses to the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::code::ShareCode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = text.parse::<ShareCode>() {
        assert_eq!(code.to_string().parse::<ShareCode>().ok(), Some(code));
    }
});
