//! AES-256-GCM's change of keys every [`REKEY_EVERY`] messages: two ends
//! of ours across it, snow's `Rekey()` as the known answer, ChaCha20-Poly1305
//! left as libp2p has it, and the end of a connection whose key reached
//! [`KEY_LIMIT`].

#![allow(clippy::expect_used)]

use futures::io::Cursor;
use futures::{AsyncReadExt, AsyncWriteExt};

use super::tests::{KEY_1, KEY_2, messages, pair, pattern};
use super::transport::{CipherState, KEY_LIMIT, REKEY_EVERY};
use super::*;

/// An end whose counters in both directions stand at `nonce`.
fn end_at<C>(io: C, send: &[u8; 32], receive: &[u8; 32], nonce: u64) -> Output<C> {
    let state = |key| {
        CipherState::new(Cipher::AesGcm, key)
            .expect("key")
            .at_nonce(nonce)
    };
    Output::new(io, state(send), state(receive))
}

/// Sends `count` messages of a few hundred bytes each, flushing each one
/// so that each is its own Noise message, and reads them on the other end.
async fn messages_across<A, B>(from: &mut A, to: &mut B, count: usize)
where
    A: futures::AsyncWrite + Unpin,
    B: futures::AsyncRead + Unpin,
{
    let data = pattern(count * 300);
    let send = async {
        for chunk in data.chunks(300) {
            from.write_all(chunk).await.expect("write");
            from.flush().await.expect("flush");
        }
    };
    let receive = async {
        let mut got = vec![0u8; data.len()];
        to.read_exact(&mut got).await.expect("read");
        got
    };
    let ((), got) = tokio::join!(send, receive);
    assert!(got == data, "the bytes arrived changed");
}

#[tokio::test]
async fn two_ends_of_ours_change_keys_in_step_and_keep_talking() {
    // Across the first change of keys and across a later one, both ways.
    for start in [REKEY_EVERY - 100, 3 * REKEY_EVERY - 7] {
        let (a, b) = pair().await;
        let mut a = end_at(a, &KEY_1, &KEY_2, start);
        let mut b = end_at(b, &KEY_2, &KEY_1, start);
        messages_across(&mut a, &mut b, 250).await;
        messages_across(&mut b, &mut a, 250).await;
        messages_across(&mut a, &mut b, 10).await;
    }
}

/// snow's two ends after an XX handshake run in memory with `params`; the
/// responder in transport mode and the split key towards it.
fn snow_pair(params: &str) -> (snow::TransportState, [u8; 32]) {
    let params: snow::params::NoiseParams = params.parse().expect("params");
    let build = || {
        let resolver = FallbackResolver::new(Box::new(RingResolver), Box::new(DefaultResolver));
        snow::Builder::with_resolver(params.clone(), Box::new(resolver))
    };
    let (key_i, key_r) = (
        build().generate_keypair().expect("key"),
        build().generate_keypair().expect("key"),
    );
    let mut initiator = build()
        .local_private_key(&key_i.private)
        .and_then(|b| b.build_initiator())
        .expect("initiator");
    let mut responder = build()
        .local_private_key(&key_r.private)
        .and_then(|b| b.build_responder())
        .expect("responder");
    let (mut wire, mut plain) = (vec![0u8; 1024], vec![0u8; 1024]);
    for turn in 0..3 {
        let (from, to) = if turn % 2 == 0 {
            (&mut initiator, &mut responder)
        } else {
            (&mut responder, &mut initiator)
        };
        let len = from.write_message(&[], &mut wire).expect("write");
        to.read_message(&wire[..len], &mut plain).expect("read");
    }
    let (to_responder, _) = initiator.dangerously_get_raw_split();
    (
        responder.into_transport_mode().expect("transport"),
        to_responder,
    )
}

