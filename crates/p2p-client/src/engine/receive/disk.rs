//! The disk side of a receive: one blocking thread per transfer that opens,
//! writes, hashes, verifies and places the files, in stream order.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use protocol::offer::{FileEntry, Hash};
use tokio::sync::mpsc;

use super::Failure;
use super::session::CHUNK;
use crate::files::store::{PartialFile, Placement, StoreError, VerifiedFile};

/// Chunks queued between the network and the disk thread. With the spare
/// buffers this bounds a transfer's buffers to about 2.5 MiB.
const WRITE_QUEUE: usize = 4;

/// Files under this size are synced in batches (see [`Batch`]).
const SMALL_FILE: u64 = 1024 * 1024;

/// Most files in one batch. Each holds an open file until it is placed, and
/// two batches may be open at once (one filling, one being flushed): 256
/// descriptors per transfer at most.
const BATCH_FILES: usize = 128;

/// Most bytes in one batch.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Chunk buffers of one transfer, reused: the disk thread hands each one
/// back once written, so a gigabyte costs no allocation per chunk.
pub(super) struct Buffers {
    spare: mpsc::Receiver<Vec<u8>>,
    give_back: mpsc::Sender<Vec<u8>>,
}

impl Buffers {
    pub(super) fn new() -> Self {
        let (give_back, spare) = mpsc::channel(WRITE_QUEUE + 2);
        Self { spare, give_back }
    }

    /// A buffer of [`CHUNK`] bytes.
    pub(super) fn take(&mut self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK])
    }

    pub(super) fn spare_sender(&self) -> mpsc::Sender<Vec<u8>> {
        self.give_back.clone()
    }
}

/// One file of a transfer as the stream carries it: its bytes from `start`
/// to its end.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    /// Index of the file in the offer.
    pub(super) index: u32,
    pub(super) entry: FileEntry,
    /// First byte sent (after a resumed prefix).
    pub(super) start: u64,
}

impl Planned {
    /// Bytes of this file the stream carries.
    pub(super) fn len(&self) -> u64 {
        self.entry.size.saturating_sub(self.start)
    }
}

/// Bytes of the stream, in order, across file boundaries: the disk thread
/// splits them by the plan it was started with, so many small files cost
/// one message, not three each.
pub(super) struct ToDisk(pub(super) Vec<u8>, pub(super) usize);

/// Why the disk thread stopped: the index of the file, if one, and the error.
type DiskError = (Option<u32>, StoreError);

/// The disk side of one transfer: a single blocking thread opens, writes,
/// hashes, verifies and places the files, in order, fed through a bounded
/// queue so memory stays constant whatever the sizes. One thread for the
/// whole transfer, not one per file: ten thousand small files cost no
/// thread hand-offs each.
pub(super) struct Disk {
    to_disk: mpsc::Sender<ToDisk>,
    placed: mpsc::UnboundedReceiver<PathBuf>,
    thread: tokio::task::JoinHandle<Result<(), DiskError>>,
}

impl Disk {
    /// Starts the thread for the files of `plan`, in its order. Files the
    /// stream carries no byte of (empty, or resumed to their end) are
    /// verified and placed as soon as the stream reaches them.
    pub(super) fn start(
        placement: Arc<Placement>,
        plan: Arc<[Planned]>,
        give_back: mpsc::Sender<Vec<u8>>,
    ) -> Self {
        let (to_disk, rx) = mpsc::channel(WRITE_QUEUE);
        let (placed_tx, placed) = mpsc::unbounded_channel();
        let thread = tokio::task::spawn_blocking(move || {
            disk_thread(rx, plan, placement, &give_back, placed_tx)
        });
        Self {
            to_disk,
            placed,
            thread,
        }
    }

    /// Queues bytes; fails once the thread stopped (see [`Disk::failure`]).
    pub(super) async fn send(&self, message: ToDisk) -> Result<(), ()> {
        self.to_disk.send(message).await.map_err(|_| ())
    }

    /// Files placed so far and not yet reported.
    pub(super) fn placed(&mut self) -> Vec<PathBuf> {
        drain(&mut self.placed)
    }

    /// Why the thread stopped early.
    pub(super) async fn failure(self) -> Failure {
        match self.end().await {
            Err(failure) => failure,
            Ok(_) => Failure::new(None, "the disk writer stopped"),
        }
    }

    /// Ends the transfer early: the open file keeps its partial data for a
    /// resume, verified files are still placed.
    pub(super) async fn abandon(self) {
        let _ = self.end().await;
    }

    /// Waits for the last file to be placed; returns the files placed since
    /// the last [`Disk::placed`].
    pub(super) async fn finish(self) -> Result<Vec<PathBuf>, Failure> {
        self.end().await
    }

    /// Closes the queue and waits for the thread.
    async fn end(mut self) -> Result<Vec<PathBuf>, Failure> {
        drop(self.to_disk);
        let result = self.thread.await;
        let placed = drain(&mut self.placed);
        match result {
            Ok(Ok(())) => Ok(placed),
            Ok(Err((file, e))) => Err(Failure::new(file, e.to_string())),
            Err(_) => Err(Failure::new(None, "the disk writer stopped")),
        }
    }
}

