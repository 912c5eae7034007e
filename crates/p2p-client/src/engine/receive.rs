//! The receiver's side: offers wait for a decision; accepted transfers get
//! their bytes on a data stream, written to partial files, verified, placed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use protocol::offer::{FileEntry, Offer};
use protocol::path::display_escaped;
use protocol::transfer::{
    DATA_PROTOCOL, DataHeader, DataResult, Decision, DeclineReason, Refusal, Response,
};
use tokio::sync::{Semaphore, oneshot};
use tracing::{info, warn};

mod disk;

use disk::{Buffers, Disk, Planned, ToDisk};

use super::wire::{self, WireError};
use super::{Accepted, Engine, Inbound, MAX_PENDING_OFFERS, PendingOffer};
use crate::event::{Direction, Event, Summary};
use crate::network::PathInfo;
use crate::transfer::store::{Placement, Store};

/// Names shown in an offer prompt.
const SHOWN_NAMES: usize = 5;

/// Data streams received at once.
const MAX_INBOUND_STREAMS: usize = 8;

/// Bytes read from the network per chunk.
const CHUNK: usize = 256 * 1024;

/// Accepted offers waiting for their data at once, at most.
const MAX_ACCEPTED: usize = 64;

/// How long an accepted offer waits for its data stream.
const ACCEPTED_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

fn refuse(reply: oneshot::Sender<Response>, reason: Refusal, message: String) {
    let _ = reply.send(Response::Refused { reason, message });
}

/// A peer offers files.
pub(super) async fn on_offer(
    engine: &Engine,
    peer: PeerId,
    offer: Offer,
    reply: oneshot::Sender<Response>,
) {
    let expected = engine.inner.config.inbound == Inbound::Anyone
        || engine.state().expected_senders.contains(&peer);
    if !expected {
        info!(%peer, "offer from a peer we did not ask: refused");
        return refuse(
            reply,
            Refusal::NotExpected,
            "this receiver does not take offers from you".into(),
        );
    }
    if let Err(e) = offer.validate() {
        warn!(%peer, error = %e, "invalid offer refused");
        return refuse(reply, Refusal::InvalidOffer, format!("offer refused: {e}"));
    }
    let transfer_id = offer.transfer_id.clone();
    {
        let mut state = engine.state();
        let from_peer = state.pending.values().filter(|p| p.peer == peer).count();
        if state.pending.len() >= MAX_PENDING_OFFERS || from_peer >= 2 {
            drop(state);
            return refuse(
                reply,
                Refusal::Busy,
                "too many offers waiting; try again later".into(),
            );
        }
        if state.pending.contains_key(&transfer_id) || state.accepted.contains_key(&transfer_id) {
            drop(state);
            return refuse(
                reply,
                Refusal::InvalidOffer,
                "this transfer ID is already in use".into(),
            );
        }
        state.pending.insert(
            transfer_id.clone(),
            PendingOffer {
                peer,
                offer: offer.clone(),
                reply,
            },
        );
    }
    let names = offer
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(offer.dirs.iter().map(String::as_str))
        .take(SHOWN_NAMES)
        .map(|n| display_escaped(n, 80))
        .collect();
    engine
        .emit(Event::OfferReceived {
            transfer_id: transfer_id.clone(),
            peer,
            files: offer.files.len(),
            folders: offer.dirs.len(),
            bytes: offer.total_bytes,
            names,
        })
        .await;
    if engine.inner.config.auto_accept {
        decide(engine, &transfer_id, true);
        return;
    }
    // Nobody answered in time: decline on the person's behalf.
    let timeout = engine.inner.config.decision_timeout;
    let expiring = engine.clone();
    engine.inner.tracker.spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = expiring.inner.shutdown.cancelled() => {}
        }
        let pending = expiring.state().pending.remove(&transfer_id);
        if let Some(pending) = pending {
            let reason = if expiring.inner.shutdown.is_cancelled() {
                DeclineReason::ShuttingDown
            } else {
                DeclineReason::Expired
            };
            let _ = pending
                .reply
                .send(Response::Decision(Decision::Decline { reason }));
            expiring
                .emit(Event::Declined {
                    transfer_id,
                    reason: "no decision in time: the offer expired".into(),
                })
                .await;
        }
    });
}

