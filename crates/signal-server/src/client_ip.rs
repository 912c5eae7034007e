//! Which address a connection comes from, and which automatic room that means.

use std::net::IpAddr;
use std::str::FromStr;

/// An address range such as `10.0.0.0/8`, `::1/128` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = canonical(
            addr.trim()
                .parse::<IpAddr>()
                .map_err(|e| format!("{s:?} is not an IP address or range: {e}"))?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) become plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The client's address: the socket peer, or, when that peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub(crate) fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpRange]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for entry in header.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// The automatic room of an address: the address itself for IPv4 (one home
/// behind one NAT), the /64 network for IPv6 (one home's devices differ in the
/// low 64 bits).
pub(crate) fn auto_room_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The key under which per-address limits count a client: the address for
/// IPv4, the /64 for IPv6 (one host can use any address of its /64).
pub(crate) fn network_key(ip: IpAddr) -> String {
    auto_room_key(ip)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let r: IpRange = "127.0.0.0/8".parse().unwrap();
        assert!(r.contains(ip("127.1.2.3")));
        assert!(r.contains(ip("::ffff:127.0.0.1")));
        assert!(!r.contains(ip("128.0.0.1")));
        let r: IpRange = "2001:db8::/33".parse().unwrap();
        assert!(r.contains(ip("2001:db8:7fff::1")));
        assert!(!r.contains(ip("2001:db8:8000::1")));
        let one: IpRange = "192.0.2.1".parse().unwrap();
        assert!(one.contains(ip("192.0.2.1")));
        assert!(!one.contains(ip("192.0.2.2")));
        assert!("1.2.3.4/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        // Untrusted peer: header ignored.
        assert_eq!(
            client_ip(ip("198.51.100.9"), Some("203.0.113.5"), &trusted),
            ip("198.51.100.9")
        );
        // Trusted proxy: right-most untrusted entry wins, spoofed left entries ignored.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("192.0.2.66, 203.0.113.5"), &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("203.0.113.5, 127.0.0.1"), &trusted),
            ip("203.0.113.5")
        );
        // Garbage stops the walk.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("junk"), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), None, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn auto_rooms_group_a_home() {
        assert_eq!(auto_room_key(ip("203.0.113.5")), "203.0.113.5");
        assert_eq!(auto_room_key(ip("::ffff:203.0.113.5")), "203.0.113.5");
        assert_eq!(
            auto_room_key(ip("2001:db8:1:2:aaaa::1")),
            auto_room_key(ip("2001:db8:1:2:bbbb::7"))
        );
        assert_ne!(
            auto_room_key(ip("2001:db8:1:2::1")),
            auto_room_key(ip("2001:db8:1:3::1"))
        );
    }
}
