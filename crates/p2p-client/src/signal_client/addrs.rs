//! Which of our listen addresses the signal server is told about.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Our listen addresses worth announcing (not unspecified), relay circuits included.
pub(super) fn announce_addrs(listening: &[Multiaddr], url: &str) -> Vec<String> {
    // Loopback addresses only help peers on this machine: announce them only
    // to a server on this machine.
    let local_server = [
        "ws://127.",
        "ws://localhost",
        "ws://[::1]",
        "wss://127.",
        "wss://localhost",
        "wss://[::1]",
    ]
    .iter()
    .any(|p| url.starts_with(p));
    let mut addrs: Vec<String> = listening
        .iter()
        .filter(|a| crate::network::is_dialable(a))
        .filter(|a| local_server || !is_loopback(a))
        .map(ToString::to_string)
        .filter(|a| a.len() <= protocol::signal::MAX_ADDR_BYTES)
        .collect();
    addrs.truncate(protocol::signal::MAX_ADDRS);
    addrs
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}
