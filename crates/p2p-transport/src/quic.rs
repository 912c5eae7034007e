//! QUIC of our own: quinn with BBR congestion control, TLS 1.3 keyed to
//! libp2p identities, in a libp2p [`Transport`](libp2p::core::Transport).
//!
//! libp2p-quic builds quinn's transport settings itself and leaves quinn's
//! default congestion controller, CUBIC, with no way to change it. CUBIC
//! reads every lost packet as congestion: with 0.5% random loss at 40 ms
//! round trip it held a 200 Mbit/s path at 0.6 MB/s (`examples/wan_bench`),
//! while the kernel's TCP with BBR kept 22 MB/s. Links with random loss
//! (Wi-Fi, mobile, long paths) are where people send files, and after a
//! hole punch QUIC is often the only direct path (UDP punches through more
//! NATs than TCP), so this transport speaks the same protocol as
//! libp2p-quic (`/quic-v1`, libp2p's TLS certificates, ALPN `libp2p`, any
//! libp2p peer can talk to it) with BBR, with AES-GCM where the processor
//! has AES instructions (see `tls`), and with path MTU discovery up to
//! jumbo-frame packets (see [`MAX_UDP_PAYLOAD`] and `socket`).
//!
//! # Layout
//! - this file: settings ([`Config`]), errors, multiaddr ↔ socket address;
//! - `transport`: listeners (one quinn endpoint each, addresses reported
//!   per interface), dials (reusing a listener's port, so that NAT mappings
//!   and observed addresses match), and hole punching for DCUtR;
//! - `connection`: a quinn connection as a libp2p `StreamMuxer`
//!   (`libp2p::core::muxing::StreamMuxer`), its streams as
//!   `AsyncRead`/`AsyncWrite`;
//! - `socket`: quinn's UDP socket with its offload batches capped for
//!   large packets.

mod connection;
mod socket;
mod transport;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::tls::Expected;

pub use connection::{Connection, Stream};
pub use transport::Transport;

/// How long shutting down waits for QUIC's goodbyes to go out.
const CLOSE_WAIT: Duration = Duration::from_millis(250);

/// Every quinn endpoint and connection the transport made, for the event
/// loop to wait on at shutdown: a closed connection's last packet (its
/// CONNECTION_CLOSE) is sent by quinn's driver tasks, which die with the
/// process. Without waiting, a receiver sometimes heard nothing of the
/// sender's goodbye and waited its 3 s for the sender to hang up.
#[derive(Clone, Default)]
pub struct Endpoints(Arc<std::sync::Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    endpoints: Vec<quinn::Endpoint>,
    /// Connections that were open when the last one was added.
    connections: Vec<quinn::Connection>,
}

impl Endpoints {
    fn add(&self, endpoint: &quinn::Endpoint) {
        if let Ok(mut registry) = self.0.lock() {
            registry.endpoints.push(endpoint.clone());
        }
    }

    fn add_connection(&self, connection: &quinn::Connection) {
        if let Ok(mut registry) = self.0.lock() {
            registry.connections.retain(|c| c.close_reason().is_none());
            registry.connections.push(connection.clone());
        }
    }

    /// Whether a connection is open or was closed by us: its peer may not
    /// have heard the goodbye yet. (One its peer closed, or that timed out,
    /// has nothing left to tell.)
    fn goodbyes_to_send(&self) -> bool {
        self.0.lock().is_ok_and(|registry| {
            registry.connections.iter().any(|c| {
                matches!(
                    c.close_reason(),
                    None | Some(quinn::ConnectionError::LocallyClosed)
                )
            })
        })
    }

    /// Waits (at most [`CLOSE_WAIT`]) until every connection of every
    /// endpoint has finished closing, so their peers hear of it; at once if
    /// there are no goodbyes to send.
    pub async fn wait_closed(&self) {
        if !self.goodbyes_to_send() {
            return;
        }
        let all: Vec<quinn::Endpoint> = match self.0.lock() {
            Ok(registry) => registry.endpoints.clone(),
            Err(_) => return,
        };
        let idle = futures::future::join_all(all.iter().map(quinn::Endpoint::wait_idle));
        let _ = tokio::time::timeout(CLOSE_WAIT, idle).await;
    }
}