/// Everything `rx` holds now.
fn drain(rx: &mut mpsc::UnboundedReceiver<PathBuf>) -> Vec<PathBuf> {
    let mut all = Vec::new();
    while let Ok(path) = rx.try_recv() {
        all.push(path);
    }
    all
}

/// Verified files waiting under their partial names for one flush of the
/// filesystem before they get their final names: a final name never shows
/// data that is not on disk yet, at one sync per batch instead of one per
/// file.
#[derive(Default)]
struct Batch {
    files: Vec<VerifiedFile>,
    /// Content (hash and size) of each file, which names its partial file.
    contents: HashSet<(Hash, u64)>,
    bytes: u64,
}

impl Batch {
    fn push(&mut self, file: VerifiedFile, entry: &FileEntry) {
        self.files.push(file);
        self.contents.insert((entry.hash, entry.size));
        self.bytes += entry.size;
    }

    /// Whether a file of the same content as `entry` waits here: files of
    /// the same content share a partial file, which the batch holds.
    fn holds(&self, entry: &FileEntry) -> bool {
        self.contents.contains(&(entry.hash, entry.size))
    }

    fn is_full(&self) -> bool {
        self.files.len() >= BATCH_FILES || self.bytes >= BATCH_BYTES
    }
}

/// Syncs and places the files of a batch (see [`VerifiedFile::sync_batch`]),
/// reporting each through `placed`.
fn sync_and_place(
    files: Vec<VerifiedFile>,
    placement: &Placement,
    placed: &mpsc::UnboundedSender<PathBuf>,
) -> Result<(), StoreError> {
    VerifiedFile::sync_batch(&files)?;
    for file in files {
        let _ = placed.send(file.place(placement)?);
    }
    Ok(())
}

/// Flushes batches on a thread of its own, one at a time and in order,
/// while the disk thread goes on writing the next: the sync waits for the
/// disk, and writing need not wait with it. Without a thread (none could
/// be started), flushes in place.
struct Flusher {
    placement: Arc<Placement>,
    placed: mpsc::UnboundedSender<PathBuf>,
    thread: Option<FlushThread>,
    /// Contents of the batch in flight, if one is.
    in_flight: Option<HashSet<(Hash, u64)>>,
}

struct FlushThread {
    jobs: std::sync::mpsc::SyncSender<Job>,
    results: std::sync::mpsc::Receiver<Result<(), StoreError>>,
}

/// Work for the flush thread.
enum Job {
    /// Sync these verified files and give them their names; answers with
    /// the result.
    Batch(Vec<VerifiedFile>),
    /// Start the data of a large file being written towards the disk (see
    /// [`crate::files::store::PartialFile::writeback`]); no answer.
    Writeback(std::fs::File),
}

impl Flusher {
    fn start(placement: Arc<Placement>, placed: mpsc::UnboundedSender<PathBuf>) -> Self {
        let (jobs, job_rx) = std::sync::mpsc::sync_channel::<Job>(1);
        let (result_tx, results) = std::sync::mpsc::sync_channel(1);
        let (thread_placement, thread_placed) = (Arc::clone(&placement), placed.clone());
        let thread = std::thread::Builder::new()
            .name("p2p-flush".into())
            .spawn(move || {
                for job in job_rx {
                    match job {
                        Job::Batch(files) => {
                            let result = sync_and_place(files, &thread_placement, &thread_placed);
                            if result_tx.send(result).is_err() {
                                break;
                            }
                        }
                        Job::Writeback(file) => {
                            if let Err(error) = file.sync_data() {
                                // The file's own sync at its end reports it.
                                tracing::debug!(%error, "early writeback failed");
                            }
                        }
                    }
                }
            })
            .map_err(|error| tracing::warn!(%error, "no thread for syncing; syncing in line"))
            .ok()
            .map(|_| FlushThread { jobs, results });
        Self {
            placement,
            placed,
            thread,
            in_flight: None,
        }
    }

    /// Starts flushing `batch` once the one before it is done.
    fn flush(&mut self, batch: &mut Batch) -> Result<(), StoreError> {
        self.wait()?;
        let files = std::mem::take(&mut batch.files);
        let contents = std::mem::take(&mut batch.contents);
        batch.bytes = 0;
        if files.is_empty() {
            return Ok(());
        }
        let Some(thread) = &self.thread else {
            return sync_and_place(files, &self.placement, &self.placed);
        };
        match thread.jobs.send(Job::Batch(files)) {
            Ok(()) => {
                self.in_flight = Some(contents);
                Ok(())
            }
            // The thread is gone: flush here.
            Err(std::sync::mpsc::SendError(job)) => {
                self.thread = None;
                match job {
                    Job::Batch(files) => sync_and_place(files, &self.placement, &self.placed),
                    Job::Writeback(_) => Ok(()),
                }
            }
        }
    }

