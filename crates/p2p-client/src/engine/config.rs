//! How an engine is set up.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::identity::Keypair;

use super::wire;

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
    /// Signal server URLs; none means LAN and tickets only.
    pub servers: Vec<String>,
    /// Display name shown to peers in the server's room.
    pub name: String,
    /// The server room to join.
    pub room: protocol::signal::RoomRequest,
    /// Most bytes per second a transfer sends (`--max-rate`); none: as
    /// fast as the path allows.
    pub max_rate: Option<std::num::NonZeroU64>,
    /// Which Noise, yamux and QUIC the node is built with.
    pub transports: crate::Transports,
    /// The data folder whose `history.json` records finished transfers;
    /// none: not recorded.
    pub history: Option<PathBuf>,
    /// This node will publish a folder ([`crate::engine::Engine::publish`]):
    /// peers on the LAN are told so when they connect (identify).
    pub publishes: bool,
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
            servers: Vec::new(),
            name: default_name(),
            room: protocol::signal::RoomRequest::Auto,
            max_rate: None,
            transports: crate::Transports::default(),
            history: None,
            publishes: false,
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
