//! quinn's UDP socket with its batches capped to what one datagram of the
//! kernel's offloads can hold, so that packets larger than the internet's
//! 1.4 KB (on loopback and jumbo-frame networks) neither overflow a send nor
//! grow quinn's receive buffer; and, where quinn-udp cannot set up a socket
//! (it needs options some platforms refuse: Wine refuses `IPV6_V6ONLY` on an
//! IPv4 socket and the ECN options), [`Plain`] datagrams instead.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, Runtime as _, UdpPoller};

use super::MAX_UDP_PAYLOAD;

/// The most bytes one segmentation-offload send or coalesced receive holds
/// (the UDP length field).
const MAX_BATCH_BYTES: usize = 65_535;

/// Packets of the largest size that fit in one batch.
const MAX_SEGMENTS: usize = MAX_BATCH_BYTES / MAX_UDP_PAYLOAD as usize;

/// Segments per receive slot: enough for the 64 KiB the kernel coalesces.
const RECEIVE_SEGMENTS: usize = MAX_BATCH_BYTES.div_ceil(MAX_UDP_PAYLOAD as usize);

const _: () =
    assert!(MAX_SEGMENTS >= 1 && MAX_SEGMENTS * (MAX_UDP_PAYLOAD as usize) <= MAX_BATCH_BYTES);
const _: () = assert!(RECEIVE_SEGMENTS * (MAX_UDP_PAYLOAD as usize) >= MAX_BATCH_BYTES);

/// A quinn-udp socket that reports at most [`MAX_SEGMENTS`] segments per
/// send and per receive.
///
/// quinn sends up to 10 packets per `sendmsg` with segmentation offload and
/// sizes its receive buffer as the largest packet × the receive segments ×
/// 32 messages. With the kernel's 64 segments and 8,952-byte packets that
/// would be 18 MB; capped it is 2.3 MB (3 MB with quinn's defaults), and a
/// send never exceeds the 64 KiB the kernel takes in one.
#[derive(Debug)]
pub(super) struct Socket {
    inner: Arc<dyn AsyncUdpSocket>,
}

impl Socket {
    /// quinn-udp's socket, capped; [`Plain`] where quinn-udp cannot set the
    /// socket up.
    pub(super) fn wrap(socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        if let Err(e) = quinn::udp::UdpSocketState::new((&socket).into()) {
            tracing::warn!(
                error = %e,
                "this platform's UDP sockets lack an option quinn-udp needs: \
                 QUIC goes on with plain datagrams (no offloads, no ECN)"
            );
            return Ok(Arc::new(Plain::new(socket)?));
        }
        let inner = quinn::TokioRuntime.wrap_udp_socket(socket)?;
        Ok(Arc::new(Self { inner }))
    }
}

impl AsyncUdpSocket for Socket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Arc::clone(&self.inner).create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments().min(MAX_SEGMENTS)
    }

    fn max_receive_segments(&self) -> usize {
        // quinn gives each message MAX_UDP_PAYLOAD × this bytes.
        self.inner.max_receive_segments().min(RECEIVE_SEGMENTS)
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

/// One datagram per call through the portable `send_to` and `recv_from`:
/// no segmentation offloads, no ECN, no destination address. quinn then
/// assumes datagrams may fragment and does not probe for a larger MTU, so
/// this is slower than [`Socket`], and only used where that cannot be had.
#[derive(Debug)]
pub(super) struct Plain {
    io: tokio::net::UdpSocket,
}

impl Plain {
    pub(super) fn new(socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: tokio::net::UdpSocket::from_std(socket)?,
        })
    }
}

impl AsyncUdpSocket for Plain {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(PlainPoller {
            socket: self,
            writable: None,
        })
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        // Segments are never asked for (one per transmit), but a transmit
        // that carries several is sent as several datagrams.
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        for datagram in transmit.contents.chunks(size) {
            self.io.try_send_to(datagram, transmit.destination)?;
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let mut read = tokio::io::ReadBuf::new(buf);
        let addr = std::task::ready!(self.io.poll_recv_from(cx, &mut read))?;
        let len = read.filled().len();
        *slot = RecvMeta {
            addr,
            len,
            stride: len,
            ecn: None,
            dst_ip: None,
        };
        Poll::Ready(Ok(1))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        1
    }

    fn max_receive_segments(&self) -> usize {
        1
    }

    fn may_fragment(&self) -> bool {
        // The don't-fragment bit is not set on these sockets.
        true
    }
}

type Writable = Pin<Box<dyn Future<Output = io::Result<()>> + Send + Sync>>;

/// Wakes its own task when the socket can take a datagram again (tokio's
/// `writable` has room for every waiter; `poll_send_ready` keeps only the
/// last, which would strand the other connections of the endpoint).
struct PlainPoller {
    socket: Arc<Plain>,
    writable: Option<Writable>,
}

impl std::fmt::Debug for PlainPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainPoller").finish_non_exhaustive()
    }
}

impl UdpPoller for PlainPoller {
    fn poll_writable(mut self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let writable = this.writable.get_or_insert_with(|| {
            let socket = Arc::clone(&this.socket);
            Box::pin(async move { socket.io.writable().await })
        });
        let result = writable.as_mut().poll(cx);
        if result.is_ready() {
            this.writable = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::quic::Config;
    use libp2p::identity::Keypair;

    fn plain_endpoint(server: Option<quinn::ServerConfig>) -> quinn::Endpoint {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        quinn::Endpoint::new_with_abstract_socket(
            quinn::EndpointConfig::default(),
            server,
            Arc::new(Plain::new(socket).unwrap()),
            Arc::new(quinn::TokioRuntime),
        )
        .unwrap()
    }

    /// The fallback carries a whole QUIC connection: the handshake, and
    /// more bytes than fit in the windows, both ways, intact.
    #[tokio::test]
    async fn plain_datagrams_carry_a_connection_and_its_bytes() {
        let config = |key: Keypair| Config::new(&key, 1 << 20).unwrap();
        let (dialer, listener) = (
            config(Keypair::generate_ed25519()),
            config(Keypair::generate_ed25519()),
        );
        let client = plain_endpoint(None);
        let server = plain_endpoint(Some(listener.server.clone()));
        let to = server.local_addr().unwrap();
        let payload: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let serving = tokio::spawn(async move {
            let connection = server.accept().await.unwrap().await.unwrap();
            let (mut send, mut recv) = connection.accept_bi().await.unwrap();
            let got = recv.read_to_end(8 << 20).await.unwrap();
            send.write_all(&got[..1000]).await.unwrap();
            send.finish().unwrap();
            connection.closed().await;
            got
        });
        let connection = client
            .connect_with(dialer.client.clone(), to, "l")
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&sent).await.unwrap();
        send.finish().unwrap();
        let echo = recv.read_to_end(8 << 20).await.unwrap();
        assert_eq!(echo, payload[..1000]);
        connection.close(0u32.into(), b"done");
        let got = serving.await.unwrap();
        assert_eq!(got.len(), payload.len());
        assert!(got == payload, "the bytes arrive intact");
    }

    /// Where quinn-udp works (Linux; not Wine), the probe keeps its socket.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_offloading_socket_is_kept_where_it_works() {
        let socket = Socket::wrap(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        assert!(
            !socket.may_fragment(),
            "quinn-udp's socket sets don't-fragment"
        );
    }
}
