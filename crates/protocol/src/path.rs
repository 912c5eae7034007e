//! Whether a name received from a peer may be used under the download folder.
//!
//! Peers send relative paths with `/` between components. [`SafePath::parse`]
//! accepts only paths that mean the same harmless thing on Linux, macOS and
//! Windows: no way out of the download folder, no device names, no characters
//! a file system strips or refuses, nothing that hides or reorders text on
//! screen. [`numbered_name`] picks the `name (1).ext` alternatives used
//! instead of overwriting, and [`display_escaped`] makes any peer-provided
//! text safe to show.
//!
//! Everything here is pure: no file-system access. Symlinks already inside the
//! download folder are the caller's concern.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(test)]
mod tests;

/// Longest accepted path, in bytes of UTF-8.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most components (folders plus the file name) in a path.
pub const MAX_DEPTH: usize = 64;
/// Longest accepted component, in bytes of UTF-8 (the limit of most file systems).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// How much of an offending component an error message shows, in characters.
const MAX_SHOWN_CHARS: usize = 64;
/// Characters Windows refuses in names (`:` and `\` have their own errors).
const WINDOWS_FORBIDDEN: [char; 6] = ['<', '>', '"', '|', '?', '*'];
/// Windows device names, reserved with any extension and in any case.
const RESERVED_NAMES: [&str; 32] = [
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", // consoles and the like
    "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²",
    "COM³", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹",
    "LPT²", "LPT³",
];

/// Why a received path may not be used. Components in messages are escaped
/// with [`display_escaped`] and shortened, so messages are safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is the empty string.
    #[error("the file name is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is too long ({len} bytes; at most {MAX_PATH_BYTES} are allowed)")]
    TooLong {
        /// Length of the path in bytes.
        len: usize,
    },
    /// The path has more than [`MAX_DEPTH`] components.
    #[error("the path is too deep ({depth} levels; at most {MAX_DEPTH} are allowed)")]
    TooDeep {
        /// Number of components.
        depth: usize,
    },
    /// The path starts with `/`.
    #[error("the path \"{path}\" is absolute; only paths inside the download folder are allowed")]
    Absolute {
        /// The path, escaped.
        path: String,
    },
    /// Two `/` in a row, or a `/` at the end.
    #[error("the path \"{path}\" has an empty part (two '/' in a row, or a '/' at the end)")]
    EmptyComponent {
        /// The path, escaped.
        path: String,
    },
    /// A `.` component.
    #[error("the path \"{path}\" contains a '.' part, which is not allowed")]
    CurrentDir {
        /// The path, escaped.
        path: String,
    },
    /// A `..` component, which would climb out of the folder.
    #[error("the path \"{path}\" contains a '..' part, which could leave the download folder")]
    ParentDir {
        /// The path, escaped.
        path: String,
    },
    /// A backslash: a Windows path separator.
    #[error("the name \"{component}\" contains a backslash (\\), which is not allowed")]
    Backslash {
        /// The offending component, escaped.
        component: String,
    },
    /// A `:`: drive letters (`C:`) and Windows alternate data streams.
    #[error("the name \"{component}\" contains a colon (:), which is not allowed")]
    Colon {
        /// The offending component, escaped.
        component: String,
    },
    /// NUL, another C0 control character, DEL or a C1 control character.
    #[error("the name \"{component}\" contains a control character")]
    ControlChar {
        /// The offending component, escaped.
        component: String,
    },
    /// A character that is invisible or changes text direction (such as
    /// U+202E, which can make `exe.pdf` look like `fdp.exe`).
    #[error("the name \"{component}\" contains an invisible or text-direction character")]
    InvisibleChar {
        /// The offending component, escaped.
        component: String,
    },
    /// One of `< > " | ? *`, which Windows refuses (or a `/` in the name
    /// given to [`SafePath::with_file_name`]).
    #[error("the name \"{component}\" contains '{ch}', which is not allowed in file names")]
    ForbiddenChar {
        /// The offending component, escaped.
        component: String,
        /// The refused character.
        ch: char,
    },
    /// A component longer than [`MAX_COMPONENT_BYTES`].
    #[error("the name \"{component}\" is too long ({len} bytes; at most {MAX_COMPONENT_BYTES})")]
    ComponentTooLong {
        /// The offending component, escaped and shortened.
        component: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A component ending in `.` or a space, which Windows would strip.
    #[error("the name \"{component}\" ends with a dot or a space, which is not allowed")]
    TrailingDotOrSpace {
        /// The offending component, escaped.
        component: String,
    },
    /// A Windows device name such as `CON`, `aux.txt` or `COM1`.
    #[error("the name \"{component}\" is reserved by Windows and cannot be used")]
    ReservedName {
        /// The offending component, escaped.
        component: String,
    },
}

