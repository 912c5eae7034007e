//! The handshake payload decoder and two transport ends with fixed keys
//! over in-memory wires, played from bytes and polled by hand with no
//! runtime: for the fuzz targets `noise_payload` and `noise_transport`
//! (`fuzz/fuzz_targets/`, through `crate::fuzzing`).
//!
//! The transport ends skip the handshake: their keys are constants, so a
//! run depends on its input alone and sealed messages can be written into
//! seeds. What follows the handshake, [`Output`], is the same code.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::{AsyncRead, AsyncWrite};
use libp2p::identity::PublicKey;
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

use super::transport::{CipherState, MAX_PLAINTEXT, Output, READ_BUFFER, TAG};
use super::{Cipher, STATIC_KEY_DOMAIN, names_aes, payload};
use crate::yamux::script::{Pieces, Wire};

/// The `noise_payload` target: `data` as a peer's handshake payload. It
/// may fail to decode; what decodes re-encodes to no more bytes than it
/// came in (but for empty identity fields, which the encoder always
/// writes), and decodes again to the same fields. Its identity key and
/// signature then go where the handshake sends them.
pub(crate) fn payload(data: &[u8]) {
    let Ok(decoded) = payload::decode(data) else {
        return;
    };
    let again = payload::encode(decoded.identity_key, decoded.identity_sig, decoded.ciphers);
    // The encoder writes both identity fields even when empty (2 bytes
    // each); apart from those it writes nothing the input did not hold.
    let empty = [decoded.identity_key, decoded.identity_sig]
        .iter()
        .filter(|field| field.is_empty())
        .count();
    assert!(
        again.len() <= data.len() + 2 * empty,
        "re-encoded longer: {again:?}"
    );
    assert_eq!(payload::decode(&again).as_ref(), Ok(&decoded));
    let _ = names_aes(decoded.ciphers);
    if let Ok(key) = PublicKey::try_decode_protobuf(decoded.identity_key) {
        let signed = [STATIC_KEY_DOMAIN, &[0; 32]].concat();
        let _ = key.verify(&signed, decoded.identity_sig);
    }
}

/// The key of the messages to the receiving end.
const TO_RECEIVER: [u8; 32] = [0x5a; 32];
/// The key of the other direction, unused: the receiving end sends nothing.
const TO_SENDER: [u8; 32] = [0xa5; 32];

/// Plaintext the sending end writes in one run, at most: two full
/// messages and a little more, enough for the reader's buffer to grow
/// past a full message, little enough for many runs a second.
const MAX_SENT: usize = 2 * MAX_PLAINTEXT + 4096;

/// Writes, pieces of the wire and reads cut small in one run, at most;
/// after them the rest goes at once. Enough to cut inside and between
/// several messages, without a run spending itself on single bytes.
const MAX_CUTS: usize = 512;

/// Sizes as [`Pieces`] gives them for [`MAX_CUTS`] calls, then no limit.
struct Cuts {
    pieces: Pieces,
    left: usize,
}

impl Cuts {
    fn new(seed: u8) -> Self {
        Self {
            pieces: Pieces::new(seed),
            left: MAX_CUTS,
        }
    }

    fn next(&mut self) -> usize {
        if self.left == 0 {
            return usize::MAX;
        }
        self.left -= 1;
        self.pieces.next()
    }
}

/// Byte `at` of what the sending end writes: it differs with the
/// position, so a message out of place cannot pass for the right one.
fn pattern(at: usize) -> u8 {
    ((at as u32).wrapping_mul(0x9e37_79b1) >> 24) as u8
}

/// An end of ours with the fixed keys, `sends` saying which way it faces.
fn end(cipher: Cipher, wire: Wire, sends: bool) -> io::Result<Output<Wire>> {
    let (send, receive) = if sends {
        (TO_RECEIVER, TO_SENDER)
    } else {
        (TO_SENDER, TO_RECEIVER)
    };
    Ok(Output::new(
        wire,
        CipherState::new(cipher, &send)?,
        CipherState::new(cipher, &receive)?,
    ))
}

/// Splits `wire` into its messages, each with its length prefix; the
/// rest, if it ends inside one, is returned apart.
fn messages(wire: &[u8]) -> (Vec<Vec<u8>>, &[u8]) {
    let mut all = Vec::new();
    let mut rest = wire;
    while let Some((prefix, after)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*prefix));
        if after.len() < len {
            break;
        }
        let (frame, after) = rest.split_at(2 + len);
        all.push(frame.to_vec());
        rest = after;
    }
    (all, rest)
}

