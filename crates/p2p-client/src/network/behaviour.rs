//! The swarm's behaviours and transports.

use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, mdns, ping, relay, tcp,
};
use protocol::offer::MAX_OFFER_BYTES;
use protocol::transfer::{CONTROL_PROTOCOL, Request, Response};

use p2p_transport::ip_limit::IpLimit;
use p2p_transport::{noise, quic, yamux};

use super::{IDLE_TIMEOUT, NetConfig, NetError, REQUEST_TIMEOUT, Transports};

/// Identify's protocol string; peers of other products are told apart by it.
const IDENTIFY_PROTOCOL: &str = "/p2p-share/id/1.0.0";

/// QUIC's stream and connection receive window, bytes: what one
/// connection can make us buffer. A 1 GiB receiver peaked at 32.7 MiB with
/// 4 MB, 27.9 with 3 MB, 24.7 with 2.5 MB; 3 MB keeps 97% of a plain TCP
/// copy at 200 Mbit/s and 40 ms (2.5 MB: 84%), where BBR wants about twice
/// the bandwidth-delay product in flight.
const QUIC_WINDOW: u32 = 3_000_000;

/// Incoming connections from one IP address (IPv6: one /64) at once,
/// handshakes included: a host with fresh peer IDs cannot hold more.
pub(crate) const MAX_CONNECTIONS_PER_IP: usize = 32;

/// Incoming connections still in their handshake, from all addresses: each
/// holds buffers and a timer until it completes or times out.
const MAX_PENDING_INCOMING: u32 = 64;

/// Established incoming connections, from all addresses.
const MAX_ESTABLISHED_INCOMING: u32 = 512;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    // The limits come first: a connection they refuse reaches no other
    // behaviour.
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) ip_limit: IpLimit,
    pub(crate) relay: relay::client::Behaviour,
    pub(crate) dcutr: dcutr::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) autonat: autonat::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) control: request_response::cbor::Behaviour<Request, Response>,
    pub(crate) stream: libp2p_stream::Behaviour,
}

/// The swarm, and the QUIC endpoints its transport makes (to wait on at
/// shutdown; none with the stock transports).
pub(crate) fn build_swarm(
    config: &NetConfig,
) -> Result<(Swarm<Behaviour>, quic::Endpoints), NetError> {
    match config.transports {
        Transports::Tuned => tuned(config),
        Transports::Stock => stock(config),
    }
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> NetError {
    NetError::Listen {
        addr: libp2p::Multiaddr::empty(),
        reason: format!("{what}: {e}"),
    }
}

/// Our Noise, yamux and QUIC (the `p2p-transport` crate).
fn tuned(config: &NetConfig) -> Result<(Swarm<Behaviour>, quic::Endpoints), NetError> {
    let mdns = config.mdns;
    let agent = config.agent_version.clone();
    let endpoints = quic::Endpoints::default();
    let quic_endpoints = endpoints.clone();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| fail("TCP transport", &e))?
        // The receive window bounds what one connection can make us
        // buffer, in quinn's own allocations per received datagram; see
        // QUIC_WINDOW.
        .with_other_transport(|key| {
            quic::Config::new(key, QUIC_WINDOW)
                .map(|quic| quic::Transport::new(quic, quic_endpoints))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| fail("QUIC transport", &e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| fail("relay transport", &e))?
        .with_behaviour(|key, relay| behaviour(key, relay, mdns, agent))
        .map_err(|e| fail("behaviour", &e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok((swarm, endpoints))
}

/// libp2p's own noise, yamux and quic, for comparison (`--stock-transports`).
fn stock(config: &NetConfig) -> Result<(Swarm<Behaviour>, quic::Endpoints), NetError> {
    let mdns = config.mdns;
    let agent = config.agent_version.clone();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| fail("TCP transport", &e))?
        .with_quic()
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| fail("relay transport", &e))?
        .with_behaviour(|key, relay| behaviour(key, relay, mdns, agent))
        .map_err(|e| fail("behaviour", &e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok((swarm, quic::Endpoints::default()))
}

fn behaviour(
    key: &Keypair,
    relay: relay::client::Behaviour,
    mdns_enabled: bool,
    agent_version: String,
) -> Behaviour {
    let peer_id = key.public().to_peer_id();
    let mdns = if mdns_enabled {
        mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
            .map_err(|e| tracing::warn!(error = %e, "mDNS unavailable; LAN discovery is off"))
            .ok()
    } else {
        None
    };
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(MAX_OFFER_BYTES as u64 + 64 * 1024)
        .set_response_size_maximum(1024 * 1024);
    let control = request_response::Behaviour::with_codec(
        codec,
        [(StreamProtocol::new(CONTROL_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
    );
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_established_incoming(Some(MAX_ESTABLISHED_INCOMING));
    Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        ip_limit: IpLimit::new(MAX_CONNECTIONS_PER_IP),
        relay,
        dcutr: dcutr::Behaviour::new(peer_id),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(agent_version),
        ),
        ping: ping::Behaviour::default(),
        autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
        mdns: Toggle::from(mdns),
        control,
        stream: libp2p_stream::Behaviour::new(),
    }
}
