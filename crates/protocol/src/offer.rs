//! What a sender announces before any byte moves.
//!
//! An [`Offer`] lists every file (relative path, size, BLAKE3 hash) and every
//! folder, empty ones included, with totals. The receiver shows it to a person,
//! who accepts or declines; [`Offer::validate`] runs first, so a hostile offer
//! is refused before anything is shown or written.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::path::{PathError, SafePath};

/// Largest encoded offer, in bytes.
pub const MAX_OFFER_BYTES: usize = 16 * 1024 * 1024;

/// Most files and folders (together) in one offer.
pub const MAX_OFFER_ENTRIES: usize = 100_000;

/// Longest text an offer carries, in bytes (longer text goes as a file).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A BLAKE3 hash, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl std::str::FromStr for Hash {
    type Err = OfferError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| OfferError::BadHash)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| OfferError::BadHash)?;
        Ok(Hash(array))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One file of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path with `/` separators, checked by [`SafePath`].
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 hash of the whole content.
    pub hash: Hash,
}

/// Everything a sender wants to send in one transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Random identifier chosen by the sender, 32 hex digits.
    pub transfer_id: String,
    /// The files.
    pub files: Vec<FileEntry>,
    /// Folders, including every empty one; parents of files may be omitted.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Sum of all file sizes.
    pub total_bytes: u64,
    /// A text message instead of files (`send --text`): shown, not saved.
    /// Such an offer has no files, no folders and `total_bytes` 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The name of one file whose size is not known in advance (`send -`,
    /// standard input): its bytes come in chunks and its size and hash at
    /// their end (see `crate::transfer`). Such an offer has no files, no
    /// folders, no text and `total_bytes` 0; the name is one safe component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

/// Why an offer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The encoded offer is over [`MAX_OFFER_BYTES`].
    #[error("offer of {0} bytes is over the limit of {MAX_OFFER_BYTES} bytes")]
    TooLarge(usize),
    /// The offer is not valid JSON of the right shape.
    #[error("malformed offer: {0}")]
    Malformed(String),
    /// More than [`MAX_OFFER_ENTRIES`] files and folders.
    #[error("offer lists {0} files and folders, over the limit of {MAX_OFFER_ENTRIES}")]
    TooManyEntries(usize),
    /// The offer has neither files nor folders (nor text).
    #[error("offer is empty")]
    Empty,
    /// The text is over [`MAX_TEXT_BYTES`].
    #[error("text of {0} bytes is over the limit of {MAX_TEXT_BYTES} bytes; send it as a file")]
    TextTooLong(usize),
    /// A text offer that also lists files or folders.
    #[error("an offer carries either text or files, not both")]
    TextWithFiles,
    /// A stream offer that also lists files, folders or text, or whose name
    /// is not a single file name.
    #[error("an offer of a stream carries one file name and nothing else")]
    BadStream,
    /// The transfer ID is not 32 hex digits.
    #[error("transfer id must be 32 hex digits")]
    BadTransferId,
    /// A hash is not 64 hex digits.
    #[error("hash must be 64 hex digits")]
    BadHash,
    /// A path broke the safe-path rules.
    #[error("unsafe path {path:?}: {source}")]
    UnsafePath {
        /// The path, escaped for display.
        path: String,
        /// The rule it broke.
        source: PathError,
    },
    /// Two entries name the same path (compared without case, as Windows and
    /// macOS do), or a file sits where a folder or another file is.
    #[error("path {0:?} appears twice or collides with a folder")]
    Duplicate(String),
    /// `total_bytes` is not the sum of the file sizes.
    #[error("announced total {announced} does not match the sum of file sizes {actual}")]
    WrongTotal {
        /// What the offer says.
        announced: u64,
        /// What the files add up to (saturating).
        actual: u64,
    },
}

