//! Share codes such as `7-tiger-violin-amber`.
//!
//! A code is a nameplate number followed by words from a built-in list of 256
//! words. The nameplate is public: the signal server uses it to pair the two
//! peers. The whole code, in its canonical form ([`ShareCode::password`]), is
//! the low-entropy password both peers feed into SPAKE2.
//!
//! [`ShareCode::parse`] forgives what people do when they read a code aloud
//! or retype it: any case, extra spaces, other separators, leading zeros, a
//! word cut to its first four letters, and one typo per word.

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(test)]
mod tests;
mod wordlist;

pub(crate) use wordlist::WORDS;

/// Number of words in a code when the user does not ask for another length.
pub const DEFAULT_WORDS: usize = 3;
/// Fewest words a code may have (16 bits of entropy).
pub const MIN_WORDS: usize = 2;
/// Most words a code may have.
pub const MAX_WORDS: usize = 8;
/// Largest nameplate; nameplates are `1..=MAX_NAMEPLATE`.
pub const MAX_NAMEPLATE: u32 = 9999;
/// Longest input, in bytes, that [`ShareCode::parse`] looks at.
pub const MAX_CODE_BYTES: usize = 256;

/// A typed word this long or longer may stand for the one word it begins.
const MIN_PREFIX_CHARS: usize = 4;
/// Characters accepted between the parts of a code (besides any whitespace).
const SEPARATORS: [char; 7] = ['-', ' ', '_', '.', ',', '/', '+'];
/// How much of an unknown word an error message repeats.
const MAX_WORD_IN_ERROR: usize = 24;

/// Why a string is not a share code, or why a code cannot be generated.
///
/// The messages are written for the person who typed the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing but separators or whitespace.
    #[error("the code is empty")]
    Empty,
    /// The input is longer than [`MAX_CODE_BYTES`].
    #[error("the code is too long to be a share code")]
    TooLong,
    /// The code does not start with a number.
    #[error("the code must start with a number, as in 7-tiger-violin")]
    MissingNameplate,
    /// The number is 0, above [`MAX_NAMEPLATE`], or not made of digits only.
    #[error("the number at the start of the code must be between 1 and {MAX_NAMEPLATE}")]
    BadNameplate,
    /// Fewer than [`MIN_WORDS`] words after the number.
    #[error("the code is missing words: it needs at least {MIN_WORDS} words after the number")]
    TooFewWords,
    /// More than [`MAX_WORDS`] words after the number.
    #[error("the code has too many words: at most {MAX_WORDS} may follow the number")]
    TooManyWords,
    /// A word that matches no list word, even allowing for one typo.
    ///
    /// The word is kept as typed, already escaped for display and shortened.
    #[error("\"{0}\" is not a word used in share codes; please check its spelling")]
    UnknownWord(String),
}

/// A share code: a public nameplate number and secret words.
///
/// `Display` (and [`ShareCode::password`]) give the canonical form
/// `7-tiger-violin-amber`; serde uses the same string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareCode {
    nameplate: u32,
    /// Indices into [`WORDS`].
    words: Vec<u8>,
}

impl ShareCode {
    /// Makes a code with the given nameplate and `words` random words, each
    /// chosen uniformly from the list.
    ///
    /// # Errors
    /// [`CodeError::BadNameplate`] unless `1 <= nameplate <= MAX_NAMEPLATE`;
    /// [`CodeError::TooFewWords`] / [`CodeError::TooManyWords`] unless
    /// `MIN_WORDS <= words <= MAX_WORDS`.
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        nameplate: u32,
        words: usize,
    ) -> Result<Self, CodeError> {
        check_nameplate(nameplate)?;
        check_word_count(words)?;
        let words = (0..words).map(|_| rng.r#gen::<u8>()).collect();
        Ok(Self { nameplate, words })
    }

    /// Picks a nameplate uniformly in `1..=upper`.
    ///
    /// `upper` is clamped to `1..=MAX_NAMEPLATE`, so the result is always a
    /// valid nameplate.
    pub fn random_nameplate<R: RngCore + CryptoRng>(rng: &mut R, upper: u32) -> u32 {
        rng.gen_range(1..=upper.clamp(1, MAX_NAMEPLATE))
    }

    /// Reads a code typed by a person.
    ///
    /// Accepts any case, surrounding whitespace, and any run of whitespace or
    /// `-` `_` `.` `,` `/` `+` between parts. The number comes first (leading
    /// zeros are fine). Each word is taken as written if it is a list word,
    /// else as the only list word it is a prefix of (4 letters or more), else
    /// as the only list word one typo away (a wrong, missing or extra letter,
    /// or two neighbouring letters swapped).
    ///
    /// # Errors
    /// A [`CodeError`] saying what is wrong; inputs longer than
    /// [`MAX_CODE_BYTES`] are refused before anything else is looked at.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        if input.len() > MAX_CODE_BYTES {
            return Err(CodeError::TooLong);
        }
        let mut parts = input
            .split(|c: char| SEPARATORS.contains(&c) || c.is_whitespace())
            .filter(|part| !part.is_empty());
        let nameplate = parse_nameplate(parts.next().ok_or(CodeError::Empty)?)?;
        let typed: Vec<&str> = parts.collect();
        check_word_count(typed.len())?;
        let words = typed
            .iter()
            .map(|word| {
                match_word(word).ok_or_else(|| {
                    CodeError::UnknownWord(crate::path::display_escaped(word, MAX_WORD_IN_ERROR))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nameplate, words })
    }

    /// The public number the signal server pairs peers by.
    pub fn nameplate(&self) -> u32 {
        self.nameplate
    }

    /// The words of the code, in order.
    pub fn words(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.words.iter().map(|&index| WORDS[usize::from(index)])
    }

    /// The canonical full code (`7-tiger-violin-amber`): the PAKE password.
    ///
    /// Two spellings that parse to the same code give the same password.
    pub fn password(&self) -> String {
        self.to_string()
    }

    /// Secret entropy of the code: 8 bits per word (the nameplate is public).
    pub fn entropy_bits(&self) -> u32 {
        // At most MAX_WORDS words, so this cannot overflow.
        8 * u32::try_from(self.words.len()).unwrap_or(u32::MAX / 8)
    }
}

