//! The floor of the big-file rows: the work the design asks for and nothing
//! else, in the best pipeline two cores allow, to show how close the
//! engine can get to the raw copy on this machine.
//!
//! Exactly what a transfer must do for one file, with no libp2p, yamux,
//! tokio or protocol around it:
//! 1. the sender hashes the file with BLAKE3 before it offers it, on several
//!    threads while the next MiB is read (as the engine does);
//! 2. a sender thread reads the file 256 KiB at a time, seals it in Noise's
//!    largest frames (65,519 bytes of data and a 16-byte tag) with the
//!    transport's cipher from ring, and writes them to a loopback TCP
//!    socket. The ciphers: AES-256-GCM for TCP between our peers on a
//!    processor with AES instructions (see `p2p_transport::noise`),
//!    ChaCha20-Poly1305 for TCP otherwise (libp2p's Noise has no other),
//!    AES-128-GCM for QUIC (what our TLS picks, see `p2p_transport::tls`);
//!    QUIC seals packets of at most 8,952 bytes, so its real cipher cost
//!    is somewhat higher;
//! 3. a receiver thread reads and opens the frames;
//! 4. a disk thread hashes the data with BLAKE3 and writes it to the
//!    destination as the engine writes a large file: gathered into 1 MiB
//!    aligned blocks written around the page cache (`O_DIRECT`), the tail
//!    through it; then it fsyncs the file and checks the hash against the
//!    sender's.
//!
//! Timed from the start of the hashing to the verified file synced.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use anyhow::{Context as _, anyhow, ensure};
use ring::aead::{
    AES_128_GCM, AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

/// Noise's largest message and its tag.
const FRAME: usize = 65_535;
const TAG: usize = 16;
/// The engine's stream chunk.
const CHUNK: usize = 256 * 1024;
/// The engine's read buffer for hashing.
const HASH_CHUNK: usize = 1024 * 1024;
/// The engine's direct writes: 1 MiB blocks at 4 KiB-aligned addresses.
const DIRECT_BLOCK: usize = 1024 * 1024;
const ALIGN: usize = 4096;
/// Frames queued to the disk thread (as many bytes as the engine's
/// receive queue of 4 × 256 KiB).
const QUEUE: usize = 16;

/// The transport's cipher.
#[derive(Clone, Copy)]
pub(crate) enum Cipher {
    /// ChaCha20-Poly1305: Noise over TCP with libp2p's peers, or without
    /// AES instructions.
    ChaCha20,
    /// AES-256-GCM: Noise over TCP between our peers with AES instructions.
    Aes256,
    /// AES-128-GCM: our TLS over QUIC, on a processor with AES instructions.
    Aes128,
}

impl Cipher {
    fn algorithm(self) -> &'static Algorithm {
        match self {
            Cipher::ChaCha20 => &CHACHA20_POLY1305,
            Cipher::Aes256 => &AES_256_GCM,
            Cipher::Aes128 => &AES_128_GCM,
        }
    }
}

/// How the essential copy went.
pub(crate) struct Floor {
    /// Seconds from the start to the verified copy synced.
    pub(crate) wall: f64,
    /// Of them, seconds hashing before the copy started.
    pub(crate) hashing: f64,
    /// CPU seconds of all threads, kernel time included.
    pub(crate) cpu: f64,
}

/// Copies `src` to `dst` doing only the essential work (see the module
/// documentation).
pub(crate) fn essential_copy(src: &Path, dst: &Path, cipher: Cipher) -> anyhow::Result<Floor> {
    let cpu_before = super::peer::cpu_seconds(std::process::id());
    let start = Instant::now();
    let hash = prehash(src)?;
    let hashed = start.elapsed().as_secs_f64();
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr().context("no local address")?;
    let src = src.to_owned();
    let sender = thread::spawn(move || -> anyhow::Result<()> {
        let file = File::open(&src).context("cannot open the source")?;
        let sock = TcpStream::connect(addr).context("cannot connect")?;
        seal_all(file, sock, &key(cipher)?)
    });
    let (sock, _) = listener.accept().context("accept failed")?;
    let (to_disk, from_net) = mpsc::sync_channel::<(Vec<u8>, usize)>(QUEUE);
    let (give_back, spare) = mpsc::sync_channel::<Vec<u8>>(QUEUE + 2);
    let out = File::create(dst).context("cannot create the copy")?;
    let disk = thread::spawn(move || -> anyhow::Result<blake3::Hash> {
        let mut hasher = blake3::Hasher::new();
        let mut out = Direct::new(out)?;
        for (frame, len) in from_net {
            hasher.update(&frame[..len]);
            out.write(&frame[..len]).context("cannot write the copy")?;
            let _ = give_back.try_send(frame);
        }
        out.finish()?.sync_all().context("cannot fsync the copy")?;
        Ok(hasher.finalize())
    });
    let opened = key(cipher).and_then(|key| open_all(sock, &key, &to_disk, &spare));
    drop(to_disk);
    let written = disk
        .join()
        .map_err(|_| anyhow!("the disk thread panicked"))?;
    sender
        .join()
        .map_err(|_| anyhow!("the sender thread panicked"))??;
    opened?;
    ensure!(written? == hash, "the essential copy differs");
    Ok(Floor {
        wall: start.elapsed().as_secs_f64(),
        hashing: hashed,
        cpu: super::peer::cpu_seconds(std::process::id()) - cpu_before,
    })
}

