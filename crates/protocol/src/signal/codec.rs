//! Frames to messages and back: decoding enforces the frame limits and never
//! panics; any input becomes a message or a [`DecodeError`].

use serde::{Deserialize, Serialize};

use super::{ClientMsg, ErrorCode, MAX_CLIENT_FRAME, MAX_SERVER_FRAME, ServerMsg};

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is over the size limit.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the frame.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The frame is not valid JSON or not a known message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// The error code the server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::Malformed(_) => ErrorCode::BadMessage,
        }
    }
}

/// Decodes a client frame, enforcing [`MAX_CLIENT_FRAME`].
pub fn decode_client(frame: &str) -> Result<ClientMsg, DecodeError> {
    decode(frame, MAX_CLIENT_FRAME)
}

/// The `version` a `register` frame claims, read even when the rest of the
/// frame does not decode (a client of another version may send other fields).
pub fn claimed_version(frame: &str) -> Option<u64> {
    if frame.len() > MAX_CLIENT_FRAME {
        return None;
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: String,
        version: u64,
    }
    let probe: Probe = serde_json::from_str(frame).ok()?;
    (probe.kind == "register").then_some(probe.version)
}

/// Decodes a server frame, enforcing [`MAX_SERVER_FRAME`].
pub fn decode_server(frame: &str) -> Result<ServerMsg, DecodeError> {
    decode(frame, MAX_SERVER_FRAME)
}

fn decode<T: serde::de::DeserializeOwned>(frame: &str, limit: usize) -> Result<T, DecodeError> {
    if frame.len() > limit {
        return Err(DecodeError::TooLarge {
            size: frame.len(),
            limit,
        });
    }
    serde_json::from_str(frame).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Encodes a client message as one JSON frame.
pub fn encode_client(msg: &ClientMsg) -> String {
    encode(msg)
}

/// Encodes a server message as one JSON frame.
pub fn encode_server(msg: &ServerMsg) -> String {
    encode(msg)
}

fn encode<T: Serialize>(msg: &T) -> String {
    // Serializing these types cannot fail: every map key is a string and no
    // field has a fallible Serialize impl. Fall back to an empty object anyway.
    serde_json::to_string(msg).unwrap_or_else(|_| String::from("{}"))
}
