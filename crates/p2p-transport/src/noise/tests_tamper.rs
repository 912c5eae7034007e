//! Handshake and transport messages changed on the way (a bit flipped,
//! grown, cut, the cipher offer and choice among them) or sent back to
//! their sender, through a relay of ours that reads whole messages.

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::identity::Keypair;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::tests::{Socket, exchange, pattern, with_aes};
use super::*;

/// Which way a message travels through [`relay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the first end (the initiator in these tests).
    Forth,
    /// From the second end.
    Back,
}

/// What [`relay`] does to the `index`th message going `way` (counted from
/// 0 in each direction): it may change the body (the length prefix is
/// rewritten to match), and it says whether the message goes back where
/// it came from instead of on.
type Rule = Arc<dyn Fn(Way, usize, &mut Vec<u8>) -> bool + Send + Sync>;

/// Forwards everything unchanged.
fn untouched() -> Rule {
    Arc::new(|_, _, _: &mut Vec<u8>| false)
}

/// Two ends joined through a relay that reads whole Noise messages (the
/// handshake's and the transport's framing are the same) and applies
/// `rule` to each.
async fn relay(rule: Rule) -> (Socket, Socket) {
    let (a, relay_a) = raw_pair().await;
    let (relay_b, b) = raw_pair().await;
    let (a_read, a_write) = relay_a.into_split();
    let (b_read, b_write) = relay_b.into_split();
    let a_write = Arc::new(tokio::sync::Mutex::new(a_write));
    let b_write = Arc::new(tokio::sync::Mutex::new(b_write));
    for (way, read, own, other) in [
        (Way::Forth, a_read, a_write.clone(), b_write.clone()),
        (Way::Back, b_read, b_write, a_write),
    ] {
        let rule = rule.clone();
        tokio::spawn(async move {
            let mut read = read;
            for index in 0.. {
                let mut prefix = [0u8; 2];
                if read.read_exact(&mut prefix).await.is_err() {
                    break;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                if read.read_exact(&mut body).await.is_err() {
                    break;
                }
                let back = rule(way, index, &mut body);
                let Ok(len) = u16::try_from(body.len()) else {
                    break;
                };
                let mut to = if back { &own } else { &other }.lock().await;
                let frame = [&len.to_be_bytes()[..], &body].concat();
                if to.write_all(&frame).await.is_err() {
                    break;
                }
            }
            // The sender is gone: close what we forward to.
            let _ = other.lock().await.shutdown().await;
        });
    }
    (a.compat(), b.compat())
}

/// Two ends of a loopback TCP connection, as tokio has them.
async fn raw_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (dialed.expect("connect"), accepted.expect("accept").0)
}

/// Flips the lowest bit of the byte `at` of message `index` going `way`;
/// `at` counts from the body's end when negative.
fn flip(way: Way, index: usize, at: isize) -> Rule {
    Arc::new(move |w, i, body: &mut Vec<u8>| {
        if (w, i) == (way, index) {
            let at = if at < 0 {
                body.len().checked_sub(at.unsigned_abs())
            } else {
                Some(at.unsigned_abs())
            };
            if let Some(byte) = at.and_then(|at| body.get_mut(at)) {
                *byte ^= 1;
            }
        }
        false
    })
}

type Ended = Result<(PeerId, Output<Socket>), NoiseError>;

/// A handshake between two peers of ours with AES-GCM, through `rule`.
async fn handshake_through(rule: Rule) -> (Ended, Ended) {
    let (a, b) = relay(rule).await;
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    tokio::join!(
        bounded(
            a,
            with_aes(&key_a, true),
            Role::Initiator,
            HANDSHAKE_TIMEOUT
        ),
        bounded(
            b,
            with_aes(&key_b, true),
            Role::Responder,
            HANDSHAKE_TIMEOUT
        ),
    )
}

#[tokio::test]
async fn the_untouched_relay_carries_a_handshake_and_data() {
    // The relay itself changes nothing: the tests below fail because of
    // what their rules change.
    let (at_a, at_b) = handshake_through(untouched()).await;
    let ((_, mut a), (_, mut b)) = (at_a.expect("initiator"), at_b.expect("responder"));
    assert_eq!((a.cipher(), b.cipher()), (Cipher::AesGcm, Cipher::AesGcm));
    exchange(&mut a, &mut b).await;
    exchange(&mut b, &mut a).await;
}

