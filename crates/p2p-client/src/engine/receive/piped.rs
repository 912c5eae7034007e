//! Receiving a stream (an offer of one file whose size is known only at
//! its end, `send -`): chunks go to a partial file of its own, hashed as
//! they are written; the sender's size and hash at the end are checked,
//! and only then is the file placed. Nothing of it is kept if it stops.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::AsyncReadExt as _;
use libp2p::PeerId;
use protocol::transfer::{DataHeader, StreamEnd, chunk_len};
use tokio::sync::mpsc;

use super::super::Engine;
use super::super::inbox::Accepted;
use super::super::wire::{self, WireError};
use super::Failure;
use crate::event::{Direction, Event, Summary};
use crate::files::store::{Store, StoreError};
use crate::network::{PathInfo, TransportKind};

/// Chunks between the network and the disk: bounds a stream's memory
/// (each chunk is at most `protocol::transfer::MAX_CHUNK`).
const TO_DISK: usize = 4;

/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

enum ToDisk {
    Bytes(Vec<u8>),
    End(StreamEnd),
}

/// Receives the stream `accepted` offered; returns the summary once the
/// file is verified and placed.
pub(super) async fn receive_piped(
    engine: &Engine,
    peer: PeerId,
    accepted: &Accepted,
    header: &DataHeader,
    stream: &mut libp2p::Stream,
) -> Result<Summary, Failure> {
    let stall = engine.inner.config.stall_timeout;
    let offer = &accepted.offer;
    let name = offer.stream.clone().unwrap_or_default();
    let shown = protocol::path::display_escaped(&name, 80);
    if !header.starts.is_empty() {
        return Err(Failure::new(
            None,
            "the sender's data header does not fit a stream",
        ));
    }
    let path = engine.path_to(peer).await.unwrap_or(PathInfo {
        relayed: false,
        transport: TransportKind::Tcp,
    });
    engine
        .emit(Event::TransferStarted {
            transfer_id: offer.transfer_id.clone(),
            peer,
            direction: Direction::Receive,
            files: 1,
            bytes: 0,
            resumed: 0,
            path,
            unknown_size: true,
        })
        .await;

    let store = Store::new(engine.inner.config.download_dir.clone(), &peer.to_bytes());
    let (tx, rx) = mpsc::channel(TO_DISK);
    let transfer_id = offer.transfer_id.clone();
    let writer = tokio::task::spawn_blocking(move || write_stream(&store, &transfer_id, &name, rx));

    let started = Instant::now();
    let mut received = 0u64;
    let mut last_progress = Instant::now();
    let broken = |what: String, received: u64| {
        Failure::new(
            None,
            format!(
                "{what} after {received} bytes of the stream \"{shown}\"; nothing of it was kept, send it again"
            ),
        )
        .of_broken_stream()
    };
    let reading = async {
        loop {
            let mut prefix = [0u8; 4];
            match tokio::time::timeout(stall, stream.read_exact(&mut prefix)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(broken(format!("connection lost ({e})"), received)),
                Err(_) => return Err(broken(WireError::Stalled(stall).to_string(), received)),
            }
            let len = chunk_len(prefix)
                .map_err(|e| broken(format!("the sender sent a bad chunk ({e})"), received))?;
            if len == 0 {
                let end: StreamEnd = wire::read_frame(stall, stream)
                    .await
                    .map_err(|e| broken(format!("no end of stream ({e})"), received))?;
                // The sender closes after the end: anything more is a fault,
                // found before the file is placed.
                let mut probe = [0u8; 1];
                match wire::read_some(stall, stream, &mut probe).await {
                    Ok(0) | Err(WireError::Io(_)) => {}
                    Ok(_) => {
                        return Err(broken(
                            "the sender sent more after the end".into(),
                            received,
                        ));
                    }
                    Err(e) => return Err(broken(e.to_string(), received)),
                }
                return Ok(Some(end));
            }
            let mut buf = vec![0u8; len];
            let (n, read) = wire::read_full(stall, stream, &mut buf).await;
            if n < len {
                let what = match read {
                    Err(e) => e.to_string(),
                    Ok(()) => "the connection closed".into(),
                };
                return Err(broken(what, received + n as u64));
            }
            received += len as u64;
            if tx.send(ToDisk::Bytes(buf)).await.is_err() {
                // The disk side failed; its error says why.
                return Ok(None);
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                engine.emit_lossy(Event::Progress {
                    transfer_id: offer.transfer_id.clone(),
                    done: received,
                    total: 0,
                    file: shown.clone(),
                    file_done: received,
                    file_size: 0,
                });
            }
        }
    };
    let end = reading.await;
    if let Ok(Some(end)) = &end {
        let _ = tx.send(ToDisk::End(end.clone())).await;
    }
    // Without an end, the writer deletes what it wrote.
    drop(tx);
    let written = writer
        .await
        .map_err(|_| Failure::new(None, "the disk writer stopped"))?;
    let end = end?;
    let placed = written.map_err(|e| Failure::new(None, e.to_string()))?;
    let Some(end) = end else {
        return Err(Failure::new(None, "the disk writer stopped"));
    };
    let shown_path = placed
        .strip_prefix(&engine.inner.config.download_dir)
        .unwrap_or(&placed)
        .to_path_buf();
    engine.emit_lossy(Event::FileDone {
        transfer_id: offer.transfer_id.clone(),
        file: shown_path.clone(),
    });
    Ok(Summary {
        files: 1,
        bytes: end.bytes,
        transferred: end.bytes,
        seconds: started.elapsed().as_secs_f64(),
        path: engine
            .inner
            .net
            .path(peer)
            .await
            .ok()
            .flatten()
            .unwrap_or(path),
        saved: vec![shown_path.display().to_string()],
        text: false,
    })
}

/// The disk side: writes every chunk, then checks and places the file at
/// the end; without an end (the channel closed first), deletes it.
fn write_stream(
    store: &Store,
    transfer_id: &str,
    name: &str,
    mut rx: mpsc::Receiver<ToDisk>,
) -> Result<PathBuf, StoreError> {
    let mut file = store.begin_stream(transfer_id, name)?;
    while let Some(next) = rx.blocking_recv() {
        match next {
            ToDisk::Bytes(buf) => file.write(&buf)?,
            ToDisk::End(end) => return file.finish(&end, store),
        }
    }
    Err(StoreError::StreamMismatch {
        path: protocol::path::display_escaped(name, 80),
        reason: "it stopped before its end".into(),
    })
}
