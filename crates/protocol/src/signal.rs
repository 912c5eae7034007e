//! Messages between a client and the signal server.
//!
//! Every frame is one JSON object with a `type` field (see `docs/signal-protocol.md`).
//! The server speaks first with [`ServerMsg::Challenge`]; the client answers with
//! [`ClientMsg::Register`], proving that it owns its peer ID by signing
//! [`registration_payload`] with its libp2p identity key.
//!
//! Decoding never panics: any input becomes a message or a [`DecodeError`] that
//! maps to an [`ErrorCode`] the server sends back.

use serde::{Deserialize, Serialize};

/// Version of this protocol. A client with another version is refused with
/// [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame a client may send, in bytes.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// Largest frame the server sends, in bytes: a welcome listing 255 peers with
/// [`MAX_ADDRS`] addresses of [`MAX_ADDR_BYTES`] each (about 2.2 MB) fits.
pub const MAX_SERVER_FRAME: usize = 4 * 1024 * 1024;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Most addresses a peer may announce.
pub const MAX_ADDRS: usize = 16;

/// Longest single address string, in bytes.
pub const MAX_ADDR_BYTES: usize = 512;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;

/// Longest room secret, in bytes.
pub const MAX_ROOM_SECRET_BYTES: usize = 256;

/// Length of the challenge nonce, in bytes (sent base64-encoded).
pub const NONCE_BYTES: usize = 32;

/// Domain separation prefix of the signed registration payload.
const REGISTER_DOMAIN: &[u8] = b"p2p-share signal register v1\n";

/// The bytes a client signs to prove it owns its peer ID: a fixed domain prefix
/// followed by the server's nonce exactly as sent (its base64 text).
///
/// The nonce is fresh for every connection, so a proof cannot be replayed on
/// another connection.
pub fn registration_payload(nonce: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(REGISTER_DOMAIN.len() + nonce.len());
    payload.extend_from_slice(REGISTER_DOMAIN);
    payload.extend_from_slice(nonce.as_bytes());
    payload
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMsg {
    /// Answer to the challenge: who I am, the proof, and where I want to be.
    Register(Register),
    /// Change my display name and/or announced addresses (e.g. after a relay
    /// reservation gave me a circuit address).
    Update {
        /// New display name, if it changes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New full list of addresses, if it changes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        addrs: Option<Vec<String>>,
    },
    /// Move to another room.
    Join {
        /// The room to move to.
        room: RoomRequest,
    },
    /// Open a one-time share-code rendezvous under this nameplate.
    CodeOpen {
        /// The public number of the share code.
        nameplate: u32,
    },
    /// Meet the peer that opened this nameplate.
    CodeClaim {
        /// The public number of the share code.
        nameplate: u32,
    },
    /// Find a registered peer by its ID, whatever its room.
    Lookup {
        /// The peer ID to look for.
        peer_id: String,
    },
}

/// Registration: identity, ownership proof, presence and room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The libp2p peer ID (base58) the client claims.
    pub peer_id: String,
    /// The libp2p public key, protobuf-encoded, then base64 (standard, padded).
    pub public_key: String,
    /// Signature over [`registration_payload`] of the challenge nonce, base64.
    pub signature: String,
    /// Display name shown to other peers.
    pub name: String,
    /// Multiaddrs where the client can be reached.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The room to join.
    #[serde(default)]
    pub room: RoomRequest,
}

