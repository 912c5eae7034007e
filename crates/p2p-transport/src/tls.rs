//! TLS 1.3 keyed to libp2p identities, with the cipher this machine runs
//! fastest.
//!
//! libp2p's TLS (`libp2p-tls`, the libp2p TLS specification) puts the
//! peer's identity in its certificate: a self-signed certificate whose
//! extension carries the libp2p public key and its signature over the
//! certificate's key. We use its certificates, and its parser, which checks
//! that extension. What we set ourselves is the list of cipher suites:
//! libp2p-tls offers ChaCha20-Poly1305 first, which costs about twice what
//! AES-GCM does on a processor with AES instructions (1.7 against
//! 3.5 GB/s per core on the development machine), and on a fast path the
//! cipher is a quarter of all the CPU a transfer uses. So we offer
//! AES-128-GCM first when the processor has AES instructions and
//! ChaCha20-Poly1305 first when it does not (where AES in software is the
//! slower one). In TLS 1.3 the server takes the client's first suite that
//! it supports, so the dialing side's processor decides.
//!
//! The verifier below is libp2p's rule, written against rustls's verifier
//! traits: exactly one certificate, a valid libp2p certificate (parsed and
//! checked by `libp2p_tls::certificate::parse`), and a handshake signature
//! by the certificate's key. Which peer that is, is read from the
//! certificate after the handshake. A dial to an address that names a peer
//! also refuses, in the handshake, a server certificate of any other peer
//! ([`client_config_expecting`]), as libp2p's specification requires; the
//! QUIC transport checks again after the handshake (a resumed session
//! verifies no certificate).

use std::sync::{Arc, OnceLock};

use libp2p::PeerId;
use libp2p::identity::Keypair;
use quinn::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use quinn::rustls::crypto::CryptoProvider;
use quinn::rustls::crypto::aws_lc_rs::{self, cipher_suite};
use quinn::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use quinn::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use quinn::rustls::{
    self, DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedCipherSuite,
};

/// The ALPN protocol of libp2p's TLS.
const ALPN: &[u8] = b"libp2p";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct Error(String);

/// TLS 1.3's suites, the fastest here first. All three stay: a peer may
/// support only one of them (libp2p-tls supports all three), and QUIC
/// needs AES-128-GCM for its Initial packets.
fn cipher_suites(aes: bool) -> Vec<SupportedCipherSuite> {
    let chacha = cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;
    let aes128 = cipher_suite::TLS13_AES_128_GCM_SHA256;
    let aes256 = cipher_suite::TLS13_AES_256_GCM_SHA384;
    if aes {
        vec![aes128, aes256, chacha]
    } else {
        vec![chacha, aes128, aes256]
    }
}

/// aws-lc-rs with our order of suites; its key exchange groups as they are
/// (X25519 with ML-KEM-768 first, as libp2p-tls has them).
fn provider(aes: bool) -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(aes),
        ..aws_lc_rs::default_provider()
    })
}

fn tls_error(e: &dyn std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// The client side: presents `key`'s libp2p certificate, accepts any
/// valid libp2p certificate from the server.
pub fn client_config(key: &Keypair) -> Result<rustls::ClientConfig, Error> {
    client_config_with(key, crate::aes_in_hardware())
}

fn client_config_with(key: &Keypair, aes: bool) -> Result<rustls::ClientConfig, Error> {
    // libp2p-tls makes the certificate and the resolver that presents it.
    let certificate = libp2p_tls::make_client_config(key, None).map_err(|e| tls_error(&e))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider(aes))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pVerifier::default()))
        .with_client_cert_resolver(certificate.client_auth_cert_resolver);
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The peer a dial is to reach, and the other peer its handshake refused,
/// if it met one.
#[derive(Debug)]
pub struct Expected {
    peer: PeerId,
    refused: OnceLock<PeerId>,
}

impl Expected {
    /// A dial to `peer`.
    pub fn new(peer: PeerId) -> Self {
        Self {
            peer,
            refused: OnceLock::new(),
        }
    }

    /// The peer the dial is to reach.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The other peer whose certificate the handshake refused.
    pub fn refused(&self) -> Option<PeerId> {
        self.refused.get().copied()
    }
}

/// `base` (a [`client_config`]) for a dial to `expected`'s peer: a server
/// certificate that names another peer fails the handshake (and is noted
/// in `expected`) before the client sends its own certificate, so a wrong
/// peer learns nothing of who dialled.
pub fn client_config_expecting(
    base: &rustls::ClientConfig,
    expected: Arc<Expected>,
) -> rustls::ClientConfig {
    let mut config = base.clone();
    config
        .dangerous()
        .set_certificate_verifier(Arc::new(Libp2pVerifier {
            expected: Some(expected),
        }));
    config
}

/// The server side: presents `key`'s libp2p certificate, asks every
/// client for one and accepts any valid libp2p certificate.
pub fn server_config(key: &Keypair) -> Result<rustls::ServerConfig, Error> {
    server_config_with(key, crate::aes_in_hardware())
}

fn server_config_with(key: &Keypair, aes: bool) -> Result<rustls::ServerConfig, Error> {
    let certificate = libp2p_tls::make_server_config(key).map_err(|e| tls_error(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider(aes))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error(&e))?
        .with_client_cert_verifier(Arc::new(Libp2pVerifier::default()))
        .with_cert_resolver(certificate.cert_resolver);
    config.alpn_protocols = vec![ALPN.to_vec()];
    // The client's order decides (see the module documentation).
    config.ignore_client_order = false;
    Ok(config)
}

/// libp2p's certificate rule for both ends of a handshake.
#[derive(Debug, Default)]
struct Libp2pVerifier {
    /// A dialling client's: the peer its address names.
    expected: Option<Arc<Expected>>,
}

impl Libp2pVerifier {
    /// One certificate, a valid libp2p one; the peer it names.
    fn check_chain(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<PeerId, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a libp2p peer presents exactly one certificate".into(),
            ));
        }
        Ok(libp2p_tls::certificate::parse(end_entity)?.peer_id())
    }

    /// The handshake signed by the certificate's key.
    fn check_signature(
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        libp2p_tls::certificate::parse(cert)?.verify_signature(
            dss.scheme,
            message,
            dss.signature(),
        )?;
        Ok(HandshakeSignatureValid::assertion())
    }

    /// The schemes libp2p's certificates can be signed with.
    fn schemes() -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA512,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
    }

    fn no_tls12() -> rustls::Error {
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
    }
}

impl ServerCertVerifier for Libp2pVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer = Self::check_chain(end_entity, intermediates)?;
        if let Some(expected) = &self.expected
            && peer != expected.peer
        {
            let _ = expected.refused.set(peer);
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is configured; refuse rather than trust.
        Err(Self::no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

impl ClientCertVerifier for Libp2pVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::check_chain(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

#[cfg(test)]
#[path = "tls/tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tls/tests_security.rs"]
mod tests_security;
