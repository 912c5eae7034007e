#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Component, Path};

use proptest::prelude::*;

use super::*;

/// The variant of a parse error, without its fields.
fn kind(path: &str) -> String {
    match SafePath::parse(path) {
        Ok(p) => format!("Ok({p})"),
        Err(e) => format!("{e:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

#[test]
fn rejects_hostile_paths() {
    let deep = vec!["a"; MAX_DEPTH + 1].join("/");
    let long_component = "x".repeat(300);
    let long_path = vec!["abcdefgh"; 500].join("/");
    let cases: Vec<(&str, &str)> = vec![
        ("", "Empty"),
        ("..", "ParentDir"),
        ("../x", "ParentDir"),
        ("a/../../b", "ParentDir"),
        ("/etc/passwd", "Absolute"),
        ("//server/share", "Absolute"),
        ("C:\\Windows", "Backslash"),
        ("C:evil", "Colon"),
        ("C:", "Colon"),
        ("\\\\server\\share\\x", "Backslash"),
        ("a\\..\\b", "Backslash"),
        ("..\\x", "Backslash"),
        ("a\0b", "ControlChar"),
        ("\x1b[2J", "ControlChar"),
        ("file\r\nname", "ControlChar"),
        ("tab\there", "ControlChar"),
        ("del\x7f", "ControlChar"),
        ("c1\u{85}next", "ControlChar"),
        ("c1\u{9b}31m", "ControlChar"),
        ("CON", "ReservedName"),
        ("aux.txt", "ReservedName"),
        ("Nul.tar.gz", "ReservedName"),
        ("com1", "ReservedName"),
        ("LPT9.log", "ReservedName"),
        ("COM¹", "ReservedName"),
        ("lpt³.txt", "ReservedName"),
        ("CONIN$", "ReservedName"),
        ("conout$.txt", "ReservedName"),
        ("prn .txt", "ReservedName"),
        ("con..txt", "ReservedName"),
        ("dir/aux", "ReservedName"),
        ("name.", "TrailingDotOrSpace"),
        ("name ", "TrailingDotOrSpace"),
        ("dir./x", "TrailingDotOrSpace"),
        ("...", "TrailingDotOrSpace"),
        ("CON.", "TrailingDotOrSpace"),
        ("a//b", "EmptyComponent"),
        ("a/", "EmptyComponent"),
        ("./a", "CurrentDir"),
        ("a/.", "CurrentDir"),
        (&long_component, "ComponentTooLong"),
        (&deep, "TooDeep"),
        (&long_path, "TooLong"),
        ("evil\u{202e}fdp.exe", "InvisibleChar"),
        ("\u{200b}zero", "InvisibleChar"),
        ("bom\u{feff}", "InvisibleChar"),
        ("isolate\u{2066}x\u{2069}", "InvisibleChar"),
        ("arabic\u{61c}mark", "InvisibleChar"),
        ("anchor\u{fff9}", "InvisibleChar"),
        ("a:stream", "Colon"),
        ("a.txt:evil", "Colon"),
        ("what?", "ForbiddenChar"),
        ("<x>", "ForbiddenChar"),
        ("a|b", "ForbiddenChar"),
        ("\"quoted\"", "ForbiddenChar"),
        ("star*", "ForbiddenChar"),
    ];
    for (path, want) in cases {
        assert_eq!(kind(path), want, "{:?}", display_escaped(path, 40));
    }
}

#[test]
fn accepts_ordinary_names() {
    for path in [
        "a/b/c.txt",
        "résumé.pdf",
        "日本語/ファイル.txt",
        ".hidden",
        "..foo",
        "a..b",
        "con_notes.txt",
        "console.log",
        "COM10",
        "LPT",
        "PROGRA~1/x",
        " leading space",
        "emoji 🎉.png",
        "x".repeat(MAX_COMPONENT_BYTES).as_str(),
    ] {
        let parsed = SafePath::parse(path).unwrap();
        assert_eq!(parsed.as_str(), path);
        assert_eq!(parsed.to_string(), path);
        assert_eq!(path.parse::<SafePath>().unwrap(), parsed);
    }
    assert!(SafePath::parse(&vec!["a"; MAX_DEPTH].join("/")).is_ok());
}

#[test]
fn errors_name_the_component_safely() {
    let e = SafePath::parse("ok/evil\u{202e}fdp.exe").unwrap_err();
    assert_eq!(
        e,
        PathError::InvisibleChar {
            component: "evil\\u{202e}fdp.exe".into()
        }
    );
    assert!(e.to_string().contains("evil\\u{202e}fdp.exe"), "{e}");
    let e = SafePath::parse("\x1b[2J").unwrap_err();
    assert!(!e.to_string().contains('\x1b'), "{e}");
    let e = SafePath::parse(&"é".repeat(200)).unwrap_err();
    assert!(e.to_string().chars().count() < 200, "{e}");
}

#[test]
fn accessors() {
    let p = SafePath::parse("a/b/c.txt").unwrap();
    assert_eq!(p.components(), ["a", "b", "c.txt"]);
    assert_eq!(p.file_name(), "c.txt");
    assert_eq!(p.to_rel_path(), Path::new("a").join("b").join("c.txt"));
    let parent = p.parent().unwrap();
    assert_eq!(parent.as_str(), "a/b");
    assert_eq!(parent.parent().unwrap().as_str(), "a");
    assert_eq!(parent.parent().unwrap().parent(), None);
    assert_eq!(
        p.with_file_name("c (1).txt").unwrap().as_str(),
        "a/b/c (1).txt"
    );
    assert!(p.with_file_name("../x").is_err());
    assert!(p.with_file_name("con").is_err());
    let single = SafePath::parse("x").unwrap();
    assert_eq!(single.with_file_name("y").unwrap().as_str(), "y");
    assert!(single.with_file_name("y/z").is_err());
}

#[test]
fn serde_uses_the_string_and_validates() {
    let p = SafePath::parse("dir/file.txt").unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, "\"dir/file.txt\"");
    assert_eq!(serde_json::from_str::<SafePath>(&json).unwrap(), p);
    assert!(serde_json::from_str::<SafePath>("\"../etc/passwd\"").is_err());
    assert!(serde_json::from_str::<SafePath>("\"C:\\\\x\"").is_err());
}

#[test]
fn escapes_for_display() {
    assert_eq!(display_escaped("plain résumé.pdf", 100), "plain résumé.pdf");
    assert_eq!(display_escaped("\x1b[31mred", 100), "\\u{1b}[31mred");
    assert_eq!(display_escaped("a\u{202e}b", 100), "a\\u{202e}b");
    assert_eq!(display_escaped("nul\0", 100), "nul\\u{0}");
    assert_eq!(display_escaped("c1\u{9b}", 100), "c1\\u{9b}");
    assert_eq!(display_escaped("abcdef", 6), "abcdef");
    assert_eq!(display_escaped("abcdefg", 6), "abcde…");
    assert_eq!(display_escaped("日本語テキスト", 4), "日本語…");
    assert_eq!(display_escaped("abc", 0), "");
    assert_eq!(display_escaped("abc", 1), "…");
    // An escape is never cut in half.
    assert_eq!(display_escaped("ab\x1bcdef", 8), "ab…");
}

#[test]
fn numbers_names() {
    let cases = [
        ("report.pdf", 1, "report (1).pdf"),
        ("report.pdf", 0, "report.pdf"),
        ("report.pdf", 12, "report (12).pdf"),
        ("archive.tar.gz", 1, "archive (1).tar.gz"),
        ("archive.TAR.XZ", 2, "archive (2).TAR.XZ"),
        (".bashrc", 1, ".bashrc (1)"),
        (".config.json", 1, ".config (1).json"),
        ("..foo", 1, "..foo (1)"),
        (".tar.gz", 1, ".tar (1).gz"),
        ("noext", 1, "noext (1)"),
        ("a.b.c", 1, "a.b (1).c"),
        ("日本語.txt", 3, "日本語 (3).txt"),
    ];
    for (name, n, want) in cases {
        assert_eq!(numbered_name(name, n), want, "{name} {n}");
    }
}

#[test]
fn numbered_names_stay_short_and_safe() {
    let long_stem = format!("{}.txt", "é".repeat(125));
    let out = numbered_name(&long_stem, u32::MAX);
    assert!(out.len() <= MAX_COMPONENT_BYTES, "{}", out.len());
    assert!(out.ends_with(" (4294967295).txt"), "{out}");
    SafePath::parse(&out).unwrap();

    let long_ext = format!("a.{}", "x".repeat(250));
    let out = numbered_name(&long_ext, 7);
    assert!(out.len() <= MAX_COMPONENT_BYTES);
    assert!(out.starts_with("a.xxx") && out.ends_with(" (7)"), "{out}");
    SafePath::parse(&out).unwrap();
}

/// Strings that often look like paths, so that some of them parse.
fn pathish() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,64}",
        "[a-zA-Z0-9 ./\\\\:~$¹é\u{202e}\u{85}]{0,40}",
        prop::collection::vec("(\\.{1,3}|[a-z]{1,4}|con|aux|com1| |~)", 0..8)
            .prop_map(|parts| parts.join("/")),
    ]
}

