//! The handshake against ourselves and against libp2p-noise over loopback
//! TCP, lying and tampering peers, and the framing on crafted bytes.

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::io::Cursor;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::identity::Keypair;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use super::transport::{CipherState, MAX_PLAINTEXT};
use super::*;

pub(super) type Socket = Compat<TcpStream>;

/// Two ends of a loopback TCP connection.
pub(super) async fn pair() -> (Socket, Socket) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (
        dialed.expect("connect").compat(),
        accepted.expect("accept").0.compat(),
    )
}

/// Two ends joined through a relay of ours that flips the last bit of the
/// next chunk it forwards from the first end once `tamper` is set.
async fn tampered_pair(tamper: Arc<AtomicBool>) -> (Socket, Socket) {
    let (a, mut relay_a) = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (dialed.expect("connect"), accepted.expect("accept").0)
    };
    let (mut relay_b, b) = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (dialed.expect("connect"), accepted.expect("accept").0)
    };
    tokio::spawn(async move {
        let (mut a_read, mut a_write) = relay_a.split();
        let (mut b_read, mut b_write) = relay_b.split();
        let forward = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = a_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                if tamper.swap(false, Ordering::SeqCst) {
                    buf[n - 1] ^= 1;
                }
                if b_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        let back = tokio::io::copy(&mut b_read, &mut a_write);
        let _ = tokio::join!(forward, back);
    });
    (a.compat(), b.compat())
}

pub(super) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Writes `data` in uneven pieces with a flush now and then.
async fn write_uneven<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) {
    let sizes = [1, 12, MAX_PLAINTEXT, 100_000, 7, 262_064, 65_536, 3];
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - at);
        w.write_all(&data[at..at + n]).await.expect("write");
        if i % 3 == 0 {
            w.flush().await.expect("flush");
        }
        at += n;
        i += 1;
    }
    w.flush().await.expect("flush");
}

/// Reads `len` bytes in uneven pieces.
async fn read_uneven<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> Vec<u8> {
    let sizes = [5, 70_000, 12, 1 << 20, 999];
    let (mut out, mut i) = (Vec::with_capacity(len), 0);
    while out.len() < len {
        let mut buf = vec![0u8; sizes[i % sizes.len()].min(len - out.len())];
        r.read_exact(&mut buf).await.expect("read");
        out.extend_from_slice(&buf);
        i += 1;
    }
    out
}

/// Sends 3 MiB and some from `a` to `b` and a reply back.
pub(super) async fn exchange<A, B>(a: &mut A, b: &mut B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let data = pattern(3 * 1024 * 1024 + 12_345);
    let (_, got) = tokio::join!(write_uneven(a, &data), read_uneven(b, data.len()));
    assert!(got == data, "the bytes arrived changed");
    b.write_all(b"thanks").await.expect("reply");
    b.flush().await.expect("flush");
    let mut reply = [0u8; 6];
    a.read_exact(&mut reply).await.expect("read the reply");
    assert_eq!(&reply, b"thanks");
}

#[tokio::test]
async fn two_peers_of_ours_learn_each_others_ids_and_carry_data_both_ways() {
    let (a, b) = pair().await;
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (at_a, at_b) = tokio::join!(
        Config::new(&key_a)
            .expect("config")
            .upgrade_outbound(a, PROTOCOL),
        Config::new(&key_b)
            .expect("config")
            .upgrade_inbound(b, PROTOCOL),
    );
    let (seen_by_a, mut a) = at_a.expect("initiator");
    let (seen_by_b, mut b) = at_b.expect("responder");
    assert_eq!(seen_by_a, key_b.public().to_peer_id());
    assert_eq!(seen_by_b, key_a.public().to_peer_id());
    let expected = if crate::aes_in_hardware() {
        Cipher::AesGcm
    } else {
        Cipher::ChaChaPoly
    };
    assert_eq!((a.cipher(), b.cipher()), (expected, expected));
    exchange(&mut a, &mut b).await;
    exchange(&mut b, &mut a).await;
}

/// `Local::of(key)`, with or without AES instructions.
pub(super) fn with_aes(key: &Keypair, aes: bool) -> Local {
    Local {
        aes,
        ..Local::of(key.clone())
    }
}

