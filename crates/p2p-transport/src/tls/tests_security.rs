//! Certificates built by hand, with the libp2p extension right and wrong in
//! each way that matters, presented to our verifier from both ends of a
//! handshake.
//!
//! The libp2p extension (OID 1.3.6.1.4.1.53594.1.1) holds the peer's public
//! key and its signature over `libp2p-tls-handshake:` followed by the
//! certificate's own public key (its SubjectPublicKeyInfo): the proof that
//! the peer's identity key vouches for the key that signs the handshake.

#![allow(clippy::unwrap_used, clippy::panic)]

use libp2p::PeerId;
use quinn::rustls::pki_types::PrivateKeyDer;

use super::tests::{Presents, handshake, is_certificate_error, peer_of, server_presenting};
use super::*;

const P2P_EXT_OID: [u64; 9] = [1, 3, 6, 1, 4, 1, 53594, 1, 1];
const SIGNING_PREFIX: &[u8] = b"libp2p-tls-handshake:";

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
}

/// The extension's value: `SEQUENCE { publicKey OCTET STRING, signature
/// OCTET STRING }`.
fn signed_key(public_key: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for field in [public_key, signature] {
        body.push(0x04);
        der_len(field.len(), &mut body);
        body.extend_from_slice(field);
    }
    let mut out = vec![0x30];
    der_len(body.len(), &mut out);
    out.extend(body);
    out
}

/// A certificate as libp2p-tls makes it (a fresh P-256 key, self-signed,
/// the extension critical), whose extension claims `claimed`'s public key
/// and carries what `sign` returns for the message to be signed (the
/// prefix and the certificate's public key). Also returns that signature.
fn certificate(
    claimed: &Keypair,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>, Vec<u8>) {
    let cert_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut message = SIGNING_PREFIX.to_vec();
    message.extend(cert_key.public_key_der());
    let signature = sign(&message);
    let content = signed_key(&claimed.public().encode_protobuf(), &signature);
    let mut extension = rcgen::CustomExtension::from_oid_content(&P2P_EXT_OID, content);
    extension.set_criticality(true);
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.custom_extensions.push(extension);
    let cert = params.self_signed(&cert_key).unwrap();
    let key = PrivateKeyDer::try_from(cert_key.serialize_der()).unwrap();
    (cert.der().clone(), key, signature)
}

/// A client presenting `cert` (and signing with `key`), verifying the
/// server as we do.
fn client_presenting(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> rustls::ClientConfig {
    let signer = aws_lc_rs::sign::any_supported_type(&key).unwrap();
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signer);
    let mut config = rustls::ClientConfig::builder_with_provider(provider(true))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pVerifier::default()))
        .with_client_cert_resolver(Arc::new(Presents(Arc::new(certified))));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config
}

impl rustls::client::ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The handshakes of our client with a server presenting `cert`, and of
/// a client presenting it with our server: the server's and the client's
/// results, each the presenter's peer ID as the verifier read it.
fn both_ends(
    cert: &CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
) -> [Result<PeerId, rustls::Error>; 2] {
    let us = Keypair::generate_ed25519();
    let to_our_client = handshake(
        client_config(&us).unwrap(),
        server_presenting(cert.clone(), key.clone_key()),
    )
    .map(|(c, _)| peer_of(c.peer_certificates()));
    let to_our_server = handshake(
        client_presenting(cert.clone(), key.clone_key()),
        server_config(&us).unwrap(),
    )
    .map(|(_, s)| peer_of(s.peer_certificates()));
    [to_our_client, to_our_server]
}

/// Both ends refused `cert` as a certificate.
fn assert_refused(cert: &CertificateDer<'static>, key: &PrivateKeyDer<'static>, what: &str) {
    for (end, result) in ["our client", "our server"]
        .iter()
        .zip(both_ends(cert, key))
    {
        match result {
            Err(e) => assert!(is_certificate_error(&e), "{what}, {end}: {e:?}"),
            Ok(peer) => panic!("{what}: {end} accepted it as {peer}"),
        }
    }
}

#[test]
fn a_hand_made_certificate_done_right_is_accepted_at_both_ends() {
    // The builder the refusals below rest on makes certificates that pass:
    // each of them fails for the one thing it changes.
    let peer = Keypair::generate_ed25519();
    let (cert, key, _) = certificate(&peer, |m| peer.sign(m).unwrap());
    for result in both_ends(&cert, &key) {
        assert_eq!(result.unwrap(), peer.public().to_peer_id());
    }
}

#[test]
fn our_server_refuses_a_client_certificate_without_the_libp2p_extension() {
    let plain = rcgen::generate_simple_self_signed(vec!["libp2p".into()]).unwrap();
    let cert = plain.cert.der().clone();
    let key = PrivateKeyDer::try_from(plain.key_pair.serialize_der()).unwrap();
    let b = Keypair::generate_ed25519();
    let err = handshake(client_presenting(cert, key), server_config(&b).unwrap()).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
}

#[test]
fn a_certificate_whose_extension_signature_was_changed_is_refused() {
    let peer = Keypair::generate_ed25519();
    // Changed, and the certificate signed again by its own key: only the
    // extension's signature is wrong.
    let (cert, key, _) = certificate(&peer, |m| {
        let mut signature = peer.sign(m).unwrap();
        signature[10] ^= 0x01;
        signature
    });
    assert_refused(&cert, &key, "re-signed");

    // Changed in place in a good certificate: the certificate's own
    // signature no longer covers it either.
    let (cert, key, signature) = certificate(&peer, |m| peer.sign(m).unwrap());
    let mut bytes = cert.to_vec();
    let at = bytes
        .windows(signature.len())
        .position(|w| w == signature.as_slice())
        .unwrap();
    bytes[at + 10] ^= 0x01;
    assert_refused(&CertificateDer::from(bytes), &key, "changed in place");
}

#[test]
fn a_certificate_whose_extension_another_key_signed_is_refused() {
    let (claimed, signer) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    // It claims one identity and carries another's signature.
    let (cert, key, _) = certificate(&claimed, |m| signer.sign(m).unwrap());
    assert_refused(&cert, &key, "signed by another identity");

    // The claimed identity's own signature, but over another certificate
    // key: an extension copied from someone's certificate into one whose
    // key the copier holds.
    let (cert, key, _) = certificate(&claimed, |_| {
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut message = SIGNING_PREFIX.to_vec();
        message.extend(other.public_key_der());
        claimed.sign(&message).unwrap()
    });
    assert_refused(&cert, &key, "signed over another certificate key");
}

#[test]
fn a_client_expecting_one_peer_refuses_another_in_the_handshake_and_names_it() {
    let (us, them) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let them_peer = them.public().to_peer_id();
    let base = client_config(&us).unwrap();

    let other = Keypair::generate_ed25519().public().to_peer_id();
    let expected = Arc::new(Expected::new(other));
    let client = client_config_expecting(&base, Arc::clone(&expected));
    let err = handshake(client, server_config(&them).unwrap()).unwrap_err();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
    assert_eq!(expected.refused(), Some(them_peer));

    let expected = Arc::new(Expected::new(them_peer));
    let client = client_config_expecting(&base, Arc::clone(&expected));
    let (c, s) = handshake(client, server_config(&them).unwrap()).unwrap();
    assert_eq!(peer_of(c.peer_certificates()), them_peer);
    assert_eq!(peer_of(s.peer_certificates()), us.public().to_peer_id());
    assert_eq!(expected.refused(), None);
}
