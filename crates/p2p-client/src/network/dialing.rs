//! How the event loop dials a peer: the best kind of address first, the
//! others after a head start, and which dials could still give a better
//! path than the one there is (a sender waits only for those).

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError};
use libp2p::{Multiaddr, PeerId, Swarm};

use super::behaviour::Behaviour;
use super::{PathInfo, TransportKind};

/// How long TCP may try alone before QUIC is dialled too.
const QUIC_HEAD_START: Duration = Duration::from_millis(250);

/// How long direct addresses may try alone before relay circuits are
/// dialled too.
const CIRCUIT_HEAD_START: Duration = Duration::from_millis(500);

/// The later parts of a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Direct QUIC, after TCP.
    Quic,
    /// Relay circuits, after the direct addresses.
    Circuits,
}

impl Stage {
    /// The best path this stage can give ([`PathInfo::rank`]).
    fn rank(self) -> u8 {
        let path = match self {
            Stage::Quic => PathInfo {
                relayed: false,
                transport: TransportKind::Quic,
            },
            Stage::Circuits => PathInfo {
                relayed: true,
                transport: TransportKind::Tcp,
            },
        };
        path.rank()
    }
}

/// A dial split by kind: the addresses to dial now, and the later stages
/// with their head starts, in order.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    now: Vec<Multiaddr>,
    later: Vec<(Stage, Duration, Vec<Multiaddr>)>,
}

/// Splits `addrs` by kind: direct TCP now; direct QUIC after
/// [`QUIC_HEAD_START`], so that TCP, the better path for bulk data, wins
/// when it works (QUIC's handshake is a round trip shorter); relay circuits
/// after [`CIRCUIT_HEAD_START`], so that a circuit, quick over a relay we
/// are connected to, does not win against a direct path still connecting.
/// The first kind there is goes now.
fn plan(addrs: Vec<Multiaddr>) -> Plan {
    let (mut tcp, mut quic, mut circuits) = (Vec::new(), Vec::new(), Vec::new());
    for addr in addrs {
        let path = PathInfo::of(&addr);
        match (path.relayed, path.transport) {
            (true, _) => circuits.push(addr),
            (false, TransportKind::Quic) => quic.push(addr),
            (false, TransportKind::Tcp) => tcp.push(addr),
        }
    }
    let stages = [
        (Stage::Quic, QUIC_HEAD_START, quic),
        (Stage::Circuits, CIRCUIT_HEAD_START, circuits),
    ];
    let mut now = tcp;
    let mut later = Vec::new();
    for (stage, delay, addrs) in stages {
        if addrs.is_empty() {
            continue;
        }
        if now.is_empty() {
            now = addrs;
        } else {
            later.push((stage, delay, addrs));
        }
    }
    Plan { now, later }
}

/// The best path a dial to `addrs` can give ([`PathInfo::rank`]).
fn best_rank(addrs: &[Multiaddr]) -> u8 {
    addrs
        .iter()
        .map(|a| PathInfo::of(a).rank())
        .max()
        .unwrap_or(0)
}

/// Our dials: those under way and the later stages still waiting.
#[derive(Default)]
pub(super) struct Dials {
    /// Addresses to dial once the better kinds had their head start, in
    /// order.
    late: HashMap<PeerId, Vec<(Stage, Vec<Multiaddr>)>>,
    timers: FuturesUnordered<BoxFuture<'static, (PeerId, Stage)>>,
    /// Dials we started and that have not ended yet, with the best path
    /// each could give ([`PathInfo::rank`]).
    under_way: HashMap<ConnectionId, (PeerId, u8)>,
}

