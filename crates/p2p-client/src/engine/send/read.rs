//! The sender's file reader: the offered files, in order, from their start
//! offsets, read on a blocking thread ahead of the network.

use std::path::PathBuf;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::CHUNK;
use crate::files::blocks::{BLOCK, SharedReads};

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
/// the returned sender are reused. With `shared` (a send to several
/// recipients), bytes come from the blocks the recipients share, each read
/// from disk once. An error ends the stream of chunks with
/// a message that names the file; so does a file that changed since it was
/// offered, checked when it is opened and again once it was read (the
/// receiver would refuse its hash anyway, this says why).
pub(super) fn read_ahead(
    jobs: Vec<ReadJob>,
    shared: Option<SharedReads>,
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
            let source = Source {
                shared: shared.as_ref(),
                file,
            };
            if let Err(reason) = read_file(job, source, &mut chunk, &mut |full: &mut Chunk| {
                // The next chunk goes on in the same file, from where this
                // one ended.
                let next = Chunk {
                    file: full.file,
                    file_done: full.file_done,
                    ..new_chunk(full.finished.end)
                };
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

/// Where [`read_file`] takes a file's bytes from: its own reads, or the
/// blocks shared with other recipients.
#[derive(Clone, Copy)]
struct Source<'a> {
    shared: Option<&'a SharedReads>,
    /// The file's index in the offer.
    file: usize,
}

impl Source<'_> {
    /// Reads the bytes at `pos` of `reader` into `buf` (as many as fit in
    /// one block); 0 at the end of the file.
    fn read(&self, reader: &mut std::fs::File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(shared) = self.shared else {
            return crate::files::read_full(reader, buf);
        };
        let block = pos / BLOCK as u64;
        let data = shared.block(self.file, block, reader)?;
        let from = usize::try_from(pos - block * BLOCK as u64).unwrap_or(usize::MAX);
        let Some(have) = data.get(from..) else {
            return Ok(0);
        };
        let n = have.len().min(buf.len());
        buf[..n].copy_from_slice(&have[..n]);
        Ok(n)
    }
}

/// Reads `job` (the offer's file `source.file`) into `chunk`, handing each
/// full chunk to `ship`. Fails with the reason, or with `None` when `ship`
/// failed.
fn read_file(
    job: &ReadJob,
    source: Source<'_>,
    chunk: &mut Chunk,
    ship: &mut dyn FnMut(&mut Chunk) -> Result<(), Option<String>>,
) -> Result<(), Option<String>> {
    let shown = job.source.display();
    let file = source.file;
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
    if job.start > 0 && source.shared.is_none() {
        std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(job.start))
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
    }
    while left > 0 {
        let room = chunk.buf.len() - chunk.len;
        let want = usize::try_from(left).map_or(room, |left| left.min(room));
        let got = source
            .read(
                &mut reader,
                chunk.file_done,
                &mut chunk.buf[chunk.len..chunk.len + want],
            )
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every byte `read_ahead` gives for `jobs`, in order; checks that the
    /// progress within a file only grows from chunk to chunk.
    async fn collect(jobs: Vec<ReadJob>, shared: Option<SharedReads>) -> Vec<u8> {
        let (mut chunks, _give_back) = read_ahead(jobs, shared);
        let mut out = Vec::new();
        let mut last = (0, 0);
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.unwrap();
            if chunk.file == last.0 {
                assert!(chunk.file_done > last.1, "progress went back");
            }
            last = (chunk.file, chunk.file_done);
            out.extend_from_slice(&chunk.buf[..chunk.len]);
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_recipients_read_each_block_from_disk_once_and_get_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [3 * BLOCK + 17, 10, 0, 2 * BLOCK];
        let mut files = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let path = dir.path().join(format!("f{i}"));
            let data: Vec<u8> = (0..*size).map(|b| (b * 31 + i) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            files.push((path, data));
        }
        // The third recipient resumes the first file in its second block.
        let starts = [[0u64; 4], [0; 4], [BLOCK as u64 + 5, 0, 0, 0]];
        let jobs = |starts: &[u64; 4]| -> Vec<ReadJob> {
            files
                .iter()
                .zip(starts)
                .map(|((path, data), start)| ReadJob {
                    source: path.clone(),
                    start: *start,
                    size: data.len() as u64,
                    modified: None,
                })
                .collect()
        };
        let shared = SharedReads::default();
        let got = futures::future::join_all(
            starts
                .iter()
                .map(|s| collect(jobs(s), Some(shared.clone()))),
        )
        .await;
        for (bytes, starts) in got.iter().zip(&starts) {
            let want: Vec<u8> = files
                .iter()
                .zip(starts)
                .flat_map(|((_, data), start)| data[*start as usize..].to_vec())
                .collect();
            assert!(*bytes == want, "a recipient got other bytes");
        }
        // Blocks: 4 + 1 + 0 + 2; a file's end reads one block past it only
        // when its size is a whole number of blocks: none here.
        assert_eq!(shared.disk_reads(), 7);
        // Alone, without sharing, the same bytes.
        assert!(collect(jobs(&starts[0]), None).await == got[0]);
    }
}
