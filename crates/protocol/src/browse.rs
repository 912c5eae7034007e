//! Browsing a peer's published folder (`p2p-client share DIR`): listing
//! it a page at a time, and asking for files and folders, which the owner
//! then offers back as an ordinary transfer whose transfer ID is the
//! request's `fetch_id`, so the requester takes it without asking again.
//!
//! Both go over the control protocol ([`crate::transfer::Request::List`],
//! [`crate::transfer::Request::Fetch`]). Paths are relative to the
//! published folder, `/`-separated, checked by [`SafePath`]; `""` is the
//! folder itself. A request to an owner that publishes with `--allow
//! ticket` carries the ticket's secret.
//!
//! A listing is sorted by name (byte order) and comes in pages of at most
//! [`MAX_PAGE`] entries: the next page starts after the last name of the
//! one before (`after`), so neither side ever holds a whole large folder.

use serde::{Deserialize, Serialize};

use crate::path::{PathError, SafePath};

/// Most entries in one page of a listing.
pub const MAX_PAGE: u32 = 1000;

/// Most paths in one fetch.
pub const MAX_FETCH_PATHS: usize = 1000;

/// A request for one page of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// The folder, relative to the published one (`""`: the published one).
    pub path: String,
    /// The page starts after this name (the last of the page before).
    pub after: Option<String>,
    /// Entries wanted, 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// The ticket's secret, for an owner that admits ticket holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Vec<u8>>,
}

/// One page of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Entries, sorted by name, each after the request's `after`.
    pub entries: Vec<Entry>,
    /// Whether more entries follow this page.
    pub more: bool,
}

/// A file or folder in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its name: one path component.
    pub name: String,
    /// File or folder.
    pub kind: EntryKind,
    /// Bytes, for a file; 0 for a folder.
    pub size: u64,
    /// Last change, in seconds since 1970 (UTC), when the system says.
    pub modified: Option<u64>,
}

/// What an [`Entry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
}

/// A request for files and folders of the published folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Random, 32 hex digits: the transfer ID of the owner's offer.
    pub fetch_id: String,
    /// What to fetch, relative to the published folder; each arrives under
    /// its last component, as if sent.
    pub paths: Vec<String>,
    /// The ticket's secret, for an owner that admits ticket holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Vec<u8>>,
}

/// Why a browse message breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrowseError {
    /// A path or name is not safe.
    #[error("unsafe path: {0}")]
    UnsafePath(#[from] PathError),
    /// A page limit of 0 or over [`MAX_PAGE`].
    #[error("a page holds 1 to {MAX_PAGE} entries")]
    BadLimit,
    /// More entries than asked for or allowed, or out of order.
    #[error("the listing is out of order or longer than asked for")]
    BadListing,
    /// No paths, or more than [`MAX_FETCH_PATHS`].
    #[error("a fetch names 1 to {MAX_FETCH_PATHS} paths")]
    BadPaths,
    /// The fetch ID is not 32 hex digits.
    #[error("fetch id must be 32 hex digits")]
    BadFetchId,
}

/// `path` as a safe relative path; `None` for the published folder itself.
///
/// # Errors
/// [`BrowseError::UnsafePath`].
pub fn parse_path(path: &str) -> Result<Option<SafePath>, BrowseError> {
    if path.is_empty() {
        return Ok(None);
    }
    Ok(Some(SafePath::parse(path)?))
}

/// Whether `name` is one safe path component.
fn is_name(name: &str) -> bool {
    SafePath::parse(name).is_ok_and(|p| p.components().len() == 1)
}

impl ListRequest {
    /// Checks the path, the cursor and the limit.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), BrowseError> {
        parse_path(&self.path)?;
        if let Some(after) = &self.after
            && !is_name(after)
        {
            return Err(BrowseError::UnsafePath(PathError::Empty));
        }
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(BrowseError::BadLimit);
        }
        Ok(())
    }
}

