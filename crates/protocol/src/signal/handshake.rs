//! The start of every connection: the protocol version and the bytes a client
//! signs to answer the server's challenge.

/// Version of this protocol. A client with another version is refused with
/// [`ErrorCode::UnsupportedVersion`](super::ErrorCode::UnsupportedVersion).
///
/// Version 2 added the server's [`Origin`](super::Origin) to the registration
/// payload (and `origin` to [`Register`](super::Register)).
pub const PROTOCOL_VERSION: u32 = 2;

/// Length of the challenge nonce, in bytes (sent base64-encoded).
pub const NONCE_BYTES: usize = 32;

/// Domain separation prefix of the signed registration payload.
pub(super) const REGISTER_DOMAIN: &[u8] = b"p2p-share signal register v2\n";

/// The bytes a client signs to prove it owns its peer ID: a fixed domain
/// prefix, the server's origin in canonical form (see
/// [`Origin`](super::Origin)) and a line feed, then the server's nonce exactly
/// as sent (its base64 text).
///
/// The nonce is fresh for every connection, so a proof cannot be replayed on
/// another connection; the origin names the server the client dialled, so a
/// proof passed on to another server does not verify there. A canonical
/// origin has no line feed, so the two parts cannot be confused.
pub fn registration_payload(origin: &str, nonce: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(REGISTER_DOMAIN.len() + origin.len() + 1 + nonce.len());
    payload.extend_from_slice(REGISTER_DOMAIN);
    payload.extend_from_slice(origin.as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(nonce.as_bytes());
    payload
}
