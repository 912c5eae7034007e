//! What the server sends: [`ServerMsg`] and the peers, rooms, relay and limits
//! it describes. Refusals carry an [`ErrorCode`] (see `error_code`).

use serde::{Deserialize, Serialize};

use super::ErrorCode;

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMsg {
    /// First frame on every connection: sign this nonce to register.
    Challenge {
        /// The server's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
        version: u32,
        /// [`NONCE_BYTES`](super::NONCE_BYTES) random bytes, base64.
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
    /// The client moved to another room (answer to
    /// [`ClientMsg::Join`](super::ClientMsg::Join)).
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
    /// Answer to [`ClientMsg::Lookup`](super::ClientMsg::Lookup).
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
    /// The peer's system, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Multiaddrs, relay circuit addresses included.
    pub addrs: Vec<String>,
    /// Whether it publishes a folder to browse.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publishes: bool,
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