/// What an honest reader makes of `wire`, written apart from [`Output`]:
/// the plaintext of its messages up to the first that does not open, and
/// whether every byte belonged to a message that opened. (Keys change
/// only after 2^20 messages, far more than any input holds.)
fn reference(cipher: Cipher, wire: &[u8]) -> (Vec<u8>, bool) {
    let algorithm = match cipher {
        Cipher::ChaChaPoly => &CHACHA20_POLY1305,
        Cipher::AesGcm => &AES_256_GCM,
    };
    let Ok(key) = UnboundKey::new(algorithm, &TO_RECEIVER) else {
        return (Vec::new(), false);
    };
    let key = LessSafeKey::new(key);
    let (frames, rest) = messages(wire);
    let mut plain = Vec::new();
    for (counter, mut frame) in (0u64..).zip(frames) {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&match cipher {
            Cipher::ChaChaPoly => counter.to_le_bytes(),
            Cipher::AesGcm => counter.to_be_bytes(),
        });
        let body = frame.get_mut(2..).unwrap_or_default();
        if body.len() < TAG {
            return (plain, false);
        }
        let nonce = Nonce::assume_unique_for_key(nonce);
        match key.open_in_place(nonce, Aad::empty(), body) {
            Ok(opened) => plain.extend_from_slice(opened),
            Err(_) => return (plain, false),
        }
    }
    (plain, rest.is_empty())
}

/// The input's bytes, taken from the front.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
}

/// The sending end, with what it wrote and the messages it sent so far.
struct Sender {
    out: Output<Wire>,
    wire: Wire,
    sent: Vec<u8>,
    honest: Vec<u8>,
    frames: Vec<Vec<u8>>,
}

impl Sender {
    /// Writes `len` more bytes of [`pattern`] in pieces cut by `pieces`.
    fn write(&mut self, len: usize, pieces: &mut Cuts, cx: &mut Context<'_>) {
        let from = self.sent.len();
        let len = len.min(MAX_SENT - from);
        let plain: Vec<u8> = (from..from + len).map(pattern).collect();
        let mut rest = &plain[..];
        while !rest.is_empty() {
            let piece = rest
                .get(..pieces.next().min(rest.len()))
                .unwrap_or_default();
            let written = Pin::new(&mut self.out).poll_write(cx, piece);
            assert!(
                matches!(written, Poll::Ready(Ok(n)) if 0 < n && n <= piece.len()),
                "writing {} bytes to a wire that takes everything: {written:?}",
                piece.len()
            );
            let Poll::Ready(Ok(n)) = written else {
                return;
            };
            self.sent
                .extend_from_slice(piece.get(..n).unwrap_or_default());
            rest = rest.get(n..).unwrap_or_default();
        }
        self.take();
    }

    fn flush(&mut self, cx: &mut Context<'_>) {
        let flushed = Pin::new(&mut self.out).poll_flush(cx);
        assert!(
            matches!(flushed, Poll::Ready(Ok(()))),
            "flushing to a wire that takes everything: {flushed:?}"
        );
        self.take();
    }

    /// Moves what reached the wire into `frames`: whole messages only.
    fn take(&mut self) {
        let heard = self.wire.heard();
        let (frames, rest) = messages(&heard);
        assert!(rest.is_empty(), "the sender left a message cut: {rest:?}");
        self.honest.extend_from_slice(&heard);
        self.frames.extend(frames);
    }
}

/// Applies tampering `op` (low 3 bits: which; top 3: a flip's bit number)
/// to the messages sent so far, with its arguments from `script`.
fn tamper(frames: &mut Vec<Vec<u8>>, op: u8, script: &mut Script<'_>) -> Option<()> {
    let k = usize::from(script.byte()?) % frames.len().max(1);
    if frames.is_empty() {
        return Some(());
    }
    match op & 7 {
        2 => {
            let at = usize::from(script.u16()?);
            let frame = frames.get_mut(k)?;
            if let Some(byte) = at.checked_rem(frame.len()).and_then(|at| frame.get_mut(at)) {
                *byte ^= 1 << (op >> 5);
            }
        }
        3 => {
            let prefix = script.u16()?.to_be_bytes();
            if let Some(slot) = frames.get_mut(k)?.get_mut(..2) {
                slot.copy_from_slice(&prefix);
            }
        }
        4 => {
            frames.remove(k);
        }
        5 => {
            let copy = frames.get(k)?.clone();
            frames.insert(k, copy);
        }
        6 if k + 1 < frames.len() => frames.swap(k, k + 1),
        7 => {
            let at = usize::from(script.u16()?);
            let frame = frames.get_mut(k)?;
            frame.truncate(at.checked_rem(frame.len()).unwrap_or(0));
        }
        _ => {}
    }
    Some(())
}

