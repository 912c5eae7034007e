//! Frames and exact-length reads on a byte stream.

use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use protocol::transfer::{decode_frame_body, encode_frame, frame_len};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one read or write on a data stream may stall.
pub(super) const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a stream operation failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum WireError {
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent a bad frame: {0}")]
    Frame(#[from] protocol::transfer::FrameError),
    #[error("the connection stalled for {} seconds", STALL_TIMEOUT.as_secs())]
    Stalled,
}

async fn timed<T>(fut: impl Future<Output = std::io::Result<T>>) -> Result<T, WireError> {
    match tokio::time::timeout(STALL_TIMEOUT, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(WireError::Stalled),
    }
}

/// Writes one length-prefixed JSON frame.
pub(super) async fn write_frame<W, T>(stream: &mut W, value: &T) -> Result<(), WireError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let bytes = encode_frame(value);
    timed(stream.write_all(&bytes)).await?;
    timed(stream.flush()).await
}

/// Reads one length-prefixed JSON frame (bounded by `protocol::transfer::MAX_FRAME`).
pub(super) async fn read_frame<R, T>(stream: &mut R) -> Result<T, WireError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; 4];
    timed(stream.read_exact(&mut prefix)).await?;
    let len = frame_len(prefix)?;
    let mut body = vec![0u8; len];
    timed(stream.read_exact(&mut body)).await?;
    Ok(decode_frame_body(&body)?)
}

/// Reads up to `buf.len()` bytes; 0 means the peer closed its side.
pub(super) async fn read_some<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    timed(stream.read(buf)).await
}

/// Reads until `buf` is full or the peer closes its side; returns the bytes
/// read (fewer than `buf.len()` only at the end of the stream). Each read
/// may stall for [`STALL_TIMEOUT`].
pub(super) async fn read_full<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = timed(stream.read(&mut buf[filled..])).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Writes all of `buf`.
pub(super) async fn write_all<W: AsyncWrite + Unpin>(
    stream: &mut W,
    buf: &[u8],
) -> Result<(), WireError> {
    timed(stream.write_all(buf)).await
}

/// Closes our writing half (the peer sees end of stream; we can still read).
pub(super) async fn close<W: AsyncWrite + Unpin>(stream: &mut W) -> Result<(), WireError> {
    timed(stream.close()).await
}
