//! Who is online, in which room, and which share codes are open: pure state.
//!
//! Every operation takes the current time and returns the messages to send
//! ([`Outgoing`]); nothing here touches a socket, so the rules are tested
//! directly. Ownership proofs are checked before [`Presence::register`] is called.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use protocol::signal::{
    ErrorCode, Limits, PeerInfo, RelayInfo, RoomInfo, RoomKind, RoomRequest, ServerMsg,
};

use crate::limit::TokenBucket;

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

/// A refusal: its code and a sentence for the user.
type Refusal = (ErrorCode, String);

/// A message for one or more connections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// The recipients.
    pub(crate) to: Vec<ConnId>,
    /// The message, encoded once for all of them.
    pub(crate) msg: ServerMsg,
}

impl Outgoing {
    fn one(to: ConnId, msg: ServerMsg) -> Self {
        Self { to: vec![to], msg }
    }

    fn from_refusal(to: ConnId, (code, message): Refusal) -> Self {
        Self::error(to, code, message)
    }

    fn error(to: ConnId, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::one(
            to,
            ServerMsg::Error {
                code,
                message: message.into(),
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RoomKey {
    Auto(String),
    Named(String),
}

impl RoomKey {
    fn info(&self) -> RoomInfo {
        match self {
            RoomKey::Auto(_) => RoomInfo {
                kind: RoomKind::Auto,
                name: "same network".into(),
            },
            RoomKey::Named(name) => RoomInfo {
                kind: RoomKind::Named,
                name: name.clone(),
            },
        }
    }
}

#[derive(Debug)]
struct Room {
    members: BTreeSet<ConnId>,
    secret: Option<String>,
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

#[derive(Debug)]
struct Rendezvous {
    owner: ConnId,
    expires: Instant,
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

    /// Registers a connection whose ownership of `peer_id` has been verified.
    pub(crate) fn register(
        &mut self,
        conn: ConnId,
        info: PeerInfo,
        room: &RoomRequest,
        now: Instant,
    ) -> Vec<Outgoing> {
        let Some(auto_room) = self.conns.get(&conn).map(|c| c.auto_room.clone()) else {
            return Vec::new();
        };
        if self.is_registered(conn) {
            return vec![Outgoing::error(
                conn,
                ErrorCode::AlreadyRegistered,
                "this connection is already registered",
            )];
        }
        let replacing = self.by_peer.get(&info.peer_id).copied();
        let key = match self.admit(conn, replacing, room, &auto_room, now) {
            Ok(key) => key,
            Err(refusal) => return vec![Outgoing::from_refusal(conn, refusal)],
        };
        let mut out = Vec::new();
        // The new connection proved it owns the key: it replaces an older one
        // (a client reconnecting before its old connection timed out).
        if let Some(old) = replacing {
            out.push(Outgoing::error(
                old,
                ErrorCode::Replaced,
                "a newer connection registered this peer ID",
            ));
            out.extend(self.disconnect(old));
        }
        self.by_peer.insert(info.peer_id.clone(), conn);
        let peers = self.enter_room(conn, key.clone(), room_secret(room), info.clone(), &mut out);
        out.push(Outgoing::one(
            conn,
            ServerMsg::Welcome {
                peer_id: info.peer_id,
                room: key.info(),
                peers,
                relay: self.settings.relay.clone(),
                limits: self.settings.limits.clone(),
            },
        ));
        out
    }

    /// Moves a registered connection to another room.
    pub(crate) fn join(&mut self, conn: ConnId, room: &RoomRequest, now: Instant) -> Vec<Outgoing> {
        let Some((auto_room, current)) = self.conns.get(&conn).and_then(|c| {
            c.peer
                .as_ref()
                .map(|p| (c.auto_room.clone(), p.room.clone()))
        }) else {
            return vec![not_registered(conn)];
        };
        let key = match self.admit(conn, None, room, &auto_room, now) {
            Ok(key) => key,
            Err(refusal) => return vec![Outgoing::from_refusal(conn, refusal)],
        };
        if key == current {
            let peers = self.room_peers(&key, conn);
            return vec![Outgoing::one(
                conn,
                ServerMsg::RoomChanged {
                    room: key.info(),
                    peers,
                },
            )];
        }
        let mut out = Vec::new();
        let Some(info) = self.leave_room(conn, &mut out) else {
            return out;
        };
        let peers = self.enter_room(conn, key.clone(), room_secret(room), info, &mut out);
        out.push(Outgoing::one(
            conn,
            ServerMsg::RoomChanged {
                room: key.info(),
                peers,
            },
        ));
        out
    }

    /// Changes a registered peer's name and/or addresses.
    pub(crate) fn update(
        &mut self,
        conn: ConnId,
        name: Option<String>,
        addrs: Option<Vec<String>>,
    ) -> Vec<Outgoing> {
        let Some(peer) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) else {
            return vec![not_registered(conn)];
        };
        if let Some(name) = name {
            peer.info.name = name;
        }
        if let Some(addrs) = addrs {
            peer.info.addrs = addrs;
        }
        let msg = ServerMsg::PeerUpdated {
            peer: peer.info.clone(),
        };
        let room = peer.room.clone();
        let to = self.room_members_except(&room, conn);
        if to.is_empty() {
            Vec::new()
        } else {
            vec![Outgoing { to, msg }]
        }
    }

    /// Opens a one-time nameplate owned by this connection.
    pub(crate) fn code_open(
        &mut self,
        conn: ConnId,
        nameplate: u32,
        now: Instant,
    ) -> Vec<Outgoing> {
        if !self.is_registered(conn) {
            return vec![not_registered(conn)];
        }
        let mut out = Vec::new();
        self.expire_code(nameplate, now, &mut out);
        if self.codes.contains_key(&nameplate) {
            // Probing for open nameplates counts like a guess.
            self.record_failure(conn, now);
            return vec![Outgoing::error(
                conn,
                ErrorCode::CodeInUse,
                format!("nameplate {nameplate} is in use; pick another"),
            )];
        }
        let held = self.codes.values().filter(|r| r.owner == conn).count();
        if held >= self.settings.codes_per_conn {
            return vec![Outgoing::error(
                conn,
                ErrorCode::TooManyCodes,
                format!(
                    "at most {} open share codes per connection",
                    self.settings.codes_per_conn
                ),
            )];
        }
        let ttl = self.settings.code_ttl;
        self.codes.insert(
            nameplate,
            Rendezvous {
                owner: conn,
                expires: now + ttl,
            },
        );
        out.push(Outgoing::one(
            conn,
            ServerMsg::CodeOpened {
                nameplate,
                expires_in_secs: ttl.as_secs(),
            },
        ));
        out
    }

    /// Claims a nameplate: pairs this connection with its owner, once.
    pub(crate) fn code_claim(
        &mut self,
        conn: ConnId,
        nameplate: u32,
        now: Instant,
    ) -> Vec<Outgoing> {
        let Some(claimer) = self.peer_info(conn) else {
            return vec![not_registered(conn)];
        };
        if self.attempts_exhausted(conn, now) {
            return vec![Outgoing::from_refusal(conn, too_many_attempts())];
        }
        // Every claim counts, found or not: a legitimate receiver claims once,
        // someone hunting for open nameplates claims many.
        self.record_failure(conn, now);
        let mut out = Vec::new();
        self.expire_code(nameplate, now, &mut out);
        let owner = match self.codes.get(&nameplate) {
            Some(r) if r.owner != conn => r.owner,
            _ => {
                out.push(Outgoing::error(
                    conn,
                    ErrorCode::CodeNotFound,
                    format!(
                        "no open share code with number {nameplate}: check the code, or ask the sender for a new one"
                    ),
                ));
                return out;
            }
        };
        self.codes.remove(&nameplate);
        // Owners leave no open nameplates behind when they disconnect.
        if let Some(owner_info) = self.peer_info(owner) {
            out.push(Outgoing::one(
                owner,
                ServerMsg::CodePaired {
                    nameplate,
                    peer: claimer,
                },
            ));
            out.push(Outgoing::one(
                conn,
                ServerMsg::CodePaired {
                    nameplate,
                    peer: owner_info,
                },
            ));
        }
        out
    }

    /// Answers a lookup by peer ID.
    pub(crate) fn lookup(&self, conn: ConnId, peer_id: String) -> Vec<Outgoing> {
        if !self.is_registered(conn) {
            return vec![not_registered(conn)];
        }
        let peer = self.by_peer.get(&peer_id).and_then(|c| self.peer_info(*c));
        vec![Outgoing::one(
            conn,
            ServerMsg::LookupResult { peer_id, peer },
        )]
    }

    /// Forgets a connection: its room hears it left, its nameplates close.
    pub(crate) fn disconnect(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if let Some(info) = self.leave_room(conn, &mut out)
            && self.by_peer.get(&info.peer_id) == Some(&conn)
        {
            self.by_peer.remove(&info.peer_id);
        }
        self.codes.retain(|_, r| r.owner != conn);
        self.conns.remove(&conn);
        out
    }

    /// Closes nameplates whose time is up and forgets idle attempt counters.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.codes.retain(|nameplate, r| {
            let alive = r.expires > now;
            if !alive {
                out.push(Outgoing::one(
                    r.owner,
                    ServerMsg::CodeExpired {
                        nameplate: *nameplate,
                    },
                ));
            }
            alive
        });
        self.attempts.retain(|_, bucket| !bucket.is_full(now));
        out
    }

    /// Closes `nameplate` if its time is up, telling its owner.
    fn expire_code(&mut self, nameplate: u32, now: Instant, out: &mut Vec<Outgoing>) {
        if let Some(r) = self.codes.get(&nameplate)
            && r.expires <= now
        {
            out.push(Outgoing::one(r.owner, ServerMsg::CodeExpired { nameplate }));
            self.codes.remove(&nameplate);
        }
    }

    /// Decides which room a request leads to, checking secrets and capacity.
    /// `replacing` is an older connection of the same peer, about to leave.
    fn admit(
        &mut self,
        conn: ConnId,
        replacing: Option<ConnId>,
        room: &RoomRequest,
        auto_room: &str,
        now: Instant,
    ) -> Result<RoomKey, Refusal> {
        let key = match room {
            RoomRequest::Auto => RoomKey::Auto(auto_room.to_owned()),
            RoomRequest::Named { name, secret } => {
                let key = RoomKey::Named(name.clone());
                let existing = self.rooms.get(&key).and_then(|r| r.secret.clone());
                if let Some(existing) = existing {
                    // Out of guesses: refuse even the right secret, or the
                    // answer would still tell a guesser when it hit.
                    if self.attempts_exhausted(conn, now) {
                        return Err(too_many_attempts());
                    }
                    if constant_time_eq(existing.as_bytes(), secret.as_bytes()) {
                        return self.check_capacity(conn, replacing, key);
                    }
                    self.record_failure(conn, now);
                    return Err((
                        ErrorCode::WrongSecret,
                        format!("wrong secret for room {name:?}"),
                    ));
                }
                key
            }
        };
        self.check_capacity(conn, replacing, key)
    }

    fn check_capacity(
        &self,
        conn: ConnId,
        replacing: Option<ConnId>,
        key: RoomKey,
    ) -> Result<RoomKey, Refusal> {
        let size = self.rooms.get(&key).map_or(0, |r| r.members.len());
        let already_in = self.rooms.get(&key).is_some_and(|r| {
            r.members.contains(&conn) || replacing.is_some_and(|old| r.members.contains(&old))
        });
        if size >= self.settings.peers_per_room && !already_in {
            return Err((
                ErrorCode::RoomFull,
                format!("the room has {size} peers, the most this server allows"),
            ));
        }
        Ok(key)
    }

    fn attempts_exhausted(&mut self, conn: ConnId, now: Instant) -> bool {
        let Some(addr) = self.conns.get(&conn).map(|c| &c.addr_key) else {
            return false;
        };
        self.attempts
            .get_mut(addr)
            .is_some_and(|bucket| !bucket.has_token(now))
    }

    fn record_failure(&mut self, conn: ConnId, now: Instant) {
        let Some(addr) = self.conns.get(&conn).map(|c| c.addr_key.clone()) else {
            return;
        };
        let per_min = self.settings.failed_attempts_per_min;
        self.attempts
            .entry(addr)
            .or_insert_with(|| TokenBucket::per_window(per_min, Duration::from_secs(60), now))
            .try_take(now);
    }

    fn peer_info(&self, conn: ConnId) -> Option<PeerInfo> {
        self.conns.get(&conn)?.peer.as_ref().map(|p| p.info.clone())
    }

    fn room_members_except(&self, room: &RoomKey, conn: ConnId) -> Vec<ConnId> {
        self.rooms.get(room).map_or_else(Vec::new, |r| {
            r.members.iter().copied().filter(|c| *c != conn).collect()
        })
    }

    fn room_peers(&self, room: &RoomKey, conn: ConnId) -> Vec<PeerInfo> {
        self.room_members_except(room, conn)
            .into_iter()
            .filter_map(|c| self.peer_info(c))
            .collect()
    }

    /// Puts a connection into a room (creating it) and announces it there.
    /// Returns the peers already in the room.
    /// A new named room keeps the secret its first member gave.
    fn enter_room(
        &mut self,
        conn: ConnId,
        key: RoomKey,
        secret: Option<String>,
        info: PeerInfo,
        out: &mut Vec<Outgoing>,
    ) -> Vec<PeerInfo> {
        let peers = self.room_peers(&key, conn);
        let others = self.room_members_except(&key, conn);
        self.rooms
            .entry(key.clone())
            .or_insert_with(|| Room {
                members: BTreeSet::new(),
                secret,
            })
            .members
            .insert(conn);
        if !others.is_empty() {
            out.push(Outgoing {
                to: others,
                msg: ServerMsg::PeerJoined { peer: info.clone() },
            });
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(Registered { info, room: key });
        }
        peers
    }

    /// Takes a connection out of its room, announcing it; returns its info.
    fn leave_room(&mut self, conn: ConnId, out: &mut Vec<Outgoing>) -> Option<PeerInfo> {
        let registered = self.conns.get_mut(&conn)?.peer.take()?;
        if let Some(room) = self.rooms.get_mut(&registered.room) {
            room.members.remove(&conn);
            if room.members.is_empty() {
                self.rooms.remove(&registered.room);
            } else {
                out.push(Outgoing {
                    to: room.members.iter().copied().collect(),
                    msg: ServerMsg::PeerLeft {
                        peer_id: registered.info.peer_id.clone(),
                    },
                });
            }
        }
        Some(registered.info)
    }
}

fn too_many_attempts() -> Refusal {
    (
        ErrorCode::TooManyAttempts,
        "too many failed attempts from your address; wait a minute".into(),
    )
}

fn room_secret(room: &RoomRequest) -> Option<String> {
    match room {
        RoomRequest::Auto => None,
        RoomRequest::Named { secret, .. } => Some(secret.clone()),
    }
}

fn not_registered(conn: ConnId) -> Outgoing {
    Outgoing::error(conn, ErrorCode::NotRegistered, "register first")
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
