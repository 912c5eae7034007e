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

/// Most `X-Forwarded-For` entries read, right to left: more proxies than
/// this in a row is not a real chain, and the walk stays bounded.
const MAX_FORWARDED_HOPS: usize = 32;

/// The client's address: the socket peer, or, when that peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
///
/// `forwarded_for` holds every `X-Forwarded-For` header line in the order
/// received, `None` for a line that is not text. The lines form one list
/// (RFC 9110: repeated lines equal one line joined by commas): a proxy may add
/// its own line rather than append to the client's, and then the client's
/// forged line comes first, not last. The walk goes from the right and stops
/// at an entry that does not parse (or an unreadable line), keeping the last
/// good address; if every entry is a trusted proxy, the left-most one is used.
pub(crate) fn client_ip<'a, I>(peer: IpAddr, forwarded_for: I, trusted: &[IpRange]) -> IpAddr
where
    I: IntoIterator<Item = Option<&'a str>>,
    I::IntoIter: DoubleEndedIterator,
{
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let mut read = 0;
    for line in forwarded_for.into_iter().rev() {
        let Some(line) = line else {
            return client;
        };
        for entry in line.rsplit(',') {
            read += 1;
            if read > MAX_FORWARDED_HOPS {
                return client;
            }
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                return client;
            };
            client = canonical(ip);
            if !is_trusted(client) {
                return client;
            }
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

    /// `client_ip` with the header lines as they arrived.
    fn via(peer: &str, lines: &[&str], trusted: &[IpRange]) -> IpAddr {
        client_ip(ip(peer), lines.iter().map(|l| Some(*l)), trusted)
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        // Untrusted peer: header ignored.
        assert_eq!(
            via("198.51.100.9", &["203.0.113.5"], &trusted),
            ip("198.51.100.9")
        );
        // Trusted proxy: right-most untrusted entry wins, spoofed left entries ignored.
        assert_eq!(
            via("127.0.0.1", &["192.0.2.66, 203.0.113.5"], &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            via("127.0.0.1", &["203.0.113.5, 127.0.0.1"], &trusted),
            ip("203.0.113.5")
        );
        // Garbage stops the walk.
        assert_eq!(via("127.0.0.1", &["junk"], &trusted), ip("127.0.0.1"));
        assert_eq!(
            via("127.0.0.1", &["junk, 203.0.113.5"], &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(via("127.0.0.1", &[], &trusted), ip("127.0.0.1"));
        // Every entry a trusted proxy: the left-most one.
        let both: Vec<IpRange> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            via("127.0.0.1", &["10.0.0.2, 10.0.0.1"], &both),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_for_lines_are_one_list() {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        // A proxy that adds its own line after the client's forged one: the
        // proxy's (last) line names the client.
        assert_eq!(
            via("127.0.0.1", &["192.0.2.66", "203.0.113.5"], &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            via(
                "127.0.0.1",
                &["192.0.2.66, 192.0.2.67", "203.0.113.5, 127.0.0.1"],
                &trusted
            ),
            ip("203.0.113.5")
        );
        // A trusted hop in the last line: the walk goes on into the line before.
        assert_eq!(
            via("127.0.0.1", &["203.0.113.5", "127.0.0.1"], &trusted),
            ip("203.0.113.5")
        );
        // An unreadable line stops the walk like garbage.
        assert_eq!(
            client_ip(ip("127.0.0.1"), [Some("203.0.113.5"), None], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), [None, Some("203.0.113.5")], &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn a_long_chain_of_trusted_hops_is_cut_short() {
        let trusted = vec!["127.0.0.0/8".parse().unwrap()];
        let hops = vec!["127.0.0.2"; MAX_FORWARDED_HOPS];
        let line = format!("203.0.113.5, {}", hops.join(", "));
        // The client entry lies beyond the bound: the last trusted hop read is used.
        assert_eq!(via("127.0.0.1", &[&line], &trusted), ip("127.0.0.2"));
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