impl Offer {
    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Checks the offer against every rule: bounds, safe paths, no duplicates,
    /// consistent totals. Returns the first rule broken.
    pub fn validate(&self) -> Result<(), OfferError> {
        let entries = self.files.len().saturating_add(self.dirs.len());
        if entries > MAX_OFFER_ENTRIES {
            return Err(OfferError::TooManyEntries(entries));
        }
        if let Some(name) = &self.stream {
            if entries > 0 || self.total_bytes != 0 || self.text.is_some() {
                return Err(OfferError::BadStream);
            }
            if parse(name)?.components().len() != 1 {
                return Err(OfferError::BadStream);
            }
        } else if let Some(text) = &self.text {
            if text.len() > MAX_TEXT_BYTES {
                return Err(OfferError::TextTooLong(text.len()));
            }
            if entries > 0 || self.total_bytes != 0 {
                return Err(OfferError::TextWithFiles);
            }
            if text.is_empty() {
                return Err(OfferError::Empty);
            }
        } else if entries == 0 {
            return Err(OfferError::Empty);
        }
        if self.transfer_id.len() != 32 || !self.transfer_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(OfferError::BadTransferId);
        }
        let actual = self
            .files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size));
        if actual != Some(self.total_bytes) {
            return Err(OfferError::WrongTotal {
                announced: self.total_bytes,
                actual: actual.unwrap_or(u64::MAX),
            });
        }
        // Lower-cased full paths of files, and of every folder (listed or implied).
        let mut files = HashSet::with_capacity(self.files.len());
        let mut folders = HashSet::new();
        for dir in &self.dirs {
            let safe = parse(dir)?;
            add_folder_and_parents(&safe, &mut folders);
        }
        for file in &self.files {
            let safe = parse(&file.path)?;
            if let Some(parent) = safe.parent() {
                add_folder_and_parents(&parent, &mut folders);
            }
            if !files.insert(fold(&safe)) {
                return Err(OfferError::Duplicate(crate::path::display_escaped(
                    &file.path, 200,
                )));
            }
        }
        if let Some(clash) = files.iter().find(|f| folders.contains(*f)) {
            return Err(OfferError::Duplicate(crate::path::display_escaped(
                clash, 200,
            )));
        }
        Ok(())
    }
}

fn parse(path: &str) -> Result<SafePath, OfferError> {
    SafePath::parse(path).map_err(|source| OfferError::UnsafePath {
        path: crate::path::display_escaped(path, 200),
        source,
    })
}

fn fold(path: &SafePath) -> String {
    path.to_string().to_lowercase()
}

fn add_folder_and_parents(dir: &SafePath, folders: &mut HashSet<String>) {
    let mut current = Some(dir.clone());
    while let Some(dir) = current {
        if !folders.insert(fold(&dir)) {
            break;
        }
        current = dir.parent();
    }
}

/// A received text made safe to show: line ends become `\n`, and control
/// and direction-changing characters (which can rewrite a terminal or
/// disguise a link) become `\u{…}` escapes; tabs stay.
pub fn display_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// Encodes an offer as JSON bytes.
pub fn encode_offer(offer: &Offer) -> Vec<u8> {
    serde_json::to_vec(offer).unwrap_or_default()
}

