//! The receiver's side: offers wait for a decision; accepted transfers get
//! their bytes on a data stream, written to partial files, verified, placed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use protocol::offer::{FileEntry, Offer};
use protocol::transfer::{DATA_PROTOCOL, DataHeader, DataResult, Response};
use tokio::sync::{Semaphore, oneshot};
use tracing::{info, warn};

mod disk;
mod piped;
mod session;

use disk::{Buffers, Disk, ToDisk};
use session::{Receiving, Trailing};

use super::Engine;
use super::inbox::{self, Accepted, Action, Inbox};
use super::wire::{self, WireError};
use crate::event::{Event, Summary};
use crate::files::store::{Placement, Store};
use crate::network::PathInfo;

/// Data streams received at once.
const MAX_INBOUND_STREAMS: usize = 8;

/// The inbox with the requests' reply channels as its tokens.
pub(super) type Offers = Inbox<oneshot::Sender<Response>>;

/// A peer offers files.
pub(super) async fn on_offer(
    engine: &Engine,
    peer: PeerId,
    offer: Offer,
    reply: oneshot::Sender<Response>,
) {
    let transfer_id = offer.transfer_id.clone();
    let admitted = engine.inbox().offer(peer, offer, reply, Instant::now());
    match admitted {
        Ok(actions) => carry_out(engine, actions).await,
        Err((reply, refused)) => {
            info!(%peer, reason = ?refused.reason, message = %refused.message, "offer refused");
            engine.end_fetch(&transfer_id, Err(refused.message.clone()));
            let _ = reply.send(Response::Refused {
                reason: refused.reason,
                message: refused.message,
            });
        }
    }
}

/// A person's (or `--yes`'s) answer to an offer.
pub(super) fn decide(engine: &Engine, transfer_id: &str, accept: bool) {
    let actions = engine.inbox().decide(transfer_id, accept);
    let driver = engine.clone();
    engine.spawn(async move { carry_out(&driver, actions).await });
}

/// The sender gave up on a transfer.
pub(super) async fn on_cancel(engine: &Engine, peer: PeerId, transfer_id: &str, reason: &str) {
    // A running transfer's stream breaks now, or just broke: the reason
    // goes with it (kept a moment, whether or not one runs).
    engine.stopped_by_sender(transfer_id, peer, reason);
    let actions = engine.inbox().cancel(peer, transfer_id, reason);
    carry_out(engine, actions).await;
    if engine.inbox().fetch_owner(transfer_id) == Some(peer) {
        // The owner could not offer what we fetched.
        engine.inbox().forget_fetch(transfer_id);
        let reason = protocol::transfer::sanitize_reason(reason);
        engine.end_fetch(
            transfer_id,
            Err(format!("the owner cannot send it: {reason}")),
        );
    }
}

/// Does what the inbox asks, in order.
async fn carry_out(engine: &Engine, actions: Vec<inbox::Action<oneshot::Sender<Response>>>) {
    for action in actions {
        match action {
            Action::Answer { reply, response } => {
                let _ = reply.send(response);
            }
            Action::Drop(reply) => drop(reply),
            Action::Emit(event) => engine.emit(event).await,
            Action::CheckDisk {
                transfer_id,
                peer,
                offer,
            } => check_disk(engine, transfer_id, peer, offer),
            Action::ExpireAt(at) => expire_at(engine, at),
        }
    }
}

/// Checks free space and finds resume points off the async threads, then
/// hands the result to the inbox.
fn check_disk(engine: &Engine, transfer_id: String, peer: PeerId, offer: Offer) {
    let store = Store::new(engine.inner.config.download_dir.clone(), &peer.to_bytes());
    let driver = engine.clone();
    engine.spawn(async move {
        let checked = tokio::task::spawn_blocking(move || {
            let resume = store.resume_points(&offer);
            store.check_space(&offer, &resume).map(|()| resume)
        })
        .await;
        let result = match checked {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the disk check was interrupted".into()),
        };
        let actions = driver.inbox().checked(&transfer_id, result, Instant::now());
        carry_out(&driver, actions).await;
    });
}

