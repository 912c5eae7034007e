//! A connection read in large pieces under its security upgrade.
//!
//! libp2p's Noise reads through `asynchronous-codec`, which asks the socket
//! for at most 8 KiB at a time (a stack buffer, then copied on): a 1 GiB
//! transfer over TCP made 134,000 `recvfrom` calls on the receiver, each
//! with tokio's readiness bookkeeping around it. Under Noise, this wrapper
//! reads the socket [`READ_BUFFER`] bytes at a time and serves those small
//! reads from memory. Writes pass straight through.

use futures::io::BufReader;
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};

/// Bytes read from the socket at once: four of Noise's largest frames.
const READ_BUFFER: usize = 256 * 1024;

/// The upgrade `U` (Noise) over the connection read through a buffer.
#[derive(Debug, Clone)]
pub(crate) struct Buffered<U>(pub(crate) U);

impl<U: UpgradeInfo> UpgradeInfo for Buffered<U> {
    type Info = U::Info;
    type InfoIter = U::InfoIter;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.protocol_info()
    }
}

impl<C, U> InboundConnectionUpgrade<C> for Buffered<U>
where
    C: AsyncRead + AsyncWrite,
    U: InboundConnectionUpgrade<BufReader<C>>,
{
    type Output = U::Output;
    type Error = U::Error;
    type Future = U::Future;

    fn upgrade_inbound(self, socket: C, info: Self::Info) -> Self::Future {
        self.0
            .upgrade_inbound(BufReader::with_capacity(READ_BUFFER, socket), info)
    }
}

impl<C, U> OutboundConnectionUpgrade<C> for Buffered<U>
where
    C: AsyncRead + AsyncWrite,
    U: OutboundConnectionUpgrade<BufReader<C>>,
{
    type Output = U::Output;
    type Error = U::Error;
    type Future = U::Future;

    fn upgrade_outbound(self, socket: C, info: Self::Info) -> Self::Future {
        self.0
            .upgrade_outbound(BufReader::with_capacity(READ_BUFFER, socket), info)
    }
}