/// How long a handshake may take before the dial fails. A hole punch
/// needs a retransmitted Initial or two (quinn's first retry comes after
/// about a second).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that hears nothing for this long is dead. Keep-alives
/// (below) keep a quiet but live one open, and NAT mappings fresh.
const MAX_IDLE: Duration = Duration::from_secs(20);
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Streams a peer may open at once; like yamux's cap (see `yamux`).
const MAX_STREAMS: u32 = 64;

/// Bytes quinn keeps unacknowledged towards a peer, per connection: BBR's
/// window needs about twice the bandwidth-delay product (1 MB at
/// 200 Mbit/s and 40 ms), and this is also what the sender buffers.
const SEND_WINDOW: u64 = 8_000_000;

/// Largest UDP payload we send or accept: a 9,000-byte (jumbo) MTU less the
/// IPv6 and UDP headers. Path MTU discovery finds what each path carries:
/// 1,452 on most of the internet, more on loopback and jumbo-frame
/// networks, where fewer, larger packets cost quinn less CPU per byte.
const MAX_UDP_PAYLOAD: u16 = 8952;

/// How the transport is set up.
#[derive(Clone)]
pub struct Config {
    client: quinn::ClientConfig,
    /// The client's TLS, for dials that expect a peer (see `client_for`).
    client_tls: quinn::rustls::ClientConfig,
    transport: Arc<quinn::TransportConfig>,
    server: quinn::ServerConfig,
}

impl Config {
    /// QUIC for `key`, with `receive_window` bytes of flow-control window
    /// per stream and per connection (what a peer can make us buffer).
    pub fn new(key: &Keypair, receive_window: u32) -> Result<Self, Error> {
        let tls_error = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
        let client_tls = crate::tls::client_config(key).map_err(|e| tls_error(&e))?;
        let server_tls = crate::tls::server_config(key).map_err(|e| tls_error(&e))?;
        let client_quic =
            QuicClientConfig::try_from(client_tls.clone()).map_err(|e| tls_error(&e))?;
        let server_tls = QuicServerConfig::try_from(server_tls).map_err(|e| tls_error(&e))?;

        let mut transport = quinn::TransportConfig::default();
        transport
            .congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()))
            .max_concurrent_uni_streams(0u32.into())
            .max_concurrent_bidi_streams(MAX_STREAMS.into())
            .datagram_receive_buffer_size(None)
            .allow_spin(false)
            .keep_alive_interval(Some(KEEP_ALIVE))
            .stream_receive_window(receive_window.into())
            .receive_window(receive_window.into())
            .send_window(SEND_WINDOW);
        let mut mtu = quinn::MtuDiscoveryConfig::default();
        mtu.upper_bound(MAX_UDP_PAYLOAD);
        transport.mtu_discovery_config(Some(mtu));
        let idle = quinn::IdleTimeout::try_from(MAX_IDLE).map_err(|e| tls_error(&e))?;
        transport.max_idle_timeout(Some(idle));
        let transport = Arc::new(transport);

        let mut client = quinn::ClientConfig::new(Arc::new(client_quic));
        client.transport_config(Arc::clone(&transport));
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(Arc::clone(&transport));
        // A connection stays on the addresses it was made on: libp2p keys
        // connections by their endpoint addresses.
        server.migration(false);
        Ok(Self {
            client,
            client_tls,
            transport,
            server,
        })
    }

    /// The client side of a dial: if the address names a peer, one that
    /// refuses any other in the handshake.
    fn client_for(&self, expected: Option<&Arc<Expected>>) -> Result<quinn::ClientConfig, Error> {
        let Some(expected) = expected else {
            return Ok(self.client.clone());
        };
        let tls = crate::tls::client_config_expecting(&self.client_tls, Arc::clone(expected));
        let tls = QuicClientConfig::try_from(tls).map_err(|e| Error::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(tls));
        client.transport_config(Arc::clone(&self.transport));
        Ok(client)
    }
}

/// Why QUIC failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// quinn refused to start a connection.
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or closed.
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
    /// TLS could not be set up, or the peer's certificate is not a libp2p one.
    #[error("TLS: {0}")]
    Tls(String),
    /// The handshake took too long.
    #[error("QUIC handshake timed out")]
    HandshakeTimedOut,
    /// The address named one peer (`/p2p/…`) and another answered: the
    /// connection was closed without being used.
    #[error("wrong peer: the address names {}, the certificate {}", .0.expected, .0.got)]
    WrongPeer(Box<PeerMismatch>),
    /// A hole punch saw nothing from the peer in time.
    #[error("hole punch timed out")]
    HolePunchTimedOut,
    /// A hole punch needs a listener of the address's family to punch from.
    #[error("no QUIC listener to hole-punch from")]
    NoListener,
    /// The transport was used outside a tokio runtime.
    #[error("QUIC needs a tokio runtime")]
    NoRuntime,
}

