//! HTTP routes, connection admission and ordered shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::signal::{ErrorCode, Limits, MAX_CLIENT_FRAME, RelayInfo};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::ServerError;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::presence::{Presence, Settings};
use crate::relay::Relay;

/// Bytes read from a client's socket at a time.
const READ_BUFFER: usize = 4 * 1024;

/// Bytes of outgoing frames gathered before they are written.
const WRITE_BUFFER: usize = 8 * 1024;

/// Most bytes waiting to be written to one client's socket: a full room's
/// `welcome` (256 peers with 16 addresses each) fits.
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;

/// Frames larger than this are not even read: the connection is dropped.
/// Frames between [`MAX_CLIENT_FRAME`] and this get a `frame_too_large` error.
const HARD_FRAME_LIMIT: usize = 16 * MAX_CLIENT_FRAME;

/// How long shutdown waits for sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything the routes and sessions share.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) shutdown: CancellationToken,
    tracker: TaskTracker,
    per_ip: Mutex<HashMap<String, usize>>,
    slots: Arc<Semaphore>,
    next_conn: AtomicU64,
}

impl AppState {
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a connection against its address, or refuses it.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let key = crate::client_ip::network_key(ip);
        let mut per_ip = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = per_ip.entry(key.clone()).or_insert(0);
        if *count >= self.config.max_connections_per_ip {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            state: Arc::clone(self),
            key,
        })
    }
}

/// One connection counted against an address (IPv6: its /64); released on drop.
struct IpSlot {
    state: Arc<AppState>,
    key: String,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self
            .state
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_ip.remove(&self.key);
            }
        }
    }
}

/// A bound server: the HTTP listener, the presence state and, unless
/// disabled, the relay.
pub struct Server {
    config: Config,
    listener: TcpListener,
    relay: Option<Relay>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
}

impl Server {
    /// Binds the HTTP listener and starts the relay's listeners.
    pub async fn bind(config: Config) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServerError::Bind(config.listen, e))?;
        let metrics = Arc::new(Metrics::default());
        // The relay is announced once it listens; the hub exists first so the
        // relay can ask it which peers are registered.
        let hub = Arc::new(Hub::new(
            Presence::new(settings(&config)),
            Arc::clone(&metrics),
        ));
        let relay = if config.no_relay {
            None
        } else {
            let registered = config.relay.registered_only.then(|| Arc::clone(&hub));
            Some(Relay::bind(&config, registered).await?)
        };
        hub.set_relay(relay.as_ref().map(|r| r.info().clone()));
        Ok(Self {
            config,
            listener,
            relay,
            hub,
            metrics,
        })
    }

    /// The address the HTTP/WebSocket listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The relay's peer ID and the addresses clients are told to dial.
    pub fn relay_info(&self) -> Option<&RelayInfo> {
        self.relay.as_ref().map(Relay::info)
    }

    /// Serves until `shutdown` is cancelled, then closes every WebSocket with a
    /// close frame, stops the relay and returns.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let Self {
            config,
            listener,
            relay,
            hub,
            metrics,
        } = self;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Bind(config.listen, e))?;
        let tracker = TaskTracker::new();
        let state = Arc::new(AppState {
            hub,
            metrics: Arc::clone(&metrics),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            per_ip: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(config.max_connections)),
            next_conn: AtomicU64::new(1),
            config,
        });

        if let Some(relay) = relay {
            tracker.spawn(relay.run(Arc::clone(&metrics), shutdown.clone()));
        }
        tracker.spawn(sweep(Arc::clone(&state)));

        let app = Router::new()
            .route("/ws", get(ws_handler))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_handler))
            .with_state(Arc::clone(&state));
        if state.config.public_url.is_empty() {
            warn!(
                "no --public-url given: ownership proofs are checked against the Host \
                 header clients send; set --public-url to the URL clients use"
            );
        } else {
            info!(public_url = ?state.config.public_url, "accepting proofs for these origins");
        }
        info!(%addr, "signal server listening");
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
        // axum does not wait for upgraded WebSockets: the tracker does.
        shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            warn!(
                remaining = tracker.len(),
                "some connections did not close in time"
            );
        }
        info!("signal server stopped");
        served.map_err(ServerError::Serve)
    }
}

/// What presence enforces and announces, from the configuration (the relay
/// is added once it listens).
fn settings(config: &Config) -> Settings {
    Settings {
        peers_per_room: config.peers_per_room,
        code_ttl: Duration::from_secs(config.code_ttl_secs),
        codes_per_conn: config.codes_per_connection,
        failed_attempts_per_min: config.failed_attempts_per_min,
        relay: None,
        limits: Limits {
            max_frame: MAX_CLIENT_FRAME,
            messages_per_sec: config.messages_per_sec,
            idle_timeout_secs: config.idle_timeout_secs,
            code_ttl_secs: config.code_ttl_secs,
            peers_per_room: config.peers_per_room,
        },
    }
}

/// Expires share codes and forgets idle attempt counters, once a second.
async fn sweep(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = Instant::now();
                state.hub.apply(|p| p.expire(now));
            }
        }
    }
}

async fn ws_handler(
    ws: WebSocketUpgrade,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    State(state): State<Arc<AppState>>,
) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    // Every line, in order: a proxy may add its own line after the client's.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok());
    let ip = crate::client_ip::client_ip(remote.ip(), forwarded, &state.config.trusted_proxies);
    let Some(ip_slot) = state.admit(ip) else {
        state.metrics.reject(ErrorCode::TooManyConnections);
        info!(%ip, "refused: too many connections from this address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from your address; close some and retry",
        )
            .into_response();
    };
    let Ok(permit) = Arc::clone(&state.slots).try_acquire_owned() else {
        state.metrics.reject(ErrorCode::TooManyConnections);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "server is full; retry later",
        )
            .into_response();
    };
    // The host the client says it dialled: what its proof must name when no
    // public URL is configured.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.len() <= protocol::signal::MAX_ORIGIN_BYTES)
        .map(str::to_owned);
    let tracker = state.tracker.clone();
    ws.max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        // tungstenite's defaults (128 KiB each) cost 5,000 idle clients
        // 700 MiB; our frames are small, and the buffers grow when needed.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let _held: (IpSlot, OwnedSemaphorePermit) = (ip_slot, permit);
                crate::session::run(socket, ip, host, state).await;
            })
        })
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(&state.hub.gauges());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
