//! The libp2p circuit relay (v2) that runs beside the WebSocket service, so that
//! peers behind NATs can reach each other and then hole-punch.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::{ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, ping, relay, tcp, yamux};
use protocol::signal::RelayInfo;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::ServerError;
use crate::config::{Config, RelayLimits};
use crate::hub::Hub;
use crate::ip_limit::{IpLimit, TooManyFromIp};
use crate::metrics::Metrics;

/// Protocol string announced by identify.
const IDENTIFY_PROTOCOL: &str = "/p2p-share/relay/1.0.0";

/// How long to wait for the listeners to report their addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
struct Behaviour {
    ip_limit: IpLimit,
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// A relay node that is listening, ready to be driven by [`Relay::run`].
pub(crate) struct Relay {
    swarm: Swarm<Behaviour>,
    info: RelayInfo,
}

impl Relay {
    /// Starts listening on the configured addresses and waits until they are
    /// bound. With `registered`, only peers registered there (over the
    /// WebSocket, ownership proof verified) get reservations.
    pub(crate) async fn bind(
        config: &Config,
        registered: Option<Arc<Hub>>,
    ) -> Result<Self, ServerError> {
        let key = match &config.relay_key {
            Some(path) => load_or_create_key(path)?,
            None => Keypair::generate_ed25519(),
        };
        let mut limits = relay_config(&config.relay);
        if let Some(hub) = registered {
            // First, so that a refused stranger does not use up its address's
            // reservation rate.
            limits
                .reservation_rate_limiters
                .insert(0, registered_only(hub));
        }
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| ServerError::Relay(format!("TCP transport: {e}")))?
            .with_quic()
            .with_behaviour(|key| Behaviour {
                ip_limit: IpLimit::new(config.relay.connections_per_ip),
                relay: relay::Behaviour::new(key.public().to_peer_id(), limits),
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
            })
            .map_err(|e| ServerError::Relay(format!("behaviour: {e}")))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();

        let mut pending = Vec::new();
        for addr in &config.relay_listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| ServerError::Relay(format!("cannot listen on {addr}: {e}")))?;
            pending.push(id);
        }
        let mut listening = Vec::new();
        let wait = async {
            while !pending.is_empty() {
                match swarm.select_next_some().await {
                    SwarmEvent::NewListenAddr {
                        listener_id,
                        address,
                    } => {
                        pending.retain(|id| *id != listener_id);
                        listening.push(address);
                    }
                    SwarmEvent::ListenerError { error, .. } => {
                        return Err(ServerError::Relay(format!("listener failed: {error}")));
                    }
                    SwarmEvent::ListenerClosed {
                        addresses, reason, ..
                    } => {
                        return Err(ServerError::Relay(format!(
                            "listener on {addresses:?} closed: {reason:?}"
                        )));
                    }
                    other => debug!(event = ?other, "relay event while binding"),
                }
            }
            Ok(())
        };
        tokio::time::timeout(LISTEN_TIMEOUT, wait)
            .await
            .map_err(|_| ServerError::Relay("listeners did not start in time".into()))??;
        // A listener on 0.0.0.0 reports one address per interface: collect the
        // ones that follow the first.
        let more = async {
            loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    listening.push(address);
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), more).await;

        let external = if config.external_addr.is_empty() {
            warn!(
                addrs = ?listening,
                "no --external-addr given: announcing the relay's listen addresses; \
                 set --external-addr to the public address clients dial"
            );
            listening.clone()
        } else {
            config.external_addr.clone()
        };
        // The relay refuses reservations until it has a confirmed external address.
        for addr in &external {
            swarm.add_external_address(addr.clone());
        }
        let peer_id = *swarm.local_peer_id();
        let info = RelayInfo {
            peer_id: peer_id.to_string(),
            addrs: external
                .iter()
                .map(|a| with_peer(a, peer_id).to_string())
                .collect(),
        };
        info!(%peer_id, listen = ?listening, announced = ?info.addrs, "relay listening");
        Ok(Self { swarm, info })
    }

    /// What clients are told about this relay.
    pub(crate) fn info(&self) -> &RelayInfo {
        &self.info
    }

    /// Drives the relay until `shutdown` is cancelled, then closes its listeners.
    pub(crate) async fn run(mut self, metrics: Arc<Metrics>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = self.swarm.select_next_some() => on_event(event, &metrics),
            }
        }
        let listeners: Vec<_> = self.swarm.listeners().cloned().collect();
        debug!(?listeners, "relay stopping");
        // Dropping the swarm closes every listener and connection.
        drop(self.swarm);
        info!("relay stopped");
    }
}

