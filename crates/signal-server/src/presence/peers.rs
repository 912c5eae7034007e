//! Peers: registration of a connection whose ownership proof checked out,
//! changes of name and addresses, and lookup by peer ID across rooms.

use std::time::Instant;

use protocol::signal::{ErrorCode, PeerInfo, RoomRequest, ServerMsg};

use super::outgoing::not_registered;
use super::rooms::room_secret;
use super::{ConnId, Outgoing, Presence};

impl Presence {
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

    /// Changes a registered peer's name, addresses and whether it
    /// publishes a folder.
    pub(crate) fn update(
        &mut self,
        conn: ConnId,
        name: Option<String>,
        addrs: Option<Vec<String>>,
        publishes: Option<bool>,
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
        if let Some(publishes) = publishes {
            peer.info.publishes = publishes;
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

    pub(super) fn peer_info(&self, conn: ConnId) -> Option<PeerInfo> {
        self.conns.get(&conn)?.peer.as_ref().map(|p| p.info.clone())
    }
}