impl Listing {
    /// Checks an owner's answer to `request`: at most its limit, every
    /// name safe, sorted, after its cursor.
    ///
    /// # Errors
    /// [`BrowseError::BadListing`] or [`BrowseError::UnsafePath`].
    pub fn validate_for(&self, request: &ListRequest) -> Result<(), BrowseError> {
        if self.entries.len() > request.limit.min(MAX_PAGE) as usize {
            return Err(BrowseError::BadListing);
        }
        let mut last = request.after.as_deref();
        for entry in &self.entries {
            SafePath::parse(&entry.name)?;
            if !is_name(&entry.name) {
                return Err(BrowseError::BadListing);
            }
            if last.is_some_and(|last| entry.name.as_str() <= last) {
                return Err(BrowseError::BadListing);
            }
            last = Some(&entry.name);
        }
        Ok(())
    }
}

impl FetchRequest {
    /// Checks the ID and every path (the published folder itself cannot
    /// be fetched as a whole: name what is in it).
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), BrowseError> {
        if self.fetch_id.len() != 32 || !self.fetch_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BrowseError::BadFetchId);
        }
        if self.paths.is_empty() || self.paths.len() > MAX_FETCH_PATHS {
            return Err(BrowseError::BadPaths);
        }
        for path in &self.paths {
            SafePath::parse(path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn list(path: &str, after: Option<&str>, limit: u32) -> ListRequest {
        ListRequest {
            path: path.into(),
            after: after.map(Into::into),
            limit,
            secret: None,
        }
    }

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size: 1,
            modified: Some(0),
        }
    }

    #[test]
    fn list_requests_are_checked() {
        assert_eq!(list("", None, 10).validate(), Ok(()));
        assert_eq!(
            list("photos/2024", Some("b.jpg"), MAX_PAGE).validate(),
            Ok(())
        );
        for bad in ["../x", "/etc", "a/../b", "a\\b", "C:x"] {
            assert!(list(bad, None, 10).validate().is_err(), "{bad}");
        }
        assert!(list("", Some("a/b"), 10).validate().is_err());
        assert_eq!(list("", None, 0).validate(), Err(BrowseError::BadLimit));
        assert_eq!(
            list("", None, MAX_PAGE + 1).validate(),
            Err(BrowseError::BadLimit)
        );
    }

    #[test]
    fn a_listing_must_be_sorted_bounded_and_after_its_cursor() {
        let request = list("", Some("b"), 3);
        let page = |names: &[&str]| Listing {
            entries: names.iter().map(|n| entry(n)).collect(),
            more: false,
        };
        assert_eq!(page(&["c", "d", "e"]).validate_for(&request), Ok(()));
        assert_eq!(
            page(&["c", "d", "e", "f"]).validate_for(&request),
            Err(BrowseError::BadListing)
        );
        assert_eq!(
            page(&["d", "c"]).validate_for(&request),
            Err(BrowseError::BadListing)
        );
        assert_eq!(
            page(&["a"]).validate_for(&request),
            Err(BrowseError::BadListing)
        );
        assert!(page(&["../x"]).validate_for(&request).is_err());
        assert!(page(&["x/y"]).validate_for(&request).is_err());
    }

    #[test]
    fn fetch_requests_are_checked() {
        let fetch = |paths: &[&str]| FetchRequest {
            fetch_id: "ab".repeat(16),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            secret: Some(vec![1; 16]),
        };
        assert_eq!(fetch(&["a.txt", "photos/2024"]).validate(), Ok(()));
        assert_eq!(fetch(&[]).validate(), Err(BrowseError::BadPaths));
        assert!(fetch(&[""]).validate().is_err());
        assert!(fetch(&["../../etc/passwd"]).validate().is_err());
        let bad_id = FetchRequest {
            fetch_id: "x".into(),
            ..fetch(&["a"])
        };
        assert_eq!(bad_id.validate(), Err(BrowseError::BadFetchId));
        let many = vec!["a"; MAX_FETCH_PATHS + 1];
        assert_eq!(fetch(&many).validate(), Err(BrowseError::BadPaths));
    }
}