fn on_event(event: SwarmEvent<BehaviourEvent>, metrics: &Metrics) {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => on_relay_event(event, metrics),
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } => {
            debug!(%peer_id, addr = %endpoint.get_remote_address(), "relay connection");
        }
        SwarmEvent::IncomingConnectionError {
            error: ListenError::Denied { cause },
            send_back_addr,
            ..
        } if cause.downcast_ref::<TooManyFromIp>().is_some() => {
            Metrics::inc(&metrics.relay_connections_denied);
            info!(%send_back_addr, %cause, "relay connection refused");
        }
        SwarmEvent::IncomingConnectionError {
            error,
            send_back_addr,
            ..
        } => {
            debug!(%send_back_addr, %error, "relay incoming connection failed");
        }
        other => debug!(event = ?other, "relay event"),
    }
}

fn on_relay_event(event: relay::Event, metrics: &Metrics) {
    match event {
        relay::Event::ReservationReqAccepted {
            src_peer_id,
            renewed,
        } => {
            Metrics::inc(&metrics.relay_reservations_accepted);
            info!(peer = %src_peer_id, renewed, "relay reservation accepted");
        }
        relay::Event::ReservationReqDenied {
            src_peer_id,
            status,
        } => {
            Metrics::inc(&metrics.relay_reservations_denied);
            info!(peer = %src_peer_id, ?status, "relay reservation denied");
        }
        relay::Event::CircuitReqAccepted {
            src_peer_id,
            dst_peer_id,
        } => {
            Metrics::inc(&metrics.relay_circuits_accepted);
            Metrics::inc(&metrics.relay_circuits_open);
            info!(src = %src_peer_id, dst = %dst_peer_id, "relay circuit opened");
        }
        relay::Event::CircuitReqDenied {
            src_peer_id,
            dst_peer_id,
            status,
        } => {
            Metrics::inc(&metrics.relay_circuits_denied);
            info!(src = %src_peer_id, dst = %dst_peer_id, ?status, "relay circuit denied");
        }
        relay::Event::CircuitClosed {
            src_peer_id,
            dst_peer_id,
            error,
        } => {
            Metrics::dec(&metrics.relay_circuits_open);
            info!(src = %src_peer_id, dst = %dst_peer_id, error = ?error, "relay circuit closed");
        }
        other => debug!(event = ?other, "relay"),
    }
}

fn relay_config(limits: &RelayLimits) -> relay::Config {
    let mut config = relay::Config {
        max_reservations: limits.max_reservations,
        max_reservations_per_peer: limits.max_reservations_per_peer,
        reservation_duration: Duration::from_secs(limits.reservation_secs.max(1)),
        reservation_rate_limiters: Vec::new(),
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_peer,
        // The relay protocol carries the duration in a u32 of seconds.
        max_circuit_duration: Duration::from_secs(
            limits.circuit_secs.clamp(1, u64::from(u32::MAX)),
        ),
        max_circuit_bytes: limits.circuit_bytes,
        circuit_src_rate_limiters: Vec::new(),
    };
    let minute = Duration::from_secs(60);
    if let Some(n) = NonZeroU32::new(limits.reservations_per_ip_per_min) {
        config = config.reservation_rate_per_ip(n, minute);
    }
    if let Some(n) = NonZeroU32::new(limits.circuits_per_ip_per_min) {
        config = config.circuit_src_per_ip(n, minute);
    }
    config
}

/// A "rate limiter" that admits reservations only from peers registered on
/// this server's WebSocket service. A peer that leaves keeps the reservation
/// it holds until renewal, which is then refused.
fn registered_only(hub: Arc<Hub>) -> Box<dyn relay::RateLimiter> {
    Box::new(
        move |peer: PeerId, addr: &Multiaddr, _now: std::time::Instant| {
            let known = hub.has_peer(&peer);
            if !known {
                info!(%peer, %addr, "relay reservation refused: peer not registered here");
            }
            known
        },
    )
}

fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(_)) => addr.clone(),
        _ => addr.clone().with(libp2p::multiaddr::Protocol::P2p(peer)),
    }
}

/// Reads the relay's key, or creates one readable by the owner only.
fn load_or_create_key(path: &Path) -> Result<Keypair, ServerError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        ServerError::Identity(format!("{what} {}: {e}", path.display()))
    };
    match std::fs::read(path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| err("invalid key in", &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| err("cannot encode key for", &e))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| err("cannot create folder for", &e))?;
            }
            write_private(path, &bytes).map_err(|e| err("cannot write", &e))?;
            info!(path = %path.display(), peer_id = %key.public().to_peer_id(), "created relay identity key");
            Ok(key)
        }
        Err(e) => Err(err("cannot read", &e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/relay.key");
        let first = load_or_create_key(&path).unwrap();
        let again = load_or_create_key(&path).unwrap();
        assert_eq!(first.public(), again.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(ServerError::Identity(_))
        ));
    }

    #[test]
    fn limits_come_from_configuration() {
        let c = relay_config(&Config::default().relay);
        assert_eq!(c.max_circuit_bytes, 0);
        assert!(c.max_circuit_duration >= Duration::from_secs(3600));
        assert_eq!(c.reservation_rate_limiters.len(), 1);
    }
}
