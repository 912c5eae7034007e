//! Verification of the peer-ID ownership proof sent with `register`.

use data_encoding::BASE64;
use libp2p::PeerId;
use libp2p::identity::PublicKey;
use protocol::signal::{Register, registration_payload};

/// Why a proof was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ProofError {
    #[error("public key is not valid base64 protobuf")]
    Key,
    #[error("peer ID {0:?} is not a valid peer ID")]
    PeerId(String),
    #[error("the public key does not belong to the claimed peer ID")]
    Mismatch,
    #[error("signature does not verify for this connection's challenge")]
    Signature,
}

/// Checks that `reg` was signed, for this connection's `nonce`, by the key of
/// the peer ID it claims. Returns the verified peer ID.
pub(crate) fn verify(reg: &Register, nonce: &str) -> Result<PeerId, ProofError> {
    let key_bytes = BASE64
        .decode(reg.public_key.as_bytes())
        .map_err(|_| ProofError::Key)?;
    let key = PublicKey::try_decode_protobuf(&key_bytes).map_err(|_| ProofError::Key)?;
    let claimed: PeerId = reg
        .peer_id
        .parse()
        .map_err(|_| ProofError::PeerId(protocol::path::display_escaped(&reg.peer_id, 80)))?;
    if key.to_peer_id() != claimed {
        return Err(ProofError::Mismatch);
    }
    let signature = BASE64
        .decode(reg.signature.as_bytes())
        .map_err(|_| ProofError::Signature)?;
    if !key.verify(&registration_payload(nonce), &signature) {
        return Err(ProofError::Signature);
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use libp2p::identity::Keypair;
    use protocol::signal::{PROTOCOL_VERSION, RoomRequest};

    use super::*;

    fn signed(key: &Keypair, nonce: &str) -> Register {
        Register {
            version: PROTOCOL_VERSION,
            peer_id: key.public().to_peer_id().to_string(),
            public_key: BASE64.encode(&key.public().encode_protobuf()),
            signature: BASE64.encode(&key.sign(&registration_payload(nonce)).unwrap()),
            name: "n".into(),
            addrs: vec![],
            room: RoomRequest::Auto,
        }
    }

    #[test]
    fn a_valid_proof_verifies() {
        let key = Keypair::generate_ed25519();
        assert_eq!(
            verify(&signed(&key, "abc"), "abc"),
            Ok(key.public().to_peer_id())
        );
    }

    #[test]
    fn replayed_forged_and_mismatched_proofs_fail() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        // Replay on a connection with another nonce.
        assert_eq!(
            verify(&signed(&key, "abc"), "xyz"),
            Err(ProofError::Signature)
        );
        // Someone else's peer ID with my key.
        let mut reg = signed(&key, "abc");
        reg.peer_id = other.public().to_peer_id().to_string();
        assert_eq!(verify(&reg, "abc"), Err(ProofError::Mismatch));
        // Someone else's key and ID, my signature.
        let mut reg = signed(&other, "abc");
        reg.signature = signed(&key, "abc").signature;
        assert_eq!(verify(&reg, "abc"), Err(ProofError::Signature));
        // Garbage.
        let mut reg = signed(&key, "abc");
        reg.public_key = "!!".into();
        assert_eq!(verify(&reg, "abc"), Err(ProofError::Key));
        let mut reg = signed(&key, "abc");
        reg.peer_id = "not-a-peer".into();
        assert!(matches!(verify(&reg, "abc"), Err(ProofError::PeerId(_))));
        let mut reg = signed(&key, "abc");
        reg.signature = "AAAA".into();
        assert_eq!(verify(&reg, "abc"), Err(ProofError::Signature));
    }
}
