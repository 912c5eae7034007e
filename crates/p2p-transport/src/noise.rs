//! Noise for TCP and relayed connections: libp2p's `/noise` handshake, with
//! transport messages sealed and opened in place.
//!
//! The handshake is libp2p's (XX over X25519, ChaCha20-Poly1305 and SHA-256,
//! run by snow; each side's payload carries its libp2p public key and that
//! key's signature over its Noise static key), and so is the framing. Peers
//! running libp2p-noise, such as the signal server's relay, talk to it
//! unchanged.
//!
//! Between two peers of ours the transport cipher may differ: each side
//! whose processor has AES instructions says so in its payload (a field
//! libp2p's decoder skips, see [`payload`]); the responder offers AES-GCM,
//! the initiator takes it, and both then seal with AES-256-GCM under the
//! same split keys (nonce as Noise's AESGCM: the counter big-endian),
//! replacing each direction's key by Noise's `Rekey()` every 2^20 messages
//! so that no key nears AES-GCM's limit on one connection however long it
//! lasts. The payloads travel encrypted and enter the handshake hash, so
//! nobody on the path can change the choice. With AES instructions
//! AES-256-GCM costs about half of ChaCha20-Poly1305 here, the largest
//! share of a TCP transfer's CPU. A libp2p peer offers nothing and gets
//! ChaCha20-Poly1305.
//!
//! What differs as well is the copying. libp2p-noise moved every received byte five
//! times besides decrypting it (socket reads of 8 KiB into a codec buffer,
//! the ciphertext into a zeroed buffer per message, the plaintext out to
//! yamux) and every sent byte three times. Here snow's split keys go to ring
//! and messages are opened and sealed where they lie (see [`transport`]):
//! one copy out of the read buffer, one into the write buffer.

mod payload;
pub(crate) mod script;
mod transport;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rekey;
#[cfg(test)]
mod tests_security;
#[cfg(test)]
mod tests_tamper;

use std::io;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use libp2p::PeerId;
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::identity::{Keypair, PublicKey};
use snow::resolvers::{DefaultResolver, FallbackResolver, RingResolver};

use transport::CipherState;
pub use transport::Output;

/// The protocol name multistream-select agrees on.
const PROTOCOL: &str = "/noise";

/// libp2p's Noise protocol.
const PARAMS: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

/// What a libp2p identity key signs: this, then the Noise static key.
const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";

/// Largest Noise message, in the handshake and after it.
const MAX_MESSAGE: usize = 65_535;

/// Our payload's name for AES-256-GCM transport messages with a new key
/// every 2^20 messages each way (see [`transport`]). Builds from before
/// rekeying said `AESGCM` and kept one key: they do not know this name,
/// and so fall back to ChaCha20-Poly1305 with us instead of losing step
/// at the first change of keys.
const AES_GCM: &[u8] = b"AESGCM-REKEY20";

/// The transport messages' cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// libp2p's: ChaCha20-Poly1305.
    ChaChaPoly,
    /// Between our peers with AES instructions: AES-256-GCM.
    AesGcm,
}

