//! A peer-provided path: a parsed path has only normal components, stays
//! relative, parses again to itself; escaping for display is bounded.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use protocol::path::{SafePath, display_escaped, numbered_name};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shown = display_escaped(text, 80);
    assert!(shown.chars().count() <= 80);
    assert!(!shown.chars().any(char::is_control));
    if let Ok(path) = SafePath::parse(text) {
        let rel = path.to_rel_path();
        assert!(rel.is_relative());
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
        assert_eq!(SafePath::parse(path.as_str()).ok().as_ref(), Some(&path));
        let renamed = numbered_name(path.file_name(), 7);
        assert!(!renamed.contains('/'));
    }
});
