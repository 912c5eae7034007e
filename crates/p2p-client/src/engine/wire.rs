//! Frames and exact-length reads on a byte stream.

use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use protocol::transfer::{decode_frame_body, encode_frame, frame_len};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one read or write on a data stream may stall, unless
/// configured (`EngineConfig::stall_timeout`).
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a stream operation failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum WireError {
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent a bad frame: {0}")]
    Frame(#[from] protocol::transfer::FrameError),
    #[error("the connection stalled for {} seconds", .0.as_secs())]
    Stalled(Duration),
}

/// `fut`, failing if it takes longer than `stall`.
async fn timed<T>(
    stall: Duration,
    fut: impl Future<Output = std::io::Result<T>>,
) -> Result<T, WireError> {
    match tokio::time::timeout(stall, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(WireError::Stalled(stall)),
    }
}

/// Writes one length-prefixed JSON frame.
pub(super) async fn write_frame<W, T>(
    stall: Duration,
    stream: &mut W,
    value: &T,
) -> Result<(), WireError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let bytes = encode_frame(value);
    timed(stall, stream.write_all(&bytes)).await?;
    timed(stall, stream.flush()).await
}

/// Reads one length-prefixed JSON frame (bounded by
/// `protocol::transfer::MAX_FRAME`), failing if it takes longer than `stall`.
pub(super) async fn read_frame<R, T>(stall: Duration, stream: &mut R) -> Result<T, WireError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    tokio::time::timeout(stall, read_frame_untimed(stream))
        .await
        .unwrap_or(Err(WireError::Stalled(stall)))
}

/// [`read_frame`] without a deadline: for an answer that may come at any
/// time while the caller does something else.
pub(super) async fn read_frame_untimed<R, T>(stream: &mut R) -> Result<T, WireError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let len = frame_len(prefix)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(decode_frame_body(&body)?)
}

/// Reads up to `buf.len()` bytes; 0 means the peer closed its side.
pub(super) async fn read_some<R: AsyncRead + Unpin>(
    stall: Duration,
    stream: &mut R,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    timed(stall, stream.read(buf)).await
}

/// Reads until `buf` is full or the peer closes its side. Returns the bytes
/// read (fewer than `buf.len()` at the end of the stream or on an error)
/// and the error that ended the reading early, if one did: what arrived
/// before it is in `buf` all the same. Each read may stall for `stall`.
pub(super) async fn read_full<R: AsyncRead + Unpin>(
    stall: Duration,
    stream: &mut R,
    buf: &mut [u8],
) -> (usize, Result<(), WireError>) {
    let mut filled = 0;
    while filled < buf.len() {
        match timed(stall, stream.read(&mut buf[filled..])).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return (filled, Err(e)),
        }
    }
    (filled, Ok(()))
}

/// Writes all of `buf`.
pub(super) async fn write_all<W: AsyncWrite + Unpin>(
    stall: Duration,
    stream: &mut W,
    buf: &[u8],
) -> Result<(), WireError> {
    timed(stall, stream.write_all(buf)).await
}

/// Sends what `stream` buffers.
pub(super) async fn flush<W: AsyncWrite + Unpin>(
    stall: Duration,
    stream: &mut W,
) -> Result<(), WireError> {
    timed(stall, stream.flush()).await
}

/// Closes our writing half (the peer sees end of stream; we can still read).
pub(super) async fn close<W: AsyncWrite + Unpin>(
    stall: Duration,
    stream: &mut W,
) -> Result<(), WireError> {
    timed(stall, stream.close()).await
}
