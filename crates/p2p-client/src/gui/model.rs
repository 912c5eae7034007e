//! What the window shows, built from engine events: pure data, no egui.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::PathInfo;
use crate::event::{Direction, Event, Summary};

/// Offers shown at once; more wait in the queue.
const MAX_QUEUED_OFFERS: usize = 16;

/// Finished transfers kept in the panel (older ones are in the history).
const MAX_FINISHED_ROWS: usize = 50;

pub use crate::peers::{PeerRow, short_id};

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RowState {
    /// Offered; the other side decides.
    WaitingForAnswer,
    /// Bytes flow.
    Running,
    /// Finished and verified.
    Done(Summary),
    /// Failed, with what to do.
    Failed(String),
    /// Declined or expired.
    Declined(String),
}

/// A transfer in the transfers panel.
#[derive(Debug, Clone)]
pub struct TransferRow {
    /// The transfer.
    pub id: String,
    /// The other peer.
    pub peer: String,
    /// Our side.
    pub direction: Direction,
    /// Number of files.
    pub files: usize,
    /// Total bytes.
    pub bytes: u64,
    /// Bytes done.
    pub done: u64,
    /// The file moving now.
    pub current_file: String,
    /// Direct or relayed, TCP or QUIC.
    pub path: Option<PathInfo>,
    /// Bytes per second, smoothed.
    pub speed: f64,
    /// State.
    pub state: RowState,
    /// A text rather than files.
    pub text: bool,
    /// A stream whose size is known only at its end (`send -`).
    pub unknown_size: bool,
    last_sample: Option<(Instant, u64)>,
}

impl TransferRow {
    fn new(
        id: String,
        peer: String,
        direction: Direction,
        files: usize,
        bytes: u64,
        state: RowState,
    ) -> Self {
        Self {
            id,
            peer,
            direction,
            files,
            bytes,
            done: 0,
            current_file: String::new(),
            path: None,
            speed: 0.0,
            state,
            text: false,
            unknown_size: false,
            last_sample: None,
        }
    }

    /// Fraction done, 0 to 1.
    pub fn fraction(&self) -> f32 {
        if self.bytes == 0 {
            return if matches!(self.state, RowState::Done(_)) {
                1.0
            } else {
                0.0
            };
        }
        (self.done as f64 / self.bytes as f64).clamp(0.0, 1.0) as f32
    }

    /// Time left at the current speed.
    pub fn eta(&self) -> Option<Duration> {
        if self.speed < 1.0 || self.unknown_size {
            return None;
        }
        let left = self.bytes.saturating_sub(self.done) as f64;
        Some(Duration::from_secs_f64(left / self.speed))
    }

    /// Whether bytes may still move (Cancel makes sense).
    pub fn is_active(&self) -> bool {
        matches!(self.state, RowState::WaitingForAnswer | RowState::Running)
    }

    fn sample(&mut self, done: u64, now: Instant) {
        if let Some((then, before)) = self.last_sample {
            let dt = now.saturating_duration_since(then).as_secs_f64();
            if dt >= 0.05 {
                let rate = done.saturating_sub(before) as f64 / dt;
                // Smooth, but follow changes within a few seconds.
                self.speed = if self.speed == 0.0 {
                    rate
                } else {
                    0.7 * self.speed + 0.3 * rate
                };
                self.last_sample = Some((now, done));
            }
        } else {
            self.last_sample = Some((now, done));
        }
        self.done = done;
    }
}

/// An incoming offer waiting for the person.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferView {
    /// The transfer.
    pub transfer_id: String,
    /// The sender.
    pub peer: String,
    /// Number of files.
    pub files: usize,
    /// Number of folders.
    pub folders: usize,
    /// Total bytes.
    pub bytes: u64,
    /// First names, escaped.
    pub names: Vec<String>,
    /// Characters of the text, when a text is offered instead of files.
    pub text_chars: Option<usize>,
    /// One stream whose size is known only at its end.
    pub unknown_size: bool,
}

/// A text that arrived, shown until closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedText {
    /// The transfer.
    pub transfer_id: String,
    /// The sender.
    pub peer: String,
    /// The text, safe to show.
    pub text: String,
}

/// Texts kept open at once; the oldest goes first.
const MAX_OPEN_TEXTS: usize = 8;

/// The signal-server connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerState {
    /// No server configured: LAN and tickets only.
    None,
    /// Connecting for the first time.
    Connecting,
    /// Registered.
    Connected,
    /// Lost or unreachable, with the reason and the retry.
    Down(String),
}

/// Everything the window shows.
#[derive(Debug)]
pub struct Model {
    /// Visible peers by ID.
    pub peers: BTreeMap<String, PeerRow>,
    /// Transfers, newest last.
    pub transfers: Vec<TransferRow>,
    /// Offers waiting for a decision, oldest first.
    pub offers: VecDeque<OfferView>,
    /// The server connection.
    pub server: ServerState,
    /// Addresses we listen on.
    pub listening: Vec<String>,
    /// Addresses that could not be listened on, each with its reason.
    pub listen_failed: Vec<String>,
    /// Texts received and not closed yet, oldest first.
    pub texts: VecDeque<ReceivedText>,
}

impl Model {
    /// An empty model; `server` says whether a server is configured.
    pub fn new(server: bool) -> Self {
        Self {
            peers: BTreeMap::new(),
            transfers: Vec::new(),
            offers: VecDeque::new(),
            server: if server {
                ServerState::Connecting
            } else {
                ServerState::None
            },
            listening: Vec::new(),
            listen_failed: Vec::new(),
            texts: VecDeque::new(),
        }
    }

