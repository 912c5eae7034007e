//! Finding a peer, and meeting a sender by its ticket or share code: the
//! part of sending and receiving that the CLI and the app share.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use protocol::code::ShareCode;
use protocol::ticket::Ticket;

use super::{Engine, EngineError, share};

/// How long [`Engine::find_peer`] waits for a peer to show up on the LAN.
pub(super) const LAN_WAIT: Duration = Duration::from_secs(10);

/// Lookups on the signal server before a peer counts as not registered:
/// one that just registered may announce its addresses a moment later.
const LOOKUPS: usize = 5;
const LOOKUP_PAUSE: Duration = Duration::from_millis(500);

/// What a receiver fetches with: the sender's ticket, or its share code.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A ticket: the sender's peer ID, addresses and secret.
    Ticket(Ticket),
    /// A share code, met through the signal server.
    Code(ShareCode),
}

impl Secret {
    /// Reads what a person typed or pasted.
    ///
    /// # Errors
    /// [`EngineError::BadSecret`] saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        let text = text.trim();
        if Ticket::looks_like_ticket(text) {
            Ticket::decode(text)
                .map(Self::Ticket)
                .map_err(|e| EngineError::BadSecret(format!("cannot read the ticket: {e}")))
        } else {
            ShareCode::parse(text)
                .map(Self::Code)
                .map_err(|e| EngineError::BadSecret(format!("cannot read the share code: {e}")))
        }
    }
}

impl Engine {
    /// Meets the sender of `secret`; its offer then arrives as an
    /// [`crate::event::Event::OfferReceived`].
    pub async fn fetch(&self, secret: &Secret) -> Result<PeerId, EngineError> {
        match secret {
            Secret::Ticket(ticket) => self.fetch_ticket(ticket).await,
            Secret::Code(code) => self.fetch_code(code).await,
        }
    }

    /// Meets the sender of `code` through the signal server and proves the
    /// code (SPAKE2).
    pub async fn fetch_code(&self, code: &ShareCode) -> Result<PeerId, EngineError> {
        let signal = self.inner.signal.as_ref().ok_or(EngineError::NoServer)?;
        let sender = signal.claim_code(code.nameplate()).await?;
        let peer: PeerId = sender.peer_id.parse().map_err(|_| EngineError::Protocol {
            peer: self.peer_id(),
            reason: "the server paired us with an invalid peer ID".into(),
        })?;
        let addrs = sender.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        share::knock_code(self, code, peer, addrs).await
    }

    /// Knocks on a waiting sender with a ticket.
    pub async fn fetch_ticket(&self, ticket: &Ticket) -> Result<PeerId, EngineError> {
        share::knock_ticket(self, ticket).await
    }

    /// Addresses of `peer` from the signal server, if it is registered there.
    pub async fn lookup(&self, peer: PeerId) -> Result<Vec<Multiaddr>, EngineError> {
        let signal = self.inner.signal.as_ref().ok_or(EngineError::NoServer)?;
        let found = signal.lookup(peer).await?;
        Ok(found
            .map(|p| p.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default())
    }

    /// Where to reach `peer`: `addrs` if given; none needed if it is on the
    /// LAN (mDNS gave its addresses to the network); else its addresses on
    /// the signal server; else none once it shows up on the LAN (within
    /// [`LAN_WAIT`]).
    ///
    /// # Errors
    /// The server failed, or the peer is nowhere to be found.
    pub async fn find_peer(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<Vec<Multiaddr>, EngineError> {
        if !addrs.is_empty() || self.inner.lan_peers.borrow().contains(&peer) {
            return Ok(addrs);
        }
        if self.inner.signal.is_some() {
            for attempt in 0..LOOKUPS {
                if attempt > 0 {
                    tokio::time::sleep(LOOKUP_PAUSE).await;
                }
                let found = self.lookup(peer).await?;
                if !found.is_empty() {
                    return Ok(found);
                }
            }
        }
        let mut lan = self.inner.lan_peers.subscribe();
        match tokio::time::timeout(LAN_WAIT, lan.wait_for(|peers| peers.contains(&peer))).await {
            Ok(Ok(_)) => Ok(Vec::new()),
            Ok(Err(_)) => Err(EngineError::Stopped),
            Err(_) => Err(EngineError::NotFound {
                peer,
                seconds: LAN_WAIT.as_secs(),
            }),
        }
    }
}
