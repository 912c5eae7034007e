//! The handshake payload decoder played from bytes: for the fuzz target
//! `noise_payload` (`fuzz/fuzz_targets/`, through `crate::fuzzing`).

use libp2p::identity::PublicKey;

use super::{STATIC_KEY_DOMAIN, names_aes, payload};

/// The `noise_payload` target: `data` as a peer's handshake payload. It
/// may fail to decode; what decodes re-encodes to no more bytes than it
/// came in (but for empty identity fields, which the encoder always
/// writes), and decodes again to the same fields. Its identity key and
/// signature then go where the handshake sends them.
pub(crate) fn payload(data: &[u8]) {
    let Ok(decoded) = payload::decode(data) else {
        return;
    };
    let again = payload::encode(decoded.identity_key, decoded.identity_sig, decoded.ciphers);
    // The encoder writes both identity fields even when empty (2 bytes
    // each); apart from those it writes nothing the input did not hold.
    let empty = [decoded.identity_key, decoded.identity_sig]
        .iter()
        .filter(|field| field.is_empty())
        .count();
    assert!(
        again.len() <= data.len() + 2 * empty,
        "re-encoded longer: {again:?}"
    );
    assert_eq!(payload::decode(&again).as_ref(), Ok(&decoded));
    let _ = names_aes(decoded.ciphers);
    if let Ok(key) = PublicKey::try_decode_protobuf(decoded.identity_key) {
        let signed = [STATIC_KEY_DOMAIN, &[0; 32]].concat();
        let _ = key.verify(&signed, decoded.identity_sig);
    }
}
