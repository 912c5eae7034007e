//! The transfer engine: what a view (CLI or app) drives.
//!
//! [`Engine::start`] builds the network, spawns its loop and a dispatcher that
//! answers peers' requests, and returns the engine with its [`Event`] stream.
//! Sending runs in the caller's task ([`Engine::send`]); receiving runs in
//! tasks the engine owns, after a person (or `--yes`) accepts with
//! [`Engine::decide`].

mod pace;
mod receive;
mod send;
mod share;
mod wire;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use protocol::offer::Offer;
use protocol::transfer::{Request, Response, ResumePoint};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

pub use share::Share;

use crate::event::{Event, PeerSource};
use crate::network::{self, NetConfig, NetError, NetEvent, Network};

/// Events queued for the view before progress events are dropped.
const EVENT_QUEUE: usize = 1024;

/// Offers waiting for a decision, at most, from all peers together.
const MAX_PENDING_OFFERS: usize = 16;

/// Who may send us offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// Only peers we asked (by ticket or code).
    Expected,
    /// Anyone (the `receive` command without a code, the desktop app).
    Anyone,
}

/// How the engine is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The node's identity.
    pub key: Keypair,
    /// Listen addresses (TCP and QUIC).
    pub listen: Vec<Multiaddr>,
    /// LAN discovery by mDNS.
    pub mdns: bool,
    /// Where received files land.
    pub download_dir: PathBuf,
    /// Accept every offer without asking (`--yes`).
    pub auto_accept: bool,
    /// Who may send offers.
    pub inbound: Inbound,
    /// How long an offer waits for a decision.
    pub decision_timeout: Duration,
    /// How long a transfer's data stream may make no progress before the
    /// transfer fails (what arrived is kept for a resume).
    pub stall_timeout: Duration,
    /// Signal server URL; none means LAN and tickets only.
    pub server: Option<String>,
    /// Display name shown to peers in the server's room.
    pub name: String,
    /// The server room to join.
    pub room: protocol::signal::RoomRequest,
    /// Most bytes per second a transfer sends (`--max-rate`); none: as
    /// fast as the path allows.
    pub max_rate: Option<std::num::NonZeroU64>,
}

impl EngineConfig {
    /// A configuration with defaults: listen on every interface, TCP and QUIC
    /// on random ports, mDNS on, ask before accepting, five minutes to decide.
    pub fn new(key: Keypair, download_dir: PathBuf) -> Self {
        Self {
            key,
            listen: default_listen(),
            mdns: true,
            download_dir,
            auto_accept: false,
            inbound: Inbound::Expected,
            decision_timeout: Duration::from_secs(5 * 60),
            stall_timeout: wire::STALL_TIMEOUT,
            server: None,
            name: default_name(),
            room: protocol::signal::RoomRequest::Auto,
            max_rate: None,
        }
    }
}

/// The computer's host name, or a neutral name.
pub fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|n| {
            n.trim()
                .chars()
                .take(protocol::signal::MAX_NAME_CHARS)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
        .unwrap_or_else(|| "p2p-share".into())
}

