//! A cap on the incoming connections from one IP address, for any node
//! that listens where strangers can reach it (a relay, a peer with a public
//! or forwarded port, a LAN).
//!
//! Peer IDs cost nothing, so libp2p's per-peer limits do not stop one host
//! from opening thousands of connections, each holding a handshake's
//! buffers and timers. [`IpLimit`] refuses an incoming connection before
//! its handshake once its address already has `max` connections, pending
//! and established together. An IPv6 address counts for its /64, as one
//! host can use any address of its /64. Connections without an IP address
//! (relayed circuits, which the relay limits) are not counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// What one limit counts against: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpGroup {
    /// One IPv4 address (an IPv4-mapped IPv6 address counts here too).
    V4(std::net::Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Net(u64),
}

impl IpGroup {
    /// The group of `ip`.
    pub fn of(ip: IpAddr) -> IpGroup {
        match ip {
            IpAddr::V4(v4) => IpGroup::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpGroup::V4(v4),
                None => IpGroup::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl fmt::Display for IpGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpGroup::V4(v4) => v4.fmt(f),
            IpGroup::V6Net(net) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*net) << 64)),
        }
    }
}

/// Why an incoming connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("{group} already has {max} connections")]
pub struct TooManyFromIp {
    /// The address (or IPv6 /64) that has too many.
    pub group: IpGroup,
    /// The limit.
    pub max: usize,
}

/// See the module documentation.
#[derive(Debug)]
pub struct IpLimit {
    max: usize,
    /// Connections (pending or established) by address group.
    per_group: HashMap<IpGroup, usize>,
    /// The group of each connection counted.
    connections: HashMap<ConnectionId, IpGroup>,
}

impl IpLimit {
    /// At most `max` incoming connections per IP address or IPv6 /64 (0:
    /// no limit).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            per_group: HashMap::new(),
            connections: HashMap::new(),
        }
    }

    /// Connections counted for the group of `ip` now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.per_group.get(&IpGroup::of(ip)).copied().unwrap_or(0)
    }

    fn release(&mut self, id: ConnectionId) {
        let Some(group) = self.connections.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_group.get_mut(&group) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_group.remove(&group);
            }
        }
    }
}

/// The IP address a connection came from: `None` for a relayed one (its
/// address names the relay, which limits circuits itself) or one without
/// an IP.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    if addr.iter().any(|p| p == Protocol::P2pCircuit) {
        return None;
    }
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}

impl NetworkBehaviour for IpLimit {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        let group = IpGroup::of(ip);
        let count = self.per_group.entry(group).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return Err(ConnectionDenied::new(TooManyFromIp {
                group,
                max: self.max,
            }));
        }
        *count += 1;
        self.connections.insert(id, group);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(closed) => self.release(closed.connection_id),
            // A handshake that failed, or a connection another behaviour denied.
            FromSwarm::ListenFailure(failed) => self.release(failed.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        let ip: IpAddr = ip.parse().unwrap();
        Multiaddr::empty().with(ip.into()).with(Protocol::Tcp(1234))
    }

    fn admit(limit: &mut IpLimit, id: usize, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        limit.handle_pending_inbound_connection(
            ConnectionId::new_unchecked(id),
            &addr("127.0.0.1"),
            remote,
        )
    }

    #[test]
    fn counts_per_address_and_frees_on_close() {
        let mut limit = IpLimit::new(2);
        let (a, b) = (addr("192.0.2.1"), addr("192.0.2.2"));
        assert!(admit(&mut limit, 1, &a).is_ok());
        assert!(admit(&mut limit, 2, &a).is_ok());
        let denied = admit(&mut limit, 3, &a).unwrap_err();
        let too_many = denied.downcast_ref::<TooManyFromIp>().unwrap();
        assert_eq!(too_many.to_string(), "192.0.2.1 already has 2 connections");
        // Another address is not affected.
        assert!(admit(&mut limit, 4, &b).is_ok());
        let ip_a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limit.count(ip_a), 2);
        limit.release(ConnectionId::new_unchecked(1));
        assert_eq!(limit.count(ip_a), 1);
        // Releasing twice, or an unknown connection, changes nothing.
        limit.release(ConnectionId::new_unchecked(1));
        limit.release(ConnectionId::new_unchecked(99));
        assert_eq!(limit.count(ip_a), 1);
        assert!(admit(&mut limit, 3, &a).is_ok());
    }

    #[test]
    fn an_ipv6_64_counts_as_one_address() {
        let mut limit = IpLimit::new(2);
        assert!(admit(&mut limit, 1, &addr("2001:db8:1:2::1")).is_ok());
        assert!(admit(&mut limit, 2, &addr("2001:db8:1:2:ffff::9")).is_ok());
        let denied = admit(&mut limit, 3, &addr("2001:db8:1:2:abcd::1")).unwrap_err();
        assert_eq!(
            denied.downcast_ref::<TooManyFromIp>().unwrap().to_string(),
            "2001:db8:1:2::/64 already has 2 connections"
        );
        // The next /64 is another network.
        assert!(admit(&mut limit, 4, &addr("2001:db8:1:3::1")).is_ok());
        // An IPv4-mapped address counts for its IPv4 address.
        assert!(admit(&mut limit, 5, &addr("192.0.2.7")).is_ok());
        assert!(admit(&mut limit, 6, &addr("::ffff:192.0.2.7")).is_ok());
        assert!(admit(&mut limit, 7, &addr("192.0.2.7")).is_err());
    }

    #[test]
    fn relayed_connections_and_zero_are_not_limited() {
        let mut limit = IpLimit::new(1);
        let relay = PeerId::random();
        let circuit = addr("192.0.2.1")
            .with(Protocol::P2p(relay))
            .with(Protocol::P2pCircuit);
        for id in 0..10 {
            assert!(admit(&mut limit, id, &circuit).is_ok());
        }
        let mut none = IpLimit::new(0);
        for id in 0..100 {
            assert!(admit(&mut none, id, &addr("192.0.2.1")).is_ok());
        }
    }
}