/// The `noise_transport` target. `data[0]`: the cipher (bit 0: AES-GCM),
/// the mode (bit 1) and how the wire is cut (bits 4..8, as the yamux
/// script cuts); `data[1]`: how big each write and each read is. In the
/// raw mode the rest is the wire. Otherwise it is a script of operations,
/// each a byte (low 3 bits; a flip's bit number in the top 3) and its
/// arguments: 0 writes a `u16` of bytes at the sending end, 1 flushes,
/// and on the messages sent so far (the first argument picks one) 2 flips
/// a bit, 3 rewrites a length prefix, 4 drops, 5 doubles, 6 swaps with the
/// next, 7 cuts; then the sender flushes and what it sent, tampered, is
/// the wire.
///
/// The wire reaches the receiving end in pieces, then ends. The reader may
/// fail, and then fails every read after; it never panics; its buffer
/// stays within [`READ_BUFFER`]; what it returns is what a reader written
/// apart ([`reference`]) opens, all of it once the wire is whole messages
/// that open, and in the script mode a prefix of what was written, all of
/// it when nothing was tampered with.
pub(crate) fn transport(data: &[u8]) {
    let mut script = Script(data);
    let (Some(control), Some(reads)) = (script.byte(), script.byte()) else {
        return;
    };
    let cipher = if control & 1 == 0 {
        Cipher::ChaChaPoly
    } else {
        Cipher::AesGcm
    };
    let mut cx = Context::from_waker(Waker::noop());
    let (wire, sent) = if control & 2 != 0 {
        (script.0.to_vec(), None)
    } else {
        let wire = Wire::default();
        let Ok(out) = end(cipher, wire.clone(), true) else {
            return;
        };
        let mut sender = Sender {
            out,
            wire,
            sent: Vec::new(),
            honest: Vec::new(),
            frames: Vec::new(),
        };
        let mut pieces = Cuts::new(reads);
        while let Some(op) = script.byte() {
            let done = match op & 7 {
                0 => script.u16().map(|len| {
                    sender.write(usize::from(len), &mut pieces, &mut cx);
                }),
                1 => {
                    sender.flush(&mut cx);
                    Some(())
                }
                _ => tamper(&mut sender.frames, op, &mut script),
            };
            if done.is_none() {
                break;
            }
        }
        sender.flush(&mut cx);
        assert_eq!(
            reference(cipher, &sender.honest),
            (sender.sent.clone(), true),
            "the sender's messages do not open to what it wrote"
        );
        (sender.frames.concat(), Some((sender.sent, sender.honest)))
    };
    let (expected, whole) = reference(cipher, &wire);
    let (got, clean) = receive(cipher, &wire, control, reads, &mut cx);
    assert!(
        expected.starts_with(&got),
        "read {} bytes that the reference does not open",
        got.len()
    );
    if whole || clean {
        assert!(whole && clean, "whole: {whole}, ended cleanly: {clean}");
        assert_eq!(got.len(), expected.len(), "whole messages not all read");
    }
    if let Some((sent, honest)) = sent {
        assert!(sent.starts_with(&got), "read what was not written");
        if wire == honest {
            assert_eq!(got, sent, "untouched messages not all read");
        }
    }
}

/// Plays `wire` to a receiving end in pieces cut as `control` says, each
/// read asking for up to 2^(`reads` >> 4) bytes (both for [`MAX_CUTS`]
/// times, then as much as there is), then the end. Returns what it read
/// and whether it ended without an error.
fn receive(
    cipher: Cipher,
    wire: &[u8],
    control: u8,
    reads: u8,
    cx: &mut Context<'_>,
) -> (Vec<u8>, bool) {
    let far = Wire::default();
    let Ok(mut ours) = end(cipher, far.clone(), false) else {
        return (Vec::new(), false);
    };
    let mut pieces = Cuts::new(control);
    let mut sizes = Cuts::new(reads);
    // As large as the largest read asked for, and 4 KiB at least for the
    // reads after those.
    let mut buf = vec![0u8; (1usize << (reads >> 4)).max(1 << 12)];
    let mut got = Vec::new();
    let mut rest = wire;
    loop {
        let hung_up = rest.is_empty();
        if hung_up {
            far.hang_up();
        } else {
            let (piece, after) = rest.split_at(pieces.next().min(rest.len()));
            far.say(piece);
            rest = after;
        }
        loop {
            let ask = sizes.next().min(buf.len());
            let read = Pin::new(&mut ours).poll_read(cx, &mut buf[..ask]);
            assert!(
                ours.read_capacity() <= READ_BUFFER,
                "read buffer past its bound"
            );
            match read {
                Poll::Ready(Ok(0)) => return (got, true),
                Poll::Ready(Ok(n)) => {
                    assert!(n <= ask, "read {n} into {ask}");
                    got.extend_from_slice(&buf[..n]);
                }
                Poll::Ready(Err(_)) => {
                    let again = Pin::new(&mut ours).poll_read(cx, &mut buf[..ask]);
                    assert!(
                        matches!(again, Poll::Ready(Err(_))),
                        "a read after an error gave {again:?}"
                    );
                    return (got, false);
                }
                Poll::Pending => {
                    assert!(!hung_up, "a read waits after the end");
                    break;
                }
            }
        }
    }
}
