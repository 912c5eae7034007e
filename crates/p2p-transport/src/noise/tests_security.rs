//! What an attacker or a hostile peer may try: a writer past its last
//! nonce.

#![allow(clippy::expect_used)]

use futures::AsyncWriteExt;
use futures::io::Cursor;

use super::tests::{KEY_1, KEY_2, messages, pattern};
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
