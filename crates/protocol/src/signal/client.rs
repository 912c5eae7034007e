//! What a client sends: [`ClientMsg`], with the registration it opens with and
//! the room it asks for. Their bounds are checked in `limits`.

use serde::{Deserialize, Serialize};

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
        /// Whether I now publish a folder to browse, if that changes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publishes: Option<bool>,
    },
    /// Move to another room.
    Join {
        /// The room to move to.
        room: RoomRequest,
    },
    /// Open a share-code rendezvous under this nameplate.
    CodeOpen {
        /// The public number of the share code.
        nameplate: u32,
        /// How many receivers may claim it (`send --receivers N`), each
        /// paired with the sender once; 1 when left out (servers before
        /// this field allow one claim whatever it says).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        claims: u32,
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

fn one() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Registration: identity, ownership proof, presence and room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// The client's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub version: u32,
    /// The libp2p peer ID (base58) the client claims.
    pub peer_id: String,
    /// The libp2p public key, protobuf-encoded, then base64 (standard, padded).
    pub public_key: String,
    /// The server's origin as the client dialled it, in canonical form
    /// ([`Origin`](super::Origin)'s text, e.g. `wss://signal.example.org:443`).
    pub origin: String,
    /// Signature over [`registration_payload`](super::registration_payload) of
    /// `origin` and the challenge nonce, base64.
    pub signature: String,
    /// Display name shown to other peers.
    pub name: String,
    /// The client's system (`linux`, `windows`, `macos`, …), shown to
    /// other peers with its name; see [`crate::device::valid_os`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Multiaddrs where the client can be reached.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Whether the client publishes a folder others may browse (only
    /// that: the server learns no names, sizes or counts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publishes: bool,
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