impl fmt::Display for ShareCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.nameplate)?;
        for word in self.words() {
            write!(f, "-{word}")?;
        }
        Ok(())
    }
}

impl FromStr for ShareCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ShareCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ShareCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn check_nameplate(nameplate: u32) -> Result<(), CodeError> {
    if (1..=MAX_NAMEPLATE).contains(&nameplate) {
        Ok(())
    } else {
        Err(CodeError::BadNameplate)
    }
}

fn check_word_count(count: usize) -> Result<(), CodeError> {
    if count < MIN_WORDS {
        Err(CodeError::TooFewWords)
    } else if count > MAX_WORDS {
        Err(CodeError::TooManyWords)
    } else {
        Ok(())
    }
}

/// The first part of a code: ASCII digits only, leading zeros allowed.
fn parse_nameplate(part: &str) -> Result<u32, CodeError> {
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        // `tiger-violin` lacks the number; `7a-tiger` has a broken one.
        return Err(if part.bytes().any(|b| b.is_ascii_digit()) {
            CodeError::BadNameplate
        } else {
            CodeError::MissingNameplate
        });
    }
    let digits = part.trim_start_matches('0');
    // More than 4 significant digits is out of range; this also keeps
    // `u32::from_str` away from overflow.
    if digits.len() > 4 {
        return Err(CodeError::BadNameplate);
    }
    let nameplate = digits.parse::<u32>().unwrap_or(0);
    check_nameplate(nameplate)?;
    Ok(nameplate)
}

/// Finds the list word that `typed` stands for: exact, then unique prefix of
/// at least [`MIN_PREFIX_CHARS`], then unique word one edit away.
fn match_word(typed: &str) -> Option<u8> {
    let typed = typed.to_lowercase();
    if let Ok(index) = WORDS.binary_search(&typed.as_str()) {
        return index_to_byte(index);
    }
    let by_prefix = (typed.chars().count() >= MIN_PREFIX_CHARS)
        .then(|| unique(WORDS.iter().map(|word| word.starts_with(&typed))))
        .flatten();
    if let Some(index) = by_prefix {
        return index_to_byte(index);
    }
    let typed: Vec<char> = typed.chars().collect();
    unique(WORDS.iter().map(|word| within_one_edit(&typed, word))).and_then(index_to_byte)
}

/// The index of the only `true`, if exactly one is `true`.
fn unique(hits: impl Iterator<Item = bool>) -> Option<usize> {
    let mut found = None;
    for (index, hit) in hits.enumerate() {
        if hit {
            if found.is_some() {
                return None;
            }
            found = Some(index);
        }
    }
    found
}

fn index_to_byte(index: usize) -> Option<u8> {
    u8::try_from(index).ok()
}

/// Whether `typed` and the list word `word` (ASCII) are at most one edit
/// apart, where an edit is a substitution, an insertion, a deletion or a swap
/// of adjacent letters (optimal string alignment distance <= 1). Linear time.
fn within_one_edit(typed: &[char], word: &str) -> bool {
    let word = word.as_bytes();
    if typed.len().abs_diff(word.len()) > 1 {
        return false;
    }
    let same = |a: &[char], b: &[u8]| a.iter().copied().eq(b.iter().map(|&x| char::from(x)));
    let prefix = typed
        .iter()
        .zip(word)
        .take_while(|&(&x, &y)| x == char::from(y))
        .count();
    let (a, b) = (&typed[prefix..], &word[prefix..]);
    if a.len() == b.len() {
        // Equal, one substitution, or one adjacent swap.
        a.len() <= 1
            || same(&a[1..], &b[1..])
            || (a[0] == char::from(b[1]) && a[1] == char::from(b[0]) && same(&a[2..], &b[2..]))
    } else if a.len() > b.len() {
        same(&a[1..], b)
    } else {
        same(a, &b[1..])
    }
}