/// Which room a client wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomRequest {
    /// The room of everyone behind the same public IP address (same home or office).
    #[default]
    Auto,
    /// A named room; the first peer in it sets the secret, later peers must match it.
    Named {
        /// The room's name.
        name: String,
        /// The room's secret.
        secret: String,
    },
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMsg {
    /// First frame on every connection: sign this nonce to register.
    Challenge {
        /// The server's [`PROTOCOL_VERSION`].
        version: u32,
        /// [`NONCE_BYTES`] random bytes, base64.
        nonce: String,
    },
    /// Registration accepted.
    Welcome {
        /// The peer ID the server now lists for this connection.
        peer_id: String,
        /// The room the client is in.
        room: RoomInfo,
        /// Everyone else in that room.
        peers: Vec<PeerInfo>,
        /// The server's relay, if it runs one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<RelayInfo>,
        /// Limits this server enforces.
        limits: Limits,
    },
    /// The client moved to another room (answer to [`ClientMsg::Join`]).
    RoomChanged {
        /// The new room.
        room: RoomInfo,
        /// Everyone else in it.
        peers: Vec<PeerInfo>,
    },
    /// A peer entered the client's room.
    PeerJoined {
        /// The peer.
        peer: PeerInfo,
    },
    /// A peer in the client's room changed its name or addresses.
    PeerUpdated {
        /// The peer, as it is now.
        peer: PeerInfo,
    },
    /// A peer left the client's room.
    PeerLeft {
        /// The peer that left.
        peer_id: String,
    },
    /// The share-code nameplate is reserved for this client.
    CodeOpened {
        /// The nameplate.
        nameplate: u32,
        /// Seconds until it expires unless claimed.
        expires_in_secs: u64,
    },
    /// The two peers of a share code have met; sent to both.
    CodePaired {
        /// The nameplate, now consumed.
        nameplate: u32,
        /// The other peer.
        peer: PeerInfo,
    },
    /// A nameplate this client opened expired unclaimed.
    CodeExpired {
        /// The nameplate.
        nameplate: u32,
    },
    /// Answer to [`ClientMsg::Lookup`].
    LookupResult {
        /// The peer ID asked for.
        peer_id: String,
        /// The peer, if it is registered now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerInfo>,
    },
    /// Something was refused. Fatal codes are followed by a close frame.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
}

/// A peer as other peers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// libp2p peer ID.
    pub peer_id: String,
    /// Display name.
    pub name: String,
    /// Multiaddrs, relay circuit addresses included.
    pub addrs: Vec<String>,
}

/// A room as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// Whether the room comes from the public IP or a name.
    pub kind: RoomKind,
    /// For a named room its name; for an automatic room a short label.
    pub name: String,
}

/// The kind of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Everyone behind one public IP address.
    Auto,
    /// A room joined by name and secret.
    Named,
}

/// The server's circuit relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// The relay's peer ID.
    pub peer_id: String,
    /// Its multiaddrs, each ending in `/p2p/<peer_id>`.
    pub addrs: Vec<String>,
}

/// Limits the server enforces, so clients can stay within them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest client frame in bytes.
    pub max_frame: usize,
    /// Messages per second a connection may send (sustained).
    pub messages_per_sec: u32,
    /// Seconds of silence after which the server closes a connection.
    pub idle_timeout_secs: u64,
    /// Seconds a share-code nameplate stays open.
    pub code_ttl_secs: u64,
    /// Most peers in one room.
    pub peers_per_room: usize,
}

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a known message.
    BadMessage,
    /// The frame was larger than the limit.
    FrameTooLarge,
    /// The client's protocol version is not supported.
    UnsupportedVersion,
    /// The ownership proof (key, peer ID, signature) did not verify.
    BadProof,
    /// A field was out of bounds (name, address, room name length...).
    InvalidField,
    /// The message needs a registered connection.
    NotRegistered,
    /// `register` was sent twice on one connection.
    AlreadyRegistered,
    /// Another connection registered with this peer ID (it proved the key).
    Replaced,
    /// The named room exists with a different secret.
    WrongSecret,
    /// The room has as many peers as allowed.
    RoomFull,
    /// Too many messages per second.
    RateLimited,
    /// Too many failed guesses (room secrets, share codes) from this address.
    TooManyAttempts,
    /// Too many connections from this address.
    TooManyConnections,
    /// The nameplate is already open.
    CodeInUse,
    /// No open nameplate with this number (never opened, claimed or expired).
    CodeNotFound,
    /// This connection holds as many open nameplates as allowed.
    TooManyCodes,
    /// The client did not register, or went silent, in time.
    Timeout,
    /// The client did not read its messages fast enough.
    SlowConsumer,
    /// The server is shutting down.
    ServerShutdown,
}

