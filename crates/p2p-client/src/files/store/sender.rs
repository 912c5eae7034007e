//! The key that keeps one sending peer's partial data and records apart
//! from another's.

/// Whose files a store holds: partial files and transfer records are
/// keyed by the sending peer as well as by content. Keyed by content alone,
/// a sender that knows a file's path, size and hash could learn from the
/// resume points whether someone else sent it to you, and its files would
/// land in the other transfer's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sender(pub(super) String);

impl Sender {
    /// The key of the peer whose ID is `peer` (its bytes): 64 bits of a
    /// keyed hash, enough to keep peers apart in one download folder.
    pub(super) fn new(peer: &[u8]) -> Sender {
        let hash = blake3::derive_key("p2p-share store sender v1", peer);
        Sender(data_encoding::HEXLOWER.encode(&hash[..8]))
    }
}
