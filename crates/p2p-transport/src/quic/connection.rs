//! A quinn connection as a libp2p stream muxer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use libp2p::PeerId;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};

use super::{Endpoints, Error, Expected, HANDSHAKE_TIMEOUT, PeerMismatch};

type OpenFuture =
    BoxFuture<'static, Result<(quinn::SendStream, quinn::RecvStream), quinn::ConnectionError>>;

/// An established QUIC connection.
pub struct Connection {
    conn: quinn::Connection,
    inbound: Option<OpenFuture>,
    outbound: Option<OpenFuture>,
    closing: Option<BoxFuture<'static, quinn::ConnectionError>>,
}

impl Connection {
    fn new(conn: quinn::Connection) -> Self {
        Self {
            conn,
            inbound: None,
            outbound: None,
            closing: None,
        }
    }
}

/// The peer at the other end of a finished handshake, from its libp2p
/// certificate (which TLS has already checked).
fn peer_of(conn: &quinn::Connection) -> Result<PeerId, Error> {
    let bad = |what: &str| Error::Tls(format!("peer certificate: {what}"));
    let identity = conn.peer_identity().ok_or_else(|| bad("none"))?;
    let chain = identity
        .downcast::<Vec<quinn::rustls::pki_types::CertificateDer<'static>>>()
        .map_err(|_| bad("not X.509"))?;
    let cert = chain.first().ok_or_else(|| bad("empty chain"))?;
    let cert = libp2p_tls::certificate::parse(cert).map_err(|e| bad(&e.to_string()))?;
    Ok(cert.peer_id())
}

/// Waits for `connecting` to finish its handshake, at most
/// [`HANDSHAKE_TIMEOUT`], checks that the peer is `expected`'s (the peer
/// the dialled address names, if it names one) and registers the
/// connection in `endpoints`.
///
/// A dialling client refuses another peer in the handshake already (see
/// `tls::client_config_expecting`), and this says which one answered. The
/// check after the handshake is made here, and not only by the swarm, so
/// that the transport never hands out a connection to another peer than
/// the address names, whoever uses it: it also covers a resumed TLS
/// session, in which no certificate is verified, and a hole punch, where
/// we are the server.
pub(super) async fn handshake(
    connecting: quinn::Connecting,
    expected: Option<Arc<Expected>>,
    endpoints: Endpoints,
) -> Result<(PeerId, Connection), Error> {
    let wrong =
        |expected: PeerId, got: PeerId| Error::WrongPeer(Box::new(PeerMismatch { expected, got }));
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
        Err(_) => return Err(Error::HandshakeTimedOut),
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            let refused = expected
                .as_deref()
                .and_then(|x| Some((x.peer(), x.refused()?)));
            return Err(match refused {
                Some((expected, got)) => wrong(expected, got),
                None => e.into(),
            });
        }
    };
    let checked = peer_of(&conn).and_then(|got| match expected.as_deref() {
        Some(expected) if expected.peer() != got => Err(wrong(expected.peer(), got)),
        _ => Ok(got),
    });
    match checked {
        Ok(peer) => {
            endpoints.add_connection(&conn);
            Ok((peer, Connection::new(conn)))
        }
        Err(e) => {
            let reason: &[u8] = match e {
                Error::WrongPeer(_) => b"wrong peer",
                _ => b"bad certificate",
            };
            conn.close(0u32.into(), reason);
            Err(e)
        }
    }
}

/// Polls the stream `slot` is opening (or accepting), starting it with
/// `start` if none is under way.
fn poll_open(
    slot: &mut Option<OpenFuture>,
    conn: &quinn::Connection,
    cx: &mut Context<'_>,
    start: impl FnOnce(quinn::Connection) -> OpenFuture,
) -> Poll<Result<Stream, Error>> {
    let opening = slot.get_or_insert_with(|| start(conn.clone()));
    let result = ready!(opening.poll_unpin(cx));
    *slot = None;
    let (send, recv) = result?;
    Poll::Ready(Ok(Stream::new(send, recv)))
}

impl StreamMuxer for Connection {
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        poll_open(&mut this.inbound, &this.conn, cx, |conn| {
            async move { conn.accept_bi().await }.boxed()
        })
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        poll_open(&mut this.outbound, &this.conn, cx, |conn| {
            async move { conn.open_bi().await }.boxed()
        })
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let conn = &this.conn;
        let closing = this.closing.get_or_insert_with(|| {
            conn.close(0u32.into(), b"");
            let conn = conn.clone();
            async move { conn.closed().await }.boxed()
        });
        match ready!(closing.poll_unpin(cx)) {
            // Closed by us (what we asked for) or already gone quietly.
            quinn::ConnectionError::LocallyClosed
            | quinn::ConnectionError::ApplicationClosed(_)
            | quinn::ConnectionError::ConnectionClosed(_)
            | quinn::ConnectionError::TimedOut => Poll::Ready(Ok(())),
            e => Poll::Ready(Err(e.into())),
        }
    }

    fn poll(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        // Migration is off: the addresses never change.
        Poll::Pending
    }
}

/// One bidirectional QUIC stream.
pub struct Stream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// Our half is finished: closing again is a no-op, not an error.
    finished: bool,
}

impl Stream {
    fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        Self {
            send,
            recv,
            finished: false,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        AsyncRead::poll_read(Pin::new(&mut self.recv), cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.send), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.send), cx)
    }

    /// Finishes our half; the peer's can still be read.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.finished {
            return Poll::Ready(Ok(()));
        }
        ready!(AsyncWrite::poll_close(Pin::new(&mut self.send), cx))?;
        self.finished = true;
        Poll::Ready(Ok(()))
    }
}
