//! Listeners, dials and hole punching.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{self, BoxFuture, Either};
use if_watch::IfEvent;
use libp2p::PeerId;
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::{Endpoint, Multiaddr};
use rand::Rng;
use tokio::sync::oneshot;

use super::connection::handshake;
use super::socket::Socket;
use super::{
    Config, Connection, Endpoints, Error, Expected, HANDSHAKE_TIMEOUT, MAX_UDP_PAYLOAD,
    multiaddr_of, socket_addr_of,
};

/// A connection on its way: the handshake, then the peer's certificate.
type Upgrade = BoxFuture<'static, Result<(PeerId, Connection), Error>>;

/// Hole-punch packets: random bytes (any QUIC endpoint drops them) sent
/// at random intervals until the peer's handshake arrives.
const PUNCH_PACKET: usize = 64;
const PUNCH_INTERVAL_MS: std::ops::RangeInclusive<u64> = 10..=200;

/// How long a QUIC hole punch waits before it opens our NAT: TCP, which
/// DCUtR punches at the same moment, gets a head start, since it carries
/// bulk data better (see `PathInfo::rank`). Where both get through, TCP
/// wins (in about two round trips) and the QUIC punch is dropped; where
/// only UDP does, the peer's first handshake packet is lost at our NAT and
/// quinn sends it again about a second later, which then gets through.
const PUNCH_DELAY: Duration = Duration::from_millis(500);

/// QUIC over quinn (see the module above).
pub struct Transport {
    config: Config,
    /// Every endpoint made, for waiting on at shutdown.
    endpoints: Endpoints,
    listeners: Vec<Listener>,
    /// Endpoints for dials that cannot reuse a listener's port, by family
    /// (IPv4, IPv6); made on first use.
    dialers: [Option<quinn::Endpoint>; 2],
    events: VecDeque<TransportEvent<Upgrade, Error>>,
    waker: Option<Waker>,
}

struct Listener {
    id: ListenerId,
    endpoint: quinn::Endpoint,
    /// The address bound; its IP may be unspecified (then `interfaces`
    /// reports an address per interface).
    local: SocketAddr,
    interfaces: Option<if_watch::tokio::IfWatcher>,
    /// The endpoint's own socket (a second descriptor of it), to send
    /// hole-punch packets from the port the peer was told about.
    socket: Arc<UdpSocket>,
    accept: BoxFuture<'static, Option<quinn::Incoming>>,
    /// Hole punches under way: the peer's handshake, when it comes from
    /// this address, goes to the punch instead of being a new inbound
    /// connection.
    punches: HashMap<SocketAddr, oneshot::Sender<quinn::Incoming>>,
    /// Where its connections are registered (see `Endpoints`).
    endpoints: Endpoints,
}

impl Transport {
    /// A transport with `config`, registering its endpoints and connections
    /// in `endpoints` (to wait on at shutdown).
    pub fn new(config: Config, endpoints: Endpoints) -> Self {
        Self {
            config,
            endpoints,
            listeners: Vec::new(),
            dialers: [None, None],
            events: VecDeque::new(),
            waker: None,
        }
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// A listener that can send to `remote` from its port.
    fn listener_for(&mut self, remote: SocketAddr) -> Option<&mut Listener> {
        self.listeners.iter_mut().find(|l| {
            let ip = l.local.ip();
            l.local.is_ipv4() == remote.is_ipv4()
                && (ip.is_unspecified() || ip.is_loopback() == remote.ip().is_loopback())
        })
    }

    /// An endpoint of our own for dials from a fresh port.
    fn dialer_for(&mut self, remote: SocketAddr) -> Result<quinn::Endpoint, Error> {
        let slot = &mut self.dialers[usize::from(remote.is_ipv6())];
        if let Some(endpoint) = slot {
            return Ok(endpoint.clone());
        }
        let any: SocketAddr = if remote.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = new_endpoint(UdpSocket::bind(any)?, None)?;
        self.endpoints.add(&endpoint);
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }
}

pub(super) fn new_endpoint(
    socket: UdpSocket,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, Error> {
    // quinn spawns the endpoint's driver on the current runtime.
    tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let mut config = quinn::EndpointConfig::default();
    config
        .max_udp_payload_size(MAX_UDP_PAYLOAD)
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        config,
        server,
        Socket::wrap(socket)?,
        Arc::new(quinn::TokioRuntime),
    )?;
    Ok(endpoint)
}

fn next_accept(endpoint: &quinn::Endpoint) -> BoxFuture<'static, Option<quinn::Incoming>> {
    let endpoint = endpoint.clone();
    async move { endpoint.accept().await }.boxed()
}

