//! One offer on the sending side, as a state machine without IO: the
//! receiver's decision, where each file starts (a resume point counts only
//! if our own prefix hashes the same), the accounting of the chunks that
//! go out (files done, progress, files that grew), and the receiver's
//! final answer.
//!
//! The driver (`send`) hashes prefixes, reads the files, writes the stream
//! and reads the answer; it feeds the results and the time in.

use std::ops::Range;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use protocol::offer::{Hash, Offer};
use protocol::transfer::{
    DataHeader, DataResult, Decision, Response, ResumePoint, sanitize_reason,
};

use super::EngineError;
use crate::event::Event;

/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the receiver's answer to the offer means: the points it can
/// resume from, or why not.
pub(super) fn decision(peer: PeerId, response: Response) -> Result<Vec<ResumePoint>, EngineError> {
    match response {
        Response::Decision(Decision::Accept { resume }) => Ok(resume),
        Response::Decision(Decision::Decline { reason }) => {
            Err(EngineError::Declined(reason.describe().to_owned()))
        }
        other => Err(EngineError::unexpected(peer, other, "an offer")),
    }
}

/// The resume points worth hashing our prefix for: inside a file of the
/// offer, past its first byte.
pub(super) fn resume_checks(offer: &Offer, resume: &[ResumePoint]) -> Vec<ResumePoint> {
    resume
        .iter()
        .filter(|point| {
            offer
                .files
                .get(point.file as usize)
                .is_some_and(|entry| point.offset > 0 && point.offset <= entry.size)
        })
        .cloned()
        .collect()
}

/// Where each file starts: at a checked point whose prefix hash matches
/// ours (`None`: ours could not be read), else at 0.
pub(super) fn starts(offer: &Offer, checked: &[(ResumePoint, Option<Hash>)]) -> Vec<u64> {
    let mut starts = vec![0u64; offer.files.len()];
    for (point, ours) in checked {
        if let (Some(start), Some(ours)) = (starts.get_mut(point.file as usize), ours)
            && *ours == point.prefix_hash
        {
            *start = point.offset;
        }
    }
    starts
}

/// The next chunk of the stream, as the file reader hands it over.
#[derive(Debug, Clone)]
pub(super) struct ChunkInfo {
    /// Bytes in the chunk.
    pub(super) len: u64,
    /// Files (indexes in the offer) whose last byte is in this chunk, or
    /// that have no byte to send and come before its end.
    pub(super) finished: Range<usize>,
    /// The file the chunk ends in, and how much of it was read by then.
    pub(super) file: usize,
    pub(super) file_done: u64,
}

/// An accepted offer's stream being sent.
#[derive(Debug)]
pub(super) struct Sending {
    offer: Offer,
    starts: Vec<u64>,
    left: u64,
    done: u64,
    finished: usize,
    last_progress: Option<Instant>,
}

impl Sending {
    pub(super) fn new(offer: &Offer, starts: Vec<u64>) -> Self {
        let resumed: u64 = starts.iter().sum();
        Self {
            offer: offer.clone(),
            left: offer.total_bytes.saturating_sub(resumed),
            done: resumed,
            starts,
            finished: 0,
            last_progress: None,
        }
    }

    /// The stream's first frame.
    pub(super) fn header(&self) -> DataHeader {
        DataHeader {
            transfer_id: self.offer.transfer_id.clone(),
            starts: self.starts.clone(),
        }
    }

    /// Bytes the receiver already had.
    pub(super) fn resumed(&self) -> u64 {
        self.starts.iter().sum()
    }

    /// Bytes this attempt sends.
    pub(super) fn to_send(&self) -> u64 {
        self.offer.total_bytes.saturating_sub(self.resumed())
    }

    /// Whether every file went out.
    pub(super) fn all_sent(&self) -> bool {
        self.finished >= self.offer.files.len()
    }

    /// Whether the chunk is within the announced sizes; past them, the
    /// files grew while they were read.
    pub(super) fn fits(&self, chunk: &ChunkInfo) -> Result<(), String> {
        if chunk.len > self.left {
            return Err("the files grew while they were read".into());
        }
        Ok(())
    }

    /// A chunk went out: the files it finished, and progress if due.
    pub(super) fn sent(&mut self, chunk: &ChunkInfo, now: Instant) -> Result<Vec<Event>, String> {
        self.fits(chunk)?;
        self.left -= chunk.len;
        self.done += chunk.len;
        let mut events: Vec<Event> = self
            .offer
            .files
            .get(chunk.finished.clone())
            .unwrap_or_default()
            .iter()
            .map(|entry| Event::FileDone {
                transfer_id: self.offer.transfer_id.clone(),
                file: std::path::PathBuf::from(&entry.path),
            })
            .collect();
        self.finished = self.finished.max(chunk.finished.end);
        let due = self
            .last_progress
            .is_none_or(|last| now.saturating_duration_since(last) >= PROGRESS_EVERY);
        if due && let Some(entry) = self.offer.files.get(chunk.file) {
            self.last_progress = Some(now);
            events.push(Event::Progress {
                transfer_id: self.offer.transfer_id.clone(),
                done: self.done,
                total: self.offer.total_bytes,
                file: entry.path.clone(),
                file_done: chunk.file_done,
                file_size: entry.size,
            });
        }
        Ok(events)
    }

    /// The receiver's answer, which comes once every byte arrived or as
    /// soon as it fails.
    pub(super) fn answer(&self, result: DataResult) -> Result<(), String> {
        match result {
            DataResult::Complete if self.all_sent() => Ok(()),
            DataResult::Complete => {
                Err("the receiver reported success before every byte was sent".into())
            }
            DataResult::Failed { reason, .. } => Err(format!(
                "the receiver reports: {}",
                sanitize_reason(&reason)
            )),
            _ => Err("the receiver sent an unknown result".into()),
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
