//! The server's relay: getting a reservation on it (so that peers behind
//! NATs can reach us through a circuit), and getting one again when it ends.

use std::sync::Arc;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use protocol::signal::RelayInfo;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::MAX_BACKOFF;
use crate::network::Network;

/// First wait before a lost or unreachable relay is tried again (doubling up
/// to [`MAX_BACKOFF`] while it stays away).
const RELAY_RETRY: Duration = Duration::from_secs(2);

/// What this client knows of the server's relay.
#[derive(Clone, Debug, Default)]
pub(super) enum RelayLink {
    /// No word from the server yet.
    #[default]
    Unknown,
    /// Announced at these addresses (with its peer ID); being connected to.
    Connecting(Vec<Multiaddr>),
    /// Connected over these addresses.
    Up(Vec<Multiaddr>),
    /// The server has no relay, it cannot be reached from here at these
    /// addresses, or our reservation on it ended (tried again, see
    /// [`RelayRetry`]).
    Unreachable(Vec<Multiaddr>),
}

/// Connects to the relay and listens on a circuit through it.
pub(super) fn spawn_reservation(
    net: Network,
    relay: RelayInfo,
    link: Arc<watch::Sender<RelayLink>>,
) {
    let Ok(relay_peer) = relay.peer_id.parse::<PeerId>() else {
        warn!("the server announced a relay with an invalid peer ID");
        link.send_replace(RelayLink::Unreachable(Vec::new()));
        return;
    };
    let addrs: Vec<Multiaddr> = relay.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    link.send_replace(RelayLink::Connecting(addrs.clone()));
    tokio::spawn(async move {
        // Circuits go over one transport to the relay, the same for every
        // peer (TCP when it works). Hole punching needs both sides to know
        // their public address on the transports they punch with, and they
        // learn it from the relay: so QUIC (which punches through more NATs
        // than TCP) gets a connection of its own beside it.
        let tcp_and_other = addrs.clone();
        let (tcp, other): (Vec<Multiaddr>, Vec<Multiaddr>) = addrs.into_iter().partition(|a| {
            crate::network::PathInfo::of(a).transport == crate::network::TransportKind::Tcp
        });
        let quic = other.clone();
        let mut chosen = Vec::new();
        for candidates in [tcp, other] {
            if candidates.is_empty() {
                continue;
            }
            match net.dial(relay_peer, candidates.clone()).await {
                Ok(_) => {
                    chosen = candidates;
                    break;
                }
                Err(e) => debug!(error = %e, "relay not reachable this way"),
            }
        }
        if chosen.is_empty() {
            warn!("cannot reach the relay; peers behind NATs may not reach us");
            link.send_replace(RelayLink::Unreachable(tcp_and_other));
            return;
        }
        // Once the circuits' connection is up (so that the reservation
        // takes it), and before peers are told to come.
        if chosen != quic && !quic.is_empty() {
            net.dial_alongside(relay_peer, quic).await;
        }
        link.send_replace(RelayLink::Up(chosen.clone()));
        for addr in chosen.clone() {
            let circuit = addr.with(Protocol::P2pCircuit);
            match net.listen(circuit.clone()).await {
                Ok(closed) => {
                    info!(%circuit, "listening through the relay");
                    let why = closed
                        .await
                        .unwrap_or_else(|_| "the network stopped".to_owned());
                    warn!(%circuit, reason = %why, "the relay reservation ended; trying again soon");
                    link.send_replace(RelayLink::Unreachable(chosen));
                    return;
                }
                Err(e) => debug!(%circuit, error = %e, "relay listen failed"),
            }
        }
        warn!("the relay refused a reservation; peers behind NATs may not reach us");
        link.send_replace(RelayLink::Unreachable(chosen));
    });
}

/// When to try the server's relay again while it is unreachable.
pub(super) struct RelayRetry {
    backoff: Duration,
    /// The next attempt, once the relay is seen unreachable.
    at: Option<tokio::time::Instant>,
}

impl Default for RelayRetry {
    fn default() -> Self {
        Self {
            backoff: RELAY_RETRY,
            at: None,
        }
    }
}

impl RelayRetry {
    /// Called every refresh: starts a new reservation once the relay has
    /// been unreachable for the current backoff.
    pub(super) fn tick(
        &mut self,
        net: &Network,
        relay: &RelayInfo,
        link: &Arc<watch::Sender<RelayLink>>,
    ) {
        match &*link.borrow() {
            RelayLink::Up(_) => {
                *self = Self::default();
                return;
            }
            RelayLink::Unreachable(_) => {}
            RelayLink::Unknown | RelayLink::Connecting(_) => return,
        }
        let now = tokio::time::Instant::now();
        match self.at {
            None => self.at = Some(now + self.backoff),
            Some(at) if now >= at => {
                debug!(after = ?self.backoff, "trying the relay again");
                self.at = None;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                spawn_reservation(net.clone(), relay.clone(), Arc::clone(link));
            }
            Some(_) => {}
        }
    }
}
