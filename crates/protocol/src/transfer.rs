//! Messages between two peers for one transfer.
//!
//! Two libp2p protocols carry them:
//! - [`CONTROL_PROTOCOL`], request-response: [`Request`] / [`Response`]. A
//!   receiver that holds a share code or ticket *knocks* first; then the
//!   sender offers ([`Request::Offer`]) and the receiver's person decides
//!   ([`Response::Decision`]).
//! - [`DATA_PROTOCOL`], one stream per accepted transfer: a [`DataHeader`]
//!   frame, then the raw bytes of every file that needs data, in offer order,
//!   each from its resume offset to its end; the sender closes its half, and
//!   the receiver answers with one [`DataResult`] frame after verifying.
//!
//! Frames on the data stream are a 4-byte big-endian length and JSON
//! ([`encode_frame`]; [`frame_len`] and [`decode_frame_body`] to read one).
//!
//! An offer of a stream (`Offer::stream`, size unknown in advance) has
//! chunks instead of raw bytes after the header: each a 4-byte big-endian
//! length of 1 to [`MAX_CHUNK`] and that many bytes ([`chunk_len`]); a
//! length of 0 ends the data and one [`StreamEnd`] frame follows, with the
//! size and hash the receiver checks before it places the file.

use serde::{Deserialize, Serialize};

use crate::offer::{Hash, Offer};

/// The request-response protocol for knocks, offers and decisions.
pub const CONTROL_PROTOCOL: &str = "/p2p-share/control/2";

/// The stream protocol for file bytes.
pub const DATA_PROTOCOL: &str = "/p2p-share/data/1";

/// Largest frame on the data stream (header or result), in bytes.
pub const MAX_FRAME: usize = 64 * 1024;

/// Largest chunk of a stream's bytes, in bytes.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// Longest reason text a peer may send, in characters; longer ones are cut.
pub const MAX_REASON_CHARS: usize = 500;

/// A request from one peer to the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Request {
    /// A receiver proves it holds the ticket or the share code.
    Knock(Knock),
    /// The receiver's key confirmation after a PAKE knock, sent before the
    /// sender's: a PAKE left unconfirmed tells the receiver nothing about
    /// its guess, so a sender may time it out and let it be run again.
    Confirm {
        /// The share's nameplate, as in the knock.
        nameplate: u32,
        /// MAC over the PAKE transcript with the receiver's role label.
        mac: Vec<u8>,
    },
    /// The files the sender wants to send.
    Offer(Offer),
    /// The sender or the receiver gives up on a transfer.
    Cancel {
        /// The transfer.
        transfer_id: String,
        /// Why, for the other person.
        reason: String,
    },
    /// One page of a published folder.
    List(crate::browse::ListRequest),
    /// Files of a published folder: the owner offers them back.
    Fetch(crate::browse::FetchRequest),
}

/// How a receiver authenticates to a waiting sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Knock {
    /// The secret from a ticket.
    Ticket {
        /// The ticket's secret bytes.
        secret: Vec<u8>,
    },
    /// The receiver's SPAKE2 message for the share code.
    Pake {
        /// The code's nameplate: names the share (a sender may have several
        /// open), and only the peer the signal server paired with it may knock.
        nameplate: u32,
        /// The SPAKE2 message.
        msg: Vec<u8>,
    },
}

/// An answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Response {
    /// The knock is accepted (for a PAKE knock: the sender's message; its
    /// key confirmation follows the receiver's, in [`Response::Confirmed`]).
    Knocked {
        /// The sender's SPAKE2 message, for a PAKE knock.
        pake: Option<Vec<u8>>,
    },
    /// The receiver's confirmation matched; the sender's own follows.
    Confirmed {
        /// MAC over the transcript with the sender's role label.
        mac: Vec<u8>,
    },
    /// A person's (or `--yes`'s) answer to an offer.
    Decision(Decision),
    /// A cancel was noted.
    Cancelled,
    /// A page of a published folder.
    Listing(crate::browse::Listing),
    /// A fetch is admitted: its offer follows.
    Fetching,
    /// The request was refused.
    Refused {
        /// Why.
        reason: Refusal,
        /// A sentence for the person.
        message: String,
    },
}

/// Machine-readable reasons for refusing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The ticket secret or the share code did not match.
    WrongSecret,
    /// The peer is not expected (no knock, not waiting for offers).
    NotExpected,
    /// The offer broke the protocol's rules.
    InvalidOffer,
    /// Too many offers or knocks at once.
    Busy,
    /// Not yet: the sender has not heard of the pairing from the signal
    /// server, or another PAKE for the share is running. Try again shortly.
    NotYet,
    /// Nothing is published, or not to this peer (`share --allow`).
    NotAllowed,
    /// A path asked for does not exist in the published folder, or is not
    /// a file or folder that may be shared (a symlink, a special file).
    NotFound,
    /// Too many requests: wait a moment.
    RateLimited,
}

/// The receiver's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Decision {
    /// Send the files; for files in `resume`, start at the given offset.
    Accept {
        /// Files the receiver already has a prefix of.
        resume: Vec<ResumePoint>,
    },
    /// Do not send.
    Decline {
        /// Why.
        reason: DeclineReason,
    },
}

/// Why an offer was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeclineReason {
    /// The person said no.
    Declined,
    /// Nobody answered in time.
    Expired,
    /// The download folder's disk has too little free space.
    NoSpace,
    /// The receiver is shutting down.
    ShuttingDown,
}