/// Sends hole-punch packets to `remote`, after [`PUNCH_DELAY`], until
/// dropped.
async fn punch(socket: Arc<UdpSocket>, remote: SocketAddr) -> Infallible {
    tokio::time::sleep(PUNCH_DELAY).await;
    loop {
        let mut packet = [0u8; PUNCH_PACKET];
        rand::thread_rng().fill(&mut packet[..]);
        // The socket is non-blocking (quinn made it so); a full send
        // buffer only skips one packet.
        if let Err(e) = socket.send_to(&packet, remote) {
            tracing::trace!(%remote, error = %e, "hole-punch packet not sent");
        }
        let pause = rand::thread_rng().gen_range(PUNCH_INTERVAL_MS);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

impl Listener {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent<Upgrade, Error>> {
        let listener_id = self.id;
        let local = self.local;
        // The listen address on interface address `ip`, if it is one of ours.
        let addr_on = |ip: std::net::IpAddr| {
            (ip.is_ipv4() == local.is_ipv4())
                .then(|| multiaddr_of(SocketAddr::new(ip, local.port())))
        };
        if let Some(interfaces) = &mut self.interfaces {
            while let Poll::Ready(event) = interfaces.poll_if_event(cx) {
                match event {
                    Ok(IfEvent::Up(net)) => {
                        if let Some(listen_addr) = addr_on(net.addr()) {
                            return Poll::Ready(TransportEvent::NewAddress {
                                listener_id,
                                listen_addr,
                            });
                        }
                    }
                    Ok(IfEvent::Down(net)) => {
                        if let Some(listen_addr) = addr_on(net.addr()) {
                            return Poll::Ready(TransportEvent::AddressExpired {
                                listener_id,
                                listen_addr,
                            });
                        }
                    }
                    Err(error) => {
                        return Poll::Ready(TransportEvent::ListenerError {
                            listener_id,
                            error: error.into(),
                        });
                    }
                }
            }
        }
        loop {
            let Poll::Ready(incoming) = self.accept.poll_unpin(cx) else {
                return Poll::Pending;
            };
            let Some(incoming) = incoming else {
                return Poll::Ready(TransportEvent::ListenerClosed {
                    listener_id,
                    reason: Ok(()),
                });
            };
            self.accept = next_accept(&self.endpoint);
            let remote = incoming.remote_address();
            self.punches.retain(|_, punch| !punch.is_closed());
            let incoming = match self.punches.remove(&remote) {
                Some(punch) => match punch.send(incoming) {
                    Ok(()) => continue,
                    // The punch gave up just now: an ordinary inbound one.
                    Err(incoming) => incoming,
                },
                None => incoming,
            };
            let local = incoming
                .local_ip()
                .map_or(self.local, |ip| SocketAddr::new(ip, self.local.port()));
            let endpoints = self.endpoints.clone();
            let upgrade =
                async move { handshake(incoming.accept()?, None, endpoints).await }.boxed();
            return Poll::Ready(TransportEvent::Incoming {
                listener_id,
                upgrade,
                local_addr: multiaddr_of(local),
                send_back_addr: multiaddr_of(remote),
            });
        }
    }
}

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = Error;
    type ListenerUpgrade = Upgrade;
    type Dial = Upgrade;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some((bind, None)) = socket_addr_of(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let other = |e: Error| TransportError::Other(e);
        let socket = UdpSocket::bind(bind).map_err(|e| other(e.into()))?;
        let local = socket.local_addr().map_err(|e| other(e.into()))?;
        let punch_socket = socket.try_clone().map_err(|e| other(e.into()))?;
        let endpoint = new_endpoint(socket, Some(self.config.server.clone())).map_err(other)?;
        self.endpoints.add(&endpoint);
        let interfaces = if local.ip().is_unspecified() {
            Some(if_watch::tokio::IfWatcher::new().map_err(|e| other(e.into()))?)
        } else {
            self.events.push_back(TransportEvent::NewAddress {
                listener_id: id,
                listen_addr: multiaddr_of(local),
            });
            None
        };
        tracing::debug!(%local, "QUIC listening");
        self.listeners.push(Listener {
            id,
            accept: next_accept(&endpoint),
            endpoint,
            local,
            interfaces,
            socket: Arc::new(punch_socket),
            punches: HashMap::new(),
            endpoints: self.endpoints.clone(),
        });
        self.wake();
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let Some(at) = self.listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        let listener = self.listeners.remove(at);
        // No new connections; those made on it (and dials from its port)
        // keep the endpoint alive until they close.
        listener.endpoint.set_server_config(None);
        self.events.push_back(TransportEvent::ListenerClosed {
            listener_id: id,
            reason: Ok(()),
        });
        self.wake();
        true
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some((remote, expected)) = socket_addr_of(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let expected = expected.map(|peer| Arc::new(Expected::new(peer)));
        match opts.role {
            Endpoint::Dialer => {
                let reused = match opts.port_use {
                    PortUse::Reuse => self.listener_for(remote).map(|l| l.endpoint.clone()),
                    PortUse::New => None,
                };
                let endpoint = match reused {
                    Some(endpoint) => endpoint,
                    None => self.dialer_for(remote).map_err(TransportError::Other)?,
                };
                let client = self
                    .config
                    .client_for(expected.as_ref())
                    .map_err(TransportError::Other)?;
                let connecting = endpoint
                    .connect_with(client, remote, "l")
                    .map_err(|e| TransportError::Other(e.into()))?;
                Ok(handshake(connecting, expected, self.endpoints.clone()).boxed())
            }
            // A hole punch where the peer is the QUIC client: open our NAT
            // towards it with a few packets and take its handshake.
            Endpoint::Listener => {
                let listener = self
                    .listener_for(remote)
                    .ok_or(TransportError::Other(Error::NoListener))?;
                let (tx, rx) = oneshot::channel();
                listener.punches.insert(remote, tx);
                let socket = Arc::clone(&listener.socket);
                let endpoints = self.endpoints.clone();
                Ok(async move {
                    let punching = std::pin::pin!(punch(socket, remote));
                    let incoming =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, future::select(rx, punching))
                            .await
                        {
                            Ok(Either::Left((Ok(incoming), _))) => incoming,
                            // The listener went away.
                            Ok(Either::Left((Err(_), _))) => return Err(Error::NoListener),
                            Ok(Either::Right((never, _))) => match never {},
                            Err(_) => return Err(Error::HolePunchTimedOut),
                        };
                    handshake(incoming.accept()?, expected, endpoints).await
                }
                .boxed())
            }
        }
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        if let Some(event) = this.events.pop_front() {
            return Poll::Ready(event);
        }
        for at in 0..this.listeners.len() {
            if let Poll::Ready(event) = this.listeners[at].poll(cx) {
                if matches!(event, TransportEvent::ListenerClosed { .. }) {
                    this.listeners.remove(at);
                }
                return Poll::Ready(event);
            }
        }
        this.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
