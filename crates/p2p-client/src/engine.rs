//! The transfer engine: what a view (CLI or app) drives.
//!
//! [`Engine::start`] builds the network, spawns its loop and a dispatcher that
//! answers peers' requests, and returns the engine with its [`Event`] stream.
//! Sending runs in the caller's task ([`Engine::send`]); receiving runs in
//! tasks the engine owns, after a person (or `--yes`) accepts with
//! [`Engine::decide`].
//!
//! # Layout
//! Each part owns its state; the others reach it only through its methods.
//! - State machines, no IO (inputs with the time, outputs as actions):
//!   `inbox` (offers from arrival to their data stream: admission, decision,
//!   expiry, disk check, claim, cancel), `receive::session` (one stream
//!   received: start offsets, plan, position, progress, the end),
//!   `send::session` (one offer sent: decision, agreed starts, chunks, the
//!   receiver's answer), `share::state` (open shares: ticket knocks, PAKE,
//!   confirmation, pairing).
//! - Their drivers: `receive` (with `receive::disk`, the disk thread),
//!   `send` (with `send::read`, the file reader), `share` (the knock and
//!   PAKE exchanges of a receiver, opening codes on the server).
//! - `dispatch`: the network's events: peers' requests, LAN peers and
//!   what they tell of themselves.
//! - `find`: finding a peer, and a ticket or code ([`Secret`]) to fetch.
//! - `config` ([`EngineConfig`]), `error` ([`EngineError`]), `pace` (the
//!   upload limit), `wire` (frames on streams).

mod browse;
mod config;
mod dispatch;
mod error;
mod find;
mod inbox;
mod pace;
mod publish;
mod receive;
mod send;
mod share;
mod wire;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use browse::Target;
pub use config::{EngineConfig, Inbound, default_listen, default_name};
pub use error::EngineError;
pub use find::Secret;
pub use publish::Allow;
pub use share::{Served, Share};
pub(crate) use wire::STALL_TIMEOUT;

use crate::event::Event;
use crate::network::{self, NetConfig, Network};

/// Events queued for the view before progress events are dropped.
const EVENT_QUEUE: usize = 1024;

/// How long the listen addresses must stay unchanged to count as settled.
const LISTEN_SETTLE: Duration = Duration::from_millis(20);

/// The longest [`Engine::wait_listening`] waits.
const LISTEN_WAIT: Duration = Duration::from_secs(2);

