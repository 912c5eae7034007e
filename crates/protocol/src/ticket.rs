//! Tickets: everything a receiver needs to fetch from a waiting sender with no
//! signal server: the sender's peer ID, its addresses and a secret.
//!
//! Printed as `p2pt` followed by base32 (lowercase; case is ignored when
//! read, and the uppercase form packs densely into a QR code) of a compact
//! binary body:
//!
//! ```text
//! version    u8 = 1
//! peer       u8 tag: 1 = Ed25519 key, 32 bytes follow
//!                    2 = u8 length, then the peer ID's multihash bytes
//! secret     16 bytes
//! addresses  u8 count (≤ MAX_ADDRS), each: u8 length, binary multiaddr
//! ```
//!
//! An Ed25519 peer ID with a TCP and a QUIC address on each of two IPv4
//! addresses is 150 characters. [`Ticket::pick_addrs`] leaves out the
//! addresses no other computer can use (loopback, link-local) unless there
//! are no others, so a ticket stays short and never sends a receiver to
//! its own loopback.

pub use multiaddr::PeerId;
use multiaddr::{Multiaddr, Protocol};

/// Prefix of every ticket.
pub const PREFIX: &str = "p2pt";

/// Longest ticket text accepted, in bytes.
pub const MAX_TICKET_BYTES: usize = 4096;

/// Length of the secret, in bytes.
pub const SECRET_BYTES: usize = 16;

/// The encoding this build writes.
pub const VERSION: u8 = 1;

/// Peer tag: an Ed25519 public key follows.
const PEER_ED25519: u8 = 1;
/// Peer tag: a length-prefixed multihash follows.
const PEER_MULTIHASH: u8 = 2;
/// A peer ID's multihash for an Ed25519 key: identity hash (0x00) of 36
/// bytes, holding the key's protobuf (type Ed25519, 32 bytes of data).
const ED25519_PEER_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// A printable invitation to fetch files from one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The sender's peer ID.
    pub peer_id: PeerId,
    /// Where the sender listens.
    pub addrs: Vec<Multiaddr>,
    /// Proves to the sender that the receiver holds this ticket.
    pub secret: [u8; SECRET_BYTES],
}

/// Why a ticket could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// Longer than [`MAX_TICKET_BYTES`].
    #[error("ticket is too long")]
    TooLong,
    /// Does not start with [`PREFIX`].
    #[error("not a ticket (tickets start with {PREFIX:?})")]
    NoPrefix,
    /// Written by a newer (or a much older) version.
    #[error("this ticket is of version {0}, which this p2p-client does not read; update it")]
    Version(u8),
    /// Not valid base32 or not a ticket body.
    #[error("damaged ticket: {0}; copy it again")]
    Damaged(String),
}

impl Ticket {
    /// A ticket for `peer_id` at the usable ones of `addrs`
    /// ([`Ticket::pick_addrs`]).
    pub fn new(peer_id: PeerId, addrs: &[Multiaddr], secret: [u8; SECRET_BYTES]) -> Self {
        Self {
            peer_id,
            addrs: Self::pick_addrs(addrs),
            secret,
        }
    }

    /// The addresses worth printing: no unspecified ones, no duplicates, at
    /// most [`MAX_ADDRS`](crate::signal::MAX_ADDRS), and loopback or
    /// link-local ones only when nothing else exists (a computer with no
    /// network, or a test on loopback).
    pub fn pick_addrs(addrs: &[Multiaddr]) -> Vec<Multiaddr> {
        let mut usable: Vec<&Multiaddr> = Vec::new();
        for addr in addrs {
            if !is_unspecified(addr)
                && addr.len() <= crate::signal::MAX_ADDR_BYTES
                && !usable.contains(&addr)
            {
                usable.push(addr);
            }
        }
        let wide: Vec<&Multiaddr> = usable.iter().copied().filter(|a| !is_local(a)).collect();
        let chosen = if wide.is_empty() { usable } else { wide };
        chosen
            .into_iter()
            .take(crate::signal::MAX_ADDRS)
            .cloned()
            .collect()
    }

