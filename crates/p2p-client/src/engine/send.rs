//! The sender's side: scan, offer, then stream every file from disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use protocol::offer::Offer;
use protocol::transfer::{DATA_PROTOCOL, DataResult, Request, ResumePoint};
use tracing::{info, warn};

mod piped;
mod read;
mod session;

use read::{ReadJob, read_ahead};
use session::{ChunkInfo, Sending};

use super::pace::Pacer;
use super::wire::{self, WireError};
use super::{Engine, EngineError};
use crate::event::{Direction, Event, Summary};
use crate::files::scan::{self, Scanned};

/// How long a send waits for our connection to the relay, when the relay
/// may be the only way to the peer.
const RELAY_WAIT: Duration = Duration::from_secs(5);

/// Size of one read from disk and one write to the stream.
const CHUNK: usize = 256 * 1024;

/// Scans `paths`, offers them to `peer` and sends what is accepted.
pub(super) async fn send(
    engine: &Engine,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    paths: Vec<PathBuf>,
) -> Result<Summary, EngineError> {
    let scanned = scan_files(engine, paths).await?;
    send_scanned(engine, peer, addrs, scanned).await
}

/// Reaches `peer`, then offers what was scanned (files or a text).
pub(super) async fn send_scanned(
    engine: &Engine,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    scanned: Scanned,
) -> Result<Summary, EngineError> {
    let mut addrs = addrs;
    let reachable = engine.inner.net.path(peer).await?.is_some()
        || engine.inner.lan_peers.borrow().contains(&peer);
    if addrs.is_empty() && !reachable && engine.inner.signal.is_some() {
        addrs = engine.lookup(peer).await?;
    }
    // Through the server's relay as well: it reaches a peer behind any NAT.
    if let Some(signal) = &engine.inner.signal {
        let wait = if reachable {
            Duration::ZERO
        } else {
            RELAY_WAIT
        };
        addrs.extend(signal.circuit_addrs(peer, wait).await);
    }
    engine.inner.net.dial(peer, addrs).await?;
    offer_and_send(engine, peer, scanned).await
}

/// Hashes the files off the async threads, reporting progress.
pub(super) async fn scan_files(
    engine: &Engine,
    paths: Vec<PathBuf>,
) -> Result<Scanned, EngineError> {
    let progress = engine.clone();
    let scanned = tokio::task::spawn_blocking(move || {
        let done = AtomicU64::new(0);
        let last = std::sync::Mutex::new(Instant::now());
        let on_hashed = |n: u64| {
            let done = done.fetch_add(n, Ordering::Relaxed) + n;
            // One thread reports at a time; the others go on hashing.
            if let Ok(mut last) = last.try_lock()
                && last.elapsed().as_millis() >= 200
            {
                *last = Instant::now();
                progress.emit_lossy(Event::Hashing { done });
            }
        };
        scan::scan(&paths, &on_hashed)
    })
    .await
    .map_err(|_| EngineError::Stopped)??;
    for skipped in &scanned.skipped {
        tracing::warn!(path = %skipped.display(), "not sent: symbolic link or special file");
    }
    Ok(scanned)
}

/// Offers scanned files to a connected peer and streams them if accepted.
pub(super) async fn offer_and_send(
    engine: &Engine,
    peer: PeerId,
    scanned: Scanned,
) -> Result<Summary, EngineError> {
    let transfer_id = scanned.offer.transfer_id.clone();
    let cancel = engine.track(&transfer_id);
    engine
        .emit(Event::OfferSent {
            transfer_id: transfer_id.clone(),
            peer,
            files: scanned.offer.files.len() + usize::from(scanned.offer.stream.is_some()),
            bytes: scanned.offer.total_bytes,
            text: scanned.offer.text.is_some(),
            unknown_size: scanned.offer.stream.is_some(),
        })
        .await;
    let result = tokio::select! {
        result = offer_then_stream(engine, peer, scanned) => result,
        () = cancel.cancelled() => {
            let net = engine.inner.net.clone();
            let id = transfer_id.clone();
            tokio::spawn(async move {
                let cancel = Request::Cancel { transfer_id: id, reason: "the sender cancelled".into() };
                let _ = net.request(peer, cancel).await;
            });
            Err(EngineError::Cancelled)
        }
    };
    engine.untrack(&transfer_id);
    match &result {
        Ok(summary) => {
            engine
                .emit(Event::TransferDone {
                    transfer_id,
                    summary: summary.clone(),
                })
                .await;
        }
        Err(EngineError::Declined(reason)) => {
            engine
                .emit(Event::Declined {
                    transfer_id,
                    reason: reason.clone(),
                })
                .await;
        }
        Err(e) => {
            if let EngineError::Transfer { reason, .. } = e {
                // Tell the receiver why the bytes stopped (a file changed,
                // a read failed), or it sees only a broken stream.
                let net = engine.inner.net.clone();
                let cancel = Request::Cancel {
                    transfer_id: transfer_id.clone(),
                    reason: reason.clone(),
                };
                engine.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), net.request(peer, cancel))
                        .await;
                });
            }
            engine
                .emit(Event::TransferFailed {
                    transfer_id,
                    peer,
                    error: e.to_string(),
                })
                .await;
        }
    }
    result
}

