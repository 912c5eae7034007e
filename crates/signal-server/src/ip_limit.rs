//! A cap on the relay's connections from one IP address.
//!
//! libp2p's relay limits reservations and circuits per peer and the *rate*
//! of requests per IP, but peer IDs cost nothing: one host could open
//! thousands of connections, each with a fresh identity and a reservation.
//! This behaviour refuses an incoming connection (before its handshake)
//! once an address already has [`IpLimit::new`]'s `max` connections,
//! handshakes under way included. It counts addresses as the WebSocket side
//! does ([`network_key`]): an IPv4 address by itself, an IPv6 address by its
//! /64, since one host can use any address of its /64.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

use crate::client_ip::network_key;

/// Why a connection was refused; [`crate::relay`] counts these.
#[derive(Debug, thiserror::Error)]
#[error("{ip} (counted as {network}) already has {max} connections to the relay")]
pub(crate) struct TooManyFromIp {
    pub(crate) ip: IpAddr,
    pub(crate) network: String,
    pub(crate) max: usize,
}

/// See the module documentation.
pub(crate) struct IpLimit {
    max: usize,
    /// Connections (pending or established) by [`network_key`].
    per_ip: HashMap<String, usize>,
    /// The network key of each connection counted.
    connections: HashMap<ConnectionId, String>,
}

impl IpLimit {
    /// At most `max` connections per IP address (0: no limit).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            per_ip: HashMap::new(),
            connections: HashMap::new(),
        }
    }

    /// Connections counted for `ip` now.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&network_key(ip)).copied().unwrap_or(0)
    }

    fn release(&mut self, id: ConnectionId) {
        let Some(key) = self.connections.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&key);
            }
        }
    }
}

/// The IP address of a multiaddr, if it starts with one.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
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
        let key = network_key(ip);
        let count = self.per_ip.entry(key.clone()).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return Err(ConnectionDenied::new(TooManyFromIp {
                ip,
                network: key,
                max: self.max,
            }));
        }
        *count += 1;
        self.connections.insert(id, key);
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
        format!("/ip4/{ip}/tcp/1234").parse().unwrap()
    }

    #[test]
    fn counts_per_address_and_frees_on_close() {
        let mut limit = IpLimit::new(2);
        let local = addr("127.0.0.1");
        let (a, b) = (addr("192.0.2.1"), addr("192.0.2.2"));
        let ids: Vec<ConnectionId> = (1..=4).map(ConnectionId::new_unchecked).collect();
        assert!(
            limit
                .handle_pending_inbound_connection(ids[0], &local, &a)
                .is_ok()
        );
        assert!(
            limit
                .handle_pending_inbound_connection(ids[1], &local, &a)
                .is_ok()
        );
        let denied = limit
            .handle_pending_inbound_connection(ids[2], &local, &a)
            .unwrap_err();
        assert!(denied.downcast_ref::<TooManyFromIp>().is_some());
        // Another address is not affected.
        assert!(
            limit
                .handle_pending_inbound_connection(ids[3], &local, &b)
                .is_ok()
        );
        let ip_a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limit.count(ip_a), 2);
        limit.release(ids[0]);
        assert_eq!(limit.count(ip_a), 1);
        // Releasing twice, or an unknown connection, changes nothing.
        limit.release(ids[0]);
        limit.release(ConnectionId::new_unchecked(99));
        assert_eq!(limit.count(ip_a), 1);
        assert!(
            limit
                .handle_pending_inbound_connection(ids[2], &local, &a)
                .is_ok()
        );
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address() {
        let mut limit = IpLimit::new(2);
        let local = addr("127.0.0.1");
        let v6 = |ip: &str| -> Multiaddr { format!("/ip6/{ip}/udp/1234/quic-v1").parse().unwrap() };
        let ids: Vec<ConnectionId> = (1..=5).map(ConnectionId::new_unchecked).collect();
        // Two addresses of one /64 fill its budget...
        for (id, ip) in ids.iter().zip(["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"]) {
            assert!(
                limit
                    .handle_pending_inbound_connection(*id, &local, &v6(ip))
                    .is_ok()
            );
        }
        // ...so a third, fresh address of the same /64 is refused.
        let denied = limit
            .handle_pending_inbound_connection(ids[2], &local, &v6("2001:db8:1:2:abcd::7"))
            .unwrap_err();
        let cause = denied.downcast_ref::<TooManyFromIp>().unwrap();
        assert_eq!(cause.network, "2001:db8:1:2::/64");
        // The neighbouring /64 has its own budget.
        assert!(
            limit
                .handle_pending_inbound_connection(ids[3], &local, &v6("2001:db8:1:3::1"))
                .is_ok()
        );
        assert_eq!(limit.count("2001:db8:1:2::5".parse().unwrap()), 2);
        // Closing one frees a place for any address of the /64.
        limit.release(ids[0]);
        assert!(
            limit
                .handle_pending_inbound_connection(ids[4], &local, &v6("2001:db8:1:2:abcd::7"))
                .is_ok()
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let mut limit = IpLimit::new(0);
        let (local, a) = (addr("127.0.0.1"), addr("192.0.2.1"));
        for i in 0..100 {
            let id = ConnectionId::new_unchecked(i);
            assert!(
                limit
                    .handle_pending_inbound_connection(id, &local, &a)
                    .is_ok()
            );
        }
    }
}