proptest! {
    #[test]
    fn parsed_paths_stay_inside(input in pathish()) {
        if let Ok(parsed) = SafePath::parse(&input) {
            let rel = parsed.to_rel_path();
            prop_assert!(rel.is_relative());
            let mut count = 0;
            for component in rel.components() {
                prop_assert!(matches!(component, Component::Normal(_)), "{:?}", component);
                count += 1;
            }
            prop_assert_eq!(count, parsed.components().len());
            prop_assert_eq!(SafePath::parse(parsed.as_str()), Ok(parsed.clone()));
        }
    }

    #[test]
    fn display_escaped_is_bounded_and_clean(input in "\\PC{0,64}|[\\x00-\\x20\\x7f-\\u{a0}]{0,30}", max in 0usize..80) {
        let out = display_escaped(&input, max);
        prop_assert!(out.chars().count() <= max);
        prop_assert!(!out.chars().any(|c| is_control(c) || is_invisible(c)), "{:?}", out);
    }

    #[test]
    fn numbered_names_of_safe_names_are_safe(input in "[a-zA-Z0-9 .é~\u{1f389}-]{1,300}", n in any::<u32>()) {
        if SafePath::parse(&input).is_ok() && !input.contains('/') {
            let out = numbered_name(&input, n);
            prop_assert!(out.len() <= MAX_COMPONENT_BYTES);
            prop_assert_eq!(SafePath::parse(&out).map(|p| p.components().len()), Ok(1), "{}", out);
        }
    }
}
