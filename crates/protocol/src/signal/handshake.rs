//! The start of every connection: the protocol version and the bytes a client
//! signs to answer the server's challenge.

/// Version of this protocol. A client with another version is refused with
/// [`ErrorCode::UnsupportedVersion`](super::ErrorCode::UnsupportedVersion).
pub const PROTOCOL_VERSION: u32 = 1;

/// Length of the challenge nonce, in bytes (sent base64-encoded).
pub const NONCE_BYTES: usize = 32;

/// Domain separation prefix of the signed registration payload.
pub(super) const REGISTER_DOMAIN: &[u8] = b"p2p-share signal register v1\n";

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
