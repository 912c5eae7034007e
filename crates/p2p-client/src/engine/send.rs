//! The sender's side: scan, offer, then stream every file from disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use protocol::offer::Offer;
use protocol::transfer::{
    DATA_PROTOCOL, DataHeader, DataResult, Decision, Request, Response, ResumePoint,
    sanitize_reason,
};
use tokio::sync::mpsc;
use tracing::info;

use super::pace::Pacer;
use super::wire::{self, WireError};
use super::{Engine, EngineError};
use crate::event::{Direction, Event, Summary};
use crate::transfer::scan::{self, Scanned};

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
            files: scanned.offer.files.len(),
            bytes: scanned.offer.total_bytes,
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

/// Chunks read ahead of the network.
const READ_AHEAD: usize = 4;

/// The next `len` bytes of the stream, in `buf`: the files' bytes back to
/// back, so one chunk may hold many small files.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
    /// Files (indexes in the offer) whose last byte is in this chunk, or
    /// that have no byte to send and come before its end.
    finished: std::ops::Range<usize>,
    /// The file the chunk ends in, and how much of it was read by then.
    file: usize,
    file_done: u64,
}

/// One file for [`read_ahead`]: its bytes from `start` to `size`, and when
/// it was last changed as it was offered.
struct ReadJob {
    source: PathBuf,
    start: u64,
    size: u64,
    modified: Option<SystemTime>,
}

impl ReadJob {
    /// Fails if the open file is no longer the one offered: another size or
    /// a newer modification time. `when` says in what the change was caught.
    fn check_unchanged(&self, file: &std::fs::File, when: &str) -> Result<(), String> {
        let shown = self.source.display();
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        let changed = meta.len() != self.size
            || (self.modified.is_some() && meta.modified().ok() != self.modified);
        if changed {
            return Err(format!(
                "{shown} changed {when}; nothing of it was delivered as good. \
                 Send it again once it no longer changes"
            ));
        }
        Ok(())
    }
}

/// Reads the files on a blocking thread, in order, from their start offsets,
/// into chunks of [`CHUNK`] bytes that run across file boundaries, ahead of
/// the network by at most [`READ_AHEAD`] chunks. Buffers sent back through
/// the returned sender are reused. An error ends the stream of chunks with
/// a message that names the file; so does a file that changed since it was
/// offered, checked when it is opened and again once it was read (the
/// receiver would refuse its hash anyway, this says why).
fn read_ahead(
    jobs: Vec<ReadJob>,
) -> (
    mpsc::Receiver<Result<Chunk, String>>,
    std::sync::mpsc::SyncSender<Vec<u8>>,
) {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let (give_back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_AHEAD + 2);
    tokio::task::spawn_blocking(move || {
        let new_chunk = |from: usize| Chunk {
            buf: spare.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]),
            len: 0,
            finished: from..from,
            file: from,
            file_done: 0,
        };
        let mut chunk = new_chunk(0);
        for (file, job) in jobs.iter().enumerate() {
            if let Err(reason) = read_file(job, file, &mut chunk, &mut |full: &mut Chunk| {
                let next = new_chunk(full.finished.end);
                let full = std::mem::replace(full, next);
                tx.blocking_send(Ok(full)).map_err(|_| None)
            }) {
                if let Some(reason) = reason {
                    let _ = tx.blocking_send(Err(reason));
                }
                return;
            }
        }
        if chunk.len > 0 || !chunk.finished.is_empty() {
            let _ = tx.blocking_send(Ok(chunk));
        }
    });
    (rx, give_back)
}

/// Reads `job` (file number `file`) into `chunk`, handing each full chunk
/// to `ship`. Fails with the reason, or with `None` when `ship` failed.
fn read_file(
    job: &ReadJob,
    file: usize,
    chunk: &mut Chunk,
    ship: &mut dyn FnMut(&mut Chunk) -> Result<(), Option<String>>,
) -> Result<(), Option<String>> {
    let shown = job.source.display();
    let mut left = job.size.saturating_sub(job.start);
    chunk.file = file;
    chunk.file_done = job.start;
    if left == 0 {
        chunk.finished.end = file + 1;
        return Ok(());
    }
    let mut reader =
        std::fs::File::open(&job.source).map_err(|e| format!("cannot read {shown}: {e}"))?;
    job.check_unchanged(&reader, "since it was offered")?;
    if job.start > 0 {
        std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(job.start))
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
    }
    while left > 0 {
        let room = chunk.buf.len() - chunk.len;
        let want = usize::try_from(left).map_or(room, |left| left.min(room));
        let got =
            crate::transfer::read_full(&mut reader, &mut chunk.buf[chunk.len..chunk.len + want])
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
        if got == 0 {
            return Err(Some(format!(
                "{shown} became shorter while sending; send it again when it no longer changes"
            )));
        }
        chunk.len += got;
        chunk.file = file;
        chunk.file_done += got as u64;
        left -= got as u64;
        if left == 0 {
            job.check_unchanged(&reader, "while it was being sent")?;
            chunk.finished.end = file + 1;
        }
        if chunk.len == chunk.buf.len() {
            ship(chunk)?;
        }
    }
    Ok(())
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
        ..
    } = scanned;
    engine.inner.net.prefer_direct(peer, DIRECT_WAIT).await?;
    info!(%peer, transfer = %offer.transfer_id, files = offer.files.len(), bytes = offer.total_bytes, "offering");
    let response = engine
        .inner
        .net
        .request(peer, Request::Offer(offer.clone()))
        .await?;
    let resume = match response {
        Response::Decision(Decision::Accept { resume }) => resume,
        Response::Decision(Decision::Decline { reason }) => {
            return Err(EngineError::Declined(reason.describe().to_owned()));
        }
        other => return Err(EngineError::unexpected(peer, other, "an offer")),
    };
    let starts = agree_starts(&offer, &sources, &resume).await;
    stream_files(engine, peer, &offer, (&sources, &modified), &starts).await
}