/// BLAKE3 of the file at `path`, a MiB at a time, hashing one MiB on
/// several threads while reading the next.
fn prehash(path: &Path) -> anyhow::Result<blake3::Hash> {
    let mut file = File::open(path).context("cannot open the source")?;
    let (mut current, mut next) = (vec![0u8; HASH_CHUNK], vec![0u8; HASH_CHUNK]);
    let mut hasher = blake3::Hasher::new();
    let mut len = read_full(&mut file, &mut current)?;
    while len > 0 {
        let chunk = &current[..len];
        let (_, read) = rayon::join(
            || hasher.update_rayon(chunk),
            || read_full(&mut file, &mut next),
        );
        len = read?;
        std::mem::swap(&mut current, &mut next);
    }
    Ok(hasher.finalize())
}

/// Reads the file straight into Noise frames (a 2-byte length, the data,
/// room for the tag), seals them in place and writes them to the socket
/// about 256 KiB at a time.
fn seal_all(mut file: File, mut sock: TcpStream, cipher: &LessSafeKey) -> anyhow::Result<()> {
    const FRAMES: usize = CHUNK / (FRAME - TAG);
    let mut wire = vec![0u8; FRAMES * (FRAME + 2)];
    let mut nonce = 0u64;
    loop {
        let mut used = 0;
        for _ in 0..FRAMES {
            let data = used + 2..used + 2 + FRAME - TAG;
            let len = read_full(&mut file, &mut wire[data.clone()])?;
            if len == 0 {
                break;
            }
            let sealed = u16::try_from(len + TAG).context("frame too long")?;
            wire[used..used + 2].copy_from_slice(&sealed.to_be_bytes());
            let plain = &mut wire[data.start..data.start + len];
            let tag = cipher
                .seal_in_place_separate_tag(nonce_of(nonce), Aad::empty(), plain)
                .map_err(|_| anyhow!("cannot seal"))?;
            let at = data.start + len;
            wire[at..at + TAG].copy_from_slice(tag.as_ref());
            nonce += 1;
            used = at + TAG;
            if len < FRAME - TAG {
                break;
            }
        }
        if used == 0 {
            return Ok(());
        }
        sock.write_all(&wire[..used]).context("cannot send")?;
    }
}

/// Reads sealed frames, each into a buffer of its own, opens them in place
/// and queues them to the disk thread.
fn open_all(
    mut sock: TcpStream,
    cipher: &LessSafeKey,
    to_disk: &mpsc::SyncSender<(Vec<u8>, usize)>,
    spare: &mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut nonce = 0u64;
    loop {
        let mut len = [0u8; 2];
        match sock.read_exact(&mut len) {
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            other => other.context("cannot receive")?,
        }
        let len = usize::from(u16::from_be_bytes(len));
        ensure!(len >= TAG, "short frame");
        let mut frame = spare.try_recv().unwrap_or_else(|_| vec![0u8; FRAME]);
        let sealed = &mut frame[..len];
        sock.read_exact(sealed).context("cannot receive")?;
        let data = cipher
            .open_in_place(nonce_of(nonce), Aad::empty(), sealed)
            .map_err(|_| anyhow!("a frame does not open"))?;
        let data_len = data.len();
        nonce += 1;
        to_disk
            .send((frame, data_len))
            .map_err(|_| anyhow!("the disk thread stopped"))?;
    }
}

/// The key both ends use (a constant: this measures work, not secrecy).
fn key(cipher: Cipher) -> anyhow::Result<LessSafeKey> {
    let algorithm = cipher.algorithm();
    UnboundKey::new(algorithm, &[7u8; 32][..algorithm.key_len()])
        .map(LessSafeKey::new)
        .map_err(|_| anyhow!("no key for the cipher"))
}

/// The engine's way of writing a large file (`transfer/store/direct.rs`):
/// 1 MiB aligned blocks around the page cache, the tail through it.
struct Direct {
    file: File,
    memory: Vec<u8>,
    start: usize,
    filled: usize,
    at: u64,
}

impl Direct {
    fn new(file: File) -> anyhow::Result<Self> {
        let flags = fcntl_getfl(&file).context("no file flags")?;
        fcntl_setfl(&file, flags | OFlags::DIRECT).context("no direct writes here")?;
        let memory = vec![0u8; DIRECT_BLOCK + ALIGN];
        let start = memory.as_ptr().align_offset(ALIGN);
        Ok(Self {
            file,
            memory,
            start,
            filled: 0,
            at: 0,
        })
    }

    fn write(&mut self, mut data: &[u8]) -> anyhow::Result<()> {
        use std::os::unix::fs::FileExt as _;
        while !data.is_empty() {
            let n = (DIRECT_BLOCK - self.filled).min(data.len());
            let from = self.start + self.filled;
            self.memory[from..from + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == DIRECT_BLOCK {
                let block = &self.memory[self.start..self.start + DIRECT_BLOCK];
                self.file.write_all_at(block, self.at)?;
                self.at += DIRECT_BLOCK as u64;
                self.filled = 0;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<File> {
        use std::os::unix::fs::FileExt as _;
        let flags = fcntl_getfl(&self.file).context("no file flags")?;
        fcntl_setfl(&self.file, flags - OFlags::DIRECT).context("cannot leave direct mode")?;
        let tail = &self.memory[self.start..self.start + self.filled];
        self.file.write_all_at(tail, self.at)?;
        Ok(self.file)
    }
}

/// Noise's nonce: 4 zero bytes and the little-endian counter.
fn nonce_of(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> anyhow::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("cannot read the source"),
        }
    }
    Ok(len)
}
