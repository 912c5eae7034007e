//! Tickets: everything a receiver needs to fetch from a waiting sender with no
//! signal server: the sender's peer ID, its addresses and a secret.
//!
//! Printed as `p2pt` followed by lowercase base32 of a JSON body.

use serde::{Deserialize, Serialize};

/// Prefix of every ticket.
pub const PREFIX: &str = "p2pt";

/// Longest ticket text accepted, in bytes.
pub const MAX_TICKET_BYTES: usize = 4096;

/// Length of the secret, in bytes.
pub const SECRET_BYTES: usize = 16;

/// A printable invitation to fetch files from one sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The sender's peer ID.
    pub peer_id: String,
    /// Multiaddrs where the sender listens.
    pub addrs: Vec<String>,
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
    /// Not valid base32 or JSON of the right shape.
    #[error("damaged ticket: {0}; copy it again")]
    Damaged(String),
}

impl Ticket {
    /// The printable form.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let body = data_encoding::BASE32_NOPAD.encode(&json).to_lowercase();
        format!("{PREFIX}{body}")
    }

    /// Parses a ticket; whitespace (from line wrapping) and case are ignored.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        if text.len() > MAX_TICKET_BYTES {
            return Err(TicketError::TooLong);
        }
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = compact.to_ascii_lowercase();
        let body = lower.strip_prefix(PREFIX).ok_or(TicketError::NoPrefix)?;
        let json = data_encoding::BASE32_NOPAD
            .decode(body.to_ascii_uppercase().as_bytes())
            .map_err(|e| TicketError::Damaged(e.to_string()))?;
        let ticket: Ticket =
            serde_json::from_slice(&json).map_err(|e| TicketError::Damaged(e.to_string()))?;
        if ticket.addrs.len() > crate::signal::MAX_ADDRS
            || ticket
                .addrs
                .iter()
                .any(|a| a.len() > crate::signal::MAX_ADDR_BYTES)
        {
            return Err(TicketError::Damaged(
                "too many or too long addresses".into(),
            ));
        }
        Ok(ticket)
    }

    /// Whether `text` looks like a ticket rather than a share code.
    pub fn looks_like_ticket(text: &str) -> bool {
        text.trim_start().to_ascii_lowercase().starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            peer_id: "12D3KooWExample".into(),
            addrs: vec![
                "/ip4/127.0.0.1/tcp/4001".into(),
                "/ip4/127.0.0.1/udp/4001/quic-v1".into(),
            ],
            secret: [9; SECRET_BYTES],
        }
    }

    #[test]
    fn round_trips_through_wrapping_and_case() {
        let text = ticket().encode();
        assert!(text.starts_with(PREFIX));
        assert!(Ticket::looks_like_ticket(&text));
        let wrapped: String = text
            .to_uppercase()
            .chars()
            .enumerate()
            .flat_map(|(i, c)| if i % 40 == 39 { vec![c, '\n'] } else { vec![c] })
            .collect();
        assert_eq!(Ticket::decode(&wrapped).unwrap(), ticket());
    }

    #[test]
    fn damaged_tickets_are_errors() {
        assert_eq!(Ticket::decode("7-tiger-violin"), Err(TicketError::NoPrefix));
        assert!(!Ticket::looks_like_ticket("7-tiger-violin"));
        assert!(matches!(
            Ticket::decode("p2pt!!!"),
            Err(TicketError::Damaged(_))
        ));
        let mut text = ticket().encode();
        text.truncate(text.len() - 5);
        assert!(matches!(
            Ticket::decode(&text),
            Err(TicketError::Damaged(_))
        ));
        assert_eq!(
            Ticket::decode(&"a".repeat(MAX_TICKET_BYTES + 1)),
            Err(TicketError::TooLong)
        );
    }
}
