//! The sender's file reader: the offered files, in order, from their start
//! offsets, read on a blocking thread ahead of the network.

use std::path::PathBuf;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::CHUNK;

/// Chunks read ahead of the network.
const READ_AHEAD: usize = 4;

/// The next `len` bytes of the stream, in `buf`: the files' bytes back to
/// back, so one chunk may hold many small files.
pub(super) struct Chunk {
    pub(super) buf: Vec<u8>,
    pub(super) len: usize,
    /// Files (indexes in the offer) whose last byte is in this chunk, or
    /// that have no byte to send and come before its end.
    pub(super) finished: std::ops::Range<usize>,
    /// The file the chunk ends in, and how much of it was read by then.
    pub(super) file: usize,
    pub(super) file_done: u64,
}

/// One file for [`read_ahead`]: its bytes from `start` to `size`, and when
/// it was last changed as it was offered.
pub(super) struct ReadJob {
    pub(super) source: PathBuf,
    pub(super) start: u64,
    pub(super) size: u64,
    pub(super) modified: Option<SystemTime>,
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
pub(super) fn read_ahead(
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
        let got = crate::files::read_full(&mut reader, &mut chunk.buf[chunk.len..chunk.len + want])
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