/// A person's (or `--yes`'s) answer to an offer.
pub(super) fn decide(engine: &Engine, transfer_id: &str, accept: bool) {
    let Some(pending) = engine.state().pending.remove(transfer_id) else {
        return;
    };
    if !accept {
        let _ = pending.reply.send(Response::Decision(Decision::Decline {
            reason: DeclineReason::Declined,
        }));
        engine.emit_lossy(Event::Declined {
            transfer_id: transfer_id.to_owned(),
            reason: "you declined the offer".into(),
        });
        return;
    }
    let engine = engine.clone();
    let store = Store::new(engine.inner.config.download_dir.clone());
    engine.clone().spawn(async move {
        let PendingOffer { peer, offer, reply } = pending;
        let checked_offer = offer.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let resume = store.resume_points(&checked_offer);
            store.check_space(&checked_offer, &resume).map(|()| resume)
        })
        .await;
        let resume = match checked {
            Ok(Ok(resume)) => resume,
            Ok(Err(e)) => {
                let _ = reply.send(Response::Decision(Decision::Decline {
                    reason: DeclineReason::NoSpace,
                }));
                engine
                    .emit(Event::TransferFailed {
                        transfer_id: offer.transfer_id.clone(),
                        peer,
                        error: format!("declined: {e}"),
                    })
                    .await;
                return;
            }
            Err(_) => return,
        };
        {
            let mut state = engine.state();
            // Accepted offers whose data never came are forgotten after a while.
            state.accepted.retain(|_, a| a.at.elapsed() < ACCEPTED_TTL);
            while state.accepted.len() >= MAX_ACCEPTED {
                let oldest = state
                    .accepted
                    .iter()
                    .min_by_key(|(_, a)| a.at)
                    .map(|(id, _)| id.clone());
                match oldest {
                    Some(id) => state.accepted.remove(&id),
                    None => break,
                };
            }
            state.accepted.insert(
                offer.transfer_id.clone(),
                Accepted {
                    peer,
                    offer,
                    resume: resume.clone(),
                    at: std::time::Instant::now(),
                },
            );
        }
        let _ = reply.send(Response::Decision(Decision::Accept { resume }));
    });
}

/// The sender gave up on a transfer.
pub(super) async fn on_cancel(engine: &Engine, peer: PeerId, transfer_id: &str, reason: &str) {
    let removed = {
        let mut state = engine.state();
        let pending = state
            .pending
            .get(transfer_id)
            .is_some_and(|p| p.peer == peer);
        let accepted = state
            .accepted
            .get(transfer_id)
            .is_some_and(|a| a.peer == peer);
        if pending {
            state.pending.remove(transfer_id);
        }
        if accepted {
            state.accepted.remove(transfer_id);
        }
        pending || accepted
    };
    if removed {
        engine
            .emit(Event::TransferFailed {
                transfer_id: transfer_id.to_owned(),
                peer,
                error: format!(
                    "the sender cancelled: {}",
                    protocol::transfer::sanitize_reason(reason)
                ),
            })
            .await;
    }
}

/// Accepts data streams for as long as the engine runs.
pub(super) async fn accept_streams(engine: Engine) {
    let mut control = engine.inner.net.control();
    let mut incoming = match control.accept(StreamProtocol::new(DATA_PROTOCOL)) {
        Ok(incoming) => incoming,
        Err(e) => {
            warn!(error = %e, "cannot accept data streams");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_INBOUND_STREAMS));
    loop {
        let next = tokio::select! {
            () = engine.inner.shutdown.cancelled() => return,
            next = incoming.next() => next,
        };
        let Some((peer, stream)) = next else { return };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            warn!(%peer, "too many data streams at once: refused");
            continue;
        };
        let engine = engine.clone();
        engine.inner.tracker.clone().spawn(async move {
            let _permit = permit;
            receive_stream(&engine, peer, stream).await;
        });
    }
}

