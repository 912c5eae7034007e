//! Server configuration: flags with environment-variable equivalents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use libp2p::Multiaddr;

use protocol::signal::Origin;

use crate::client_ip::IpRange;

/// Configuration of one signal server (WebSocket presence + circuit relay).
///
/// Every flag has an environment variable (`SIGNAL_…`), convenient in Docker.
#[derive(Debug, Clone, Parser)]
#[command(name = "signal-server", version, about)]
#[non_exhaustive]
pub struct Config {
    /// Address of the HTTP/WebSocket listener (`/ws`, `/healthz`, `/metrics`).
    #[arg(long, env = "SIGNAL_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Multiaddrs the relay listens on (TCP and QUIC). Repeatable.
    #[arg(
        long = "relay-listen",
        env = "SIGNAL_RELAY_LISTEN",
        value_delimiter = ',',
        default_values = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
    )]
    pub relay_listen: Vec<Multiaddr>,

    /// Public multiaddrs of the relay, as clients must dial them. Without any,
    /// the listen addresses are announced (right on a LAN or loopback only).
    #[arg(
        long = "external-addr",
        env = "SIGNAL_EXTERNAL_ADDR",
        value_delimiter = ','
    )]
    pub external_addr: Vec<Multiaddr>,

    /// File holding the relay's identity key; created (mode 0600) if missing,
    /// so the relay keeps its peer ID across restarts. Without it the ID is new
    /// on every start.
    #[arg(long = "relay-key", env = "SIGNAL_RELAY_KEY")]
    pub relay_key: Option<PathBuf>,

    /// Run without the relay (presence and rendezvous only).
    #[arg(long = "no-relay", env = "SIGNAL_NO_RELAY")]
    pub no_relay: bool,

    /// Proxies whose `X-Forwarded-For` header is believed (addresses or CIDR
    /// ranges, comma-separated).
    #[arg(
        long = "trusted-proxy",
        env = "SIGNAL_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpRange>,

    /// The URLs clients use to reach this server's WebSocket (such as
    /// `wss://signal.example.org/ws`), comma-separated. A client's ownership
    /// proof names the server it dialled (scheme, host and port), and only
    /// proofs naming one of these are accepted, so a proof made for another
    /// server cannot register here. Without any, the request's `Host` header
    /// stands in: that keeps a proof for another host out, but a client that
    /// forges `Host` gets past it, so production servers set this.
    #[arg(long = "public-url", env = "SIGNAL_PUBLIC_URL", value_delimiter = ',')]
    pub public_url: Vec<Origin>,

    /// Most WebSocket connections at once.
    #[arg(long, env = "SIGNAL_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most WebSocket connections at once from one client address.
    #[arg(long, env = "SIGNAL_MAX_CONNECTIONS_PER_IP", default_value_t = 32)]
    pub max_connections_per_ip: usize,

    /// Messages per second one connection may send (sustained).
    #[arg(long, env = "SIGNAL_MESSAGES_PER_SEC", default_value_t = 20)]
    pub messages_per_sec: u32,

    /// Messages one connection may send in a burst.
    #[arg(long, env = "SIGNAL_MESSAGE_BURST", default_value_t = 60)]
    pub message_burst: u32,

    /// Most peers in one room.
    #[arg(long, env = "SIGNAL_PEERS_PER_ROOM", default_value_t = 256)]
    pub peers_per_room: usize,

    /// Seconds a new connection has to register.
    #[arg(long, env = "SIGNAL_REGISTER_TIMEOUT_SECS", default_value_t = 10)]
    pub register_timeout_secs: u64,

    /// Seconds between the server's WebSocket pings.
    #[arg(long, env = "SIGNAL_PING_INTERVAL_SECS", default_value_t = 20)]
    pub ping_interval_secs: u64,

    /// Seconds of silence (not even a pong) after which a connection is closed.
    #[arg(long, env = "SIGNAL_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Seconds a share-code nameplate stays open unclaimed.
    #[arg(long, env = "SIGNAL_CODE_TTL_SECS", default_value_t = 600)]
    pub code_ttl_secs: u64,

    /// Most open nameplates per connection.
    #[arg(long, env = "SIGNAL_CODES_PER_CONNECTION", default_value_t = 4)]
    pub codes_per_connection: usize,

    /// Failed guesses of room secrets or share codes allowed per address per minute.
    #[arg(long, env = "SIGNAL_FAILED_ATTEMPTS_PER_MIN", default_value_t = 10)]
    pub failed_attempts_per_min: u32,

    /// Messages queued for one client before it counts as too slow and is dropped.
    #[arg(long, env = "SIGNAL_SEND_QUEUE", default_value_t = 256)]
    pub send_queue: usize,

    /// Seconds one write to a client may take before it counts as too slow.
    #[arg(long, env = "SIGNAL_WRITE_TIMEOUT_SECS", default_value_t = 10)]
    pub write_timeout_secs: u64,

    /// Relay limits.
    #[command(flatten)]
    pub relay: RelayLimits,
}

