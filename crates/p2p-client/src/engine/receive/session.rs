//! One transfer's data stream on the receiving side, as a state machine
//! without IO: the sender's start offsets checked against what we offered,
//! the plan of the files the stream carries, where in it each byte
//! belongs, progress, how a broken stream is reported, and the end (bytes
//! past the announced sizes are a lie).
//!
//! The driver (`receive`) reads the stream, feeds the disk thread and the
//! clock's readings in, and sends what comes out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::offer::Offer;
use protocol::path::display_escaped;
use protocol::transfer::DataHeader;

use super::Failure;
use super::disk::Planned;
use crate::event::Event;
use crate::network::PathInfo;

/// Bytes read from the network per chunk.
pub(super) const CHUNK: usize = 256 * 1024;

/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What came after the announced bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Trailing {
    /// Nothing: the sender closed its side.
    Nothing,
    /// More bytes.
    Bytes,
    /// The stream broke (the sender may have gone already: nothing lost).
    Broken,
    /// Nothing within the stall timeout, or another read error: why.
    Failed(String),
}

/// A transfer's stream being received.
#[derive(Debug)]
pub(super) struct Receiving {
    offer: Offer,
    starts: Vec<u64>,
    plan: Arc<[Planned]>,
    /// Index in `plan` of the file the next byte belongs to, and how much
    /// of it the stream carried so far.
    file: usize,
    into: u64,
    /// Bytes done, resumed ones included, and bytes still to come.
    done: u64,
    left: u64,
    last_progress: Option<Instant>,
}

impl Receiving {
    /// Checks the stream's header against the accepted offer and the
    /// resume points we gave: the sender may start each file at 0 or at
    /// the offset we offered, nothing else.
    pub(super) fn new(
        offer: &Offer,
        offered: &[protocol::transfer::ResumePoint],
        header: &DataHeader,
    ) -> Result<Self, Failure> {
        if header.starts.len() != offer.files.len() {
            return Err(Failure::new(
                None,
                "the sender's start offsets do not match the offer",
            ));
        }
        for (index, (start, entry)) in header.starts.iter().zip(&offer.files).enumerate() {
            let ours = offered
                .iter()
                .find(|p| p.file as usize == index)
                .map_or(0, |p| p.offset);
            if (*start != 0 && *start != ours) || *start > entry.size {
                return Err(Failure::new(
                    u32::try_from(index).ok(),
                    "the sender wants to resume at an offset we did not offer",
                ));
            }
        }
        Ok(Self {
            offer: offer.clone(),
            starts: header.starts.clone(),
            plan: Arc::from([]),
            file: 0,
            into: 0,
            done: header.starts.iter().sum(),
            left: 0,
            last_progress: None,
        })
    }

    /// Bytes an earlier attempt already brought over.
    pub(super) fn resumed(&self) -> u64 {
        self.starts.iter().sum()
    }

    /// The event that says bytes start to flow.
    pub(super) fn started(&self, peer: libp2p::PeerId, path: PathInfo) -> Event {
        Event::TransferStarted {
            transfer_id: self.offer.transfer_id.clone(),
            peer,
            direction: crate::event::Direction::Receive,
            files: self.offer.files.len(),
            bytes: self.offer.total_bytes,
            resumed: self.resumed(),
            path,
            unknown_size: false,
        }
    }

    /// Files whose every byte came in an earlier attempt, by index: the
    /// driver looks whether each is already placed.
    pub(super) fn complete_before(&self) -> Vec<usize> {
        self.offer
            .files
            .iter()
            .zip(&self.starts)
            .enumerate()
            .filter(|(_, (entry, start))| **start == entry.size)
            .map(|(index, _)| index)
            .collect()
    }

    /// The files the stream carries, in its order, leaving out those
    /// `placed` names (complete and already in place).
    pub(super) fn plan(&mut self, placed: &[usize]) -> Arc<[Planned]> {
        self.plan = self
            .offer
            .files
            .iter()
            .zip(&self.starts)
            .enumerate()
            .filter(|(index, _)| !placed.contains(index))
            .map(|(index, (entry, start))| Planned {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                entry: entry.clone(),
                start: *start,
            })
            .collect();
        self.left = self.plan.iter().map(Planned::len).sum();
        self.file = 0;
        self.into = 0;
        self.advance(0);
        Arc::clone(&self.plan)
    }

    /// How many bytes to read next; 0 once every announced byte came.
    pub(super) fn want(&self) -> usize {
        CHUNK.min(usize::try_from(self.left).unwrap_or(usize::MAX))
    }

    /// `n` bytes arrived (and went to the disk thread); a progress event
    /// if one is due.
    pub(super) fn received(&mut self, n: usize, now: Instant) -> Option<Event> {
        let n = (n as u64).min(self.left);
        self.advance(n);
        self.left -= n;
        self.done += n;
        let due = self
            .last_progress
            .is_none_or(|last| now.saturating_duration_since(last) >= PROGRESS_EVERY);
        if !due {
            return None;
        }
        let (file, file_done) = self.current()?;
        let event = Event::Progress {
            transfer_id: self.offer.transfer_id.clone(),
            done: self.done,
            total: self.offer.total_bytes,
            file: file.entry.path.clone(),
            file_done,
            file_size: file.entry.size,
        };
        self.last_progress = Some(now);
        Some(event)
    }

    /// The stream broke (`what` says how, e.g. "the connection closed in
    /// the middle of"): the failure names the file it broke in.
    pub(super) fn broken(&self, what: &str) -> Failure {
        let (index, name) = self
            .current()
            .map_or((None, ""), |(p, _)| (Some(p.index), p.entry.path.as_str()));
        Failure::new(
            index,
            format!(
                "{what} {}; run the transfer again to resume",
                display_escaped(name, 80)
            ),
        )
        .of_broken_stream()
    }

    /// What came after the last announced byte decides: more bytes are a
    /// lie about the sizes.
    pub(super) fn end(&self, trailing: Trailing) -> Result<(), Failure> {
        match trailing {
            Trailing::Bytes => Err(Failure::new(
                None,
                "the sender sent more data than it announced",
            )),
            Trailing::Failed(reason) => Err(Failure::new(None, reason)),
            Trailing::Nothing | Trailing::Broken => Ok(()),
        }
    }

    /// Bytes that crossed the network in this attempt.
    pub(super) fn transferred(&self) -> u64 {
        self.offer.total_bytes - self.resumed().min(self.offer.total_bytes)
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
    fn current(&self) -> Option<(&Planned, u64)> {
        match self.plan.get(self.file) {
            Some(file) => Some((file, file.start + self.into)),
            None => self.plan.last().map(|file| (file, file.entry.size)),
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
