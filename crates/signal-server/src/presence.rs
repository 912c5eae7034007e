//! Who is online, in which room, and which share codes are open: pure state.
//!
//! Every operation takes the current time and returns the messages to send
//! ([`Outgoing`]); nothing here touches a socket, so the rules are tested
//! directly. Ownership proofs are checked before [`Presence::register`] is called.
//!
//! # Layout
//! This file holds the state ([`Presence`] and its [`Settings`]) and a
//! connection's life: connect, disconnect and the periodic expiry sweep. The
//! operations live beside their concern, each an `impl Presence` block:
//! - `outgoing`: [`Outgoing`], what every operation returns, and refusals.
//! - `peers`: registration, name and address updates, lookup by peer ID.
//! - `rooms`: room keys, admission (secret, capacity), moving between rooms,
//!   entering and leaving with the announcements to the other members.
//! - `codes`: share-code nameplates: open, claim once, expire.
//! - `attempts`: the per-address budget of failed guesses (room secrets,
//!   nameplates).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::signal::{Limits, PeerInfo, RelayInfo};

use crate::limit::TokenBucket;

mod attempts;
mod codes;
mod outgoing;
mod peers;
mod rooms;

pub(crate) use outgoing::Outgoing;

use codes::Rendezvous;
use rooms::{Room, RoomKey};

#[cfg(test)]
mod tests;

/// Identifies one WebSocket connection for the lifetime of the server.
pub(crate) type ConnId = u64;

/// Rules the presence state enforces.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Most peers in one room.
    pub(crate) peers_per_room: usize,
    /// How long an unclaimed nameplate stays open.
    pub(crate) code_ttl: Duration,
    /// Most nameplates one connection may hold open.
    pub(crate) codes_per_conn: usize,
    /// Failed guesses (room secrets, nameplates) allowed per address per minute.
    pub(crate) failed_attempts_per_min: u32,
    /// The relay announced in every welcome.
    pub(crate) relay: Option<RelayInfo>,
    /// The limits announced in every welcome.
    pub(crate) limits: Limits,
}

#[derive(Debug)]
struct Conn {
    /// Key of the automatic room of the connection's address.
    auto_room: String,
    /// Key for per-address attempt limits.
    addr_key: String,
    peer: Option<Registered>,
}

#[derive(Debug)]
struct Registered {
    info: PeerInfo,
    room: RoomKey,
}

/// The whole presence state of one server.
#[derive(Debug)]
pub(crate) struct Presence {
    settings: Settings,
    conns: HashMap<ConnId, Conn>,
    rooms: HashMap<RoomKey, Room>,
    by_peer: HashMap<String, ConnId>,
    codes: HashMap<u32, Rendezvous>,
    attempts: HashMap<String, TokenBucket>,
}

impl Presence {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            conns: HashMap::new(),
            rooms: HashMap::new(),
            by_peer: HashMap::new(),
            codes: HashMap::new(),
            attempts: HashMap::new(),
        }
    }

    /// Number of registered peers.
    pub(crate) fn peer_count(&self) -> usize {
        self.by_peer.len()
    }

    /// Number of non-empty rooms.
    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Number of open nameplates.
    pub(crate) fn code_count(&self) -> usize {
        self.codes.len()
    }

    /// Whether a connection is registered now under this peer ID.
    pub(crate) fn has_peer(&self, peer_id: &str) -> bool {
        self.by_peer.contains_key(peer_id)
    }

    /// Sets the relay announced in later welcomes (known once it listens).
    pub(crate) fn set_relay(&mut self, relay: Option<RelayInfo>) {
        self.settings.relay = relay;
    }

    /// Whether the connection has registered.
    pub(crate) fn is_registered(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.peer.is_some())
    }

    /// A new connection from an address (its automatic room key and attempt key).
    pub(crate) fn connect(&mut self, conn: ConnId, auto_room: String, addr_key: String) {
        self.conns.insert(
            conn,
            Conn {
                auto_room,
                addr_key,
                peer: None,
            },
        );
    }

    /// Forgets a connection: its room hears it left, its nameplates close.
    pub(crate) fn disconnect(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if let Some(info) = self.leave_room(conn, &mut out)
            && self.by_peer.get(&info.peer_id) == Some(&conn)
        {
            self.by_peer.remove(&info.peer_id);
        }
        self.close_codes_of(conn);
        self.conns.remove(&conn);
        out
    }

    /// Closes nameplates whose time is up and forgets idle attempt counters.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Outgoing> {
        let out = self.expire_codes(now);
        self.forget_idle_attempts(now);
        out
    }
}