    /// Has the thread start `file`'s data towards the disk, unless it is
    /// busy: the writer never waits for this.
    fn writeback(&self, file: std::fs::File) {
        if let Some(thread) = &self.thread {
            let _ = thread.jobs.try_send(Job::Writeback(file));
        }
    }

    /// Whether a file of the same content as `entry` is being flushed.
    fn holds(&self, entry: &FileEntry) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|contents| contents.contains(&(entry.hash, entry.size)))
    }

    /// Waits for the batch in flight, if any, and returns how it went.
    fn wait(&mut self) -> Result<(), StoreError> {
        if self.in_flight.take().is_none() {
            return Ok(());
        }
        match self.thread.as_ref().map(|t| t.results.recv()) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Err(self.stopped()),
        }
    }

    /// The error for a flush thread that went away.
    fn stopped(&self) -> StoreError {
        StoreError::Io {
            path: self.placement.dir().to_path_buf(),
            source: std::io::Error::other("the thread syncing files stopped"),
        }
    }
}

/// The files of the plan being written, one at a time.
struct Writer<'a> {
    plan: Arc<[Planned]>,
    /// Index in `plan` of the next file to open.
    next: usize,
    placement: &'a Placement,
    open: Option<(PartialFile, FileEntry)>,
    batch: Batch,
    flusher: Flusher,
}

impl Writer<'_> {
    /// Opens the next file of the plan that the stream carries bytes of;
    /// the ones before it that need none are verified on the way.
    fn open_next(&mut self) -> Result<(), DiskError> {
        while let Some(Planned {
            index,
            entry,
            start,
        }) = self.plan.get(self.next).cloned()
        {
            self.next += 1;
            // Files of the same content share a partial file: the one
            // waiting to be placed must be placed first.
            if self.batch.holds(&entry) {
                self.flusher.flush(&mut self.batch).map_err(|e| (None, e))?;
            }
            if self.flusher.holds(&entry) {
                self.flusher.wait().map_err(|e| (None, e))?;
            }
            let partial = self
                .placement
                .open(index, &entry, start)
                .map_err(|e| (Some(index), e))?;
            if partial.remaining() > 0 {
                self.open = Some((partial, entry));
                return Ok(());
            }
            self.close(partial, &entry)?;
        }
        Ok(())
    }

    /// Verifies a file all of whose bytes were written and queues it to be
    /// synced and placed.
    fn close(&mut self, partial: PartialFile, entry: &FileEntry) -> Result<(), DiskError> {
        let index = partial.index();
        let verified = partial.verify().map_err(|e| (Some(index), e))?;
        self.batch.push(verified, entry);
        if entry.size >= SMALL_FILE || self.batch.is_full() {
            self.flusher.flush(&mut self.batch).map_err(|e| (None, e))?;
        }
        Ok(())
    }

    /// Writes bytes of the stream to the files they belong to, closing each
    /// file at its last byte and opening the next.
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), DiskError> {
        while !bytes.is_empty() {
            let Some((partial, _)) = self.open.as_mut() else {
                // The receive loop reads no more than the plan announces.
                return Err((
                    None,
                    StoreError::Io {
                        path: self.placement.dir().to_path_buf(),
                        source: std::io::Error::other(
                            "the stream carried more bytes than the offer's files",
                        ),
                    },
                ));
            };
            let index = partial.index();
            let take =
                usize::try_from(partial.remaining()).map_or(bytes.len(), |r| r.min(bytes.len()));
            let (now, later) = bytes.split_at(take);
            partial.write(now).map_err(|e| (Some(index), e))?;
            if let Some(file) = partial.writeback().map_err(|e| (Some(index), e))? {
                self.flusher.writeback(file);
            }
            bytes = later;
            if partial.remaining() == 0
                && let Some((partial, entry)) = self.open.take()
            {
                self.close(partial, &entry)?;
                self.open_next()?;
            }
        }
        Ok(())
    }
}

/// The disk thread: see [`Disk`]. Returns the first error with the index
/// of its file; the files verified before it are placed all the same.
fn disk_thread(
    mut rx: mpsc::Receiver<ToDisk>,
    plan: Arc<[Planned]>,
    placement: Arc<Placement>,
    give_back: &mpsc::Sender<Vec<u8>>,
    placed: mpsc::UnboundedSender<PathBuf>,
) -> Result<(), DiskError> {
    let mut writer = Writer {
        plan,
        next: 0,
        placement: &placement,
        open: None,
        batch: Batch::default(),
        flusher: Flusher::start(Arc::clone(&placement), placed),
    };
    let mut run = || -> Result<(), DiskError> {
        writer.open_next()?;
        while let Some(ToDisk(chunk, len)) = rx.blocking_recv() {
            let written = writer.write(chunk.get(..len).unwrap_or(&chunk));
            let _ = give_back.try_send(chunk);
            written?;
        }
        Ok(())
    };
    let result = run();
    // An open file keeps its partial data; verified ones are placed, even
    // after an error.
    drop(writer.open.take());
    let flushed = writer
        .flusher
        .flush(&mut writer.batch)
        .and_then(|()| writer.flusher.wait())
        .map_err(|e| (None, e));
    result.and(flushed)
}