#[tokio::test]
async fn aes_gcm_is_used_only_when_both_sides_have_it() {
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    for (initiator, responder) in [(true, true), (true, false), (false, true), (false, false)] {
        let (a, b) = pair().await;
        let (at_a, at_b) = tokio::join!(
            bounded(
                a,
                with_aes(&key_a, initiator),
                Role::Initiator,
                HANDSHAKE_TIMEOUT
            ),
            bounded(
                b,
                with_aes(&key_b, responder),
                Role::Responder,
                HANDSHAKE_TIMEOUT
            ),
        );
        let (_, mut a) = at_a.expect("initiator");
        let (_, mut b) = at_b.expect("responder");
        let expected = if initiator && responder {
            Cipher::AesGcm
        } else {
            Cipher::ChaChaPoly
        };
        let case = format!("initiator {initiator}, responder {responder}");
        assert_eq!((a.cipher(), b.cipher()), (expected, expected), "{case}");
        exchange(&mut a, &mut b).await;
        exchange(&mut b, &mut a).await;
    }
}

#[tokio::test]
async fn ours_dials_libp2p_noise_and_libp2p_noise_dials_ours() {
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());

    let (a, b) = pair().await;
    let stock = libp2p::noise::Config::new(&key_b).expect("libp2p-noise");
    let (at_a, at_b) = tokio::join!(
        Config::new(&key_a)
            .expect("config")
            .upgrade_outbound(a, PROTOCOL),
        stock.upgrade_inbound(b, PROTOCOL),
    );
    let (seen_by_a, mut a) = at_a.expect("ours as initiator");
    assert_eq!(a.cipher(), Cipher::ChaChaPoly);
    let (seen_by_b, mut b) = at_b.expect("libp2p-noise as responder");
    assert_eq!(seen_by_a, key_b.public().to_peer_id());
    assert_eq!(seen_by_b, key_a.public().to_peer_id());
    exchange(&mut a, &mut b).await;
    exchange(&mut b, &mut a).await;

    let (a, b) = pair().await;
    let stock = libp2p::noise::Config::new(&key_a).expect("libp2p-noise");
    let (at_a, at_b) = tokio::join!(
        stock.upgrade_outbound(a, PROTOCOL),
        Config::new(&key_b)
            .expect("config")
            .upgrade_inbound(b, PROTOCOL),
    );
    let (seen_by_a, mut a) = at_a.expect("libp2p-noise as initiator");
    let (seen_by_b, mut b) = at_b.expect("ours as responder");
    assert_eq!(b.cipher(), Cipher::ChaChaPoly);
    assert_eq!(seen_by_a, key_b.public().to_peer_id());
    assert_eq!(seen_by_b, key_a.public().to_peer_id());
    exchange(&mut a, &mut b).await;
    exchange(&mut b, &mut a).await;
}

/// Claims `claimed`'s identity while signing with another key.
fn liar(claimed: &Keypair) -> Local {
    Local {
        public: claimed.public(),
        signer: Keypair::generate_ed25519(),
        aes: crate::aes_in_hardware(),
    }
}

#[tokio::test]
async fn a_peer_whose_identity_did_not_sign_its_noise_key_is_refused_either_way() {
    let victim = Keypair::generate_ed25519();
    let honest = Keypair::generate_ed25519();

    let (a, b) = pair().await;
    let (_, at_b) = tokio::join!(
        bounded(a, liar(&victim), Role::Initiator, HANDSHAKE_TIMEOUT),
        bounded(
            b,
            Local::of(honest.clone()),
            Role::Responder,
            HANDSHAKE_TIMEOUT
        ),
    );
    assert!(
        matches!(at_b, Err(NoiseError::BadSignature)),
        "responder: {at_b:?}"
    );

    let (a, b) = pair().await;
    let (at_a, _) = tokio::join!(
        bounded(a, Local::of(honest), Role::Initiator, HANDSHAKE_TIMEOUT),
        bounded(b, liar(&victim), Role::Responder, HANDSHAKE_TIMEOUT),
    );
    assert!(
        matches!(at_a, Err(NoiseError::BadSignature)),
        "initiator: {at_a:?}"
    );
}

#[tokio::test]
async fn a_libp2p_noise_peer_rejects_our_liar_too() {
    let (a, b) = pair().await;
    let stock = libp2p::noise::Config::new(&Keypair::generate_ed25519()).expect("libp2p-noise");
    let (_, at_b) = tokio::join!(
        bounded(
            a,
            liar(&Keypair::generate_ed25519()),
            Role::Initiator,
            HANDSHAKE_TIMEOUT
        ),
        stock.upgrade_inbound(b, PROTOCOL),
    );
    assert!(at_b.is_err(), "libp2p-noise accepted a forged identity");
}