    /// The printable form (lowercase).
    pub fn encode(&self) -> String {
        let mut body = vec![VERSION];
        let peer = self.peer_id.to_bytes();
        match peer.strip_prefix(&ED25519_PEER_PREFIX[..]) {
            Some(key) if key.len() == 32 => {
                body.push(PEER_ED25519);
                body.extend_from_slice(key);
            }
            _ => {
                body.push(PEER_MULTIHASH);
                body.push(u8::try_from(peer.len()).unwrap_or(u8::MAX));
                body.extend_from_slice(&peer);
            }
        }
        body.extend_from_slice(&self.secret);
        let addrs: Vec<Vec<u8>> = self
            .addrs
            .iter()
            .map(|a| a.to_vec())
            .filter(|a| a.len() <= usize::from(u8::MAX))
            .take(crate::signal::MAX_ADDRS)
            .collect();
        body.push(u8::try_from(addrs.len()).unwrap_or(0));
        for addr in addrs {
            body.push(u8::try_from(addr.len()).unwrap_or(0));
            body.extend_from_slice(&addr);
        }
        let text = data_encoding::BASE32_NOPAD.encode(&body).to_lowercase();
        format!("{PREFIX}{text}")
    }

    /// Parses a ticket; whitespace (from line wrapping) and case are ignored.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        if text.len() > MAX_TICKET_BYTES {
            return Err(TicketError::TooLong);
        }
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let upper = compact.to_ascii_uppercase();
        let body = upper
            .strip_prefix(&PREFIX.to_ascii_uppercase())
            .ok_or(TicketError::NoPrefix)?;
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|e| TicketError::Damaged(e.to_string()))?;
        Self::from_body(&bytes)
    }

    /// Whether `text` looks like a ticket rather than a share code.
    pub fn looks_like_ticket(text: &str) -> bool {
        text.trim_start().to_ascii_lowercase().starts_with(PREFIX)
    }

    /// Reads the binary body.
    fn from_body(bytes: &[u8]) -> Result<Self, TicketError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(TicketError::Version(version));
        }
        let peer_bytes = match r.u8()? {
            PEER_ED25519 => {
                let mut peer = ED25519_PEER_PREFIX.to_vec();
                peer.extend_from_slice(r.take(32)?);
                peer
            }
            PEER_MULTIHASH => {
                let len = r.u8()?;
                r.take(usize::from(len))?.to_vec()
            }
            tag => return Err(damaged(format!("unknown peer kind {tag}"))),
        };
        let peer_id =
            PeerId::from_bytes(&peer_bytes).map_err(|e| damaged(format!("bad peer ID: {e}")))?;
        let secret: [u8; SECRET_BYTES] = r
            .take(SECRET_BYTES)?
            .try_into()
            .map_err(|_| damaged("short secret"))?;
        let count = usize::from(r.u8()?);
        if count > crate::signal::MAX_ADDRS {
            return Err(damaged("too many addresses"));
        }
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let addr = Multiaddr::try_from(r.take(len)?.to_vec())
                .map_err(|e| damaged(format!("bad address: {e}")))?;
            addrs.push(addr);
        }
        if !r.0.is_empty() {
            return Err(damaged("unexpected bytes at the end"));
        }
        Ok(Self {
            peer_id,
            addrs,
            secret,
        })
    }
}

fn damaged(reason: impl Into<String>) -> TicketError {
    TicketError::Damaged(reason.into())
}

/// A cursor over the body that fails cleanly at its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, TicketError> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TicketError> {
        if self.0.len() < n {
            return Err(damaged("too short"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// Loopback or link-local: useless on any other computer.
fn is_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback() || ip.is_unicast_link_local(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