    /// The row of a transfer.
    pub fn transfer(&self, id: &str) -> Option<&TransferRow> {
        self.transfers.iter().find(|t| t.id == id)
    }

    fn transfer_mut(&mut self, id: &str) -> Option<&mut TransferRow> {
        self.transfers.iter_mut().find(|t| t.id == id)
    }

    /// Removes an offer once it is decided.
    pub fn take_offer(&mut self, transfer_id: &str) -> Option<OfferView> {
        let index = self
            .offers
            .iter()
            .position(|o| o.transfer_id == transfer_id)?;
        self.offers.remove(index)
    }

    /// Applies one engine event. Returns a finished row when a transfer ended
    /// (for the history).
    pub fn apply(&mut self, event: &Event, now: Instant) -> Option<TransferRow> {
        match event {
            Event::PeerFound { .. } | Event::PeerLost { .. } => {
                crate::peers::apply(&mut self.peers, event);
            }
            Event::ServerStatus {
                connected, message, ..
            } => {
                self.server = if *connected {
                    ServerState::Connected
                } else {
                    crate::peers::apply(&mut self.peers, event);
                    ServerState::Down(message.clone())
                };
            }
            Event::Listening { addr } => self.listening.push(addr.to_string()),
            Event::ListenFailed { addr, reason } => {
                self.listen_failed.push(format!("{addr}: {reason}"));
            }
            Event::OfferReceived {
                transfer_id,
                peer,
                files,
                folders,
                bytes,
                names,
                text_chars,
                unknown_size,
                fetched: false,
            } if self.offers.len() < MAX_QUEUED_OFFERS => {
                self.offers.push_back(OfferView {
                    transfer_id: transfer_id.clone(),
                    peer: peer.to_string(),
                    files: *files,
                    folders: *folders,
                    bytes: *bytes,
                    names: names.clone(),
                    text_chars: *text_chars,
                    unknown_size: *unknown_size,
                });
            }
            Event::TextReceived {
                transfer_id,
                peer,
                text,
            } => {
                self.take_offer(transfer_id);
                if self.texts.len() >= MAX_OPEN_TEXTS {
                    self.texts.pop_front();
                }
                self.texts.push_back(ReceivedText {
                    transfer_id: transfer_id.clone(),
                    peer: peer.to_string(),
                    text: text.clone(),
                });
            }
            Event::OfferSent {
                transfer_id,
                peer,
                files,
                bytes,
                text,
                unknown_size,
            } => {
                let mut row = TransferRow::new(
                    transfer_id.clone(),
                    peer.to_string(),
                    Direction::Send,
                    *files,
                    *bytes,
                    RowState::WaitingForAnswer,
                );
                row.text = *text;
                row.unknown_size = *unknown_size;
                self.push_row(row);
            }
            Event::TransferStarted {
                transfer_id,
                peer,
                direction,
                files,
                bytes,
                resumed,
                path,
                unknown_size,
            } => {
                self.take_offer(transfer_id);
                let fresh = TransferRow::new(
                    transfer_id.clone(),
                    peer.to_string(),
                    *direction,
                    *files,
                    *bytes,
                    RowState::Running,
                );
                if let Some(row) = self.row_or(fresh) {
                    row.state = RowState::Running;
                    row.unknown_size = *unknown_size;
                    row.path = Some(*path);
                    row.done = *resumed;
                    row.last_sample = Some((now, *resumed));
                }
            }
            Event::Progress {
                transfer_id,
                done,
                file,
                ..
            } => {
                if let Some(row) = self.transfer_mut(transfer_id) {
                    row.sample(*done, now);
                    row.current_file.clone_from(file);
                }
            }
            Event::TransferDone {
                transfer_id,
                summary,
            } => {
                let row = self.transfer_mut(transfer_id)?;
                row.done = row.bytes;
                row.path = Some(summary.path);
                row.state = RowState::Done(summary.clone());
                let finished = row.clone();
                self.trim();
                return Some(finished);
            }
            Event::TransferFailed {
                transfer_id,
                peer,
                error,
            } => {
                self.take_offer(transfer_id);
                let fresh = TransferRow::new(
                    transfer_id.clone(),
                    peer.to_string(),
                    Direction::Receive,
                    0,
                    0,
                    RowState::Running,
                );
                let row = self.row_or(fresh)?;
                row.state = RowState::Failed(error.clone());
                let finished = row.clone();
                self.trim();
                return Some(finished);
            }
            Event::Declined {
                transfer_id,
                reason,
            } => {
                self.take_offer(transfer_id);
                let row = self.transfer_mut(transfer_id)?;
                row.state = RowState::Declined(reason.clone());
                let finished = row.clone();
                self.trim();
                return Some(finished);
            }
            _ => {}
        }
        None
    }

    /// The row of `fresh.id`, added as `fresh` if there is none yet.
    fn row_or(&mut self, fresh: TransferRow) -> Option<&mut TransferRow> {
        if self.transfer(&fresh.id).is_none() {
            let id = fresh.id.clone();
            self.push_row(fresh);
            return self.transfer_mut(&id);
        }
        let id = fresh.id;
        self.transfer_mut(&id)
    }

    fn push_row(&mut self, row: TransferRow) {
        self.transfers.push(row);
        self.trim();
    }

    /// Keeps at most [`MAX_FINISHED_ROWS`] finished rows.
    fn trim(&mut self) {
        let finished = self.transfers.iter().filter(|t| !t.is_active()).count();
        let mut excess = finished.saturating_sub(MAX_FINISHED_ROWS);
        self.transfers.retain(|t| {
            if excess > 0 && !t.is_active() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests;