impl Dials {
    /// Dials `peer`, best kind of address first (see [`plan`]), each kind
    /// as its own dial: within one libp2p dial the first connection cancels
    /// the others. A later kind goes at once when everything before it
    /// failed ([`Dials::start_late`]).
    pub(super) fn start(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), String> {
        let Plan { now, later } = plan(addrs);
        let rank = best_rank(&now);
        let opts = DialOpts::peer_id(peer)
            .addresses(now)
            .extend_addresses_through_behaviour()
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        let id = opts.connection_id();
        match swarm.dial(opts) {
            Ok(()) => {
                self.under_way.insert(id, (peer, rank));
            }
            // Already dialing: wait for that attempt.
            Err(DialError::DialPeerConditionFalse(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        if !later.is_empty() {
            let mut pending = Vec::new();
            for (stage, delay, addrs) in later {
                pending.push((stage, addrs));
                self.timers.push(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    (peer, stage)
                }));
            }
            self.late.insert(peer, pending);
        }
        Ok(())
    }

    /// The next stage whose head start is over. Pending while none waits.
    pub(super) async fn next_due(&mut self) -> (PeerId, Stage) {
        match self.timers.next().await {
            Some(due) => due,
            None => std::future::pending().await,
        }
    }

    /// Starts a later part of a dial to `peer`: `stage` when its head start
    /// is over, or (`None`) the next one because the dials before it failed.
    /// `best` is the best path to `peer` there is: nothing is dialled once
    /// it is direct, and no circuit once there is any. Whether a dial began.
    pub(super) fn start_late(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        stage: Option<Stage>,
        best: Option<PathInfo>,
    ) -> bool {
        let Some(pending) = self.late.get_mut(&peer) else {
            return false;
        };
        let Some(index) = pending
            .iter()
            .position(|(s, _)| stage.is_none_or(|wanted| *s == wanted))
        else {
            return false;
        };
        let (stage, addrs) = pending.remove(index);
        if pending.is_empty() || best.is_some_and(|p| !p.relayed) {
            self.late.remove(&peer);
        }
        if best.is_some_and(|p| !p.relayed) || (stage == Stage::Circuits && best.is_some()) {
            return false;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::Always)
            .build();
        let id = opts.connection_id();
        let started = swarm.dial(opts).is_ok();
        if started {
            self.under_way.insert(id, (peer, stage.rank()));
        }
        started
    }

    /// A connection came up (`id`, ours or not): a direct one ends the wait
    /// of every later stage to its peer.
    pub(super) fn connected(&mut self, id: ConnectionId, peer: &PeerId, relayed: bool) {
        self.under_way.remove(&id);
        if !relayed {
            self.late.remove(peer);
        }
    }

    /// The dial `id` failed.
    pub(super) fn failed(&mut self, id: ConnectionId) {
        self.under_way.remove(&id);
    }

    /// Whether a dial of ours to `peer` is under way.
    pub(super) fn dialling(&self, peer: &PeerId) -> bool {
        self.under_way.values().any(|(p, _)| p == peer)
    }

    /// Whether no dial of ours to `peer`, under way or still to start, could
    /// give a better path than `best`, the best one there is. (A circuit
    /// still dialling is no reason to wait once a hole punch gave direct
    /// QUIC.)
    pub(super) fn nothing_better_coming(&self, peer: &PeerId, best: Option<PathInfo>) -> bool {
        let best = best.map(PathInfo::rank);
        let better = |rank: u8| best.is_none_or(|b| rank > b);
        !self
            .under_way
            .values()
            .any(|(p, rank)| p == peer && better(*rank))
            && !self
                .late
                .get(peer)
                .is_some_and(|stages| stages.iter().any(|(stage, _)| better(stage.rank())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addrs(list: &[&str]) -> Vec<Multiaddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    const TCP: &str = "/ip4/127.0.0.1/tcp/4001";
    const QUIC: &str = "/ip4/127.0.0.1/udp/4001/quic-v1";
    const CIRCUIT: &str = "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit";

    #[test]
    fn tcp_goes_first_then_quic_then_circuits() {
        let all = plan(addrs(&[CIRCUIT, QUIC, TCP]));
        assert_eq!(
            all,
            Plan {
                now: addrs(&[TCP]),
                later: vec![
                    (Stage::Quic, QUIC_HEAD_START, addrs(&[QUIC])),
                    (Stage::Circuits, CIRCUIT_HEAD_START, addrs(&[CIRCUIT])),
                ],
            }
        );
        // The first kind there is goes at once.
        let no_tcp = plan(addrs(&[CIRCUIT, QUIC]));
        assert_eq!(no_tcp.now, addrs(&[QUIC]));
        assert_eq!(no_tcp.later.len(), 1);
        let circuits = plan(addrs(&[CIRCUIT]));
        assert_eq!((circuits.now, circuits.later), (addrs(&[CIRCUIT]), vec![]));
    }

    #[test]
    fn only_dials_that_could_beat_the_best_path_are_waited_for() {
        let peer = PeerId::random();
        let path = |relayed, transport| Some(PathInfo { relayed, transport });
        let mut dials = Dials::default();
        assert!(dials.nothing_better_coming(&peer, None));

        // A circuit still to come: worth waiting for with no path at all,
        // not once a hole punch gave direct QUIC.
        dials
            .late
            .insert(peer, vec![(Stage::Circuits, addrs(&[CIRCUIT]))]);
        assert!(!dials.nothing_better_coming(&peer, None));
        assert!(dials.nothing_better_coming(&peer, path(false, TransportKind::Quic)));

        // A direct TCP dial under way beats direct QUIC, not direct TCP.
        let tcp = best_rank(&addrs(&[TCP]));
        dials
            .under_way
            .insert(ConnectionId::new_unchecked(1), (peer, tcp));
        assert!(!dials.nothing_better_coming(&peer, path(false, TransportKind::Quic)));
        assert!(dials.nothing_better_coming(&peer, path(false, TransportKind::Tcp)));
        // Another peer's dials do not count.
        assert!(dials.nothing_better_coming(&PeerId::random(), None));

        dials.connected(ConnectionId::new_unchecked(1), &peer, false);
        assert!(!dials.dialling(&peer));
        assert!(dials.late.is_empty(), "a direct connection ends the wait");
        assert!(dials.nothing_better_coming(&peer, None));
    }
}
