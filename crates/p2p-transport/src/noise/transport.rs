//! Noise transport messages, sealed and opened in place.
//!
//! On the wire each message is a 2-byte big-endian length, then up to
//! [`MAX_MESSAGE`] bytes of ciphertext and tag, under the key of its
//! direction and a nonce counting messages from 0 (Noise's `CipherState`:
//! 4 zero bytes, then the counter, little-endian for ChaCha20-Poly1305 and
//! big-endian for AES-256-GCM; no associated data). AES-256-GCM, only ever
//! between two peers of ours, changes keys by Noise's `Rekey()` before each
//! message whose counter is a multiple of [`REKEY_EVERY`], and a key that
//! reached [`KEY_LIMIT`] ends the connection; ChaCha20-Poly1305 keeps its
//! key, as libp2p-noise does.
//!
//! Reading: the socket fills one buffer; each whole message in it is opened
//! where it lies and its plaintext copied out as the reader asks. Writing:
//! plaintext is copied into the frame being filled at the end of one buffer,
//! sealed there when the frame is full or on flush, and the buffer goes to
//! the socket once it holds [`WRITE_BUFFER`] bytes or is flushed.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::{AsyncRead, AsyncWrite};
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

use super::{Cipher, MAX_MESSAGE};

/// Bytes of the Poly1305 tag that ends each message.
pub(super) const TAG: usize = 16;

/// Plaintext bytes of a full message.
pub(crate) const MAX_PLAINTEXT: usize = MAX_MESSAGE - TAG;

/// A message with its length prefix, at most.
const MAX_FRAME: usize = 2 + MAX_MESSAGE;

/// Bytes read from the socket at once, at most: four full messages and
/// room for the rest of one begun before them.
pub(super) const READ_BUFFER: usize = 5 * MAX_FRAME;

/// The read buffer's size once something arrives. It starts empty and
/// doubles, up to [`READ_BUFFER`], each time it is full, so a connection
/// that carries little holds little.
const FIRST_READ: usize = 16 * 1024;

/// Sealed bytes gathered before they go to the socket: four full messages.
const WRITE_BUFFER: usize = 4 * MAX_FRAME;

/// AES-256-GCM keys are replaced by Noise's `Rekey()` every this many
/// messages in each direction: before the message whose counter is a
/// multiple of it. Both ends count the same messages, so they change keys
/// at the same one without saying so. 2^20 full messages are 64 GiB, far
/// inside AES-GCM's margin for one key (RFC 8446 section 5.5 allows
/// 2^24.5 records of 16 KiB, about 2^22.5 of our 64 KiB).
pub(super) const REKEY_EVERY: u64 = 1 << 20;

/// Messages one AES-256-GCM key may seal or open at most. Rekeying keeps
/// every key far below it; should a key reach it anyway the connection
/// ends rather than go past the margin.
pub(super) const KEY_LIMIT: u64 = 1 << 22;

/// One direction's key and message counter.
pub(super) struct CipherState {
    key: LessSafeKey,
    cipher: Cipher,
    nonce: u64,
    /// Messages sealed or opened under `key` (AES-GCM's are counted).
    under_key: u64,
}

impl CipherState {
    pub(super) fn new(cipher: Cipher, key: &[u8; 32]) -> io::Result<Self> {
        Ok(Self {
            key: bind(cipher, key)?,
            cipher,
            nonce: 0,
            under_key: 0,
        })
    }

    /// The same, with `nonce` messages already counted (and, for AES-GCM,
    /// rekeyed as they would have been): for tests of what happens near
    /// the end of the counter or a change of keys.
    #[cfg(test)]
    pub(super) fn at_nonce(mut self, nonce: u64) -> Self {
        self.nonce = nonce;
        self.under_key = nonce % REKEY_EVERY;
        self
    }

    /// The same with a key that has sealed or opened `messages` already,
    /// as if rekeying had not happened: for tests of [`KEY_LIMIT`].
    #[cfg(test)]
    pub(super) fn key_used(mut self, messages: u64) -> Self {
        self.under_key = messages;
        self
    }

    /// The next message's nonce, after a change of keys if one is due.
    /// Noise reserves the last counter value.
    fn next_nonce(&mut self) -> io::Result<Nonce> {
        if self.nonce == u64::MAX {
            return Err(io::Error::other(
                "noise: 2^64 - 1 messages on one connection; reconnect",
            ));
        }
        if self.cipher == Cipher::AesGcm {
            if self.nonce != 0 && self.nonce % REKEY_EVERY == 0 {
                self.rekey()?;
            }
            if self.under_key >= KEY_LIMIT {
                return Err(io::Error::other(
                    "noise: 2^22 messages under one AES-GCM key; the connection ends before the \
                     key's safety margin",
                ));
            }
            self.under_key += 1;
        }
        let nonce = self.nonce_for(self.nonce);
        self.nonce += 1;
        Ok(nonce)
    }

