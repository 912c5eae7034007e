//! What an attacker or a hostile peer may try: a writer past its last
//! nonce, a connection that carries little, a payload where none belongs,
//! a cipher that was not offered; and libp2p-noise with and without AES
//! on our side. Messages changed or reflected on the way are in
//! `tests_tamper`.

#![allow(clippy::expect_used)]

use futures::io::Cursor;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::identity::Keypair;

use super::tests::{KEY_1, KEY_2, Socket, exchange, messages, output, pair, pattern, with_aes};
use super::transport::{CipherState, MAX_PLAINTEXT};
use super::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A sender whose next message takes the last nonce Noise allows.
fn at_last_nonce(cipher: Cipher) -> Output<Cursor<Vec<u8>>> {
    Output::new(
        Cursor::new(Vec::new()),
        CipherState::new(cipher, &KEY_1)
            .expect("key")
            .at_nonce(u64::MAX - 1),
        CipherState::new(cipher, &KEY_2).expect("key"),
    )
}

/// Every write, flush and close of `out` fails.
async fn assert_poisoned(out: &mut Output<Cursor<Vec<u8>>>, case: &str) {
    assert!(out.write(b"more").await.is_err(), "{case}: a later write");
    assert!(out.flush().await.is_err(), "{case}: a later flush");
    assert!(out.close().await.is_err(), "{case}: a later close");
}

#[tokio::test]
async fn a_message_that_cannot_be_sealed_poisons_the_writer_and_no_plaintext_leaves() {
    let secret = b"plaintext that must never reach the socket";
    for cipher in [Cipher::ChaChaPoly, Cipher::AesGcm] {
        // Sealed on flush: the last nonce goes, the next flush cannot seal.
        let mut out = at_last_nonce(cipher);
        out.write_all(b"last").await.expect("write");
        out.flush().await.expect("the last nonce seals");
        out.write_all(secret)
            .await
            .expect("gathered, not yet sealed");
        let err = out.flush().await.expect_err("sealed past the last nonce");
        assert!(err.to_string().contains("2^64"), "{cipher:?}: {err}");
        assert_poisoned(&mut out, &format!("{cipher:?} on flush")).await;
        let wire = out.into_io().into_inner();
        assert_eq!(
            messages(&wire).len(),
            1,
            "{cipher:?}: only the last message"
        );
        assert!(
            !contains(&wire, secret),
            "{cipher:?}: plaintext on the wire"
        );

        // Sealed because the frame is full, inside a write.
        let mut out = at_last_nonce(cipher);
        out.write_all(b"last").await.expect("write");
        out.flush().await.expect("the last nonce seals");
        let mut full = pattern(MAX_PLAINTEXT);
        full[..secret.len()].copy_from_slice(secret);
        assert!(
            out.write_all(&full).await.is_err(),
            "{cipher:?}: full frame"
        );
        assert_poisoned(&mut out, &format!("{cipher:?} on a full frame")).await;
        let wire = out.into_io().into_inner();
        assert_eq!(
            messages(&wire).len(),
            1,
            "{cipher:?}: only the last message"
        );
        assert!(
            !contains(&wire, secret),
            "{cipher:?}: plaintext on the wire"
        );
    }
}

#[tokio::test]
async fn a_connection_that_carried_little_holds_a_small_read_buffer() {
    let mut out = output(Cursor::new(Vec::new()), Cipher::ChaChaPoly, &KEY_1, &KEY_2);
    out.write_all(b"hello").await.expect("write");
    out.flush().await.expect("flush");
    let wire = out.into_io().into_inner();
    let mut input = output(Cursor::new(wire), Cipher::ChaChaPoly, &KEY_2, &KEY_1);
    let mut buf = [0u8; 5];
    input.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"hello");
    // Far below the four full messages a busy connection reads at once.
    assert!(
        input.read_capacity() <= 16 * 1024,
        "{}",
        input.read_capacity()
    );
}

/// Sends `-> e` with `payload` to a responder of ours, then hangs up, and
/// returns how the responder ended.
async fn first_message_with(payload: &[u8]) -> Result<(PeerId, Output<Socket>), NoiseError> {
    let (a, b) = pair().await;
    let responder = bounded(
        b,
        Local::of(Keypair::generate_ed25519()),
        Role::Responder,
        HANDSHAKE_TIMEOUT,
    );
    let initiator = async move {
        let builder = builder().expect("snow");
        let key = builder.generate_keypair().expect("key");
        let mut state = builder
            .local_private_key(&key.private)
            .and_then(|b| b.build_initiator())
            .expect("initiator");
        let mut a = a;
        let mut wire = vec![0u8; 1024];
        let len = state.write_message(payload, &mut wire).expect("message");
        let prefix = u16::try_from(len).expect("short").to_be_bytes();
        a.write_all(&prefix).await.expect("write");
        a.write_all(&wire[..len]).await.expect("write");
        a.close().await.expect("close");
    };
    tokio::join!(responder, initiator).0
}