/// Listen on all IPv4 interfaces, TCP and QUIC, random ports.
pub fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Why a transfer or an engine operation failed. Messages name the peer and
/// the file where one is concerned, and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Network failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The files to send could not be read.
    #[error(transparent)]
    Scan(#[from] crate::transfer::scan::ScanError),
    /// The other side declined.
    #[error("{0}")]
    Declined(String),
    /// The other side refused a request.
    #[error("peer {peer} refused: {message}")]
    Refused {
        /// The peer.
        peer: PeerId,
        /// Its explanation.
        message: String,
    },
    /// The signal server failed or refused.
    #[error(transparent)]
    Signal(#[from] crate::signal::SignalError),
    /// The operation needs a signal server and none is configured.
    #[error("share codes need a signal server: pass --server URL (or use the ticket)")]
    NoServer,
    /// The share code expired before anyone used it.
    #[error("the share code expired unused; run send again for a new one")]
    CodeExpired,
    /// Someone cancelled the transfer.
    #[error("the transfer was cancelled")]
    Cancelled,
    /// The share code did not match on both sides.
    #[error("the share code does not match: check it and try again with a new code")]
    WrongCode,
    /// The peer broke the protocol.
    #[error("peer {peer} broke the protocol: {reason}")]
    Protocol {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: String,
    },
    /// The transfer itself failed.
    #[error("transfer with {peer} failed: {reason}")]
    Transfer {
        /// The peer.
        peer: PeerId,
        /// What happened and what to do.
        reason: String,
    },
    /// The engine is shutting down.
    #[error("the engine stopped")]
    Stopped,
}

impl EngineError {
    /// The error for an answer that is not the one expected: the peer's
    /// refusal, or a protocol error naming `what` was asked.
    fn unexpected(peer: PeerId, answer: Response, what: &str) -> Self {
        match answer {
            Response::Refused { message, .. } => EngineError::Refused {
                peer,
                message: protocol::transfer::sanitize_reason(&message),
            },
            other => EngineError::Protocol {
                peer,
                reason: format!("unexpected answer to {what}: {other:?}"),
            },
        }
    }
}

/// An offer waiting for a person's decision.
struct PendingOffer {
    peer: PeerId,
    offer: Offer,
    reply: oneshot::Sender<Response>,
}

/// An accepted offer whose bytes have not arrived (or not all) yet.
#[derive(Clone)]
struct Accepted {
    peer: PeerId,
    offer: Offer,
    resume: Vec<ResumePoint>,
    /// When it was accepted; a sender that never sends is forgotten.
    at: std::time::Instant,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, PendingOffer>,
    accepted: HashMap<String, Accepted>,
    expected_senders: HashSet<PeerId>,
    shares: share::Shares,
    lan_peers: HashSet<PeerId>,
    running: HashMap<String, CancellationToken>,
}

struct Inner {
    /// The runtime the engine runs on, so that calls from other threads (the
    /// desktop app's UI thread) can start tasks.
    runtime: tokio::runtime::Handle,
    net: Network,
    signal: Option<crate::signal::SignalHandle>,
    events: mpsc::Sender<Event>,
    config: EngineConfig,
    state: Mutex<State>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the network and the engine's tasks.
    pub async fn start(
        config: EngineConfig,
    ) -> Result<(Engine, mpsc::Receiver<Event>), EngineError> {
        let (net, net_events, event_loop) = network::new(NetConfig {
            key: config.key.clone(),
            listen: config.listen.clone(),
            mdns: config.mdns,
        })?;
        let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(event_loop.run(shutdown.clone()));
        let signal = config.server.as_ref().map(|url| {
            crate::signal::spawn(
                crate::signal::SignalConfig {
                    url: url.clone(),
                    name: config.name.clone(),
                    room: config.room.clone(),
                    key: config.key.clone(),
                },
                net.clone(),
                events.clone(),
                shutdown.clone(),
                &tracker,
            )
        });
        let inner = Arc::new(Inner {
            runtime: tokio::runtime::Handle::current(),
            net,
            signal,
            events,
            config,
            state: Mutex::new(State::default()),
            shutdown,
            tracker,
        });
        let engine = Engine { inner };
        engine
            .inner
            .tracker
            .spawn(engine.clone().dispatch(net_events));
        engine
            .inner
            .tracker
            .spawn(receive::accept_streams(engine.clone()));
        Ok((engine, event_rx))
    }

    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.inner.net.peer_id()
    }

    /// Addresses this node listens on now.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.inner.net.listen_addrs().await.unwrap_or_default()
    }

    /// Waits until the node listens on at least one address and the list
    /// has settled (unchanged over 20 ms), for at most 2 s. A listener on
    /// `0.0.0.0` reports each interface's address on its own, and a ticket
    /// made between two reports lacks the ones still to come. (Four WAN lab
    /// runs in a row once dialled only 127.0.0.1 from a ticket, most
    /// likely this.)
    pub async fn wait_listening(&self) -> Vec<Multiaddr> {
        let sorted = |addrs: &[Multiaddr]| {
            let mut names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            names.sort();
            names
        };
        let mut last = Vec::new();
        for _ in 0..100 {
            let addrs = self.listen_addrs().await;
            if !addrs.is_empty() && sorted(&addrs) == sorted(&last) {
                return addrs;
            }
            last = addrs;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last
    }

    /// Peers seen on the LAN now.
    pub fn lan_peers(&self) -> Vec<PeerId> {
        self.state().lan_peers.iter().copied().collect()
    }

    /// Answers an offer: accept (`true`) or decline.
    pub fn decide(&self, transfer_id: &str, accept: bool) {
        receive::decide(self, transfer_id, accept);
    }

    /// Offers `paths` to `peer` (reached at `addrs` or any known address),
    /// and sends them if accepted. Progress arrives as events.
    pub async fn send(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        paths: Vec<PathBuf>,
    ) -> Result<crate::event::Summary, EngineError> {
        send::send(self, peer, addrs, paths).await
    }

    /// Creates a share: a ticket and, with a signal server, a share code that
    /// a receiver uses to come and fetch. Wait for it with [`Share::receiver`].
    pub async fn share(&self) -> Result<Share, EngineError> {
        share::create(self).await
    }

    /// Meets the sender of `code` through the signal server and proves the
    /// code (SPAKE2); its offer then arrives as an [`Event::OfferReceived`].
    pub async fn fetch_code(
        &self,
        code: &protocol::code::ShareCode,
    ) -> Result<PeerId, EngineError> {
        let signal = self.inner.signal.as_ref().ok_or(EngineError::NoServer)?;
        let sender = signal.claim_code(code.nameplate()).await?;
        let peer: PeerId = sender.peer_id.parse().map_err(|_| EngineError::Protocol {
            peer: self.peer_id(),
            reason: "the server paired us with an invalid peer ID".into(),
        })?;
        let addrs = sender.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        share::knock_code(self, code, peer, addrs).await
    }

    /// Addresses of `peer` from the signal server, if it is registered there.
    pub async fn lookup(&self, peer: PeerId) -> Result<Vec<Multiaddr>, EngineError> {
        let signal = self.inner.signal.as_ref().ok_or(EngineError::NoServer)?;
        let found = signal.lookup(peer).await?;
        Ok(found
            .map(|p| p.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default())
    }

    /// Knocks on a waiting sender with a ticket; its offer then arrives as
    /// an [`Event::OfferReceived`].
    pub async fn fetch_ticket(
        &self,
        ticket: &protocol::ticket::Ticket,
    ) -> Result<PeerId, EngineError> {
        share::knock_ticket(self, ticket).await
    }

    /// Waits until `peer` has hung up (it has what it needed), for at most
    /// `limit`, so our last answer is not cut off by our own exit.
    pub async fn wait_disconnected(&self, peer: PeerId, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.inner.net.wait_gone(peer)).await;
    }

    /// Cancels a transfer: declines it if it still waits for a decision here,
    /// stops it (and tells the peer) if it runs.
    pub fn cancel(&self, transfer_id: &str) {
        let pending = self.state().pending.contains_key(transfer_id);
        if pending {
            self.decide(transfer_id, false);
        } else if let Some(token) = self.state().running.get(transfer_id) {
            token.cancel();
        }
    }

    /// Registers a running transfer; its token is cancelled by [`Engine::cancel`].
    fn track(&self, transfer_id: &str) -> CancellationToken {
        let token = self.inner.shutdown.child_token();
        self.state()
            .running
            .insert(transfer_id.to_owned(), token.clone());
        token
    }

    fn untrack(&self, transfer_id: &str) {
        self.state().running.remove(transfer_id);
    }

    /// Stops every task and closes the network.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.tracker.wait()).await;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends an event the view must see (waits if its queue is full).
    async fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event).await;
    }

    /// Sends an event that may be dropped when the view lags (progress).
    fn emit_lossy(&self, event: Event) {
        let _ = self.inner.events.try_send(event);
    }

    /// Starts a tracked task on the engine's runtime, from any thread.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner
            .runtime
            .spawn(self.inner.tracker.track_future(task));
    }

    async fn dispatch(self, mut net_events: mpsc::Receiver<NetEvent>) {
        loop {
            let event = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                event = net_events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            match event {
                NetEvent::Request {
                    peer,
                    request,
                    reply,
                } => self.on_request(peer, request, reply).await,
                NetEvent::LanPeer { peer, .. } => {
                    if self.state().lan_peers.insert(peer) {
                        self.emit(Event::PeerFound {
                            peer: peer.to_string(),
                            name: None,
                            source: PeerSource::Lan,
                        })
                        .await;
                    }
                }
                NetEvent::LanPeerGone { peer } => {
                    if self.state().lan_peers.remove(&peer) {
                        self.emit(Event::PeerLost {
                            peer: peer.to_string(),
                            source: PeerSource::Lan,
                        })
                        .await;
                    }
                }
                NetEvent::Listening { addr } => {
                    self.emit(Event::Listening {
                        addr: addr.to_string(),
                    })
                    .await;
                }
                NetEvent::Reserved { relay } => debug!(%relay, "relay slot reserved"),
            }
        }
    }

    async fn on_request(&self, peer: PeerId, request: Request, reply: oneshot::Sender<Response>) {
        match request {
            Request::Knock(knock) => share::on_knock(self, peer, knock, reply),
            Request::Confirm { mac } => share::on_confirm(self, peer, &mac, reply),
            Request::Offer(offer) => receive::on_offer(self, peer, offer, reply).await,
            Request::Cancel {
                transfer_id,
                reason,
            } => {
                receive::on_cancel(self, peer, &transfer_id, &reason).await;
                let _ = reply.send(Response::Cancelled);
            }
            _ => {
                let _ = reply.send(Response::Refused {
                    reason: protocol::transfer::Refusal::NotExpected,
                    message: "unknown request".into(),
                });
            }
        }
    }
}
