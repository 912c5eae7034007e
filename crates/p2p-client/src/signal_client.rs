//! The signal-server client: registers with the ownership proof, keeps
//! presence current, reconnects with backoff, reserves a relay slot and
//! answers the engine's share-code and lookup requests.
//!
//! One task owns the WebSocket; a `SignalHandle` sends it requests. The
//! protocol has no request IDs, so the task runs one request at a time;
//! `messages` turns what the server says into answers and peer events.

mod addrs;
mod messages;
mod relay;
mod servers;

pub(crate) use servers::Servers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use data_encoding::BASE64;
use futures::{SinkExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use protocol::signal::{
    ClientMsg, ErrorCode, Origin, PROTOCOL_VERSION, PeerInfo, Register, RoomRequest, ServerMsg,
    decode_server, encode_client, registration_payload,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::addrs::announce_addrs;
use self::messages::{Opened, on_server_msg, peer_found};
use self::relay::{RelayLink, RelayRetry, spawn_reservation};
use crate::event::Event;
use crate::network::Network;

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long registering waits for the listeners' first address.
const LISTEN_WAIT: Duration = Duration::from_secs(2);

/// Why a signal-server request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Not connected to the server right now.
    #[error("not connected to the signal server {0}; check the URL and that it runs")]
    Offline(String),
    /// The server refused.
    #[error("the signal server refused: {message} ({code})")]
    Refused {
        /// The reason code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// No answer in time.
    #[error("the signal server did not answer in time")]
    Timeout,
}

/// What the client runs with.
#[derive(Clone)]
pub(crate) struct SignalConfig {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) room: RoomRequest,
    pub(crate) key: Keypair,
}

enum Ask {
    OpenCode {
        nameplate: u32,
        claims: u32,
        paired: mpsc::Sender<PeerInfo>,
    },
    ClaimCode {
        nameplate: u32,
    },
    Lookup {
        peer_id: String,
    },
}

enum Answer {
    Opened,
    Paired(PeerInfo),
    Found(Option<PeerInfo>),
}

struct Pending {
    ask: Ask,
    reply: oneshot::Sender<Result<Answer, SignalError>>,
}

/// A handle to the signal-server task.
#[derive(Clone)]
pub(crate) struct SignalHandle {
    asks: mpsc::Sender<Pending>,
    url: String,
    /// The server's relay and whether we are connected to it.
    relay: watch::Receiver<RelayLink>,
    /// What the task and the engine share.
    shared: Arc<Shared>,
}

/// State the client task and the engine share.
struct Shared {
    /// Whether we publish a folder (told to the server, which tells the room).
    publishing: watch::Sender<bool>,
    /// The peers in our room now (none while disconnected).
    room: watch::Sender<std::collections::HashSet<PeerId>>,
}

impl SignalHandle {
    /// Tells the server (now and on every reconnect) whether we publish a
    /// folder; it tells our room, never what is in it.
    pub(crate) fn set_publishing(&self, publishing: bool) {
        self.shared.publishing.send_replace(publishing);
    }

    /// Whether `peer` is in our server room now.
    pub(crate) fn in_room(&self, peer: &PeerId) -> bool {
        self.shared.room.borrow().contains(peer)
    }

    async fn ask(&self, ask: Ask) -> Result<Answer, SignalError> {
        let (reply, answer) = oneshot::channel();
        self.asks
            .send(Pending { ask, reply })
            .await
            .map_err(|_| SignalError::Offline(self.url.clone()))?;
        match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SignalError::Offline(self.url.clone())),
            Err(_) => Err(SignalError::Timeout),
        }
    }

    /// Opens a nameplate for `claims` receivers; the channel yields each
    /// peer that claims it, and closes when the last has come or the
    /// nameplate expired.
    pub(crate) async fn open_code(
        &self,
        nameplate: u32,
        claims: u32,
    ) -> Result<mpsc::Receiver<PeerInfo>, SignalError> {
        let claims = claims.clamp(1, protocol::signal::MAX_CODE_CLAIMS);
        let (paired, on_paired) = mpsc::channel(claims as usize);
        let ask = Ask::OpenCode {
            nameplate,
            claims,
            paired,
        };
        match self.ask(ask).await? {
            Answer::Opened => Ok(on_paired),
            _ => Err(SignalError::Timeout),
        }
    }

    /// Claims a nameplate; returns the peer that opened it.
    pub(crate) async fn claim_code(&self, nameplate: u32) -> Result<PeerInfo, SignalError> {
        match self.ask(Ask::ClaimCode { nameplate }).await? {
            Answer::Paired(peer) => Ok(peer),
            _ => Err(SignalError::Timeout),
        }
    }

    /// Addresses that reach `peer` through the server's relay (it answers
    /// there if it holds a reservation).
    ///
    /// While our own connection to the relay is being set up this waits for
    /// it, at most `wait`: a circuit dialled meanwhile would start a second
    /// connection to the relay, which the swarm refuses while the first is
    /// pending, and the circuit attempt fails. Once connected, only the
    /// addresses of that connection are returned.
    pub(crate) async fn circuit_addrs(&self, peer: PeerId, wait: Duration) -> Vec<Multiaddr> {
        let mut link = self.relay.clone();
        let settled = |l: &RelayLink| !matches!(l, RelayLink::Connecting(_));
        if !settled(&link.borrow()) {
            debug!("waiting for the connection to the relay before dialing through it");
            let _ = tokio::time::timeout(wait, link.wait_for(settled)).await;
        }
        let addrs = match &*link.borrow() {
            RelayLink::Unknown => Vec::new(),
            RelayLink::Connecting(a) | RelayLink::Up(a) | RelayLink::Unreachable(a) => a.clone(),
        };
        addrs
            .into_iter()
            .map(|a| a.with(Protocol::P2pCircuit).with(Protocol::P2p(peer)))
            .collect()
    }

    /// Finds a registered peer by ID, in any room.
    pub(crate) async fn lookup(&self, peer: PeerId) -> Result<Option<PeerInfo>, SignalError> {
        match self
            .ask(Ask::Lookup {
                peer_id: peer.to_string(),
            })
            .await?
        {
            Answer::Found(found) => Ok(found),
            _ => Err(SignalError::Timeout),
        }
    }
}