/// The peers of [`Error::WrongPeer`] (boxed: two peer IDs are 160 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMismatch {
    /// The peer the address names.
    pub expected: PeerId,
    /// The peer whose certificate answered.
    pub got: PeerId,
}

/// The socket address of a QUIC multiaddr (`/ip4|ip6/…/udp/…/quic-v1`,
/// optionally ending in `/p2p/…`), and the peer it names. Anything else
/// (DNS names, relay circuits, QUIC drafts) is not ours.
pub fn socket_addr_of(addr: &Multiaddr) -> Option<(SocketAddr, Option<PeerId>)> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let Protocol::Udp(port) = parts.next()? else {
        return None;
    };
    let Protocol::QuicV1 = parts.next()? else {
        return None;
    };
    let peer = match parts.next() {
        None => None,
        Some(Protocol::P2p(peer)) => Some(peer),
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((SocketAddr::new(ip, port), peer))
}

/// The multiaddr of a QUIC socket address.
pub fn multiaddr_of(addr: SocketAddr) -> Multiaddr {
    Multiaddr::empty()
        .with(addr.ip().into())
        .with(Protocol::Udp(addr.port()))
        .with(Protocol::QuicV1)
}

#[cfg(test)]
#[path = "quic/tests_security.rs"]
mod tests_security;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quic_addresses_convert_both_ways() {
        let sock: SocketAddr = "192.0.2.7:4001".parse().unwrap();
        assert_eq!(socket_addr_of(&multiaddr_of(sock)), Some((sock, None)));
        let peer = PeerId::random();
        let with_peer = multiaddr_of(sock).with(Protocol::P2p(peer));
        assert_eq!(socket_addr_of(&with_peer), Some((sock, Some(peer))));
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(socket_addr_of(&multiaddr_of(v6)), Some((v6, None)));
    }

    #[tokio::test]
    async fn shutting_down_waits_only_for_goodbyes_still_to_send() {
        let config = |key| Config::new(&key, 1 << 20).unwrap();
        let (dialer, listener) = (
            config(Keypair::generate_ed25519()),
            config(Keypair::generate_ed25519()),
        );
        let bind = || std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (ours, theirs) = (Endpoints::default(), Endpoints::default());
        let client = transport::new_endpoint(bind(), None).unwrap();
        let server = transport::new_endpoint(bind(), Some(listener.server.clone())).unwrap();
        ours.add(&client);
        theirs.add(&server);
        let connecting = client
            .connect_with(dialer.client.clone(), server.local_addr().unwrap(), "l")
            .unwrap();
        let accepting = async {
            let incoming = server.accept().await.unwrap();
            connection::handshake(incoming.accept().unwrap(), None, theirs.clone()).await
        };
        let (dialled, accepted) = tokio::join!(
            connection::handshake(connecting, None, ours.clone()),
            accepting
        );
        let (_ours_muxer, _theirs_muxer) = (dialled.unwrap(), accepted.unwrap());
        let conn = |e: &Endpoints| e.0.lock().unwrap().connections[0].clone();
        assert!(ours.goodbyes_to_send(), "an open connection");

        // They close; once we have heard it, we owe them nothing.
        conn(&theirs).close(0u32.into(), b"bye");
        let reason = conn(&ours).closed().await;
        assert!(
            matches!(reason, quinn::ConnectionError::ApplicationClosed(_)),
            "{reason}"
        );
        assert!(!ours.goodbyes_to_send());
        assert!(theirs.goodbyes_to_send(), "their own close still goes out");
        tokio::time::timeout(CLOSE_WAIT * 2, theirs.wait_closed())
            .await
            .unwrap();
    }

    #[test]
    fn other_addresses_are_not_ours() {
        for addr in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/127.0.0.1/udp/1/quic",
            "/ip4/127.0.0.1/udp/1",
            "/dns4/example.org/udp/1/quic-v1",
            "/ip4/127.0.0.1/udp/1/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
            "/ip4/127.0.0.1/udp/1/quic-v1/webtransport",
        ] {
            let addr: Multiaddr = addr.parse().unwrap();
            assert_eq!(socket_addr_of(&addr), None, "{addr}");
        }
    }
}