/// For each file, where to start: the receiver's offset if our own prefix
/// hashes the same, else 0.
async fn agree_starts(offer: &Offer, sources: &[PathBuf], resume: &[ResumePoint]) -> Vec<u64> {
    let mut starts = vec![0u64; offer.files.len()];
    for point in resume {
        let index = point.file as usize;
        let (Some(entry), Some(source)) = (offer.files.get(index), sources.get(index)) else {
            continue;
        };
        if point.offset == 0 || point.offset > entry.size {
            continue;
        }
        let source = source.clone();
        let offset = point.offset;
        let ours = tokio::task::spawn_blocking(move || scan::prefix_hash(&source, offset)).await;
        if let Ok(Ok(Some(hash))) = ours
            && hash == point.prefix_hash
        {
            starts[index] = point.offset;
        }
    }
    starts
}

async fn stream_files(
    engine: &Engine,
    peer: PeerId,
    offer: &Offer,
    (sources, modified): (&[PathBuf], &[Option<SystemTime>]),
    starts: &[u64],
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
    let path = engine
        .inner
        .net
        .path(peer)
        .await?
        .unwrap_or(crate::network::PathInfo {
            relayed: false,
            transport: crate::network::Transport::Tcp,
        });
    let resumed: u64 = starts.iter().sum();
    engine
        .emit(Event::TransferStarted {
            transfer_id: transfer_id.clone(),
            peer,
            direction: Direction::Send,
            files: offer.files.len(),
            bytes: offer.total_bytes,
            resumed,
            path,
        })
        .await;
    let header = DataHeader {
        transfer_id: transfer_id.clone(),
        starts: starts.to_vec(),
    };
    let wire_err = |e: WireError| fail(e.to_string());
    wire::write_frame(stall, &mut stream, &header)
        .await
        .map_err(wire_err)?;

    let started = Instant::now();
    let mut done = resumed;
    let mut last_progress = Instant::now();
    let jobs: Vec<ReadJob> = offer
        .files
        .iter()
        .zip(sources)
        .zip(starts)
        .enumerate()
        .map(|(index, ((entry, source), start))| ReadJob {
            source: source.clone(),
            start: *start,
            size: entry.size,
            modified: modified.get(index).copied().flatten(),
        })
        .collect();
    let (mut chunks, give_back) = read_ahead(jobs);
    let mut pacer = Pacer::new(engine.inner.max_rate.clone());
    let sending = async {
        let mut left = offer.total_bytes - resumed;
        let mut finished = 0;
        while finished < offer.files.len() {
            let chunk = match chunks.recv().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(reason)) => return Err(fail(reason)),
                None => return Err(fail("the file reader stopped".into())),
            };
            let len = chunk.len as u64;
            if len > left {
                return Err(fail("the files grew while they were read".into()));
            }
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
            left -= len;
            done += len;
            let _ = give_back.try_send(chunk.buf);
            for entry in offer.files.get(chunk.finished.clone()).unwrap_or_default() {
                engine.emit_lossy(Event::FileDone {
                    transfer_id: transfer_id.clone(),
                    file: PathBuf::from(&entry.path),
                });
            }
            finished = finished.max(chunk.finished.end);
            if last_progress.elapsed().as_millis() >= 100
                && let Some(entry) = offer.files.get(chunk.file)
            {
                last_progress = Instant::now();
                engine.emit_lossy(Event::Progress {
                    transfer_id: transfer_id.clone(),
                    done,
                    total: offer.total_bytes,
                    file: entry.path.clone(),
                    file_done: chunk.file_done,
                    file_size: entry.size,
                });
            }
        }
        wire::close(stall, &mut stream).await.map_err(wire_err)
    };
    // The receiver answers once every byte arrived, or as soon as it fails
    // (a full disk, a bad hash): then it stops reading, and we stop sending
    // and report its reason instead of waiting to stall.
    let answer = wire::read_frame_untimed::<_, DataResult>(&mut answers);
    tokio::pin!(answer);
    let result = tokio::select! {
        biased;
        sent = sending => {
            sent?;
            tokio::time::timeout(stall, &mut answer)
                .await
                .unwrap_or(Err(WireError::Stalled(stall)))
                .map_err(wire_err)?
        }
        early = &mut answer => match early.map_err(wire_err)? {
            DataResult::Complete => {
                return Err(fail("the receiver reported success before every byte was sent".into()));
            }
            failed => failed,
        },
    };
    match result {
        DataResult::Complete => {
            let summary = Summary {
                files: offer.files.len(),
                bytes: offer.total_bytes,
                transferred: offer.total_bytes - resumed,
                seconds: started.elapsed().as_secs_f64(),
                path: engine.inner.net.path(peer).await?.unwrap_or(path),
                saved: Vec::new(),
            };
            info!(%peer, transfer = %transfer_id, seconds = summary.seconds, "sent");
            Ok(summary)
        }
        DataResult::Failed { reason, .. } => Err(fail(format!(
            "the receiver reports: {}",
            sanitize_reason(&reason)
        ))),
        _ => Err(fail("the receiver sent an unknown result".into())),
    }
}