    /// Noise's nonce for `counter`: 4 zero bytes, then the counter in the
    /// cipher's byte order.
    fn nonce_for(&self, counter: u64) -> Nonce {
        let mut bytes = [0u8; 12];
        let counter = match self.cipher {
            Cipher::ChaChaPoly => counter.to_le_bytes(),
            Cipher::AesGcm => counter.to_be_bytes(),
        };
        bytes[4..].copy_from_slice(&counter);
        Nonce::assume_unique_for_key(bytes)
    }

    /// Noise's `Rekey()` (section 11.3 of the specification, as snow does
    /// it): the new key is the first 32 bytes of `ENCRYPT(k, 2^64 - 1, "",
    /// 32 zero bytes)`. The message counter goes on unchanged.
    fn rekey(&mut self) -> io::Result<()> {
        let mut key = [0u8; 32];
        let nonce = self.nonce_for(u64::MAX);
        // Only the ciphertext counts; the tag is dropped, as Noise says.
        let _tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), &mut key)
            .map_err(|_| io::Error::other("noise: deriving the next key failed"))?;
        let next = bind(self.cipher, &key);
        key.fill(0);
        self.key = next?;
        self.under_key = 0;
        Ok(())
    }
}

/// `key` as ring's key for `cipher`.
fn bind(cipher: Cipher, key: &[u8; 32]) -> io::Result<LessSafeKey> {
    let algorithm = match cipher {
        Cipher::ChaChaPoly => &CHACHA20_POLY1305,
        Cipher::AesGcm => &AES_256_GCM,
    };
    let key = UnboundKey::new(algorithm, key)
        .map_err(|_| io::Error::other(format!("noise: ring refused a {cipher:?} key")))?;
    Ok(LessSafeKey::new(key))
}

/// An encrypted connection after the handshake.
pub struct Output<C> {
    io: C,
    send: CipherState,
    receive: CipherState,
    /// Bytes from the socket are `read_buf[..read_end]`; the ones from
    /// `read_start` on are not yet opened.
    read_buf: Vec<u8>,
    read_start: usize,
    read_end: usize,
    /// Opened plaintext not yet read, inside `read_buf`.
    plain: Range<usize>,
    /// Set when the peer sent something that did not authenticate: the
    /// connection is unusable from then on.
    broken: bool,
    /// Set when a message could not be sealed (its nonce was the last, or
    /// sealing failed): the plaintext gathered for it was wiped, and every
    /// write, flush and close fails from then on, so no plaintext and no
    /// message out of sequence ever reaches the socket.
    poisoned: bool,
    /// Sealed messages from `write_pos` on, then the frame being filled.
    write_buf: Vec<u8>,
    write_pos: usize,
    /// Where the frame being filled begins (its length prefix).
    open: Option<usize>,
}

impl<C> std::fmt::Debug for Output<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("noise::Output").finish_non_exhaustive()
    }
}

impl<C> Output<C> {
    pub(super) fn new(io: C, send: CipherState, receive: CipherState) -> Self {
        Self {
            io,
            send,
            receive,
            read_buf: Vec::new(),
            read_start: 0,
            read_end: 0,
            plain: 0..0,
            broken: false,
            poisoned: false,
            write_buf: Vec::new(),
            write_pos: 0,
            open: None,
        }
    }

    /// The cipher of the messages we send.
    #[cfg(test)]
    pub(super) fn cipher(&self) -> Cipher {
        self.send.cipher
    }

    /// The connection underneath.
    #[cfg(test)]
    pub(super) fn into_io(self) -> C {
        self.io
    }

    /// Opens the message at `read_start` if all of it has arrived; returns
    /// whether it did.
    fn open_next(&mut self) -> io::Result<bool> {
        let start = self.read_start;
        let prefix = match self.read_buf.get(start..start + 2) {
            Some(&[hi, lo]) if start + 2 <= self.read_end => [hi, lo],
            _ => return Ok(false),
        };
        let len = usize::from(u16::from_be_bytes(prefix));
        if len < TAG {
            return Err(self.fail("a Noise message shorter than its tag"));
        }
        let body = start + 2..start + 2 + len;
        if body.end > self.read_end {
            return Ok(false);
        }
        let nonce = match self.receive.next_nonce() {
            Ok(nonce) => nonce,
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        };
        let Some(message) = self.read_buf.get_mut(body.clone()) else {
            return Ok(false);
        };
        let opened = self
            .receive
            .key
            .open_in_place(nonce, Aad::empty(), message)
            .map(|plain| plain.len());
        match opened {
            Ok(n) => {
                self.plain = body.start..body.start + n;
                self.read_start = body.end;
                Ok(true)
            }
            Err(_) => Err(self.fail("a Noise message failed authentication")),
        }
    }