#[tokio::test]
async fn a_bit_flipped_on_the_way_fails_the_read_and_every_read_after() {
    let tamper = Arc::new(AtomicBool::new(false));
    let (a, b) = tampered_pair(tamper.clone()).await;
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (at_a, at_b) = tokio::join!(
        Config::new(&key_a)
            .expect("config")
            .upgrade_outbound(a, PROTOCOL),
        Config::new(&key_b)
            .expect("config")
            .upgrade_inbound(b, PROTOCOL),
    );
    let (_, mut a) = at_a.expect("initiator");
    let (_, mut b) = at_b.expect("responder");
    exchange(&mut a, &mut b).await;

    tamper.store(true, Ordering::SeqCst);
    a.write_all(&pattern(1000)).await.expect("write");
    a.flush().await.expect("flush");
    let mut buf = [0u8; 1000];
    let first = b
        .read(&mut buf)
        .await
        .expect_err("a tampered message was read");
    assert_eq!(first.kind(), io::ErrorKind::InvalidData, "{first}");
    assert!(first.to_string().contains("authentication"), "{first}");
    let again = b.read(&mut buf).await.expect_err("read after a failure");
    assert_eq!(again.kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn a_peer_that_goes_silent_mid_handshake_is_timed_out() {
    let (a, _silent) = pair().await;
    let local = Local::of(Keypair::generate_ed25519());
    let result = bounded(a, local, Role::Initiator, Duration::from_millis(300)).await;
    assert!(matches!(result, Err(NoiseError::Timeout)), "{result:?}");
}

#[tokio::test]
async fn an_identity_in_the_first_message_is_refused() {
    let (a, b) = pair().await;
    let local = Local::of(Keypair::generate_ed25519());
    let responder = bounded(b, local, Role::Responder, HANDSHAKE_TIMEOUT);
    let initiator = async move {
        // The first message as an initiator would send it, with a payload.
        let builder = builder().expect("snow");
        let key = builder.generate_keypair().expect("key");
        let mut state = builder
            .local_private_key(&key.private)
            .and_then(|b| b.build_initiator())
            .expect("initiator");
        let mut a = a;
        let mut wire = vec![0u8; 1024];
        let payload = payload::encode(b"key", b"signature", b"");
        let len = state.write_message(&payload, &mut wire).expect("message");
        a.write_all(&(len as u16).to_be_bytes())
            .await
            .expect("write");
        a.write_all(&wire[..len]).await.expect("write");
        a.flush().await.expect("flush");
        a
    };
    let (result, _a) = tokio::join!(responder, initiator);
    assert!(matches!(result, Err(NoiseError::Invalid(_))), "{result:?}");
}

// The framing on its own, with fixed keys.

pub(super) const KEY_1: [u8; 32] = [1; 32];
pub(super) const KEY_2: [u8; 32] = [2; 32];

pub(super) fn output<C>(io: C, cipher: Cipher, send: &[u8; 32], receive: &[u8; 32]) -> Output<C> {
    Output::new(
        io,
        CipherState::new(cipher, send).expect("key"),
        CipherState::new(cipher, receive).expect("key"),
    )
}

/// What a sender writing `data` unevenly puts on the wire.
async fn sealed(cipher: Cipher, data: &[u8]) -> Vec<u8> {
    let mut out = output(Cursor::new(Vec::new()), cipher, &KEY_1, &KEY_2);
    write_uneven(&mut out, data).await;
    out.close().await.expect("close");
    out.into_io().into_inner()
}

/// The messages of `wire`, as (start, length) of each body.
pub(super) fn messages(wire: &[u8]) -> Vec<(usize, usize)> {
    let (mut at, mut found) = (0, Vec::new());
    while at + 2 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at], wire[at + 1]]));
        found.push((at + 2, len));
        at += 2 + len;
    }
    assert_eq!(at, wire.len(), "the wire ends inside a message");
    found
}