/// Starts the client task.
pub(crate) fn spawn(
    config: SignalConfig,
    net: Network,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> SignalHandle {
    let (asks, ask_rx) = mpsc::channel(16);
    let (relay, relay_rx) = watch::channel(RelayLink::Unknown);
    let shared = Arc::new(Shared {
        publishing: watch::channel(false).0,
        room: watch::channel(std::collections::HashSet::new()).0,
    });
    let handle = SignalHandle {
        asks,
        url: config.url.clone(),
        relay: relay_rx,
        shared: Arc::clone(&shared),
    };
    tracker.spawn(run(config, net, events, ask_rx, relay, shared, shutdown));
    handle
}

async fn run(
    config: SignalConfig,
    net: Network,
    events: mpsc::Sender<Event>,
    mut asks: mpsc::Receiver<Pending>,
    relay: watch::Sender<RelayLink>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let relay = Arc::new(relay);
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = session(&config, &net, &events, &mut asks, &relay, &shared, &shutdown) => result,
        };
        shared.room.send_replace(std::collections::HashSet::new());
        match result {
            Ok(()) => return,
            Err(e) => {
                warn!(url = %config.url, error = %e, retry_in = ?backoff, "signal server connection lost");
                let _ = events.try_send(Event::ServerStatus {
                    url: config.url.clone(),
                    connected: false,
                    message: format!("{e}; retrying in {} s", backoff.as_secs()),
                });
            }
        }
        // Requests made while offline fail at once instead of waiting.
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = &mut wait => break,
                Some(pending) = asks.recv() => {
                    let _ = pending.reply.send(Err(SignalError::Offline(config.url.clone())));
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: register, then serve requests and presence until it drops.
async fn session(
    config: &SignalConfig,
    net: &Network,
    events: &mpsc::Sender<Event>,
    asks: &mut mpsc::Receiver<Pending>,
    relay_link: &Arc<watch::Sender<RelayLink>>,
    shared: &Shared,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let (mut ws, _) = tokio::time::timeout(
        REQUEST_TIMEOUT,
        tokio_tungstenite::connect_async(&config.url),
    )
    .await
    .map_err(|_| "connecting timed out".to_string())?
    .map_err(|e| format!("cannot connect: {e}"))?;
    let nonce = match next_msg(&mut ws).await? {
        ServerMsg::Challenge { version, nonce } if version == PROTOCOL_VERSION => nonce,
        ServerMsg::Challenge { version, .. } => {
            return Err(format!(
                "the server speaks protocol version {version}, this client {PROTOCOL_VERSION}; update one of them"
            ));
        }
        other => return Err(format!("expected a challenge, got {other:?}")),
    };
    // The proof names the server we dialled, so a server that passed us
    // another server's challenge cannot register us there.
    let origin = Origin::from_url(&config.url)
        .map_err(|e| format!("the server URL {}: {e}", config.url))?
        .to_string();
    let signature = config
        .key
        .sign(&registration_payload(&origin, &nonce))
        .map_err(|e| format!("cannot sign the challenge: {e}"))?;
    // Register with our addresses, once the listeners report them.
    let mut listening = net.listening();
    let _ = tokio::time::timeout(LISTEN_WAIT, listening.wait_for(|addrs| !addrs.is_empty())).await;
    let addrs = announce_addrs(&listening.borrow_and_update(), &config.url);
    let mut publishing = shared.publishing.subscribe();
    let register = ClientMsg::Register(Register {
        version: PROTOCOL_VERSION,
        peer_id: net.peer_id().to_string(),
        public_key: BASE64.encode(&config.key.public().encode_protobuf()),
        origin,
        signature: BASE64.encode(&signature),
        name: config.name.clone(),
        os: Some(std::env::consts::OS.to_owned()),
        addrs: addrs.clone(),
        publishes: *publishing.borrow_and_update(),
        room: config.room.clone(),
    });
    let addrs_registered = addrs;
    send(&mut ws, &register).await?;
    let (peers, relay) = match next_msg(&mut ws).await? {
        ServerMsg::Welcome { peers, relay, .. } => (peers, relay),
        ServerMsg::Error { code, message } => {
            return Err(format!("registration refused: {message} ({code})"));
        }
        other => return Err(format!("expected a welcome, got {other:?}")),
    };
    info!(url = %config.url, peers = peers.len(), "registered with the signal server");
    let _ = events.try_send(Event::ServerStatus {
        url: config.url.clone(),
        connected: true,
        message: "connected".into(),
    });
    let mut room: HashMap<String, PeerInfo> = HashMap::new();
    for peer in peers {
        peer_found(events, &peer);
        room.insert(peer.peer_id.clone(), peer);
    }
    let members = |room: &HashMap<String, PeerInfo>| {
        room.keys()
            .filter_map(|id| id.parse::<PeerId>().ok())
            .collect::<std::collections::HashSet<_>>()
    };
    shared.room.send_replace(members(&room));
    match &relay {
        // Not on a reconnect while we hold a reservation or are getting one;
        // an unreachable relay is tried again.
        Some(relay)
            if matches!(
                *relay_link.borrow(),
                RelayLink::Unknown | RelayLink::Unreachable(_)
            ) =>
        {
            spawn_reservation(net.clone(), relay.clone(), Arc::clone(relay_link));
        }
        Some(_) => {}
        None => {
            relay_link.send_replace(RelayLink::Unreachable(Vec::new()));
        }
    }
    let mut relay_retry = RelayRetry::default();

    let mut current: Option<Pending> = None;
    let mut opened: HashMap<u32, Opened> = HashMap::new();
    let mut announced = addrs_registered;
    // When to check whether the relay is due for another try.
    let mut relay_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            Some(pending) = asks.recv(), if current.is_none() => {
                let msg = match &pending.ask {
                    Ask::OpenCode { nameplate, claims, .. } => ClientMsg::CodeOpen {
                        nameplate: *nameplate,
                        claims: *claims,
                    },
                    Ask::ClaimCode { nameplate } => ClientMsg::CodeClaim { nameplate: *nameplate },
                    Ask::Lookup { peer_id } => ClientMsg::Lookup { peer_id: peer_id.clone() },
                };
                send(&mut ws, &msg).await?;
                current = Some(pending);
            }
            _ = relay_tick.tick() => {
                // A relay that went away (it restarted, or the connection to
                // it broke) or could not be reached is tried again.
                if let Some(relay) = &relay {
                    relay_retry.tick(net, relay, relay_link);
                }
            }
            Ok(()) = listening.changed() => {
                // Keep presence current: new listen or relay addresses.
                let addrs = announce_addrs(&listening.borrow_and_update(), &config.url);
                if addrs != announced {
                    send(&mut ws, &ClientMsg::Update { name: None, addrs: Some(addrs.clone()), publishes: None }).await?;
                    announced = addrs;
                }
            }
            Ok(()) = publishing.changed() => {
                let publishes = *publishing.borrow_and_update();
                send(&mut ws, &ClientMsg::Update { name: None, addrs: None, publishes: Some(publishes) }).await?;
            }
            msg = next_msg(&mut ws) => {
                let msg = msg?;
                on_server_msg(msg, events, &mut room, &mut current, &mut opened);
                shared.room.send_replace(members(&room));
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<(), String> {
    ws.send(Message::text(encode_client(msg)))
        .await
        .map_err(|e| format!("send failed: {e}"))
}

/// The next protocol message; pings are answered by tungstenite.
async fn next_msg(ws: &mut Ws) -> Result<ServerMsg, String> {
    loop {
        match ws.next().await {
            None => return Err("the server closed the connection".into()),
            Some(Err(e)) => return Err(format!("connection error: {e}")),
            Some(Ok(Message::Text(text))) => {
                return decode_server(&text)
                    .map_err(|e| format!("bad message from the server: {e}"));
            }
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(format!("the server closed the connection ({reason})"));
            }
            Some(Ok(_)) => {}
        }
    }
}