/// Limits of the circuit relay. The defaults let multi-gigabyte files cross it.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct RelayLimits {
    /// Most reservations at once.
    #[arg(
        long = "relay-max-reservations",
        env = "SIGNAL_RELAY_MAX_RESERVATIONS",
        default_value_t = 1024
    )]
    pub max_reservations: usize,

    /// Most reservations one peer may hold.
    #[arg(
        long = "relay-max-reservations-per-peer",
        env = "SIGNAL_RELAY_MAX_RESERVATIONS_PER_PEER",
        default_value_t = 4
    )]
    pub max_reservations_per_peer: usize,

    /// Seconds a reservation lasts before the client must renew it.
    #[arg(
        long = "relay-reservation-secs",
        env = "SIGNAL_RELAY_RESERVATION_SECS",
        default_value_t = 3600
    )]
    pub reservation_secs: u64,

    /// Reservation requests allowed per address per minute.
    #[arg(
        long = "relay-reservations-per-ip-per-min",
        env = "SIGNAL_RELAY_RESERVATIONS_PER_IP_PER_MIN",
        default_value_t = 30
    )]
    pub reservations_per_ip_per_min: u32,

    /// Most relayed circuits at once.
    #[arg(
        long = "relay-max-circuits",
        env = "SIGNAL_RELAY_MAX_CIRCUITS",
        default_value_t = 256
    )]
    pub max_circuits: usize,

    /// Most relayed circuits one peer may have at once.
    #[arg(
        long = "relay-max-circuits-per-peer",
        env = "SIGNAL_RELAY_MAX_CIRCUITS_PER_PEER",
        default_value_t = 8
    )]
    pub max_circuits_per_peer: usize,

    /// New circuits allowed per source address per minute.
    #[arg(
        long = "relay-circuits-per-ip-per-min",
        env = "SIGNAL_RELAY_CIRCUITS_PER_IP_PER_MIN",
        default_value_t = 60
    )]
    pub circuits_per_ip_per_min: u32,

    /// Most connections to the relay from one IP address, handshakes
    /// included; 0 means no limit. Peer IDs are free, so this is what
    /// bounds the reservations one host can hold.
    #[arg(
        long = "relay-connections-per-ip",
        env = "SIGNAL_RELAY_CONNECTIONS_PER_IP",
        default_value_t = 32
    )]
    pub connections_per_ip: usize,

    /// Seconds one circuit may last (default 4 hours, so a large file
    /// crosses a slow relayed path in one circuit).
    #[arg(long = "relay-circuit-secs", env = "SIGNAL_RELAY_CIRCUIT_SECS", default_value_t = 4 * 3600)]
    pub circuit_secs: u64,

    /// Bytes one circuit may carry; 0 (the default) means no limit. With the
    /// 4-hour circuits, one pair of peers may then move as much as the link
    /// carries in 4 hours, and open the next circuit: an operator who pays
    /// for traffic sets a cap here, or `--relay-registered-only`.
    #[arg(
        long = "relay-circuit-bytes",
        env = "SIGNAL_RELAY_CIRCUIT_BYTES",
        default_value_t = 0
    )]
    pub circuit_bytes: u64,

    /// Give relay reservations only to peers registered on this server (a
    /// WebSocket connection with a valid ownership proof, open when the
    /// reservation is asked for or renewed). Off by default: any libp2p
    /// peer may reserve.
    #[arg(long = "relay-registered-only", env = "SIGNAL_RELAY_REGISTERED_ONLY")]
    pub registered_only: bool,
}

impl Default for Config {
    /// The documented defaults (what the binary uses with no flags).
    fn default() -> Self {
        // An empty command line applies the declared defaults (and the
        // environment), which are valid by construction.
        Self::parse_from(["signal-server"])
    }
}

impl Config {
    /// A configuration for tests: HTTP and relay on 127.0.0.1 with free ports.
    pub fn localhost() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            relay_listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            ..Self::default()
        }
    }

    pub(crate) fn register_timeout(&self) -> Duration {
        Duration::from_secs(self.register_timeout_secs)
    }

    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs.max(1))
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    pub(crate) fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn defaults_let_big_files_cross_the_relay() {
        let c = Config::default();
        // A 1 GiB file at 2 MB/s takes about 9 minutes: circuits must outlast that
        // and carry at least that many bytes.
        assert!(c.relay.circuit_secs >= 3600);
        assert!(c.relay.circuit_bytes == 0 || c.relay.circuit_bytes >= 1 << 30);
        assert_eq!(c.relay_listen.len(), 2);
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::try_parse_from([
            "signal-server",
            "--listen",
            "127.0.0.1:9",
            "--relay-listen",
            "/ip4/127.0.0.1/tcp/5",
            "--trusted-proxy",
            "127.0.0.1,198.51.100.0/24",
            "--relay-circuit-bytes",
            "5",
            "--relay-registered-only",
            "--public-url",
            "wss://Signal.example.org/ws,ws://10.0.0.1:8080/ws",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.port(), 9);
        assert_eq!(c.relay_listen.len(), 1);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.relay.circuit_bytes, 5);
        assert!(c.relay.registered_only);
        assert!(!Config::default().relay.registered_only);
        let origins: Vec<String> = c.public_url.iter().map(ToString::to_string).collect();
        assert_eq!(
            origins,
            ["wss://signal.example.org:443", "ws://10.0.0.1:8080"]
        );
        assert!(Config::try_parse_from(["signal-server", "--public-url", "http://x/"]).is_err());
    }
}
