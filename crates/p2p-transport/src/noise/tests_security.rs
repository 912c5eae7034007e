//! What an attacker or a hostile peer may try: a writer past its last
//! nonce, a connection that carries little, a payload where none belongs.

#![allow(clippy::expect_used)]

use futures::io::Cursor;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::identity::Keypair;

use super::tests::{KEY_1, KEY_2, Socket, messages, output, pair, pattern};
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