#[tokio::test]
async fn a_handshake_message_changed_on_the_way_fails_the_handshake() {
    // The tag of a payload follows it, so the byte before the last 16 of
    // messages 2 and 3 is the last of the `ciphers` field: AES-GCM's offer
    // and its choice, which the handshake hash must bind.
    let ciphers = -17;
    // The side that finds the change: the ephemeral key of message 1 goes
    // in the clear and is only found out when message 2 does not open.
    for (way, index, at, finder, what) in [
        (
            Way::Forth,
            0,
            0,
            Role::Initiator,
            "message 1: the ephemeral key",
        ),
        (
            Way::Back,
            0,
            0,
            Role::Initiator,
            "message 2: the ephemeral key",
        ),
        (
            Way::Back,
            0,
            40,
            Role::Initiator,
            "message 2: the static key",
        ),
        (
            Way::Back,
            0,
            ciphers,
            Role::Initiator,
            "message 2: the cipher offer",
        ),
        (
            Way::Back,
            0,
            -1,
            Role::Initiator,
            "message 2: the payload's tag",
        ),
        (
            Way::Forth,
            1,
            10,
            Role::Responder,
            "message 3: the static key",
        ),
        (
            Way::Forth,
            1,
            ciphers,
            Role::Responder,
            "message 3: the cipher choice",
        ),
    ] {
        let (at_a, at_b) = handshake_through(flip(way, index, at)).await;
        let found = if finder == Role::Initiator {
            &at_a
        } else {
            &at_b
        };
        assert!(
            matches!(found, Err(NoiseError::Noise(_))),
            "{what}: {found:?}"
        );
        // The responder fails too, as the initiator hangs up. Only when
        // the change was in message 3, the initiator's last, may the
        // initiator believe it finished.
        assert!(at_b.is_err(), "{what}: the responder finished");
        if index == 0 {
            assert!(at_a.is_err(), "{what}: the initiator finished");
        }
    }
}

#[tokio::test]
async fn a_handshake_message_grown_or_cut_on_the_way_fails_the_handshake() {
    for (way, index, what) in [
        (Way::Forth, 0, "message 1"),
        (Way::Back, 0, "message 2"),
        (Way::Forth, 1, "message 3"),
    ] {
        for grow in [true, false] {
            let rule: Rule = Arc::new(move |w, i, body: &mut Vec<u8>| {
                if (w, i) == (way, index) {
                    if grow {
                        body.push(0);
                    } else {
                        body.pop();
                    }
                }
                false
            });
            let (at_a, at_b) = handshake_through(rule).await;
            let refused = if way == Way::Back { &at_a } else { &at_b };
            assert!(refused.is_err(), "{what}, grown {grow}: {refused:?}");
        }
    }
}

#[tokio::test]
async fn our_own_transport_messages_sent_back_to_us_do_not_open() {
    let reflect = Arc::new(AtomicBool::new(false));
    let flag = reflect.clone();
    let rule: Rule = Arc::new(move |_, _, _: &mut Vec<u8>| flag.load(Ordering::SeqCst));
    let (at_a, at_b) = handshake_through(rule).await;
    let ((_, mut a), (_, mut b)) = (at_a.expect("initiator"), at_b.expect("responder"));
    exchange(&mut a, &mut b).await;
    reflect.store(true, Ordering::SeqCst);
    for (end, out) in [("initiator", &mut a), ("responder", &mut b)] {
        out.write_all(&pattern(1000)).await.expect("write");
        out.flush().await.expect("flush");
        let mut buf = [0u8; 1000];
        let err = out
            .read(&mut buf)
            .await
            .expect_err("our own message opened");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{end}: {err}");
        assert!(err.to_string().contains("authentication"), "{end}: {err}");
    }
}

#[tokio::test]
async fn a_handshake_message_sent_back_to_its_sender_fails() {
    // The initiator's first message comes back as the answer to it.
    let (a, _b) = relay(Arc::new(|_, _, _: &mut Vec<u8>| true)).await;
    let local = Local::of(Keypair::generate_ed25519());
    let result = bounded(a, local, Role::Initiator, HANDSHAKE_TIMEOUT).await;
    assert!(matches!(result, Err(NoiseError::Noise(_))), "{result:?}");

    // The responder's answer comes back as the initiator's last message.
    let (a, b) = relay(Arc::new(|way, _, _: &mut Vec<u8>| way == Way::Back)).await;
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (at_a, at_b) = tokio::join!(
        bounded(
            a,
            with_aes(&key_a, true),
            Role::Initiator,
            HANDSHAKE_TIMEOUT
        ),
        bounded(
            b,
            with_aes(&key_b, true),
            Role::Responder,
            HANDSHAKE_TIMEOUT
        ),
    );
    assert!(matches!(at_b, Err(NoiseError::Noise(_))), "{at_b:?}");
    assert!(at_a.is_err(), "the initiator finished: {at_a:?}");
}