async fn receive_stream(engine: &Engine, peer: PeerId, mut stream: libp2p::Stream) {
    let stall = engine.inner.config.stall_timeout;
    let header: DataHeader = match wire::read_frame(stall, &mut stream).await {
        Ok(header) => header,
        Err(e) => {
            warn!(%peer, error = %e, "bad data stream header");
            return;
        }
    };
    let accepted = engine.state().accepted.get(&header.transfer_id).cloned();
    let Some(accepted) = accepted.filter(|a| a.peer == peer) else {
        warn!(%peer, "data for a transfer that was not accepted: refused");
        let _ = wire::write_frame(
            stall,
            &mut stream,
            &DataResult::Failed {
                file: None,
                reason: "no accepted transfer with this ID".into(),
            },
        )
        .await;
        return;
    };
    let transfer_id = header.transfer_id.clone();
    // One data stream per accepted offer: a retry is a new offer, which
    // resumes from the partial files.
    engine.state().accepted.remove(&transfer_id);
    let cancel = engine.track(&transfer_id);
    let result = tokio::select! {
        result = receive_files(engine, peer, &accepted, &header, &mut stream) => result,
        () = cancel.cancelled() => Err(Failure::new(None, "the receiver cancelled the transfer")),
    };
    engine.untrack(&transfer_id);
    let (answer, event) = match result {
        Ok(summary) => {
            info!(%peer, transfer = %transfer_id, files = summary.files, "received and verified");
            (
                DataResult::Complete,
                Event::TransferDone {
                    transfer_id,
                    summary,
                },
            )
        }
        Err(failure) => {
            warn!(%peer, transfer = %transfer_id, error = %failure.message, "receive failed");
            (
                DataResult::Failed {
                    file: failure.file,
                    reason: failure.message.clone(),
                },
                Event::TransferFailed {
                    transfer_id,
                    peer,
                    error: failure.message,
                },
            )
        }
    };
    let told = wire::write_frame(stall, &mut stream, &answer).await;
    let _ = wire::close(stall, &mut stream).await;
    if told.is_ok() && answer == DataResult::Complete {
        // Only now: had we stopped before the sender heard of it, the
        // sender would send again, and the record lets that retry find
        // every file in place instead of sending it all to new names.
        Store::new(engine.inner.config.download_dir.clone()).complete(&accepted.offer);
    }
    engine.emit(event).await;
}

/// A failed receive: what to tell both sides.
struct Failure {
    file: Option<u32>,
    message: String,
}

impl Failure {
    fn new(file: Option<u32>, message: impl Into<String>) -> Self {
        Self {
            file,
            message: message.into(),
        }
    }
}

