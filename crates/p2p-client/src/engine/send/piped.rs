//! Sending a stream (`send -`): bytes whose size is known only at their
//! end, read once from a reader (standard input), in chunks, then the
//! size and BLAKE3 hash of all of them, which the receiver checks before
//! it places the file (see `protocol::transfer`).

use std::io::Read;
use std::time::{Duration, Instant};

use libp2p::{PeerId, StreamProtocol};
use protocol::offer::{Hash, Offer};
use protocol::transfer::{DATA_PROTOCOL, DataHeader, DataResult, StreamEnd, chunk_prefix};
use tokio::sync::mpsc;
use tracing::info;

use super::super::pace::Pacer;
use super::super::wire::{self, WireError};
use super::super::{Engine, EngineError};
use super::{CHUNK, await_answer};
use crate::event::{Direction, Event, Summary};
use crate::files::scan::Pipe;

/// Chunks read ahead of the network: bounds the memory of a stream.
const READ_AHEAD: usize = 4;

/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// What the reading thread hands over.
enum Piece {
    Bytes(Vec<u8>),
    End(StreamEnd),
    Failed(String),
}

/// Streams what `pipe` reads to `peer`, who accepted `offer`.
pub(super) async fn send_piped(
    engine: &Engine,
    peer: PeerId,
    offer: &Offer,
    pipe: Option<Pipe>,
) -> Result<Summary, EngineError> {
    let fail = |reason: String| EngineError::Transfer { peer, reason };
    let name = offer.stream.clone().unwrap_or_default();
    let reader = pipe
        .and_then(|pipe| pipe.take())
        .ok_or_else(|| fail("standard input can be sent once only, and it was".into()))?;
    let stall = engine.inner.config.stall_timeout;
    let stream = engine
        .inner
        .net
        .control()
        .open_stream(peer, StreamProtocol::new(DATA_PROTOCOL))
        .await
        .map_err(|e| fail(format!("cannot open a data stream: {e}")))?;
    let (mut answers, writer) = futures::AsyncReadExt::split(stream);
    let mut stream = futures::io::BufWriter::with_capacity(CHUNK + 4, writer);
    let path = engine.path_to(peer).await?;
    engine
        .emit(Event::TransferStarted {
            transfer_id: offer.transfer_id.clone(),
            peer,
            direction: Direction::Send,
            files: 1,
            bytes: 0,
            resumed: 0,
            path,
            unknown_size: true,
        })
        .await;
    let wire_err = |e: WireError| fail(e.to_string());
    let header = DataHeader {
        transfer_id: offer.transfer_id.clone(),
        starts: Vec::new(),
    };
    wire::write_frame(stall, &mut stream, &header)
        .await
        .map_err(wire_err)?;

    let started = Instant::now();
    let (tx, mut pieces) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || read_pipe(reader, &tx));
    let mut pacer = Pacer::new(engine.inner.max_rate.clone());
    let mut sent = 0u64;
    let mut shown = Instant::now();
    let sending = async {
        loop {
            match pieces.recv().await {
                Some(Piece::Bytes(buf)) => {
                    let prefix = chunk_prefix(buf.len()).map_err(|e| fail(e.to_string()))?;
                    wire::write_all(stall, &mut stream, &prefix)
                        .await
                        .map_err(wire_err)?;
                    for piece in buf.chunks(pacer.piece(buf.len())) {
                        pacer.wait(piece.len()).await;
                        wire::write_all(stall, &mut stream, piece)
                            .await
                            .map_err(wire_err)?;
                        if pacer.limited() {
                            wire::flush(stall, &mut stream).await.map_err(wire_err)?;
                        }
                    }
                    sent += buf.len() as u64;
                    if shown.elapsed() >= PROGRESS_EVERY {
                        shown = Instant::now();
                        engine.emit_lossy(Event::Progress {
                            transfer_id: offer.transfer_id.clone(),
                            done: sent,
                            total: 0,
                            file: name.clone(),
                            file_done: sent,
                            file_size: 0,
                        });
                    }
                }
                Some(Piece::End(end)) => {
                    let prefix = chunk_prefix(0).map_err(|e| fail(e.to_string()))?;
                    wire::write_all(stall, &mut stream, &prefix)
                        .await
                        .map_err(wire_err)?;
                    wire::write_frame(stall, &mut stream, &end)
                        .await
                        .map_err(wire_err)?;
                    wire::close(stall, &mut stream).await.map_err(wire_err)?;
                    return Ok(end.bytes);
                }
                Some(Piece::Failed(reason)) => return Err(fail(reason)),
                None => return Err(fail("the reader of standard input stopped".into())),
            }
        }
    };
    let (bytes, result) = await_answer(stall, sending, &mut answers, wire_err).await?;
    let bytes = match (result, bytes) {
        (DataResult::Complete, Some(bytes)) => bytes,
        (DataResult::Complete, None) => {
            return Err(fail(
                "the receiver reported success before the end of the stream".into(),
            ));
        }
        (DataResult::Failed { reason, .. }, _) => {
            return Err(fail(format!(
                "the receiver reports: {}",
                protocol::transfer::sanitize_reason(&reason)
            )));
        }
        _ => return Err(fail("the receiver sent an unknown result".into())),
    };
    let summary = Summary {
        files: 1,
        bytes,
        transferred: bytes,
        seconds: started.elapsed().as_secs_f64(),
        path: engine.inner.net.path(peer).await?.unwrap_or(path),
        saved: Vec::new(),
        text: false,
    };
    info!(%peer, transfer = %offer.transfer_id, bytes, seconds = summary.seconds, "stream sent");
    Ok(summary)
}

/// Reads `reader` to its end, handing over what each read gives (up to
/// [`CHUNK`] bytes: a pipe gives what its writer wrote, so a slow writer's
/// bytes go at once) and hashing it; then the size and hash. Stops when
/// the other end hangs up.
fn read_pipe(mut reader: Box<dyn Read + Send>, tx: &mpsc::Sender<Piece>) {
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => {
                let end = StreamEnd {
                    bytes: total,
                    hash: Hash(*hasher.finalize().as_bytes()),
                };
                let _ = tx.blocking_send(Piece::End(end));
                return;
            }
            Ok(n) => {
                let bytes = buf[..n].to_vec();
                hasher.update(&bytes);
                total += n as u64;
                if tx.blocking_send(Piece::Bytes(bytes)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.blocking_send(Piece::Failed(format!("cannot read standard input: {e}")));
                return;
            }
        }
    }
}
