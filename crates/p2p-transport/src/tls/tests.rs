//! Handshakes in memory between our configurations, libp2p-tls's, and
//! certificates that must be refused.

#![allow(clippy::unwrap_used, clippy::panic)]

use libp2p::PeerId;
use quinn::rustls::pki_types::PrivateKeyDer;
use quinn::rustls::{ClientConnection, ServerConnection};

use super::*;

/// Runs a TLS handshake between `client` and `server` in memory. Returns
/// both connections, or the first error either side reports.
pub(super) fn handshake(
    client: rustls::ClientConfig,
    server: rustls::ServerConfig,
) -> Result<(ClientConnection, ServerConnection), rustls::Error> {
    let name = ServerName::try_from("libp2p").unwrap();
    let mut c = ClientConnection::new(Arc::new(client), name)?;
    let mut s = ServerConnection::new(Arc::new(server))?;
    for _ in 0..10 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        s.read_tls(&mut wire.as_slice()).unwrap();
        s.process_new_packets()?;
        let mut wire = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut wire).unwrap();
        }
        c.read_tls(&mut wire.as_slice()).unwrap();
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok((c, s));
        }
    }
    panic!("the handshake did not finish");
}

/// The peer named by the certificate one side presented.
pub(super) fn peer_of(certs: Option<&[CertificateDer<'_>]>) -> PeerId {
    let cert = certs.unwrap().first().unwrap();
    libp2p_tls::certificate::parse(cert).unwrap().peer_id()
}

/// Presents one certificate, whatever it holds (rustls's own
/// `with_single_cert` refuses libp2p's critical extension).
#[derive(Debug)]
pub(super) struct Presents(pub(super) Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Presents {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A server presenting `cert` (and signing with `key`), verifying nothing.
pub(super) fn server_presenting(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> rustls::ServerConfig {
    let signer = aws_lc_rs::sign::any_supported_type(&key).unwrap();
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signer);
    let mut config = rustls::ServerConfig::builder_with_provider(provider(true))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Presents(Arc::new(certified))));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config
}

pub(super) fn is_certificate_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::General(_)
    )
}

#[test]
fn the_dialing_side_picks_the_cipher() {
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    for (client_aes, server_aes, want) in [
        (true, false, cipher_suite::TLS13_AES_128_GCM_SHA256),
        (true, true, cipher_suite::TLS13_AES_128_GCM_SHA256),
        (false, true, cipher_suite::TLS13_CHACHA20_POLY1305_SHA256),
        (false, false, cipher_suite::TLS13_CHACHA20_POLY1305_SHA256),
    ] {
        let client = client_config_with(&a, client_aes).unwrap();
        let server = server_config_with(&b, server_aes).unwrap();
        let (c, s) = handshake(client, server).unwrap();
        assert_eq!(c.negotiated_cipher_suite(), Some(want));
        assert_eq!(s.negotiated_cipher_suite(), Some(want));
        assert_eq!(c.alpn_protocol(), Some(ALPN));
    }
}

#[test]
fn each_side_learns_the_others_peer_id() {
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (c, s) = handshake(client_config(&a).unwrap(), server_config(&b).unwrap()).unwrap();
    assert_eq!(peer_of(c.peer_certificates()), b.public().to_peer_id());
    assert_eq!(peer_of(s.peer_certificates()), a.public().to_peer_id());
}

#[test]
fn stock_libp2p_tls_peers_interoperate() {
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    // Our dialer, libp2p-tls's listener: the listener follows our order.
    let server = libp2p_tls::make_server_config(&b).unwrap();
    let (c, s) = handshake(client_config_with(&a, true).unwrap(), server).unwrap();
    assert_eq!(
        c.negotiated_cipher_suite(),
        Some(cipher_suite::TLS13_AES_128_GCM_SHA256)
    );
    assert_eq!(peer_of(s.peer_certificates()), a.public().to_peer_id());
    // libp2p-tls's dialer, our listener: its order, ChaCha20 first.
    let client = libp2p_tls::make_client_config(&a, None).unwrap();
    let (c, s) = handshake(client, server_config(&b).unwrap()).unwrap();
    assert_eq!(
        s.negotiated_cipher_suite(),
        Some(cipher_suite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(peer_of(c.peer_certificates()), b.public().to_peer_id());
}

#[test]
fn a_certificate_without_the_libp2p_extension_is_refused() {
    let plain = rcgen::generate_simple_self_signed(vec!["libp2p".into()]).unwrap();
    let cert = plain.cert.der().clone();
    let key = PrivateKeyDer::try_from(plain.key_pair.serialize_der()).unwrap();
    let a = Keypair::generate_ed25519();
    let err = handshake(client_config(&a).unwrap(), server_presenting(cert, key)).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
}

#[test]
fn a_tampered_certificate_is_refused() {
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (cert, key) = libp2p_tls::certificate::generate(&b).unwrap();
    // The last bytes are the certificate's own signature.
    let mut bytes = cert.to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    let server = server_presenting(CertificateDer::from(bytes), key);
    let err = handshake(client_config(&a).unwrap(), server).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
}

#[test]
fn a_handshake_signed_by_another_key_is_refused() {
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    // b's certificate, but the handshake signed with another certificate's
    // key: whoever holds only the certificate cannot pass as b.
    let (cert, _) = libp2p_tls::certificate::generate(&b).unwrap();
    let (_, other_key) = libp2p_tls::certificate::generate(&b).unwrap();
    let server = server_presenting(cert, other_key);
    let err = handshake(client_config(&a).unwrap(), server).unwrap_err();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let b = Keypair::generate_ed25519();
    let client = rustls::ClientConfig::builder_with_provider(provider(true))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pVerifier::default()))
        .with_no_client_auth();
    let err = handshake(client, server_config(&b).unwrap()).unwrap_err();
    assert!(
        matches!(err, rustls::Error::NoCertificatesPresented),
        "{err:?}"
    );
}

#[test]
fn quic_accepts_both_configurations() {
    let a = Keypair::generate_ed25519();
    for aes in [true, false] {
        let client = client_config_with(&a, aes).unwrap();
        let server = server_config_with(&a, aes).unwrap();
        assert!(quinn::crypto::rustls::QuicClientConfig::try_from(client).is_ok());
        assert!(quinn::crypto::rustls::QuicServerConfig::try_from(server).is_ok());
    }
}