async fn receive_files(
    engine: &Engine,
    peer: PeerId,
    accepted: &Accepted,
    header: &DataHeader,
    stream: &mut libp2p::Stream,
) -> Result<Summary, Failure> {
    let stall = engine.inner.config.stall_timeout;
    let offer = &accepted.offer;
    if header.starts.len() != offer.files.len() {
        return Err(Failure::new(
            None,
            "the sender's start offsets do not match the offer",
        ));
    }
    // The sender may start at 0 or at the offset we offered, nothing else.
    for (index, start) in header.starts.iter().enumerate() {
        let offered = accepted
            .resume
            .iter()
            .find(|p| p.file as usize == index)
            .map_or(0, |p| p.offset);
        if *start != 0 && *start != offered {
            return Err(Failure::new(
                u32::try_from(index).ok(),
                "the sender wants to resume at an offset we did not offer",
            ));
        }
    }
    let path = engine
        .inner
        .net
        .path(peer)
        .await
        .ok()
        .flatten()
        .unwrap_or(PathInfo {
            relayed: false,
            transport: crate::network::Transport::Tcp,
        });
    let resumed: u64 = header.starts.iter().sum();
    engine
        .emit(Event::TransferStarted {
            transfer_id: offer.transfer_id.clone(),
            peer,
            direction: Direction::Receive,
            files: offer.files.len(),
            bytes: offer.total_bytes,
            resumed,
            path,
        })
        .await;

    let store = Store::new(engine.inner.config.download_dir.clone());
    let prepared_offer = offer.clone();
    let placement = tokio::task::spawn_blocking(move || store.prepare(&prepared_offer))
        .await
        .map_err(|_| Failure::new(None, "interrupted"))?
        .map_err(|e| Failure::new(None, e.to_string()))?;
    let placement = Arc::new(placement);

    let started = Instant::now();
    let mut done = resumed;
    let mut last_progress = Instant::now();
    // The files the stream carries, in its order. Those an earlier attempt
    // of the same offer placed complete need nothing.
    let mut plan = Vec::with_capacity(offer.files.len());
    for (index, (entry, start)) in offer.files.iter().zip(&header.starts).enumerate() {
        if *start == entry.size
            && let Some(done) = already_placed(&placement, entry)
        {
            files_done(engine, &offer.transfer_id, vec![done]);
            continue;
        }
        plan.push(Planned {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            entry: entry.clone(),
            start: *start,
        });
    }
    let plan: Arc<[Planned]> = plan.into();
    let mut at = Position::new(&plan);
    let mut buffers = Buffers::new();
    let mut disk = Disk::start(
        Arc::clone(&placement),
        Arc::clone(&plan),
        buffers.spare_sender(),
    );
    // The bytes of every file, back to back: read in chunks that may span
    // many small files; the disk thread splits them.
    let mut left: u64 = plan.iter().map(Planned::len).sum();
    while left > 0 {
        let want = CHUNK.min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut buf = buffers.take();
        let (n, read) = wire::read_full(stall, stream, &mut buf[..want]).await;
        // What did arrive is kept (for a resume) even if the stream broke.
        if n > 0 && disk.send(ToDisk(buf, n)).await.is_err() {
            return Err(disk.failure().await);
        }
        at.advance(n as u64);
        let broken = match read {
            Ok(()) if n == want => None,
            Ok(()) => Some("the connection closed in the middle of".to_owned()),
            Err(e) => Some(format!("{e}, in")),
        };
        if let Some(what) = broken {
            disk.abandon().await;
            let (index, entry) = at
                .current()
                .map_or((None, ""), |(p, _)| (Some(p.index), p.entry.path.as_str()));
            return Err(Failure::new(
                index,
                format!(
                    "{what} {}; run the transfer again to resume",
                    display_escaped(entry, 80)
                ),
            ));
        }
        left -= n as u64;
        done += n as u64;
        if last_progress.elapsed().as_millis() >= 100
            && let Some((file, file_done)) = at.current()
        {
            last_progress = Instant::now();
            engine.emit_lossy(Event::Progress {
                transfer_id: offer.transfer_id.clone(),
                done,
                total: offer.total_bytes,
                file: file.entry.path.clone(),
                file_done,
                file_size: file.entry.size,
            });
        }
        files_done(engine, &offer.transfer_id, disk.placed());
    }
    let placed = disk.finish().await?;
    files_done(engine, &offer.transfer_id, placed);
    // Anything after the announced bytes is a lie about sizes.
    let mut probe = [0u8; 1];
    match wire::read_some(stall, stream, &mut probe).await {
        Ok(0) => {}
        Ok(_) => {
            return Err(Failure::new(
                None,
                "the sender sent more data than it announced",
            ));
        }
        Err(WireError::Io(_)) => {}
        Err(e) => return Err(Failure::new(None, e.to_string())),
    }
    Ok(Summary {
        files: offer.files.len(),
        bytes: offer.total_bytes,
        transferred: offer.total_bytes - resumed,
        seconds: started.elapsed().as_secs_f64(),
        path: engine
            .inner
            .net
            .path(peer)
            .await
            .ok()
            .flatten()
            .unwrap_or(path),
        saved: top_level_names(&placement, offer),
    })
}

