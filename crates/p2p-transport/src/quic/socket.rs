//! quinn's UDP socket with its batches capped to what one datagram of the
//! kernel's offloads can hold, so that packets larger than the internet's
//! 1.4 KB (on loopback and jumbo-frame networks) neither overflow a send nor
//! grow quinn's receive buffer.

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
    pub(super) fn wrap(socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
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