/// Decodes and validates an offer. Any input gives an offer or an error.
pub fn decode_offer(bytes: &[u8]) -> Result<Offer, OfferError> {
    if bytes.len() > MAX_OFFER_BYTES {
        return Err(OfferError::TooLarge(bytes.len()));
    }
    let offer: Offer =
        serde_json::from_slice(bytes).map_err(|e| OfferError::Malformed(e.to_string()))?;
    offer.validate()?;
    Ok(offer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn file(path: &str, size: u64) -> FileEntry {
        FileEntry {
            path: path.into(),
            size,
            hash: Hash([7; 32]),
        }
    }

    fn offer(files: Vec<FileEntry>, dirs: Vec<&str>) -> Offer {
        let total_bytes = files.iter().map(|f| f.size).sum();
        Offer {
            transfer_id: ID.into(),
            files,
            dirs: dirs.into_iter().map(String::from).collect(),
            total_bytes,
            text: None,
            stream: None,
        }
    }

    fn text(text: &str) -> Offer {
        Offer {
            text: Some(text.into()),
            ..offer(Vec::new(), Vec::new())
        }
    }

    #[test]
    fn a_text_offer_round_trips_and_is_checked() {
        let o = text("hello\nworld");
        assert_eq!(decode_offer(&encode_offer(&o)).unwrap(), o);
        assert_eq!(text("").validate(), Err(OfferError::Empty));
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            text(&long).validate(),
            Err(OfferError::TextTooLong(MAX_TEXT_BYTES + 1))
        );
        let both = Offer {
            text: Some("hi".into()),
            ..offer(vec![file("a.txt", 1)], Vec::new())
        };
        assert_eq!(both.validate(), Err(OfferError::TextWithFiles));
        let lying = Offer {
            total_bytes: 5,
            ..text("hi")
        };
        assert_eq!(lying.validate(), Err(OfferError::TextWithFiles));
        // Offers without text encode as before.
        let plain =
            String::from_utf8(encode_offer(&offer(vec![file("a", 1)], Vec::new()))).unwrap();
        assert!(!plain.contains("text"), "{plain}");
    }

    #[test]
    fn a_stream_offer_names_one_file_and_nothing_else() {
        let stream = |name: &str| Offer {
            stream: Some(name.into()),
            ..offer(Vec::new(), Vec::new())
        };
        let o = stream("backup.tar");
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(decode_offer(&encode_offer(&o)).unwrap(), o);
        assert_eq!(stream("a/b").validate(), Err(OfferError::BadStream));
        assert!(matches!(
            stream("../x").validate(),
            Err(OfferError::UnsafePath { .. })
        ));
        assert!(matches!(
            stream("").validate(),
            Err(OfferError::UnsafePath { .. })
        ));
        let with_file = Offer {
            stream: Some("s".into()),
            ..offer(vec![file("a", 1)], Vec::new())
        };
        assert_eq!(with_file.validate(), Err(OfferError::BadStream));
        let with_text = Offer {
            text: Some("hi".into()),
            ..stream("s")
        };
        assert_eq!(with_text.validate(), Err(OfferError::BadStream));
        let sized = Offer {
            total_bytes: 3,
            ..stream("s")
        };
        assert_eq!(sized.validate(), Err(OfferError::BadStream));
        // Offers without a stream encode as before.
        let plain =
            String::from_utf8(encode_offer(&offer(vec![file("a", 1)], Vec::new()))).unwrap();
        assert!(!plain.contains("stream"), "{plain}");
    }

    #[test]
    fn received_text_cannot_rewrite_the_terminal() {
        assert_eq!(display_text("a\r\nb\rc\td"), "a\nb\nc\td");
        assert_eq!(display_text("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(display_text("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(display_text("café ☕"), "café ☕");
    }

    #[test]
    fn a_tree_with_empty_folders_round_trips() {
        let o = offer(
            vec![
                file("photos/a.jpg", 10),
                file("photos/2024/b.jpg", 0),
                file("c.txt", 5),
            ],
            vec!["photos/empty", "nothing"],
        );
        let bytes = encode_offer(&o);
        assert_eq!(decode_offer(&bytes).unwrap(), o);
    }

    #[test]
    fn only_empty_folders_is_fine() {
        assert!(offer(vec![], vec!["empty"]).validate().is_ok());
    }

    #[test]
    fn hash_is_hex_on_the_wire() {
        let json = serde_json::to_string(&file("a", 1)).unwrap();
        assert!(json.contains(&"07".repeat(32)), "{json}");
        let bad = json.replace(&"07".repeat(32), "zz");
        assert!(serde_json::from_str::<FileEntry>(&bad).is_err());
    }

    #[test]
    fn hostile_offers_are_refused() {
        type Check = fn(&OfferError) -> bool;
        let cases: Vec<(Offer, Check)> = vec![
            (offer(vec![file("../x", 1)], vec![]), |e| {
                matches!(e, OfferError::UnsafePath { .. })
            }),
            (offer(vec![file("/etc/passwd", 1)], vec![]), |e| {
                matches!(e, OfferError::UnsafePath { .. })
            }),
            (offer(vec![], vec!["a/../.."]), |e| {
                matches!(e, OfferError::UnsafePath { .. })
            }),
            (offer(vec![file("a", 1), file("A", 1)], vec![]), |e| {
                matches!(e, OfferError::Duplicate(_))
            }),
            (offer(vec![file("a", 1), file("a/b", 1)], vec![]), |e| {
                matches!(e, OfferError::Duplicate(_))
            }),
            (offer(vec![file("d", 1)], vec!["d"]), |e| {
                matches!(e, OfferError::Duplicate(_))
            }),
            (offer(vec![], vec![]), |e| matches!(e, OfferError::Empty)),
        ];
        for (o, check) in cases {
            let err = o.validate().unwrap_err();
            assert!(check(&err), "{o:?} gave {err}");
        }
    }

    #[test]
    fn lying_totals_and_overflow_are_refused() {
        let mut o = offer(vec![file("a", 10)], vec![]);
        o.total_bytes = 5;
        assert!(matches!(o.validate(), Err(OfferError::WrongTotal { .. })));
        let mut o = offer(vec![file("a", u64::MAX)], vec![]);
        o.files.push(file("b", 2));
        o.total_bytes = 1;
        assert!(matches!(o.validate(), Err(OfferError::WrongTotal { .. })));
    }

    #[test]
    fn bad_ids_and_sizes_are_refused() {
        let mut o = offer(vec![file("a", 1)], vec![]);
        o.transfer_id = "../../".into();
        assert_eq!(o.validate(), Err(OfferError::BadTransferId));
        assert!(matches!(decode_offer(b"{"), Err(OfferError::Malformed(_))));
        assert!(matches!(
            decode_offer(&vec![b' '; MAX_OFFER_BYTES + 1]),
            Err(OfferError::TooLarge(_))
        ));
    }
}