/// Where the stream is in the plan: the file its next byte belongs to.
struct Position<'a> {
    plan: &'a [Planned],
    /// Index in `plan` of the current file.
    file: usize,
    /// Bytes of the current file the stream carried so far.
    into: u64,
}

impl<'a> Position<'a> {
    fn new(plan: &'a [Planned]) -> Self {
        let mut at = Self {
            plan,
            file: 0,
            into: 0,
        };
        at.advance(0);
        at
    }

    /// Moves `n` bytes on, past files that are complete.
    fn advance(&mut self, mut n: u64) {
        while let Some(file) = self.plan.get(self.file) {
            let left = file.len() - self.into;
            if n < left {
                self.into += n;
                return;
            }
            n -= left;
            self.file += 1;
            self.into = 0;
        }
    }

    /// The file the next byte belongs to (the last one at the end), and how
    /// much of it arrived, counting a resumed prefix.
    fn current(&self) -> Option<(&'a Planned, u64)> {
        match self.plan.get(self.file) {
            Some(file) => Some((file, file.start + self.into)),
            None => self.plan.last().map(|file| (file, file.entry.size)),
        }
    }
}

/// The final path of `entry` if a complete file of its size is already there.
fn already_placed(placement: &Placement, entry: &FileEntry) -> Option<PathBuf> {
    let rel = protocol::path::SafePath::parse(&entry.path).ok()?;
    let path = placement.final_path(&rel);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    (meta.is_file() && meta.len() == entry.size).then_some(path)
}

fn top_level_names(placement: &Placement, offer: &Offer) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for path in offer.files.iter().map(|f| &f.path).chain(&offer.dirs) {
        let first = path.split('/').next().unwrap_or_default();
        let shown = placement.top_level_name(first).to_owned();
        if !names.contains(&shown) {
            names.push(shown);
        }
    }
    names
}

/// Reports placed files as done.
fn files_done(engine: &Engine, transfer_id: &str, placed: Vec<PathBuf>) {
    for path in placed {
        let shown = path
            .strip_prefix(&engine.inner.config.download_dir)
            .unwrap_or(&path)
            .to_path_buf();
        engine.emit_lossy(Event::FileDone {
            transfer_id: transfer_id.to_owned(),
            file: shown,
        });
    }
}

#[cfg(test)]
mod tests {
    use protocol::offer::Hash;

    use super::*;

    fn planned(index: u32, size: u64, start: u64) -> Planned {
        Planned {
            index,
            entry: FileEntry {
                path: format!("f{index}"),
                size,
                hash: Hash([0; 32]),
            },
            start,
        }
    }

    /// Index of the current file and its bytes so far.
    fn at(position: &Position<'_>) -> Option<(u32, u64)> {
        position.current().map(|(file, done)| (file.index, done))
    }

    #[test]
    fn a_position_walks_across_files_skipping_those_without_bytes() {
        // An empty file, a resumed one, one already complete, a small one.
        let plan = [
            planned(0, 0, 0),
            planned(1, 10, 4),
            planned(2, 5, 5),
            planned(3, 3, 0),
        ];
        let mut position = Position::new(&plan);
        assert_eq!(
            at(&position),
            Some((1, 4)),
            "the empty file is passed at once"
        );
        position.advance(5);
        assert_eq!(at(&position), Some((1, 9)));
        // The last byte of file 1 also passes the complete file 2.
        position.advance(2);
        assert_eq!(at(&position), Some((3, 1)));
        position.advance(2);
        assert_eq!(
            at(&position),
            Some((3, 3)),
            "at the end: the last file, complete"
        );
        position.advance(7);
        assert_eq!(at(&position), Some((3, 3)));
    }

    #[test]
    fn an_empty_plan_has_no_position() {
        let mut position = Position::new(&[]);
        position.advance(1);
        assert_eq!(at(&position), None);
    }
}