/// Expires the offers due at `at`; declines every waiting offer if the
/// engine shuts down first.
fn expire_at(engine: &Engine, at: Instant) {
    let driver = engine.clone();
    engine.spawn(async move {
        let actions = tokio::select! {
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                driver.inbox().expire(Instant::now())
            }
            () = driver.inner.shutdown.cancelled() => driver.inbox().shutdown(),
        };
        carry_out(&driver, actions).await;
    });
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
    let claimed = engine
        .inbox()
        .claim(peer, &header.transfer_id, Instant::now());
    let Some(accepted) = claimed else {
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
    let cancel = engine.track(&transfer_id);
    let receiving = async {
        if accepted.offer.stream.is_some() {
            piped::receive_piped(engine, peer, &accepted, &header, &mut stream).await
        } else {
            receive_files(engine, peer, &accepted, &header, &mut stream).await
        }
    };
    let result = tokio::select! {
        result = receiving => result,
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
        Err(mut failure) => {
            let told = if failure.broken_stream {
                engine.sender_reason(&transfer_id, peer).await
            } else {
                None
            };
            if let Some(reason) = told {
                failure.message = format!(
                    "the sender stopped: {}",
                    protocol::transfer::sanitize_reason(&reason)
                );
            }
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
    if told.is_ok() && answer == DataResult::Complete && accepted.offer.stream.is_none() {
        // Only now: had we stopped before the sender heard of it, the
        // sender would send again, and the record lets that retry find
        // every file in place instead of sending it all to new names.
        Store::new(
            engine.inner.config.download_dir.clone(),
            &accepted.peer.to_bytes(),
        )
        .complete(&accepted.offer);
    }
    engine.emit(event).await;
}

/// Reasons senders gave for stopping a running transfer, kept at most.
const MAX_STOP_REASONS: usize = 64;

/// How long a broken stream waits for its sender's reason.
const REASON_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Engine {
    /// The sender of the running `transfer_id` says why it stopped.
    fn stopped_by_sender(&self, transfer_id: &str, peer: PeerId, reason: &str) {
        let mut reasons = super::lock(&self.inner.stop_reasons);
        if reasons.len() >= MAX_STOP_REASONS {
            reasons.clear();
        }
        reasons.insert(transfer_id.to_owned(), (peer, reason.to_owned()));
    }

    /// Why `peer` stopped sending `transfer_id`, if it says so soon.
    async fn sender_reason(&self, transfer_id: &str, peer: PeerId) -> Option<String> {
        let deadline = tokio::time::Instant::now() + REASON_WAIT;
        loop {
            if let Some((from, reason)) = super::lock(&self.inner.stop_reasons).remove(transfer_id)
                && from == peer
            {
                return Some(reason);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// A failed receive: what to tell both sides.
#[derive(Debug)]
struct Failure {
    file: Option<u32>,
    message: String,
    /// The stream broke: the sender may say why in a moment.
    broken_stream: bool,
}

impl Failure {
    fn new(file: Option<u32>, message: impl Into<String>) -> Self {
        Self {
            file,
            message: message.into(),
            broken_stream: false,
        }
    }

    fn of_broken_stream(mut self) -> Self {
        self.broken_stream = true;
        self
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
    let mut session = Receiving::new(offer, &accepted.resume, header)?;
    let path = engine.path_to(peer).await.unwrap_or(PathInfo {
        relayed: false,
        transport: crate::network::TransportKind::Tcp,
    });
    engine.emit(session.started(peer, path)).await;

    let store = Store::new(engine.inner.config.download_dir.clone(), &peer.to_bytes());
    let prepared_offer = offer.clone();
    let placement = tokio::task::spawn_blocking(move || store.prepare(&prepared_offer))
        .await
        .map_err(|_| Failure::new(None, "interrupted"))?
        .map_err(|e| Failure::new(None, e.to_string()))?;
    let placement = Arc::new(placement);

    let started = Instant::now();
    // Files an earlier attempt of the same offer placed complete need nothing.
    let mut placed = Vec::new();
    for index in session.complete_before() {
        if let Some(done) = offer
            .files
            .get(index)
            .and_then(|entry| already_placed(&placement, entry))
        {
            files_done(engine, &offer.transfer_id, vec![done]);
            placed.push(index);
        }
    }
    let plan = session.plan(&placed);
    let mut buffers = Buffers::new();
    let mut disk = Disk::start(
        Arc::clone(&placement),
        Arc::clone(&plan),
        buffers.spare_sender(),
    );
    // The bytes of every file, back to back: read in chunks that may span
    // many small files; the disk thread splits them.
    loop {
        let want = session.want();
        if want == 0 {
            break;
        }
        let mut buf = buffers.take();
        let (n, read) = wire::read_full(stall, stream, &mut buf[..want]).await;
        // What did arrive is kept (for a resume) even if the stream broke.
        if n > 0 && disk.send(ToDisk(buf, n)).await.is_err() {
            return Err(disk.failure().await);
        }
        let progress = session.received(n, Instant::now());
        let broken = match read {
            Ok(()) if n == want => None,
            Ok(()) => Some("the connection closed in the middle of".to_owned()),
            Err(e) => Some(format!("{e}, in")),
        };
        if let Some(what) = broken {
            disk.abandon().await;
            return Err(session.broken(&what));
        }
        if let Some(progress) = progress {
            engine.emit_lossy(progress);
        }
        files_done(engine, &offer.transfer_id, disk.placed());
    }
    let placed = disk.finish().await?;
    files_done(engine, &offer.transfer_id, placed);
    let mut probe = [0u8; 1];
    let trailing = match wire::read_some(stall, stream, &mut probe).await {
        Ok(0) => Trailing::Nothing,
        Ok(_) => Trailing::Bytes,
        Err(WireError::Io(_)) => Trailing::Broken,
        Err(e) => Trailing::Failed(e.to_string()),
    };
    session.end(trailing)?;
    Ok(Summary {
        files: offer.files.len(),
        bytes: offer.total_bytes,
        transferred: session.transferred(),
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
        text: false,
    })
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
