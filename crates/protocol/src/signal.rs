//! Messages between a client and the signal server.
//!
//! Every frame is one JSON object with a `type` field (see `docs/signal-protocol.md`).
//! The server speaks first with [`ServerMsg::Challenge`]; the client answers with
//! [`ClientMsg::Register`], proving that it owns its peer ID by signing
//! [`registration_payload`] (this server's [`Origin`] and the challenge) with
//! its libp2p identity key.
//!
//! Decoding never panics: any input becomes a message or a [`DecodeError`] that
//! maps to an [`ErrorCode`] the server sends back.
//!
//! # Layout
//! Everything is re-exported here, so callers name `protocol::signal::X` and
//! never a submodule.
//! - `handshake`: [`PROTOCOL_VERSION`], [`NONCE_BYTES`] and
//!   [`registration_payload`], the bytes a client signs.
//! - `origin`: [`Origin`], the server a proof is made for (scheme, host and
//!   port of its URL), signed with the nonce.
//! - `client`: what a client sends: [`ClientMsg`], [`Register`], [`RoomRequest`].
//! - `server`: what the server sends: [`ServerMsg`] and the [`PeerInfo`],
//!   [`RoomInfo`], [`RelayInfo`] and [`Limits`] it carries.
//! - `error_code`: [`ErrorCode`], the reason of every refusal.
//! - `limits`: frame and field bounds ([`MAX_CLIENT_FRAME`], [`MAX_ADDRS`]...),
//!   [`FieldError`] and [`ClientMsg::validate`] / [`RoomRequest::validate`].
//! - `codec`: [`decode_client`], [`decode_server`], [`claimed_version`],
//!   [`encode_client`], [`encode_server`] and [`DecodeError`].

mod client;
mod codec;
mod error_code;
mod handshake;
mod limits;
mod origin;
mod server;

pub use client::{ClientMsg, Register, RoomRequest};
pub use codec::{
    DecodeError, claimed_version, decode_client, decode_server, encode_client, encode_server,
};
pub use error_code::ErrorCode;
pub use handshake::{NONCE_BYTES, PROTOCOL_VERSION, registration_payload};
pub use limits::{
    FieldError, MAX_ADDR_BYTES, MAX_ADDRS, MAX_CLIENT_FRAME, MAX_CODE_CLAIMS, MAX_NAME_CHARS,
    MAX_ROOM_NAME_CHARS, MAX_ROOM_SECRET_BYTES, MAX_SERVER_FRAME,
};
pub use origin::{MAX_ORIGIN_BYTES, Origin, OriginError};
pub use server::{Limits, PeerInfo, RelayInfo, RoomInfo, RoomKind, ServerMsg};

#[cfg(test)]
mod tests;