/// How long a sender waits for hole punching to turn a relayed connection
/// into a direct one before it sends over the relay.
const DIRECT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

async fn offer_then_stream(
    engine: &Engine,
    peer: PeerId,
    scanned: Scanned,
) -> Result<Summary, EngineError> {
    let Scanned {
        offer,
        sources,
        modified,
        pipe,
        shared,
        ..
    } = scanned;
    engine.inner.net.prefer_direct(peer, DIRECT_WAIT).await?;
    info!(%peer, transfer = %offer.transfer_id, files = offer.files.len(), bytes = offer.total_bytes, "offering");
    let response = engine
        .inner
        .net
        .request(peer, Request::Offer(offer.clone()))
        .await?;
    let resume = session::decision(peer, response)?;
    if let Some(text) = &offer.text {
        return text_delivered(engine, peer, text.len() as u64).await;
    }
    if offer.stream.is_some() {
        return piped::send_piped(engine, peer, &offer, pipe).await;
    }
    let starts = agree_starts(&offer, &sources, &resume).await;
    let mut shared = shared;
    let mut retries = 0;
    loop {
        let files = Files {
            sources: &sources,
            modified: &modified,
            shared: shared.clone(),
        };
        let dropped = std::sync::atomic::AtomicBool::new(false);
        let opened = Instant::now();
        let result = stream_files(engine, peer, &offer, files, &starts, &dropped).await;
        let Err(e) = result else { return result };
        let early = dropped.load(Ordering::Relaxed) && opened.elapsed() < EARLY_DROP;
        if !early || retries == STREAM_RETRIES || !still_connected(engine, peer).await {
            return Err(e);
        }
        retries += 1;
        warn!(%peer, transfer = %offer.transfer_id, error = %e, retries, "the receiver dropped the data stream at once; opening another");
        // This recipient reads on its own now: its blocks are past the
        // others'.
        shared = None;
        tokio::time::sleep(RETRY_PAUSE * retries).await;
    }
}

/// A data stream that the receiver resets within this long of its opening,
/// over a connection that stays up, was dropped before it was read:
/// libp2p-stream keeps one inbound stream waiting per protocol and drops
/// the next that comes before the receiver takes the first (two senders
/// starting at once), and a receiver at its limit of data streams drops
/// more. It is opened again, [`STREAM_RETRIES`] times at most; the bytes
/// start where they did, so the receiver, which verifies everything,
/// ends with the same files either way.
const EARLY_DROP: Duration = Duration::from_secs(3);

/// How many times a dropped data stream is opened again.
const STREAM_RETRIES: u32 = 3;

/// The pause before the first new stream (doubling, tripling after).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

async fn still_connected(engine: &Engine, peer: PeerId) -> bool {
    matches!(engine.inner.net.path(peer).await, Ok(Some(_)))
}

/// Whether a failed read or write means the other side reset the stream
/// (or it ended) rather than that the path stalled or a frame was bad.
fn is_reset(e: &WireError) -> bool {
    use std::io::ErrorKind;
    matches!(e, WireError::Io(io) if matches!(
        io.kind(),
        ErrorKind::WriteZero
            | ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    ))
}

/// A text offer is delivered once it is accepted: the text was in it.
async fn text_delivered(engine: &Engine, peer: PeerId, bytes: u64) -> Result<Summary, EngineError> {
    let path = engine.path_to(peer).await?;
    Ok(Summary {
        files: 0,
        bytes,
        transferred: bytes,
        seconds: 0.0,
        path,
        saved: Vec::new(),
        text: true,
    })
}

/// For each file, where to start: the receiver's offset if our own prefix
/// hashes the same, else 0.
async fn agree_starts(offer: &Offer, sources: &[PathBuf], resume: &[ResumePoint]) -> Vec<u64> {
    let mut checked = Vec::new();
    for point in session::resume_checks(offer, resume) {
        let Some(source) = sources.get(point.file as usize).cloned() else {
            continue;
        };
        let offset = point.offset;
        let ours = tokio::task::spawn_blocking(move || scan::prefix_hash(&source, offset)).await;
        checked.push((point, ours.ok().and_then(Result::ok).flatten()));
    }
    session::starts(offer, &checked)
}

/// Where the bytes of an offer's files are.
struct Files<'a> {
    sources: &'a [PathBuf],
    modified: &'a [Option<SystemTime>],
    shared: Option<crate::files::blocks::SharedReads>,
}

