//! Verification of the peer-ID ownership proof sent with `register`.

use data_encoding::BASE64;
use libp2p::PeerId;
use libp2p::identity::PublicKey;
use protocol::signal::{Origin, Register, registration_payload};

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
    #[error(
        "the proof is made for {claimed}, and this server is {expected}; \
         connect to the server directly by its URL (operators behind a proxy: set --public-url)"
    )]
    WrongServer { claimed: String, expected: String },
}

/// Which origins a proof may name on this server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// The configured public URLs (`--public-url`): only their origins.
    Configured(&'a [Origin]),
    /// None configured: the host and port of the request's `Host` header
    /// (`None` if it had none), with either scheme.
    Host(Option<&'a str>),
}

impl Expected<'_> {
    fn admits(&self, origin: &Origin) -> bool {
        match self {
            Expected::Configured(origins) => origins.contains(origin),
            Expected::Host(host) => host.is_some_and(|h| origin.matches_host(h)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Expected::Configured(origins) => origins
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            Expected::Host(Some(host)) => {
                format!("reached as {}", protocol::path::display_escaped(host, 80))
            }
            Expected::Host(None) => "reached without a Host header".into(),
        }
    }
}

/// Checks that `reg` was signed, for this connection's `nonce` and an origin
/// this server answers to, by the key of the peer ID it claims. Returns the
/// verified peer ID. `reg` has been validated (its origin is canonical).
pub(crate) fn verify(
    reg: &Register,
    nonce: &str,
    expected: Expected<'_>,
) -> Result<PeerId, ProofError> {
    let wrong_server = || ProofError::WrongServer {
        claimed: protocol::path::display_escaped(&reg.origin, 80),
        expected: expected.describe(),
    };
    let origin = Origin::from_url(&reg.origin).map_err(|_| wrong_server())?;
    if !expected.admits(&origin) {
        return Err(wrong_server());
    }
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
    if !key.verify(&registration_payload(&reg.origin, nonce), &signature) {
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

    const A: &str = "ws://signal-a.example:8080";
    const B: &str = "wss://signal-b.example:443";

    fn signed_for(key: &Keypair, origin: &str, nonce: &str) -> Register {
        Register {
            version: PROTOCOL_VERSION,
            peer_id: key.public().to_peer_id().to_string(),
            public_key: BASE64.encode(&key.public().encode_protobuf()),
            origin: origin.into(),
            signature: BASE64.encode(&key.sign(&registration_payload(origin, nonce)).unwrap()),
            name: "n".into(),
            os: None,
            addrs: vec![],
            publishes: false,
            room: RoomRequest::Auto,
        }
    }

    fn signed(key: &Keypair, nonce: &str) -> Register {
        signed_for(key, A, nonce)
    }

    fn at_a() -> Vec<Origin> {
        vec![A.parse().unwrap()]
    }

    #[test]
    fn a_valid_proof_verifies() {
        let key = Keypair::generate_ed25519();
        let a = at_a();
        assert_eq!(
            verify(&signed(&key, "abc"), "abc", Expected::Configured(&a)),
            Ok(key.public().to_peer_id())
        );
        // Without configured origins, the Host header names the server.
        assert_eq!(
            verify(
                &signed(&key, "abc"),
                "abc",
                Expected::Host(Some("Signal-A.example:8080"))
            ),
            Ok(key.public().to_peer_id())
        );
    }

    #[test]
    fn a_proof_for_another_server_fails() {
        let key = Keypair::generate_ed25519();
        let a = at_a();
        let b: Vec<Origin> = vec![B.parse().unwrap()];
        // Made for A, presented at B (configured, or reached by B's Host).
        for expected in [
            Expected::Configured(&b),
            Expected::Host(Some("signal-b.example")),
            Expected::Host(Some("signal-a.example:8081")),
            Expected::Host(None),
        ] {
            assert!(
                matches!(
                    verify(&signed(&key, "abc"), "abc", expected),
                    Err(ProofError::WrongServer { .. })
                ),
                "{expected:?}"
            );
        }
        // Claiming B's origin while the signature was made for A's.
        let mut reg = signed_for(&key, A, "abc");
        reg.origin = B.into();
        assert_eq!(
            verify(&reg, "abc", Expected::Configured(&b)),
            Err(ProofError::Signature)
        );
        // Several public URLs: each is accepted.
        let both = [a[0].clone(), b[0].clone()];
        for origin in [A, B] {
            assert!(
                verify(
                    &signed_for(&key, origin, "n"),
                    "n",
                    Expected::Configured(&both)
                )
                .is_ok()
            );
        }
    }

    /// The two registrations of docs/signal-protocol.md verify for their
    /// challenges, so the document shows real proofs.
    #[test]
    fn the_documented_examples_verify() {
        let origins: Vec<Origin> = vec!["wss://signal.example/ws".parse().unwrap()];
        for (peer_id, public_key, signature, nonce) in [
            (
                "12D3KooWK6TaUdXC7zW7eXYmTsxDiE4RFsbUx779B6EzBoj5VPph",
                "CAESIInYl2pq9Ic2MEQGyKIVPRyDpwh5iTt3D//lj9SoGaBG",
                "G4VqE8wqSwQrdx56uuglaiuG9+qeLz7iW3CkdHkU9wqqRXXfHIah7vWMipb8uCmU6gqRSwHDLi5eTR+jnipbBg==",
                "QUhPVl1ka3J5gIeOlZyjqrG4v8bN1Nvi6fD3/gUMExo=",
            ),
            (
                "12D3KooWMcEuNf6hvPRAckettAZDncu227hAt9Nq1CVv2gGVpXwY",
                "CAESIK8xDxAz8tQLf8syENOgqNAbUJSw5V1hWcqUoPPnCW1L",
                "nUFtUVsPD+ZB/cgNFYVwh2/e3UnxVzUaBRKJVsvVL2wlFvzbWw9a4A8RlzKUnp9T/plf/5RaRo1VjCqy6855CA==",
                "Jy41PENKUVhfZm10e4KJkJeepayzusHIz9bd5Ovy+QA=",
            ),
        ] {
            let reg = Register {
                version: PROTOCOL_VERSION,
                peer_id: peer_id.into(),
                public_key: public_key.into(),
                origin: "wss://signal.example:443".into(),
                signature: signature.into(),
                name: "n".into(),
                os: None,
                addrs: vec![],
                publishes: false,
                room: RoomRequest::Auto,
            };
            assert_eq!(
                verify(&reg, nonce, Expected::Configured(&origins)).map(|p| p.to_string()),
                Ok(peer_id.to_owned())
            );
        }
    }

    #[test]
    fn replayed_forged_and_mismatched_proofs_fail() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let a = at_a();
        let at_a = Expected::Configured(&a);
        // Replay on a connection with another nonce.
        assert_eq!(
            verify(&signed(&key, "abc"), "xyz", at_a),
            Err(ProofError::Signature)
        );
        // Someone else's peer ID with my key.
        let mut reg = signed(&key, "abc");
        reg.peer_id = other.public().to_peer_id().to_string();
        assert_eq!(verify(&reg, "abc", at_a), Err(ProofError::Mismatch));
        // Someone else's key and ID, my signature.
        let mut reg = signed(&other, "abc");
        reg.signature = signed(&key, "abc").signature;
        assert_eq!(verify(&reg, "abc", at_a), Err(ProofError::Signature));
        // Garbage.
        let mut reg = signed(&key, "abc");
        reg.public_key = "!!".into();
        assert_eq!(verify(&reg, "abc", at_a), Err(ProofError::Key));
        let mut reg = signed(&key, "abc");
        reg.peer_id = "not-a-peer".into();
        assert!(matches!(
            verify(&reg, "abc", at_a),
            Err(ProofError::PeerId(_))
        ));
        let mut reg = signed(&key, "abc");
        reg.signature = "AAAA".into();
        assert_eq!(verify(&reg, "abc", at_a), Err(ProofError::Signature));
    }
}