async fn read_all(cipher: Cipher, wire: Vec<u8>) -> (Vec<u8>, io::Result<usize>) {
    let mut input = output(Cursor::new(wire), cipher, &KEY_2, &KEY_1);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 50_000];
    loop {
        match input.read(&mut buf).await {
            Ok(0) => return (got, Ok(0)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

#[tokio::test]
async fn messages_stay_within_noise_limits_and_read_back() {
    let data = pattern(2_000_000);
    let wire = sealed(Cipher::AesGcm, &data).await;
    let found = messages(&wire);
    assert!(
        found
            .iter()
            .all(|&(_, len)| (16..=MAX_MESSAGE).contains(&len))
    );
    // Full messages wherever the writer did not flush early.
    assert!(found.iter().filter(|&&(_, len)| len == MAX_MESSAGE).count() >= 20);
    let (got, end) = read_all(Cipher::AesGcm, wire).await;
    assert!(got == data, "the bytes read back changed");
    assert!(matches!(end, Ok(0)));
}

#[tokio::test]
async fn each_cipher_reads_back_its_own_messages_and_not_the_others() {
    let data = pattern(300_000);
    for (cipher, other) in [
        (Cipher::ChaChaPoly, Cipher::AesGcm),
        (Cipher::AesGcm, Cipher::ChaChaPoly),
    ] {
        let wire = sealed(cipher, &data).await;
        let (got, end) = read_all(cipher, wire.clone()).await;
        assert!(got == data && matches!(end, Ok(0)), "{cipher:?}");
        let (got, end) = read_all(other, wire).await;
        assert!(
            got.is_empty() && end.is_err(),
            "{cipher:?} opened as {other:?}"
        );
    }
}

#[test]
fn nonces_follow_noise_for_each_cipher() {
    // Noise: ChaChaPoly's counter is little-endian, AESGCM's big-endian,
    // after 4 zero bytes. The second message must open under nonce 1.
    let chacha_1 = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    let aes_1 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for (cipher, algorithm, nonce) in [
        (Cipher::ChaChaPoly, &ring::aead::CHACHA20_POLY1305, chacha_1),
        (Cipher::AesGcm, &ring::aead::AES_256_GCM, aes_1),
    ] {
        let data = pattern(100);
        let wire = futures::executor::block_on(async {
            let mut out = output(Cursor::new(Vec::new()), cipher, &KEY_1, &KEY_2);
            for chunk in [&data[..40], &data[40..]] {
                out.write_all(chunk).await.expect("write");
                out.flush().await.expect("flush");
            }
            out.into_io().into_inner()
        });
        let (start, len) = messages(&wire)[1];
        let mut second = wire[start..start + len].to_vec();
        let key = LessSafeKey::new(UnboundKey::new(algorithm, &KEY_1).expect("key"));
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut second,
            )
            .expect("the second message opens under nonce 1");
        assert_eq!(plain, &data[40..], "{cipher:?}");
    }
}

#[tokio::test]
async fn a_connection_closed_inside_a_message_is_an_error_after_the_whole_ones() {
    let data = pattern(200_000);
    let wire = sealed(Cipher::AesGcm, &data).await;
    let found = messages(&wire);
    let (last_start, last_len) = *found.last().expect("messages");
    let cut = wire[..last_start + last_len / 2].to_vec();
    let (got, end) = read_all(Cipher::AesGcm, cut).await;
    assert!(data.starts_with(&got) && got.len() == data.len() - (last_len - 16));
    let end = end.expect_err("a cut message was accepted");
    assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn reordered_replayed_or_short_messages_are_refused() {
    let wire = sealed(Cipher::ChaChaPoly, &pattern(200_000)).await;
    let found = messages(&wire);
    let frame = |i: usize| wire[found[i].0 - 2..found[i].0 + found[i].1].to_vec();

    let swapped = [frame(1), frame(0)].concat();
    let (got, end) = read_all(Cipher::ChaChaPoly, swapped).await;
    assert!(got.is_empty());
    assert_eq!(
        end.expect_err("reordered").kind(),
        io::ErrorKind::InvalidData
    );

    let replayed = [frame(0), frame(0)].concat();
    let (got, end) = read_all(Cipher::ChaChaPoly, replayed).await;
    assert_eq!(got.len(), found[0].1 - 16);
    assert_eq!(
        end.expect_err("replayed").kind(),
        io::ErrorKind::InvalidData
    );

    let short = vec![0, 5, 1, 2, 3, 4, 5];
    let (got, end) = read_all(Cipher::ChaChaPoly, short).await;
    assert!(got.is_empty());
    assert_eq!(end.expect_err("short").kind(), io::ErrorKind::InvalidData);
}