async fn stream_files(
    engine: &Engine,
    peer: PeerId,
    offer: &Offer,
    files: Files<'_>,
    starts: &[u64],
    dropped: &std::sync::atomic::AtomicBool,
) -> Result<Summary, EngineError> {
    let transfer_id = offer.transfer_id.clone();
    let stall = engine.inner.config.stall_timeout;
    let fail = |reason: String| EngineError::Transfer { peer, reason };
    let mut control = engine.inner.net.control();
    let stream = control
        .open_stream(peer, StreamProtocol::new(DATA_PROTOCOL))
        .await
        .map_err(|e| fail(format!("cannot open a data stream: {e}")))?;
    // The receiver's answer is read while we send (see below).
    let (mut answers, writer) = futures::AsyncReadExt::split(stream);
    // Small files share frames: one encrypted frame and one send carry many.
    let mut stream = futures::io::BufWriter::with_capacity(CHUNK, writer);
    let path = engine.path_to(peer).await?;
    let mut session = Sending::new(offer, starts.to_vec());
    engine
        .emit(Event::TransferStarted {
            transfer_id: transfer_id.clone(),
            peer,
            direction: Direction::Send,
            files: offer.files.len(),
            bytes: offer.total_bytes,
            resumed: session.resumed(),
            path,
            unknown_size: false,
        })
        .await;
    let header = session.header();
    // Marks a reset for the caller: the receiver may not have read a byte.
    let wire_err = |e: WireError| {
        if is_reset(&e) {
            dropped.store(true, Ordering::Relaxed);
        }
        fail(e.to_string())
    };
    wire::write_frame(stall, &mut stream, &header)
        .await
        .map_err(wire_err)?;

    let started = Instant::now();
    let jobs: Vec<ReadJob> = offer
        .files
        .iter()
        .zip(files.sources)
        .zip(starts)
        .enumerate()
        .map(|(index, ((entry, source), start))| ReadJob {
            source: source.clone(),
            start: *start,
            size: entry.size,
            modified: files.modified.get(index).copied().flatten(),
        })
        .collect();
    let (mut chunks, give_back) = read_ahead(jobs, files.shared);
    let mut pacer = Pacer::new(engine.inner.max_rate.clone());
    let sending = async {
        while !session.all_sent() {
            let chunk = match chunks.recv().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(reason)) => return Err(fail(reason)),
                None => return Err(fail("the file reader stopped".into())),
            };
            let info = ChunkInfo {
                len: chunk.len as u64,
                finished: chunk.finished.clone(),
                file: chunk.file,
                file_done: chunk.file_done,
            };
            // Checked before the bytes go: files that grew are not sent.
            session.fits(&info).map_err(fail)?;
            if pacer.limited() {
                // Small pieces, each flushed: the rate holds on the wire,
                // not just into our buffer.
                for piece in chunk.buf[..chunk.len].chunks(pacer.piece(chunk.len)) {
                    pacer.wait(piece.len()).await;
                    wire::write_all(stall, &mut stream, piece)
                        .await
                        .map_err(wire_err)?;
                    wire::flush(stall, &mut stream).await.map_err(wire_err)?;
                }
            } else {
                wire::write_all(stall, &mut stream, &chunk.buf[..chunk.len])
                    .await
                    .map_err(wire_err)?;
            }
            let _ = give_back.try_send(chunk.buf);
            for event in session.sent(&info, Instant::now()).map_err(fail)? {
                engine.emit_lossy(event);
            }
        }
        wire::close(stall, &mut stream).await.map_err(wire_err)
    };
    let (_, result) = await_answer(stall, sending, &mut answers, wire_err).await?;
    session.answer(result).map_err(fail)?;
    let summary = Summary {
        files: offer.files.len(),
        bytes: offer.total_bytes,
        transferred: session.to_send(),
        seconds: started.elapsed().as_secs_f64(),
        path: engine.inner.net.path(peer).await?.unwrap_or(path),
        saved: Vec::new(),
        text: false,
    };
    info!(%peer, transfer = %transfer_id, seconds = summary.seconds, "sent");
    Ok(summary)
}

/// Runs `sending` while reading the receiver's answer: it answers once
/// every byte arrived, or as soon as it fails (a full disk, a bad hash);
/// then it stops reading, and we stop sending and report its reason
/// instead of waiting to stall. Returns what `sending` returned, if it
/// finished, and the answer.
async fn await_answer<T, R>(
    stall: std::time::Duration,
    sending: impl Future<Output = Result<T, EngineError>>,
    answers: &mut R,
    wire_err: impl Fn(WireError) -> EngineError,
) -> Result<(Option<T>, DataResult), EngineError>
where
    R: futures::AsyncRead + Unpin,
{
    let answer = wire::read_frame_untimed::<_, DataResult>(answers);
    tokio::pin!(answer);
    tokio::select! {
        biased;
        sent = sending => {
            let sent = sent?;
            let result = tokio::time::timeout(stall, &mut answer)
                .await
                .unwrap_or(Err(WireError::Stalled(stall)))
                .map_err(wire_err)?;
            Ok((Some(sent), result))
        }
        early = &mut answer => Ok((None, early.map_err(wire_err)?)),
    }
}
