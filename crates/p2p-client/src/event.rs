//! What the engine tells its views (the CLI, the desktop app).
//!
//! Every event serializes to one JSON object with an `event` field: that is
//! what `--json` prints, one per line.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use libp2p::{Multiaddr, PeerId};
use serde::{Serialize, Serializer};

use crate::network::PathInfo;

/// Serializes a peer ID or an address as its text form.
fn as_text<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serializes a path as text (lossy where it is not Unicode).
fn path_text<P: AsRef<Path>, S: Serializer>(path: &P, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&path.as_ref().display())
}

/// Where a peer was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerSource {
    /// mDNS on the local network.
    Lan,
    /// The signal server's room.
    Server,
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We send.
    Send,
    /// We receive.
    Receive,
}

/// The end of a successful transfer, for the summary line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Files in the transfer.
    pub files: usize,
    /// Bytes of all files.
    pub bytes: u64,
    /// Bytes that actually crossed the network (less when resumed).
    pub transferred: u64,
    /// Seconds from the first byte to verification.
    pub seconds: f64,
    /// Path used.
    pub path: PathInfo,
    /// Where the files landed (receiver only): top-level names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saved: Vec<String>,
    /// A text was sent rather than files.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub text: bool,
}

impl Summary {
    /// Megabytes (10^6 bytes) per second over the network.
    pub fn mb_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.transferred as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// Something the views should show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The node listens on an address.
    Listening {
        /// The multiaddr.
        #[serde(serialize_with = "as_text")]
        addr: Multiaddr,
    },
    /// An address could not be listened on; the node goes on with the
    /// others (e.g. QUIC where UDP is blocked).
    ListenFailed {
        /// The multiaddr.
        #[serde(serialize_with = "as_text")]
        addr: Multiaddr,
        /// Why, with every cause.
        reason: String,
    },
    /// A peer became visible.
    PeerFound {
        /// Peer ID.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// Display name, if known.
        name: Option<String>,
        /// Where it was seen.
        source: PeerSource,
        /// Its system (`linux`, `windows`, `macos`, …), if it told us.
        #[serde(skip_serializing_if = "Option::is_none")]
        os: Option<String>,
        /// It publishes a folder to browse (`share DIR`), as far as this
        /// source knows.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        publishes: bool,
    },
    /// A peer is no longer visible.
    PeerLost {
        /// Peer ID.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// Where it was seen.
        source: PeerSource,
    },
    /// The signal-server connection came up or went down.
    ServerStatus {
        /// The server's URL.
        url: String,
        /// Whether it is connected now.
        connected: bool,
        /// What happened (and, when down, when it retries).
        message: String,
    },
    /// Files are being hashed before the offer.
    Hashing {
        /// Bytes hashed so far.
        done: u64,
    },
    /// A share is ready: give the code or the ticket to the receiver.
    ShareReady {
        /// The share code (when a signal server is used).
        code: Option<String>,
        /// The ticket (works without a server).
        ticket: String,
    },
    /// A peer offers files; answer with `Engine::decide`.
    OfferReceived {
        /// The transfer.
        transfer_id: String,
        /// The sender.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// Number of files.
        files: usize,
        /// Number of folders.
        folders: usize,
        /// Total size in bytes.
        bytes: u64,
        /// The first few names, escaped for display.
        names: Vec<String>,
        /// Characters of the text, when a text is offered instead of files.
        #[serde(skip_serializing_if = "Option::is_none")]
        text_chars: Option<usize>,
        /// One stream whose size is known only at its end (`send -`):
        /// `files` is 1, `bytes` 0, `names` its name.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unknown_size: bool,
        /// What we fetched from the peer's published folder: accepted
        /// already, nobody is asked.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        fetched: bool,
    },
    /// An accepted text arrived (shown, not saved): the receiver's end of a
    /// text transfer.
    TextReceived {
        /// The transfer.
        transfer_id: String,
        /// The sender.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// The text, made safe to show (`protocol::offer::display_text`).
        text: String,
    },
    /// An offer went out; the other side's person decides now.
    OfferSent {
        /// The transfer.
        transfer_id: String,
        /// The receiver.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// Number of files.
        files: usize,
        /// Total size in bytes.
        bytes: u64,
        /// A text is offered rather than files.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        text: bool,
        /// One stream whose size is known only at its end (`send -`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unknown_size: bool,
    },
    /// Bytes start to flow.
    TransferStarted {
        /// The transfer.
        transfer_id: String,
        /// The other peer.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// Our side.
        direction: Direction,
        /// Number of files.
        files: usize,
        /// Total size in bytes.
        bytes: u64,
        /// Bytes skipped because the other side already had them.
        resumed: u64,
        /// The connection's path.
        path: PathInfo,
        /// One stream whose size is known only at its end (`send -`):
        /// `bytes` is 0, and so is the `total` of its progress.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unknown_size: bool,
    },
    /// Progress of a running transfer (at most a few per second).
    Progress {
        /// The transfer.
        transfer_id: String,
        /// Bytes done, resumed ones included.
        done: u64,
        /// Total bytes.
        total: u64,
        /// The file being moved now.
        file: String,
        /// Bytes of that file done.
        file_done: u64,
        /// Size of that file.
        file_size: u64,
    },
    /// One file arrived and was verified (receiver) or was sent (sender).
    FileDone {
        /// The transfer.
        transfer_id: String,
        /// Its relative path (receiver: where it landed).
        #[serde(serialize_with = "path_text")]
        file: PathBuf,
    },
    /// The transfer finished; every file verified.
    TransferDone {
        /// The transfer.
        transfer_id: String,
        /// Figures for the summary line.
        summary: Summary,
    },
    /// The transfer failed; partial data is kept for a resume.
    TransferFailed {
        /// The transfer.
        transfer_id: String,
        /// The other peer.
        #[serde(serialize_with = "as_text")]
        peer: PeerId,
        /// What happened and what to do.
        error: String,
    },
    /// The receiver declined, or the offer expired.
    Declined {
        /// The transfer.
        transfer_id: String,
        /// Why.
        reason: String,
    },
}

/// `n` things in words: "1 file", "3 files" (`noun` takes an "s").
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
