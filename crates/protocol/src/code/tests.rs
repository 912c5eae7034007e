#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

/// Optimal string alignment distance (adjacent swaps count as one edit).
fn osa(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

fn code(nameplate: u32, words: &[u8]) -> ShareCode {
    ShareCode {
        nameplate,
        words: words.to_vec(),
    }
}

fn index_of(word: &str) -> u8 {
    u8::try_from(WORDS.iter().position(|w| *w == word).unwrap()).unwrap()
}

#[test]
fn words_are_short_lowercase_sorted_and_unique() {
    for word in WORDS {
        assert!((4..=8).contains(&word.len()), "{word} has a bad length");
        assert!(
            word.bytes().all(|b| b.is_ascii_lowercase()),
            "{word} is not lowercase ASCII"
        );
    }
    // Sorted strictly: unique, and binary search in `match_word` works.
    assert!(
        WORDS.windows(2).all(|pair| pair[0] < pair[1]),
        "list not sorted or has duplicates"
    );
}

#[test]
fn words_have_unique_four_letter_prefixes() {
    let mut prefixes: Vec<&str> = WORDS.iter().map(|w| &w[..4]).collect();
    prefixes.sort_unstable();
    let before = prefixes.len();
    prefixes.dedup();
    assert_eq!(prefixes.len(), before, "two words share a 4-letter prefix");
}

#[test]
fn words_are_far_apart() {
    for (i, a) in WORDS.iter().enumerate() {
        for b in &WORDS[i + 1..] {
            // At least 2 would only make exact matches unambiguous; 3 makes
            // every single typo land closer to its own word than to any other.
            assert!(osa(a, b) >= 3, "{a} and {b} are too similar");
            // A word with one typo is never a 4+ letter prefix of another word.
            for (x, y) in [(a, b), (b, a)] {
                for len in MIN_PREFIX_CHARS..y.len() {
                    assert!(osa(x, &y[..len]) >= 2, "{x} with a typo is a prefix of {y}");
                }
            }
        }
    }
}

#[test]
fn every_single_typo_of_every_word_is_corrected() {
    let letters: Vec<char> = ('a'..='z').collect();
    for (index, word) in WORDS.iter().enumerate() {
        let chars: Vec<char> = word.chars().collect();
        let mut typos = Vec::new();
        for i in 0..chars.len() {
            let mut deleted = chars.clone();
            deleted.remove(i);
            typos.push(deleted);
            if i + 1 < chars.len() {
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                typos.push(swapped);
            }
            for &c in &letters {
                let mut replaced = chars.clone();
                replaced[i] = c;
                typos.push(replaced);
            }
        }
        for i in 0..=chars.len() {
            for &c in &letters {
                let mut inserted = chars.clone();
                inserted.insert(i, c);
                typos.push(inserted);
            }
        }
        for typo in typos {
            let typo: String = typo.into_iter().collect();
            assert_eq!(
                match_word(&typo),
                index_to_byte(index),
                "{typo} should mean {word}"
            );
        }
    }
}

#[test]
fn displays_canonically() {
    let c = code(
        7,
        &[index_of("tiger"), index_of("violin"), index_of("amber")],
    );
    assert_eq!(c.to_string(), "7-tiger-violin-amber");
    assert_eq!(c.password(), "7-tiger-violin-amber");
    assert_eq!(c.nameplate(), 7);
    assert_eq!(c.entropy_bits(), 24);
    assert_eq!(c.words().collect::<Vec<_>>(), ["tiger", "violin", "amber"]);
}

#[test]
fn parses_forgivingly() {
    let want = code(
        7,
        &[index_of("tiger"), index_of("violin"), index_of("amber")],
    );
    for input in [
        "7-tiger-violin-amber",
        "  7 tiger violin amber \n",
        "007-TIGER-Violin-amber",
        "7_tiger.violin,amber",
        "7/tiger+violin--amber",
        "7 - tiger -- violin\tamber",
        "7-tige-viol-ambe",
        "7-tigre-violni-amebr",
        "7-tigr-violinn-anber",
    ] {
        assert_eq!(ShareCode::parse(input), Ok(want.clone()), "{input:?}");
        assert_eq!(input.parse::<ShareCode>(), Ok(want.clone()), "{input:?}");
    }
}

#[test]
fn reports_what_is_wrong() {
    let cases: [(&str, CodeError); 14] = [
        ("", CodeError::Empty),
        (" - _ ", CodeError::Empty),
        ("tiger-violin-amber", CodeError::MissingNameplate),
        ("0-tiger-violin", CodeError::BadNameplate),
        ("10000-tiger-violin", CodeError::BadNameplate),
        ("99999999999999999999-tiger-violin", CodeError::BadNameplate),
        ("7a-tiger-violin", CodeError::BadNameplate),
        ("\u{667}-tiger-violin", CodeError::MissingNameplate),
        ("7", CodeError::TooFewWords),
        ("7-tiger", CodeError::TooFewWords),
        ("7-a-a-a-a-a-a-a-a-a", CodeError::TooManyWords),
        (
            "7-tiger-xylophone",
            CodeError::UnknownWord("xylophone".into()),
        ),
        ("7-tiger-tig", CodeError::UnknownWord("tig".into())),
        (
            "7-tiger-\u{1b}[31m",
            CodeError::UnknownWord("\\u{1b}[31m".into()),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(ShareCode::parse(input), Err(want), "{input:?}");
    }
    assert_eq!(
        ShareCode::parse(&"7-tiger".repeat(40)),
        Err(CodeError::TooLong)
    );
    let message = CodeError::UnknownWord("tigr".into()).to_string();
    assert!(
        message.contains("tigr") && message.contains("spelling"),
        "{message}"
    );
}

#[test]
fn generates_valid_codes() {
    let mut rng = StdRng::seed_from_u64(1);
    for words in MIN_WORDS..=MAX_WORDS {
        let c = ShareCode::generate(&mut rng, 42, words).unwrap();
        assert_eq!(c.entropy_bits(), 8 * u32::try_from(words).unwrap());
        assert_eq!(ShareCode::parse(&c.password()), Ok(c));
    }
    assert_eq!(
        ShareCode::generate(&mut rng, 0, 3),
        Err(CodeError::BadNameplate)
    );
    assert_eq!(
        ShareCode::generate(&mut rng, 10_000, 3),
        Err(CodeError::BadNameplate)
    );
    assert_eq!(
        ShareCode::generate(&mut rng, 1, 1),
        Err(CodeError::TooFewWords)
    );
    assert_eq!(
        ShareCode::generate(&mut rng, 1, 9),
        Err(CodeError::TooManyWords)
    );
    for upper in [0, 1, 5, MAX_NAMEPLATE, u32::MAX] {
        for _ in 0..100 {
            let n = ShareCode::random_nameplate(&mut rng, upper);
            assert!((1..=upper.clamp(1, MAX_NAMEPLATE)).contains(&n));
        }
    }
}

#[test]
fn serde_uses_the_string_form() {
    let c = code(12, &[0, 255]);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(json, format!("\"12-{}-{}\"", WORDS[0], WORDS[255]));
    assert_eq!(serde_json::from_str::<ShareCode>(&json).unwrap(), c);
    assert!(serde_json::from_str::<ShareCode>("\"0-tiger-violin\"").is_err());
    assert!(serde_json::from_str::<ShareCode>("12").is_err());
}

fn any_code() -> impl Strategy<Value = ShareCode> {
    (
        1..=MAX_NAMEPLATE,
        prop::collection::vec(any::<u8>(), MIN_WORDS..=MAX_WORDS),
    )
        .prop_map(|(nameplate, words)| ShareCode { nameplate, words })
}

proptest! {
    #[test]
    fn parse_never_panics(input in "\\PC{0,100}|\\PC{250,300}") {
        let _ = ShareCode::parse(&input);
    }

    #[test]
    fn parse_never_panics_on_code_like_input(input in "[0-9a-zA-Z\\-_ .,/+\u{e9}\u{202e}]{0,80}") {
        let _ = ShareCode::parse(&input);
    }

    #[test]
    fn display_round_trips(c in any_code()) {
        prop_assert_eq!(ShareCode::parse(&c.to_string()), Ok(c));
    }

    #[test]
    fn one_substitution_is_corrected(
        c in any_code(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        letter in proptest::char::range('a', 'z'),
    ) {
        let which = which.index(c.words.len());
        let mut words: Vec<String> = c.words().map(str::to_owned).collect();
        let mut chars: Vec<char> = words[which].chars().collect();
        let at = at.index(chars.len());
        prop_assume!(chars[at] != letter);
        chars[at] = letter;
        words[which] = chars.into_iter().collect();
        let typed = format!("{}-{}", c.nameplate, words.join("-"));
        prop_assert_eq!(ShareCode::parse(&typed), Ok(c));
    }
}
