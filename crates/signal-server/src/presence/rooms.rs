//! Rooms: the automatic room of an address and named rooms with a secret;
//! admission (secret, capacity), moving between rooms, and entering and
//! leaving with the announcements to the other members.

use std::collections::BTreeSet;
use std::time::Instant;

use protocol::signal::{ErrorCode, PeerInfo, RoomInfo, RoomKind, RoomRequest, ServerMsg};
use subtle::ConstantTimeEq as _;

use super::attempts::too_many_attempts;
use super::outgoing::{Refusal, not_registered};
use super::{ConnId, Outgoing, Presence, Registered};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum RoomKey {
    Auto(String),
    Named(String),
}

impl RoomKey {
    pub(super) fn info(&self) -> RoomInfo {
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
pub(super) struct Room {
    members: BTreeSet<ConnId>,
    secret: Option<String>,
}

impl Presence {
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

    /// Decides which room a request leads to, checking secrets and capacity.
    /// `replacing` is an older connection of the same peer, about to leave.
    pub(super) fn admit(
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

    pub(super) fn room_members_except(&self, room: &RoomKey, conn: ConnId) -> Vec<ConnId> {
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
    pub(super) fn enter_room(
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
    pub(super) fn leave_room(&mut self, conn: ConnId, out: &mut Vec<Outgoing>) -> Option<PeerInfo> {
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

pub(super) fn room_secret(room: &RoomRequest) -> Option<String> {
    match room {
        RoomRequest::Auto => None,
        RoomRequest::Named { secret, .. } => Some(secret.clone()),
    }
}

/// Compares secrets in time independent of where they differ (`subtle`).
/// Only a length mismatch returns early; guesses are limited per address.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}