#[tokio::test]
async fn the_responder_refuses_any_payload_in_the_first_message() {
    for (payload, what) in [
        (payload::encode(b"", b"", AES_GCM), "only a cipher offer"),
        (vec![0x22, 0], "an empty extensions field"),
        (vec![0x28, 1], "an unknown varint field"),
    ] {
        let result = first_message_with(&payload).await;
        assert!(
            matches!(result, Err(NoiseError::Invalid(why)) if why.contains("first message")),
            "{what}: {result:?}"
        );
    }
}

/// An initiator that answers with `choice` in its payload's `ciphers`
/// whatever the responder offered, signing its Noise key properly.
async fn initiator_choosing(mut io: Socket, choice: &'static [u8]) -> Socket {
    let identity = Keypair::generate_ed25519();
    let builder = builder().expect("snow");
    let static_key = builder.generate_keypair().expect("key");
    let mut state = builder
        .local_private_key(&static_key.private)
        .and_then(|b| b.build_initiator())
        .expect("initiator");
    let mut messages = Messages::new();
    messages.send(&mut io, &mut state, &[]).await.expect("send");
    messages
        .receive(&mut io, &mut state)
        .await
        .expect("receive");
    let signed = [STATIC_KEY_DOMAIN, &static_key.public].concat();
    let signature = identity.sign(&signed).expect("sign");
    let ours = payload::encode(&identity.public().encode_protobuf(), &signature, choice);
    messages
        .send(&mut io, &mut state, &ours)
        .await
        .expect("send");
    io
}

#[tokio::test]
async fn a_peer_that_chooses_a_cipher_it_was_not_offered_is_refused() {
    for (offered, choice, what) in [
        (false, AES_GCM, "AES-GCM from a responder without it"),
        (true, &b"AESGCM"[..], "the name from before rekeying"),
        (true, b"XCHACHAPOLY", "a cipher nobody named"),
        (
            true,
            b"AESGCM-REKEY20,AESGCM-REKEY20",
            "a list as the choice",
        ),
    ] {
        let (a, b) = pair().await;
        let responder = with_aes(&Keypair::generate_ed25519(), offered);
        let (result, _a) = tokio::join!(
            bounded(b, responder, Role::Responder, HANDSHAKE_TIMEOUT),
            initiator_choosing(a, choice),
        );
        assert!(
            matches!(result, Err(NoiseError::Invalid(why)) if why.contains("did not offer")),
            "{what}: {result:?}"
        );
    }
    // What was offered, or nothing, is taken.
    for (choice, cipher) in [(AES_GCM, Cipher::AesGcm), (&[][..], Cipher::ChaChaPoly)] {
        let (a, b) = pair().await;
        let responder = with_aes(&Keypair::generate_ed25519(), true);
        let (result, _a) = tokio::join!(
            bounded(b, responder, Role::Responder, HANDSHAKE_TIMEOUT),
            initiator_choosing(a, choice),
        );
        let (_, out) = result.expect("an offered choice");
        assert_eq!(out.cipher(), cipher);
    }
}

#[tokio::test]
async fn libp2p_noise_talks_to_ours_with_and_without_aes_on_our_side() {
    for aes in [false, true] {
        let (ours, theirs) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());

        let (a, b) = pair().await;
        let stock = libp2p::noise::Config::new(&theirs).expect("libp2p-noise");
        let (at_a, at_b) = tokio::join!(
            bounded(a, with_aes(&ours, aes), Role::Initiator, HANDSHAKE_TIMEOUT),
            stock.upgrade_inbound(b, PROTOCOL),
        );
        let (seen_by_a, mut a) = at_a.expect("ours as initiator");
        let (seen_by_b, mut b) = at_b.expect("libp2p-noise as responder");
        assert_eq!(a.cipher(), Cipher::ChaChaPoly, "aes {aes}");
        assert_eq!(seen_by_a, theirs.public().to_peer_id());
        assert_eq!(seen_by_b, ours.public().to_peer_id());
        exchange(&mut a, &mut b).await;
        exchange(&mut b, &mut a).await;

        let (a, b) = pair().await;
        let stock = libp2p::noise::Config::new(&theirs).expect("libp2p-noise");
        let (at_a, at_b) = tokio::join!(
            stock.upgrade_outbound(a, PROTOCOL),
            bounded(b, with_aes(&ours, aes), Role::Responder, HANDSHAKE_TIMEOUT),
        );
        let (seen_by_a, mut a) = at_a.expect("libp2p-noise as initiator");
        let (seen_by_b, mut b) = at_b.expect("ours as responder");
        assert_eq!(b.cipher(), Cipher::ChaChaPoly, "aes {aes}");
        assert_eq!(seen_by_a, ours.public().to_peer_id());
        assert_eq!(seen_by_b, theirs.public().to_peer_id());
        exchange(&mut a, &mut b).await;
        exchange(&mut b, &mut a).await;
    }
}