/// A relative path received from a peer that passed every rule of this module.
///
/// Shown and serialized with `/` between components, whatever the platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafePath {
    /// The path as received (components joined by `/`).
    text: String,
    /// Its components; never empty.
    components: Vec<String>,
}

impl SafePath {
    /// Checks a path received from a peer.
    ///
    /// # Errors
    /// The first rule the path breaks, as a [`PathError`].
    pub fn parse(path: &str) -> Result<Self, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong { len: path.len() });
        }
        let shown = || display_escaped(path, MAX_SHOWN_CHARS);
        if path.starts_with('/') {
            return Err(PathError::Absolute { path: shown() });
        }
        let depth = path.split('/').count();
        if depth > MAX_DEPTH {
            return Err(PathError::TooDeep { depth });
        }
        for component in path.split('/') {
            match component {
                "" => return Err(PathError::EmptyComponent { path: shown() }),
                "." => return Err(PathError::CurrentDir { path: shown() }),
                ".." => return Err(PathError::ParentDir { path: shown() }),
                _ => check_component(component)?,
            }
        }
        Ok(Self {
            text: path.to_owned(),
            components: path.split('/').map(str::to_owned).collect(),
        })
    }

    /// The components, outermost folder first, file name last.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The path for this platform, relative, to be joined onto the download
    /// folder. Pure: nothing on disk is looked at.
    pub fn to_rel_path(&self) -> PathBuf {
        self.components.iter().collect()
    }

    /// The path with `/` between components, as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.components.last().map_or("", String::as_str)
    }

    /// The folder holding this path, or `None` for a single component.
    pub fn parent(&self) -> Option<SafePath> {
        let (_, folders) = self.components.split_last()?;
        if folders.is_empty() {
            return None;
        }
        Some(Self {
            text: folders.join("/"),
            components: folders.to_vec(),
        })
    }

    /// The same folder with another last component, such as one made by
    /// [`numbered_name`].
    ///
    /// # Errors
    /// A [`PathError`] if `file_name` is not a valid single component.
    pub fn with_file_name(&self, file_name: &str) -> Result<SafePath, PathError> {
        if file_name.contains('/') {
            return Err(PathError::ForbiddenChar {
                component: display_escaped(file_name, MAX_SHOWN_CHARS),
                ch: '/',
            });
        }
        match self.parent() {
            Some(parent) => Self::parse(&format!("{}/{file_name}", parent.text)),
            None => Self::parse(file_name),
        }
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for SafePath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SafePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SafePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks one component that is not empty, `.` or `..`.
fn check_component(component: &str) -> Result<(), PathError> {
    let shown = || display_escaped(component, MAX_SHOWN_CHARS);
    // One class at a time, so `C:\\x` is reported for its backslash whatever
    // the order of its characters.
    if component.contains('\\') {
        return Err(PathError::Backslash { component: shown() });
    }
    if component.chars().any(is_control) {
        return Err(PathError::ControlChar { component: shown() });
    }
    if component.chars().any(is_invisible) {
        return Err(PathError::InvisibleChar { component: shown() });
    }
    if component.contains(':') {
        return Err(PathError::Colon { component: shown() });
    }
    if let Some(ch) = component.chars().find(|c| WINDOWS_FORBIDDEN.contains(c)) {
        return Err(PathError::ForbiddenChar {
            component: shown(),
            ch,
        });
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(PathError::ComponentTooLong {
            component: shown(),
            len: component.len(),
        });
    }
    if component.ends_with(['.', ' ']) {
        return Err(PathError::TrailingDotOrSpace { component: shown() });
    }
    if is_reserved(component) {
        return Err(PathError::ReservedName { component: shown() });
    }
    Ok(())
}

/// NUL and the other C0 controls, DEL, and the C1 controls U+0080–U+009F.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// Bidi controls and invisible formatting characters that can disguise a
/// name: U+061C, U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069,
/// U+FEFF, U+FFF9–U+FFFB, plus the soft hyphen U+00AD, U+180E and the line
/// and paragraph separators U+2028/U+2029.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Whether Windows treats the component as a device: the part before the
/// first dot, without trailing spaces, is a device name in any case.
fn is_reserved(component: &str) -> bool {
    let base = component.split('.').next().unwrap_or(component);
    let base = base.trim_end_matches(' ');
    RESERVED_NAMES
        .iter()
        .any(|name| name.eq_ignore_ascii_case(base))
}

/// Makes peer-provided text (a file name, a peer's display name) safe to
/// show on a terminal or in a GUI.
///
/// Control characters (including ESC, so ANSI sequences do nothing), bidi
/// controls and invisible characters become visible escapes such as
/// `\u{202e}`. The result has at most `max_chars` characters; if the text
/// had to be cut, the last one is `…`. An escape is never cut in half.
pub fn display_escaped(s: &str, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    // Byte length of `out` at the last point where `…` would still fit.
    let mut cut = 0;
    for c in s.chars() {
        let escaped = is_control(c) || is_invisible(c);
        let width = if escaped {
            c.escape_unicode().count()
        } else {
            1
        };
        if used + width > max_chars {
            out.truncate(cut);
            out.push('…');
            return out;
        }
        if escaped {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
        used += width;
        if used < max_chars {
            cut = out.len();
        }
    }
    out
}

/// The `n`-th name to try instead of overwriting `file_name`.
///
/// `report.pdf` gives `report (1).pdf`, `archive.tar.gz` gives
/// `archive (1).tar.gz`, `.bashrc` gives `.bashrc (1)` and `noext` gives
/// `noext (1)`; `n == 0` gives `file_name` unchanged. The stem is shortened
/// on a character boundary so the result stays within
/// [`MAX_COMPONENT_BYTES`]; a result made from a name that [`SafePath`]
/// accepts is accepted too.
pub fn numbered_name(file_name: &str, n: u32) -> String {
    if n == 0 {
        return file_name.to_owned();
    }
    let suffix = format!(" ({n})");
    let (stem, ext) = split_extension(file_name);
    let fits = |stem: &str, ext: &str| {
        let budget = MAX_COMPONENT_BYTES.saturating_sub(suffix.len() + ext.len());
        let stem = truncate_to(stem, budget);
        (!stem.is_empty()).then(|| format!("{stem}{suffix}{ext}"))
    };
    // An extension too long to keep is treated as part of the stem.
    fits(stem, ext)
        .or_else(|| fits(file_name, ""))
        .unwrap_or_else(|| suffix.trim_start().to_owned())
}

/// Splits `name` into stem and extension (with its dot). Leading dots belong
/// to the stem (`.bashrc` has no extension); `.tar.*` counts as one extension.
fn split_extension(name: &str) -> (&str, &str) {
    let leading = name.len() - name.trim_start_matches('.').len();
    let Some(dot) = name[leading..].rfind('.').map(|i| i + leading) else {
        return (name, "");
    };
    let (stem, ext) = name.split_at(dot);
    let inner = &stem[leading..];
    let tar = inner
        .len()
        .checked_sub(4)
        .filter(|&i| i > 0 && inner.is_char_boundary(i) && inner[i..].eq_ignore_ascii_case(".tar"));
    if let Some(tar) = tar {
        return name.split_at(leading + tar);
    }
    (stem, ext)
}

/// The longest prefix of `s` of at most `max_bytes` bytes, cut on a char boundary.
fn truncate_to(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