/// The bodies of the two messages our sender seals for "before" and
/// "after", its counter standing at `nonce` before the first.
async fn two_messages(cipher: Cipher, key: &[u8; 32], nonce: u64) -> Vec<Vec<u8>> {
    let send = CipherState::new(cipher, key).expect("key").at_nonce(nonce);
    let receive = CipherState::new(cipher, &KEY_2).expect("key");
    let mut out = Output::new(Cursor::new(Vec::new()), send, receive);
    for chunk in [&b"before"[..], b"after"] {
        out.write_all(chunk).await.expect("write");
        out.flush().await.expect("flush");
    }
    let wire = out.into_io().into_inner();
    messages(&wire)
        .into_iter()
        .map(|(start, len)| wire[start..start + len].to_vec())
        .collect()
}

#[tokio::test]
async fn our_change_of_keys_is_noises_rekey_as_snow_does_it() {
    let (mut snow, key) = snow_pair("Noise_XX_25519_AESGCM_SHA256");
    let sealed = two_messages(Cipher::AesGcm, &key, REKEY_EVERY - 1).await;
    let mut plain = vec![0u8; 1024];
    snow.set_receiving_nonce(REKEY_EVERY - 1);
    let n = snow
        .read_message(&sealed[0], &mut plain)
        .expect("last of the first key");
    assert_eq!(&plain[..n], b"before");
    assert!(
        snow.read_message(&sealed[1], &mut plain).is_err(),
        "message 2^20 opened under the first key"
    );
    snow.rekey_incoming();
    let n = snow
        .read_message(&sealed[1], &mut plain)
        .expect("message 2^20 under Rekey(k)");
    assert_eq!(&plain[..n], b"after");
}

#[tokio::test]
async fn chacha20_poly1305_keeps_its_key_as_libp2p_does() {
    let (mut snow, key) = snow_pair("Noise_XX_25519_ChaChaPoly_SHA256");
    let sealed = two_messages(Cipher::ChaChaPoly, &key, REKEY_EVERY - 1).await;
    let mut plain = vec![0u8; 1024];
    snow.set_receiving_nonce(REKEY_EVERY - 1);
    for (message, expected) in sealed.iter().zip([&b"before"[..], b"after"]) {
        let n = snow.read_message(message, &mut plain).expect("one key");
        assert_eq!(&plain[..n], expected);
    }
}

#[tokio::test]
async fn a_key_at_its_limit_ends_the_connection_both_ways() {
    // A sender whose key has sealed all it may: the next message is
    // refused and the writer with it, nothing more reaches the wire.
    let send = CipherState::new(Cipher::AesGcm, &KEY_1)
        .expect("key")
        .at_nonce(5)
        .key_used(KEY_LIMIT - 1);
    let receive = CipherState::new(Cipher::AesGcm, &KEY_2).expect("key");
    let mut out = Output::new(Cursor::new(Vec::new()), send, receive);
    out.write_all(b"the last one").await.expect("write");
    out.flush().await.expect("the key's last message");
    out.write_all(b"one too many").await.expect("gathered");
    let err = out
        .flush()
        .await
        .expect_err("a message past the key's limit");
    assert!(err.to_string().contains("one AES-GCM key"), "{err}");
    assert!(out.write(b"more").await.is_err(), "a write after it");
    let wire = out.into_io().into_inner();
    assert_eq!(messages(&wire).len(), 1);

    // A receiver whose key has opened all it may refuses the next message
    // and every read after it.
    let sealed = two_messages(Cipher::AesGcm, &KEY_1, 5).await;
    let wire: Vec<u8> = sealed
        .iter()
        .flat_map(|body| {
            let len = u16::try_from(body.len()).expect("short").to_be_bytes();
            len.into_iter().chain(body.iter().copied())
        })
        .collect();
    let send = CipherState::new(Cipher::AesGcm, &KEY_2).expect("key");
    let receive = CipherState::new(Cipher::AesGcm, &KEY_1)
        .expect("key")
        .at_nonce(5)
        .key_used(KEY_LIMIT - 1);
    let mut input = Output::new(Cursor::new(wire), send, receive);
    let mut buf = [0u8; 64];
    let n = input.read(&mut buf).await.expect("the key's last message");
    assert_eq!(&buf[..n], b"before");
    let err = input
        .read(&mut buf)
        .await
        .expect_err("past the key's limit");
    assert!(err.to_string().contains("one AES-GCM key"), "{err}");
    assert!(input.read(&mut buf).await.is_err(), "a read after it");
}
