//! The libp2p side of the engine: one task ([`EventLoop`]) owns the `Swarm`;
//! a cloneable [`Network`] handle sends it [`Command`]s, each with a oneshot
//! for the reply; what the swarm hears arrives as [`NetEvent`]s.
//!
//! Bulk bytes do not pass through this task: they flow over libp2p-stream
//! streams opened with [`Network::control`].

mod behaviour;
mod dialing;
mod event_loop;

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use protocol::transfer::{Request, Response};
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) use event_loop::EventLoop;

/// Queue sizes: commands to the loop and events from it.
const COMMAND_QUEUE: usize = 64;
const EVENT_QUEUE: usize = 256;

/// How long a request may wait for its answer (an offer waits for a person).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Connections with no open stream close after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the swarm is set up.
#[derive(Debug, Clone)]
pub(crate) struct NetConfig {
    pub(crate) key: Keypair,
    pub(crate) listen: Vec<Multiaddr>,
    pub(crate) mdns: bool,
    pub(crate) transports: Transports,
    /// What identify tells peers about us (`protocol::device`).
    pub(crate) agent_version: String,
}

/// Which Noise, yamux and QUIC a node is built with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transports {
    /// Ours, from the `p2p-transport` crate: the default.
    #[default]
    Tuned,
    /// libp2p's own (`libp2p-noise`, `libp2p-yamux`, `libp2p-quic`), to
    /// measure what ours buy. Same wire protocols: either talks to either.
    Stock,
}

/// Why a network operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The peer could not be reached at any known address.
    #[error("cannot reach peer {peer}: {reason}")]
    Unreachable {
        /// The peer.
        peer: PeerId,
        /// What failed.
        reason: String,
    },
    /// A request got no answer.
    #[error("peer {peer} did not answer: {reason}")]
    NoAnswer {
        /// The peer.
        peer: PeerId,
        /// What failed.
        reason: String,
    },
    /// Listening failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// What failed.
        reason: String,
    },
    /// No listen address could be opened.
    #[error("cannot listen on any address ({reasons}); check --listen")]
    NoListener {
        /// Each address with its reason, `; `-separated.
        reasons: String,
    },
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// An error with every source below it, `: `-separated: libp2p's transport
/// errors print nothing of their own and keep the reason in `source()`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = inner.source();
    }
    if text.is_empty() {
        text.push_str("no reason given");
    }
    text
}

/// How a connection reaches a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PathInfo {
    /// Through a relay rather than directly.
    pub relayed: bool,
    /// The transport.
    pub transport: TransportKind,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// TCP with Noise and yamux.
    Tcp,
    /// QUIC (TLS 1.3).
    Quic,
}

/// Whether an address can be dialed by someone else: not `0.0.0.0` or `::`.
pub(crate) fn is_dialable(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    !addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

impl PathInfo {
    /// The path of a connection to `addr`.
    pub(crate) fn of(addr: &Multiaddr) -> Self {
        use libp2p::multiaddr::Protocol;
        let relayed = addr.iter().any(|p| p == Protocol::P2pCircuit);
        // For a relayed address the transport is the one to the relay.
        let quic = addr
            .iter()
            .any(|p| matches!(p, Protocol::QuicV1 | Protocol::Quic));
        Self {
            relayed,
            transport: if quic {
                TransportKind::Quic
            } else {
                TransportKind::Tcp
            },
        }
    }
}

impl PathInfo {
    /// How good a path is for bulk data: direct TCP, then direct QUIC, then
    /// relayed. TCP first because on loopback and LANs it moves bytes with
    /// less CPU (the kernel does segmentation and acknowledgements), and
    /// under random loss the kernel's BBR (where the host sets it) keeps a
    /// little more of the path than our QUIC's BBR: at 40 ms RTT and 0.5%
    /// loss, 98–102% against 80–85% of a plain TCP copy (`examples/wan_bench`).
    pub(crate) fn rank(self) -> u8 {
        match (self.relayed, self.transport) {
            (false, TransportKind::Tcp) => 2,
            (false, TransportKind::Quic) => 1,
            (true, _) => 0,
        }
    }
}

impl std::fmt::Display for PathInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.relayed { "relayed" } else { "direct" };
        let transport = match self.transport {
            TransportKind::Tcp => "TCP",
            TransportKind::Quic => "QUIC",
        };
        write!(f, "{how}, {transport}")
    }
}