impl DeclineReason {
    /// A sentence for the sender.
    pub fn describe(self) -> &'static str {
        match self {
            DeclineReason::Declined => "the receiver declined the files",
            DeclineReason::Expired => "the receiver did not answer in time",
            DeclineReason::NoSpace => "the receiver's disk does not have enough free space",
            DeclineReason::ShuttingDown => "the receiver is shutting down",
        }
    }
}

/// Where a receiver resumes one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Index of the file in the offer.
    pub file: u32,
    /// Bytes the receiver already has.
    pub offset: u64,
    /// BLAKE3 of those bytes; the sender resumes only if its own prefix matches.
    pub prefix_hash: Hash,
}

/// First frame on a data stream: which accepted transfer the bytes are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataHeader {
    /// The transfer.
    pub transfer_id: String,
    /// Per file in the offer, the offset the sender starts at (the resume
    /// offset it agreed to, or 0).
    pub starts: Vec<u64>,
}

/// After the last chunk of a stream: what the sender read, for the
/// receiver to check against what arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// Every byte of the stream.
    pub bytes: u64,
    /// BLAKE3 of those bytes.
    pub hash: Hash,
}

/// Last frame on a data stream, from the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DataResult {
    /// Every file arrived and matched its hash.
    Complete,
    /// The transfer failed.
    Failed {
        /// Index of the file concerned, if one.
        file: Option<u32>,
        /// A sentence for the sender.
        reason: String,
    },
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The announced length is over [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME} bytes")]
    TooLarge(usize),
    /// The frame is not the expected JSON.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A stream's chunk length is over [`MAX_CHUNK`].
    #[error("chunk of {0} bytes is over the limit of {MAX_CHUNK} bytes")]
    ChunkTooLarge(usize),
}

/// Encodes a frame: 4-byte big-endian length, then JSON.
pub fn encode_frame<T: Serialize>(value: &T) -> Vec<u8> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Parses the 4-byte length prefix of a frame, checking it against [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        Err(FrameError::TooLarge(len))
    } else {
        Ok(len)
    }
}

/// The 4-byte big-endian prefix of a stream chunk of `len` bytes (0 ends
/// the data).
///
/// # Errors
/// [`FrameError::ChunkTooLarge`] if `len` is over [`MAX_CHUNK`].
pub fn chunk_prefix(len: usize) -> Result<[u8; 4], FrameError> {
    if len > MAX_CHUNK {
        return Err(FrameError::ChunkTooLarge(len));
    }
    Ok(u32::try_from(len)
        .map_err(|_| FrameError::ChunkTooLarge(len))?
        .to_be_bytes())
}

/// Parses a stream chunk's prefix: the chunk's length, 0 for the end of
/// the data.
///
/// # Errors
/// [`FrameError::ChunkTooLarge`] if the length is over [`MAX_CHUNK`].
pub fn chunk_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_CHUNK {
        Err(FrameError::ChunkTooLarge(len))
    } else {
        Ok(len)
    }
}

/// Decodes a frame's body (without its length prefix).
pub fn decode_frame_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    serde_json::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Cuts a peer-provided reason to [`MAX_REASON_CHARS`] and escapes anything
/// that could fool a terminal.
pub fn sanitize_reason(reason: &str) -> String {
    crate::path::display_escaped(reason, MAX_REASON_CHARS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip() {
        let header = DataHeader {
            transfer_id: "ab".repeat(16),
            starts: vec![0, 5],
        };
        let bytes = encode_frame(&header);
        let len = frame_len(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, bytes.len() - 4);
        let back: DataHeader = decode_frame_body(&bytes[4..]).unwrap();
        assert_eq!(back, header);
        let result = DataResult::Failed {
            file: Some(1),
            reason: "hash mismatch".into(),
        };
        let bytes = encode_frame(&result);
        assert_eq!(
            decode_frame_body::<DataResult>(&bytes[4..]).unwrap(),
            result
        );
    }

    #[test]
    fn hostile_frames_are_errors() {
        assert_eq!(
            frame_len([0xff; 4]),
            Err(FrameError::TooLarge(u32::MAX as usize))
        );
        assert!(matches!(
            decode_frame_body::<DataHeader>(b"{"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            decode_frame_body::<DataResult>(b"\"Nope\""),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn stream_chunks_are_bounded() {
        for len in [0, 1, 4096, MAX_CHUNK] {
            assert_eq!(chunk_len(chunk_prefix(len).unwrap()), Ok(len));
        }
        assert_eq!(
            chunk_prefix(MAX_CHUNK + 1),
            Err(FrameError::ChunkTooLarge(MAX_CHUNK + 1))
        );
        assert_eq!(
            chunk_len([0xff; 4]),
            Err(FrameError::ChunkTooLarge(u32::MAX as usize))
        );
        let end = StreamEnd {
            bytes: 7,
            hash: Hash([3; 32]),
        };
        let bytes = encode_frame(&end);
        assert_eq!(decode_frame_body::<StreamEnd>(&bytes[4..]).unwrap(), end);
    }

    #[test]
    fn reasons_are_bounded_and_escaped() {
        let r = sanitize_reason(&format!("\u{1b}[31mred{}", "x".repeat(1000)));
        assert!(!r.contains('\u{1b}'));
        assert!(r.chars().count() <= MAX_REASON_CHARS);
    }
}