impl ErrorCode {
    /// Every code, for metrics and docs.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::BadMessage,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::BadProof,
        ErrorCode::InvalidField,
        ErrorCode::NotRegistered,
        ErrorCode::AlreadyRegistered,
        ErrorCode::Replaced,
        ErrorCode::WrongSecret,
        ErrorCode::RoomFull,
        ErrorCode::RateLimited,
        ErrorCode::TooManyAttempts,
        ErrorCode::TooManyConnections,
        ErrorCode::CodeInUse,
        ErrorCode::CodeNotFound,
        ErrorCode::TooManyCodes,
        ErrorCode::Timeout,
        ErrorCode::SlowConsumer,
        ErrorCode::ServerShutdown,
    ];

    /// The snake_case name used on the wire and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::BadProof => "bad_proof",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::NotRegistered => "not_registered",
            ErrorCode::AlreadyRegistered => "already_registered",
            ErrorCode::Replaced => "replaced",
            ErrorCode::WrongSecret => "wrong_secret",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::CodeInUse => "code_in_use",
            ErrorCode::CodeNotFound => "code_not_found",
            ErrorCode::TooManyCodes => "too_many_codes",
            ErrorCode::Timeout => "timeout",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::ServerShutdown => "server_shutdown",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion
                | ErrorCode::BadProof
                | ErrorCode::Replaced
                | ErrorCode::RateLimited
                | ErrorCode::TooManyConnections
                | ErrorCode::Timeout
                | ErrorCode::SlowConsumer
                | ErrorCode::ServerShutdown
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Why a message's fields are out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The display name is empty or too long.
    #[error("display name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    Name,
    /// Too many addresses, or one too long.
    #[error("at most {MAX_ADDRS} addresses of at most {MAX_ADDR_BYTES} bytes each")]
    Addrs,
    /// The room name is empty, too long or has control characters.
    #[error("room name must be 1 to {MAX_ROOM_NAME_CHARS} characters without control characters")]
    RoomName,
    /// The room secret is empty or too long.
    #[error("room secret must be 1 to {MAX_ROOM_SECRET_BYTES} bytes")]
    RoomSecret,
    /// The nameplate is out of range.
    #[error("nameplate must be between 1 and {}", crate::code::MAX_NAMEPLATE)]
    Nameplate,
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

impl ClientMsg {
    /// Checks every field against the protocol's bounds.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ClientMsg::Register(reg) => {
                validate_name(&reg.name)?;
                validate_addrs(&reg.addrs)?;
                reg.room.validate()
            }
            ClientMsg::Update { name, addrs } => {
                if let Some(name) = name {
                    validate_name(name)?;
                }
                if let Some(addrs) = addrs {
                    validate_addrs(addrs)?;
                }
                Ok(())
            }
            ClientMsg::Join { room } => room.validate(),
            ClientMsg::CodeOpen { nameplate } | ClientMsg::CodeClaim { nameplate } => {
                if (1..=crate::code::MAX_NAMEPLATE).contains(nameplate) {
                    Ok(())
                } else {
                    Err(FieldError::Nameplate)
                }
            }
            ClientMsg::Lookup { .. } => Ok(()),
        }
    }
}

impl RoomRequest {
    /// Checks the room name and secret against the protocol's bounds.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            RoomRequest::Auto => Ok(()),
            RoomRequest::Named { name, secret } => {
                if !bounded_text(name, MAX_ROOM_NAME_CHARS) {
                    return Err(FieldError::RoomName);
                }
                if secret.is_empty() || secret.len() > MAX_ROOM_SECRET_BYTES {
                    return Err(FieldError::RoomSecret);
                }
                Ok(())
            }
        }
    }
}

fn validate_name(name: &str) -> Result<(), FieldError> {
    if bounded_text(name, MAX_NAME_CHARS) {
        Ok(())
    } else {
        Err(FieldError::Name)
    }
}

fn validate_addrs(addrs: &[String]) -> Result<(), FieldError> {
    let ok = addrs.len() <= MAX_ADDRS
        && addrs
            .iter()
            .all(|a| !a.is_empty() && a.len() <= MAX_ADDR_BYTES && a.is_ascii());
    if ok { Ok(()) } else { Err(FieldError::Addrs) }
}

/// Non-empty, at most `max` characters, no control characters.
fn bounded_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