/// A peer that has not finished the handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// The connection failed or closed.
    #[error("noise handshake: {0}")]
    Io(#[from] io::Error),
    /// snow refused a message (it did not decrypt, or was malformed).
    #[error("noise handshake: {0}")]
    Noise(#[from] snow::Error),
    /// The peer's payload was malformed or incomplete.
    #[error("noise handshake: {0}")]
    Invalid(&'static str),
    /// The peer's identity key does not decode.
    #[error("noise handshake: the peer's identity key: {0}")]
    Key(#[from] libp2p::identity::DecodingError),
    /// Our own key could not sign.
    #[error("noise handshake: signing our Noise key: {0}")]
    Sign(#[from] libp2p::identity::SigningError),
    /// The peer's signature does not cover its Noise key.
    #[error("noise handshake: the peer's identity did not sign its Noise key")]
    BadSignature,
    /// The peer did not finish in [`HANDSHAKE_TIMEOUT`].
    #[error("noise handshake: no answer in {} s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
}

/// The security upgrade, for `SwarmBuilder::with_tcp` and
/// `with_relay_client`.
#[derive(Clone)]
pub struct Config {
    identity: Keypair,
}

impl Config {
    /// Authenticates connections as `identity`.
    pub fn new(identity: &Keypair) -> Result<Self, NoiseError> {
        Ok(Self {
            identity: identity.clone(),
        })
    }
}

impl UpgradeInfo for Config {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(PROTOCOL)
    }
}

impl<C> InboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, Output<C>);
    type Error = NoiseError;
    type Future = BoxFuture<'static, Result<Self::Output, NoiseError>>;

    fn upgrade_inbound(self, io: C, _: Self::Info) -> Self::Future {
        bounded(
            io,
            Local::of(self.identity),
            Role::Responder,
            HANDSHAKE_TIMEOUT,
        )
        .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, Output<C>);
    type Error = NoiseError;
    type Future = BoxFuture<'static, Result<Self::Output, NoiseError>>;

    fn upgrade_outbound(self, io: C, _: Self::Info) -> Self::Future {
        bounded(
            io,
            Local::of(self.identity),
            Role::Initiator,
            HANDSHAKE_TIMEOUT,
        )
        .boxed()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Initiator,
    Responder,
}

/// Who we say we are, the key that signs for it (the same key, except in
/// tests of a peer that lies) and whether we use AES-GCM.
struct Local {
    public: PublicKey,
    signer: Keypair,
    aes: bool,
}

impl Local {
    fn of(identity: Keypair) -> Self {
        Self {
            public: identity.public(),
            signer: identity,
            aes: crate::aes_in_hardware(),
        }
    }
}

/// Whether a payload's `ciphers` names AES-GCM.
fn names_aes(ciphers: &[u8]) -> bool {
    ciphers.split(|&b| b == b',').any(|name| name == AES_GCM)
}

/// [`handshake`], given up after `limit`.
async fn bounded<C>(
    io: C,
    local: Local,
    role: Role,
    limit: Duration,
) -> Result<(PeerId, Output<C>), NoiseError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(limit, handshake(io, local, role))
        .await
        .map_err(|_| NoiseError::Timeout)?
}

/// Runs the XX handshake on `io`: `-> e`, `<- e, ee, s, es` with the
/// responder's identity, `-> s, se` with the initiator's. Each side checks
/// the other's signature as soon as it has its static key.
async fn handshake<C>(
    mut io: C,
    local: Local,
    role: Role,
) -> Result<(PeerId, Output<C>), NoiseError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let builder = builder()?;
    // A fresh static key per connection, signed by the identity.
    let static_key = builder.generate_keypair()?;
    let builder = builder.local_private_key(&static_key.private)?;
    let mut state = match role {
        Role::Initiator => builder.build_initiator()?,
        Role::Responder => builder.build_responder()?,
    };
    let signed = [STATIC_KEY_DOMAIN, &static_key.public].concat();
    let (key, signature) = (local.public.encode_protobuf(), local.signer.sign(&signed)?);
    let mut messages = Messages::new();
    let (remote, cipher) = match role {
        Role::Initiator => {
            messages.send(&mut io, &mut state, &[]).await?;
            let theirs = messages.receive(&mut io, &mut state).await?;
            let (remote, offered) = authenticate(&state, theirs)?;
            let aes = names_aes(offered) && local.aes;
            let ours = payload::encode(&key, &signature, if aes { AES_GCM } else { &[] });
            messages.send(&mut io, &mut state, &ours).await?;
            (remote, aes)
        }
        Role::Responder => {
            // `-> e` carries no payload, as libp2p-noise sends and requires:
            // it travels in the clear, so nothing may ride on it.
            if !messages.receive(&mut io, &mut state).await?.is_empty() {
                return Err(NoiseError::Invalid("a payload in the first message"));
            }
            let ours = payload::encode(&key, &signature, if local.aes { AES_GCM } else { &[] });
            messages.send(&mut io, &mut state, &ours).await?;
            let theirs = messages.receive(&mut io, &mut state).await?;
            // Nothing (ChaCha20-Poly1305), or exactly what we offered.
            let (remote, chosen) = authenticate(&state, theirs)?;
            match chosen {
                [] => (remote, false),
                AES_GCM if local.aes => (remote, true),
                _ => {
                    return Err(NoiseError::Invalid(
                        "the peer chose a cipher we did not offer",
                    ));
                }
            }
        }
    };
    let cipher = if cipher {
        Cipher::AesGcm
    } else {
        Cipher::ChaChaPoly
    };
    if !state.is_handshake_finished() {
        return Err(NoiseError::Invalid("the handshake did not finish"));
    }
    // Noise's Split(): the first key encrypts from initiator to responder.
    let (to_responder, to_initiator) = state.dangerously_get_raw_split();
    let (send, receive) = match role {
        Role::Initiator => (to_responder, to_initiator),
        Role::Responder => (to_initiator, to_responder),
    };
    let output = Output::new(
        io,
        CipherState::new(cipher, &send)?,
        CipherState::new(cipher, &receive)?,
    );
    let peer = remote.to_peer_id();
    tracing::debug!(%peer, ?cipher, ?role, "noise handshake done");
    Ok((peer, output))
}