/// Something the swarm heard that the engine acts on.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// A peer asks something; answer through `reply` (dropping it refuses).
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Response>,
    },
    /// mDNS found a peer on the LAN.
    LanPeer { peer: PeerId, addrs: Vec<Multiaddr> },
    /// A connected peer told who it is (identify's agent version).
    Identified { peer: PeerId, agent_version: String },
    /// mDNS entries of a peer expired.
    LanPeerGone { peer: PeerId },
    /// A new listen address (including relay circuits).
    Listening { addr: Multiaddr },
    /// A listen address could not be opened, or its listener failed; the
    /// node goes on with the others.
    ListenFailed { addr: Multiaddr, reason: String },
    /// The relay accepted our reservation.
    Reserved { relay: PeerId },
}

/// Requests to the network task.
#[derive(Debug)]
pub(crate) enum Command {
    Dial {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PathInfo, NetError>>,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    /// Opens another connection to `peer` over those of `addrs` whose
    /// transport we listen on, beside any there is (no answer).
    DialAlongside { peer: PeerId, addrs: Vec<Multiaddr> },
    Listen {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<oneshot::Receiver<String>, NetError>>,
    },
    Path {
        peer: PeerId,
        reply: oneshot::Sender<Option<PathInfo>>,
    },
    /// Answers `true` once a direct connection to `peer` exists (at once if
    /// one does); the caller bounds the wait.
    WaitDirect {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    /// Closes relayed connections to `peer` (a direct one exists).
    /// Answers once no dial of ours to `peer` could still give a better
    /// direct path than the current one.
    WaitBest {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    /// Closes every connection to `peer` but the best; answers once they
    /// are gone, so that a stream opened next cannot land on one closing.
    KeepBest {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    /// Answers once no connection to `peer` is left (at once if none is);
    /// the caller bounds the wait.
    WaitGone {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
}

/// How long a sender waits for a dial still under way that would give a
/// better path than the one it has.
const BETTER_PATH_WAIT: Duration = Duration::from_secs(1);

/// A cloneable handle to the network task.
#[derive(Clone)]
pub(crate) struct Network {
    commands: mpsc::Sender<Command>,
    control: libp2p_stream::Control,
    peer_id: PeerId,
    /// The listen addresses, as the event loop updates them.
    listening: watch::Receiver<Vec<Multiaddr>>,
}

/// Builds the swarm and returns the handle, the event stream and the loop to spawn.
pub(crate) fn new(
    config: NetConfig,
) -> Result<(Network, mpsc::Receiver<NetEvent>, EventLoop), NetError> {
    let peer_id = config.key.public().to_peer_id();
    let (mut swarm, quic_endpoints) = behaviour::build_swarm(&config)?;
    // One transport that cannot listen (UDP blocked, a platform whose
    // sockets lack an option) must not stop the others: each failure is
    // reported and the node starts if any address listens.
    let mut failed = Vec::new();
    for addr in &config.listen {
        if let Err(e) = swarm.listen_on(addr.clone()) {
            let reason = error_chain(&e);
            tracing::warn!(%addr, %reason, "cannot listen; going on without it");
            failed.push((addr.clone(), reason));
        }
    }
    if !config.listen.is_empty() && failed.len() == config.listen.len() {
        let reasons = failed
            .iter()
            .map(|(addr, reason)| format!("{addr}: {reason}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(NetError::NoListener { reasons });
    }
    let control = swarm.behaviour().stream.new_control();
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, events) = mpsc::channel(EVENT_QUEUE.max(failed.len()));
    for (addr, reason) in failed {
        // The queue is new and holds at least this many.
        let _ = event_tx.try_send(NetEvent::ListenFailed { addr, reason });
    }
    let (listening_tx, listening) = watch::channel(Vec::new());
    let network = Network {
        commands,
        control,
        peer_id,
        listening,
    };
    Ok((
        network,
        events,
        EventLoop::new(swarm, quic_endpoints, command_rx, event_tx, listening_tx),
    ))
}

impl Network {
    /// This node's peer ID.
    pub(crate) fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// A handle for opening and accepting byte streams.
    pub(crate) fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Connects to `peer` (at `addrs`, plus any address already known) and
    /// returns the path of the connection.
    pub(crate) async fn dial(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<PathInfo, NetError> {
        self.ask(|reply| Command::Dial { peer, addrs, reply })
            .await?
    }

    /// Connects to `peer` once more, over those of `addrs` on a transport
    /// we listen on, whatever connections to it exist: the peer then sees
    /// (and identify tells us) our public address on that transport too.
    pub(crate) async fn dial_alongside(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if self
            .commands
            .send(Command::DialAlongside { peer, addrs })
            .await
            .is_err()
        {
            tracing::debug!("network stopped before a dial");
        }
    }

    /// Sends a request and waits for the answer.
    pub(crate) async fn request(
        &self,
        peer: PeerId,
        request: Request,
    ) -> Result<Response, NetError> {
        self.ask(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// Starts listening on another address (e.g. a relay circuit). The
    /// receiver resolves with the reason when the listener closes (a
    /// circuit's closes with the connection to its relay), or fails when the
    /// network stops.
    pub(crate) async fn listen(
        &self,
        addr: Multiaddr,
    ) -> Result<oneshot::Receiver<String>, NetError> {
        self.ask(|reply| Command::Listen { addr, reply }).await?
    }

    /// The addresses this node listens on now.
    pub(crate) fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listening.borrow().clone()
    }

    /// The listen addresses, changed whenever a listener reports one or
    /// loses one (relay circuits included, so a new reservation shows).
    pub(crate) fn listening(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listening.clone()
    }

    /// Waits (at most `limit`) for a direct connection to `peer` when the
    /// current one is relayed, then closes every connection to `peer` but the
    /// best one (see [`PathInfo::rank`]) so that every stream takes it.
    /// Returns the path then.
    pub(crate) async fn prefer_direct(
        &self,
        peer: PeerId,
        limit: Duration,
    ) -> Result<Option<PathInfo>, NetError> {
        if self.path(peer).await?.is_some_and(|p| p.relayed) {
            let _ =
                tokio::time::timeout(limit, self.ask(|reply| Command::WaitDirect { peer, reply }))
                    .await;
        }
        // A direct QUIC connection may have beaten a TCP one still on its way.
        let _ = tokio::time::timeout(
            BETTER_PATH_WAIT,
            self.ask(|reply| Command::WaitBest { peer, reply }),
        )
        .await;
        // libp2p-stream picks any connection to the peer: leave it one,
        // and wait for the others to close (a stream opened on one of them
        // meanwhile would fail with it).
        let _ = tokio::time::timeout(
            BETTER_PATH_WAIT,
            self.ask(|reply| Command::KeepBest { peer, reply }),
        )
        .await;
        self.path(peer).await
    }

    /// Returns once no connection to `peer` is left.
    pub(crate) async fn wait_gone(&self, peer: PeerId) -> Result<(), NetError> {
        self.ask(|reply| Command::WaitGone { peer, reply }).await
    }

    /// The best current path to `peer`, if connected.
    pub(crate) async fn path(&self, peer: PeerId) -> Result<Option<PathInfo>, NetError> {
        self.ask(|reply| Command::Path { peer, reply }).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_are_read_from_addresses() {
        let direct: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap();
        assert_eq!(
            PathInfo::of(&direct),
            PathInfo {
                relayed: false,
                transport: TransportKind::Quic
            }
        );
        let relayed: Multiaddr = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            .parse()
            .unwrap();
        assert_eq!(PathInfo::of(&relayed).to_string(), "relayed, TCP");
    }

    #[test]
    fn an_error_is_told_with_every_cause_even_when_its_own_text_is_empty() {
        let inner = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        let outer: libp2p::TransportError<std::io::Error> = libp2p::TransportError::Other(inner);
        assert_eq!(error_chain(&outer), "address in use");
        #[derive(Debug, thiserror::Error)]
        #[error("cannot bind")]
        struct Bind(#[source] std::io::Error);
        let bind = Bind(std::io::Error::other("socket option refused"));
        assert_eq!(error_chain(&bind), "cannot bind: socket option refused");
        #[derive(Debug, thiserror::Error)]
        #[error("")]
        struct Silent;
        assert_eq!(error_chain(&Silent), "no reason given");
    }
}