    fn fail(&mut self, what: &str) -> io::Error {
        self.broken = true;
        io::Error::new(io::ErrorKind::InvalidData, format!("noise: {what}"))
    }

    /// Makes room to read more: drops what was consumed, moves a message
    /// begun near the end of the buffer to its front, so that a whole one
    /// fits after `read_start` once the buffer has grown to
    /// [`READ_BUFFER`], and grows the buffer when it is full.
    fn make_room(&mut self) {
        if self.read_start == self.read_end {
            self.read_start = 0;
            self.read_end = 0;
        } else if self.read_start > 0 && self.read_buf.len() - self.read_start < MAX_FRAME {
            self.read_buf.copy_within(self.read_start..self.read_end, 0);
            self.read_end -= self.read_start;
            self.read_start = 0;
        }
        if self.read_end == self.read_buf.len() {
            let len = (self.read_buf.len() * 2).clamp(FIRST_READ, READ_BUFFER);
            self.read_buf.resize(len, 0);
        }
    }

    /// Bytes the read buffer holds room for (tests and the fuzz script
    /// check its bound).
    pub(super) fn read_capacity(&self) -> usize {
        self.read_buf.capacity()
    }

    /// Seals the frame being filled, if any. If that fails the writer is
    /// poisoned: everything gathered is wiped, never to be sent.
    fn seal(&mut self) -> io::Result<()> {
        let sealed = self.seal_open();
        if sealed.is_err() {
            self.poisoned = true;
            self.open = None;
            // Wipe rather than only truncate: the frame held plaintext.
            self.write_buf.fill(0);
            self.write_buf.clear();
            self.write_pos = 0;
        }
        sealed
    }

    /// The error of every write after [`Self::seal`] failed.
    fn check_poisoned(&self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "noise: a message could not be sealed before; the connection is unusable",
            ));
        }
        Ok(())
    }

    fn seal_open(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let len = self.write_buf.len() - open - 2;
        if len == 0 {
            self.write_buf.truncate(open);
            return Ok(());
        }
        let nonce = self.send.next_nonce()?;
        let Some(plain) = self.write_buf.get_mut(open + 2..) else {
            return Err(io::Error::other("noise: a frame outside its buffer"));
        };
        let tag = self
            .send
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), plain)
            .map_err(|_| io::Error::other("noise: sealing a message failed"))?;
        self.write_buf.extend_from_slice(tag.as_ref());
        let prefix = u16::try_from(len + TAG)
            .map_err(|_| io::Error::other("noise: a message over 65,535 bytes"))?;
        if let Some(slot) = self.write_buf.get_mut(open..open + 2) {
            slot.copy_from_slice(&prefix.to_be_bytes());
        }
        Ok(())
    }
}

impl<C: AsyncWrite + Unpin> Output<C> {
    /// Writes every sealed message to the socket. No frame may be open.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.write_pos < self.write_buf.len() {
            let pending = self.write_buf.get(self.write_pos..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.write_pos += n;
        }
        self.write_buf.clear();
        self.write_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for Output<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "noise: the connection failed authentication before",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if !this.plain.is_empty() {
                let n = this.plain.len().min(buf.len());
                let from = this.plain.start..this.plain.start + n;
                if let (Some(to), Some(from)) = (buf.get_mut(..n), this.read_buf.get(from)) {
                    to.copy_from_slice(from);
                }
                this.plain.start += n;
                return Poll::Ready(Ok(n));
            }
            if this.open_next()? {
                continue;
            }
            this.make_room();
            let free = this.read_buf.get_mut(this.read_end..).unwrap_or_default();
            let n = ready!(Pin::new(&mut this.io).poll_read(cx, free))?;
            if n == 0 {
                if this.read_start == this.read_end {
                    return Poll::Ready(Ok(0));
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "noise: the connection closed inside a message",
                )));
            }
            this.read_end += n;
        }
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Output<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_poisoned()?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let open = match this.open {
            Some(open) => open,
            None => {
                // Between frames: send what is gathered once it is enough.
                if this.write_buf.len() >= WRITE_BUFFER {
                    ready!(this.poll_drain(cx))?;
                }
                let open = this.write_buf.len();
                this.write_buf.extend_from_slice(&[0, 0]);
                this.open = Some(open);
                open
            }
        };
        let filled = this.write_buf.len() - open - 2;
        let n = (MAX_PLAINTEXT - filled).min(buf.len());
        this.write_buf
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        if filled + n == MAX_PLAINTEXT {
            this.seal()?;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_poisoned()?;
        this.seal()?;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_poisoned()?;
        this.seal()?;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_close(cx)
    }
}