/// snow set up for [`PARAMS`]: ring for hashing, the cipher and random
/// numbers, its default resolver (curve25519-dalek) for X25519, which ring's
/// one-shot key agreement cannot do for XX.
fn builder() -> Result<snow::Builder<'static>, NoiseError> {
    let params: snow::params::NoiseParams = PARAMS.parse()?;
    let resolver = FallbackResolver::new(Box::new(RingResolver), Box::new(DefaultResolver));
    Ok(snow::Builder::with_resolver(params, Box::new(resolver)))
}

/// The identity in the peer's payload, once its signature over the peer's
/// Noise static key checks out, and the ciphers the payload names.
fn authenticate<'a>(
    state: &snow::HandshakeState,
    theirs: &'a [u8],
) -> Result<(PublicKey, &'a [u8]), NoiseError> {
    let theirs = payload::decode(theirs).map_err(NoiseError::Invalid)?;
    let remote_static = state
        .get_remote_static()
        .ok_or(NoiseError::Invalid("no static key from the peer"))?;
    let identity = PublicKey::try_decode_protobuf(theirs.identity_key)?;
    let signed = [STATIC_KEY_DOMAIN, remote_static].concat();
    if !identity.verify(&signed, theirs.identity_sig) {
        return Err(NoiseError::BadSignature);
    }
    Ok((identity, theirs.ciphers))
}

/// Room for what a handshake message adds to its payload: XX's second
/// message holds an ephemeral key, an encrypted static key and two tags.
const HANDSHAKE_OVERHEAD: usize = 128;

/// Buffers for handshake messages, which are read exactly: what the peer
/// sends after the last one stays in the socket for [`Output`]. They start
/// empty and grow with what is sent and what arrives, not with what a
/// length prefix claims, so a peer that connects and sends little costs
/// little while its handshake is pending.
struct Messages {
    wire: Vec<u8>,
    plain: Vec<u8>,
}

impl Messages {
    fn new() -> Self {
        Self {
            wire: Vec::new(),
            plain: Vec::new(),
        }
    }

    async fn send<C: AsyncWrite + Unpin>(
        &mut self,
        io: &mut C,
        state: &mut snow::HandshakeState,
        payload: &[u8],
    ) -> Result<(), NoiseError> {
        let room = (payload.len() + HANDSHAKE_OVERHEAD).min(MAX_MESSAGE);
        self.wire.clear();
        self.wire.resize(2 + room, 0);
        let body = self.wire.get_mut(2..).unwrap_or_default();
        let len = state.write_message(payload, body)?;
        let prefix =
            u16::try_from(len).map_err(|_| NoiseError::Invalid("our message is too long"))?;
        if let Some(slot) = self.wire.get_mut(..2) {
            slot.copy_from_slice(&prefix.to_be_bytes());
        }
        io.write_all(self.wire.get(..2 + len).unwrap_or_default())
            .await?;
        io.flush().await?;
        Ok(())
    }

    async fn receive<C: AsyncRead + Unpin>(
        &mut self,
        io: &mut C,
        state: &mut snow::HandshakeState,
    ) -> Result<&[u8], NoiseError> {
        let mut prefix = [0u8; 2];
        io.read_exact(&mut prefix).await?;
        let len = usize::from(u16::from_be_bytes(prefix));
        self.wire.clear();
        // At most `len` bytes, the buffer growing as they come.
        let got = (&mut *io)
            .take(len as u64)
            .read_to_end(&mut self.wire)
            .await?;
        if got < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed inside a handshake message",
            )
            .into());
        }
        self.plain.clear();
        self.plain.resize(len, 0);
        let n = state.read_message(&self.wire, &mut self.plain)?;
        Ok(self.plain.get(..n).unwrap_or_default())
    }
}