struct Inner {
    /// The runtime the engine runs on, so that calls from other threads (the
    /// desktop app's UI thread) can start tasks.
    runtime: tokio::runtime::Handle,
    net: Network,
    signal: Option<crate::signal_client::Servers>,
    events: mpsc::Sender<Event>,
    config: EngineConfig,
    /// Offers from the time they arrive until their data stream comes.
    inbox: Mutex<receive::Offers>,
    /// Peers mDNS sees on the LAN now.
    lan_peers: watch::Sender<HashSet<PeerId>>,
    /// What peers told us about themselves (identify), for the LAN list.
    devices: Mutex<HashMap<PeerId, protocol::device::Device>>,
    /// The upload limit now (`config.max_rate` at start).
    max_rate: pace::RateLimit,
    /// Open shares, waiting for their receivers.
    shares: Mutex<share::Shares>,
    /// Running transfers, cancelled through their tokens.
    running: Mutex<HashMap<String, CancellationToken>>,
    /// The folder we publish (`share DIR`), if any.
    publication: Mutex<Option<Arc<publish::Publication>>>,
    /// Our fetches from others' published folders, until their transfer ends.
    fetches: Mutex<browse::Fetches>,
    /// Why senders stopped running transfers (their cancel), by transfer ID.
    stop_reasons: Mutex<HashMap<String, (PeerId, String)>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Where finished transfers are recorded, if anywhere.
    history: Option<crate::history::History>,
    /// Turns transfer events into history entries.
    recorder: Mutex<crate::history::Recorder>,
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
            transports: config.transports,
            agent_version: protocol::device::Device {
                shares: config.publishes,
                ..protocol::device::Device::this(&config.name)
            }
            .agent_version(env!("CARGO_PKG_VERSION")),
        })?;
        let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(event_loop.run(shutdown.clone()));
        let signal = crate::signal_client::Servers::spawn(
            &config.servers,
            |url| crate::signal_client::SignalConfig {
                url: url.to_owned(),
                name: config.name.clone(),
                room: config.room.clone(),
                key: config.key.clone(),
            },
            &net,
            events.clone(),
            &shutdown,
            &tracker,
        );
        let inner = Arc::new(Inner {
            runtime: tokio::runtime::Handle::current(),
            net,
            signal,
            events,
            inbox: Mutex::new(inbox::Inbox::new(
                config.inbound,
                config.auto_accept,
                config.decision_timeout,
            )),
            lan_peers: watch::Sender::new(HashSet::new()),
            devices: Mutex::new(HashMap::new()),
            max_rate: pace::RateLimit::new(config.max_rate),
            history: config.history.as_deref().map(crate::history::History::new),
            recorder: Mutex::new(crate::history::Recorder::new(config.download_dir.clone())),
            config,
            shares: Mutex::new(share::Shares::default()),
            running: Mutex::new(HashMap::new()),
            publication: Mutex::new(None),
            fetches: Mutex::new(HashMap::new()),
            stop_reasons: Mutex::new(HashMap::new()),
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
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.inner.net.listen_addrs()
    }

    /// Waits until the node listens on at least one address and the list
    /// has settled (no change for [`LISTEN_SETTLE`]), for at most
    /// [`LISTEN_WAIT`]. A listener on `0.0.0.0` reports each interface's
    /// address on its own, and a ticket made between two reports would
    /// lack the ones still to come.
    pub async fn wait_listening(&self) -> Vec<Multiaddr> {
        let mut listening = self.inner.net.listening();
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let addrs = listening.borrow_and_update().clone();
            let wait = if addrs.is_empty() {
                deadline
            } else {
                deadline.min(tokio::time::Instant::now() + LISTEN_SETTLE)
            };
            match tokio::time::timeout_at(wait, listening.changed()).await {
                Ok(Ok(())) => continue,
                // Settled, out of time, or the network stopped.
                Err(_) | Ok(Err(_)) => return addrs,
            }
        }
    }

    /// Changes the upload limit (bytes per second; none: no limit), for
    /// running transfers too.
    pub fn set_max_rate(&self, rate: Option<std::num::NonZeroU64>) {
        self.inner.max_rate.set(rate);
    }

    /// The upload limit now.
    pub fn max_rate(&self) -> Option<std::num::NonZeroU64> {
        self.inner.max_rate.get()
    }

    /// Peers seen on the LAN now.
    pub fn lan_peers(&self) -> Vec<PeerId> {
        self.inner.lan_peers.borrow().iter().copied().collect()
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

    /// Hashes `paths` once, for one send or many ([`Engine::send_scanned`]
    /// with [`Scanned::renewed`](crate::files::scan::Scanned::renewed) for
    /// each further recipient). Progress arrives as `Hashing` events.
    ///
    /// # Errors
    /// A path cannot be read, or names collide.
    pub async fn scan(
        &self,
        paths: Vec<PathBuf>,
    ) -> Result<crate::files::scan::Scanned, EngineError> {
        send::scan_files(self, paths).await
    }

    /// Reaches `peer` and offers what [`Engine::scan`] found (or a text).
    ///
    /// # Errors
    /// As [`Engine::send`].
    pub async fn send_scanned(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        scanned: crate::files::scan::Scanned,
    ) -> Result<crate::event::Summary, EngineError> {
        send::send_scanned(self, peer, addrs, scanned).await
    }

    /// Sends what [`Engine::scan`] found (or a text) to each of `targets`
    /// at once: each gets its own offer (a new transfer ID) and result, and
    /// one declining, failing or being away does not stop the others. The
    /// results come as each send ends. Several recipients share the reads
    /// from disk ([`Scanned::for_many`](crate::files::scan::Scanned::for_many)).
    pub fn send_each(
        &self,
        targets: Vec<(PeerId, Vec<Multiaddr>)>,
        scanned: crate::files::scan::Scanned,
    ) -> impl futures::Stream<Item = (PeerId, Result<crate::event::Summary, EngineError>)> + '_
    {
        let scanned = if targets.len() > 1 {
            scanned.for_many()
        } else {
            scanned
        };
        let sends = targets.into_iter().enumerate().map(|(i, (peer, addrs))| {
            let scanned = if i == 0 {
                Ok(scanned.clone())
            } else {
                scanned.renewed()
            };
            async move {
                let sent = async {
                    let addrs = self.find_peer(peer, addrs).await?;
                    self.send_scanned(peer, addrs, scanned?).await
                };
                (peer, sent.await)
            }
        });
        sends.collect::<futures::stream::FuturesUnordered<_>>()
    }

    /// Creates a share: a ticket and, with a signal server, a share code that
    /// a receiver uses to come and fetch. Wait for it with [`Share::receiver`].
    pub async fn share(&self) -> Result<Share, EngineError> {
        share::create(self, 1).await
    }

    /// [`Engine::share`] for up to `receivers` receivers (`--receivers N`):
    /// each proves the ticket or runs its own PAKE with the code; serve
    /// them with [`Share::send_to_each`].
    pub async fn share_for(&self, receivers: u32) -> Result<Share, EngineError> {
        share::create(self, receivers).await
    }

    /// Publishes `dir` read-only for peers that `allow` admits (`trusted`:
    /// these peers), replacing what was published before; returns the
    /// ticket that lists and fetches from it (`--allow ticket`).
    ///
    /// # Errors
    /// `dir` is not a folder that can be read.
    pub async fn publish(
        &self,
        dir: &std::path::Path,
        allow: Allow,
        trusted: Vec<PeerId>,
    ) -> Result<protocol::ticket::Ticket, EngineError> {
        let dir = dir.to_path_buf();
        let published =
            tokio::task::spawn_blocking(move || crate::files::published::Published::new(&dir))
                .await
                .map_err(|_| EngineError::Stopped)?
                .map_err(|e| EngineError::Publish(e.to_string()))?;
        let mut secret = [0u8; protocol::ticket::SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let addrs = self.wait_listening().await;
        let ticket = protocol::ticket::Ticket::new(self.peer_id(), &addrs, secret);
        let publication = publish::Publication::new(
            published,
            allow,
            secret.to_vec(),
            trusted.into_iter().collect(),
        );
        *lock(&self.inner.publication) = Some(Arc::new(publication));
        if let Some(signal) = &self.inner.signal {
            signal.set_publishing(true);
        }
        Ok(ticket)
    }

    /// Stops publishing (what [`Engine::publish`] published).
    pub fn unpublish(&self) {
        *lock(&self.inner.publication) = None;
        if let Some(signal) = &self.inner.signal {
            signal.set_publishing(false);
        }
    }

    /// Waits until `peer` has hung up (it has what it needed), for at most
    /// `limit`, so our last answer is not cut off by our own exit.
    pub async fn wait_disconnected(&self, peer: PeerId, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.inner.net.wait_gone(peer)).await;
    }

    /// Cancels a transfer: declines it if it still waits for a decision here,
    /// stops it (and tells the peer) if it runs.
    pub fn cancel(&self, transfer_id: &str) {
        let pending = self.inbox().is_pending(transfer_id);
        if pending {
            self.decide(transfer_id, false);
        } else if let Some(token) = self.running().get(transfer_id) {
            token.cancel();
        }
    }

    /// Registers a running transfer; its token is cancelled by [`Engine::cancel`].
    fn track(&self, transfer_id: &str) -> CancellationToken {
        let token = self.inner.shutdown.child_token();
        self.running().insert(transfer_id.to_owned(), token.clone());
        token
    }

    fn untrack(&self, transfer_id: &str) {
        self.running().remove(transfer_id);
    }

    /// Stops every task and closes the network.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.tracker.wait()).await;
    }

    fn inbox(&self) -> MutexGuard<'_, receive::Offers> {
        lock(&self.inner.inbox)
    }

    fn shares(&self) -> MutexGuard<'_, share::Shares> {
        lock(&self.inner.shares)
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        lock(&self.inner.running)
    }

    /// Sends an event the view must see (waits if its queue is full).
    async fn emit(&self, event: Event) {
        self.record(&event);
        // A fetch ends after its view has the event that ends it.
        let ended = browse::fetch_end(&event);
        let _ = self.inner.events.send(event).await;
        if let Some((transfer_id, result)) = ended {
            self.end_fetch(&transfer_id, result);
        }
    }

    /// Writes the history entry of a transfer that `event` ends, off the
    /// async threads; shutdown waits for the write.
    fn record(&self, event: &Event) {
        let Some(history) = &self.inner.history else {
            return;
        };
        let Some(entry) = lock(&self.inner.recorder).observe(event, std::time::SystemTime::now())
        else {
            return;
        };
        let history = history.clone();
        self.inner.tracker.spawn_blocking(move || {
            if let Err(e) = history.append(entry) {
                tracing::warn!(error = %e, "cannot save the transfer history");
            }
        });
    }

    /// Sends an event that may be dropped when the view lags (progress).
    fn emit_lossy(&self, event: Event) {
        let _ = self.inner.events.try_send(event);
    }

    /// The path of our connection to `peer`; a direct TCP one when the
    /// network knows none (the connection just closed).
    ///
    /// # Errors
    /// The network stopped.
    async fn path_to(&self, peer: PeerId) -> Result<crate::PathInfo, crate::NetError> {
        Ok(self.inner.net.path(peer).await?.unwrap_or(crate::PathInfo {
            relayed: false,
            transport: crate::TransportKind::Tcp,
        }))
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
}

/// Locks one of the engine's parts; a panic elsewhere does not poison it
/// for good (each part's methods keep it consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
