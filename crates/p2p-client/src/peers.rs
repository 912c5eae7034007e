//! The peers visible now, one row each however they were seen (the LAN,
//! the server's room), for the app's list and `p2p-client peers`.

use std::collections::BTreeMap;

use crate::event::{Event, PeerSource};

/// A peer in the list: one row however many ways it was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRow {
    /// Peer ID.
    pub peer: String,
    /// Display name, as the peer (on the LAN) or the server told us.
    pub name: Option<String>,
    /// Where it was seen: the LAN when it is there, else the server.
    pub source: PeerSource,
    /// Seen on the LAN (mDNS) now.
    pub lan: bool,
    /// Listed in the server's room now.
    pub server: bool,
    /// Its system (`linux`, `windows`, `macos`, …), if it told us.
    pub os: Option<String>,
    /// It publishes a folder to browse.
    pub publishes: bool,
}

impl PeerRow {
    pub(crate) fn new(peer: String) -> Self {
        Self {
            peer,
            name: None,
            source: PeerSource::Lan,
            lan: false,
            server: false,
            os: None,
            publishes: false,
        }
    }

    /// Marks it seen (or no longer seen) through `source`; says whether it
    /// is still seen at all.
    pub(crate) fn seen(&mut self, source: PeerSource, now: bool) -> bool {
        match source {
            PeerSource::Lan => self.lan = now,
            PeerSource::Server => self.server = now,
        }
        self.source = if self.lan {
            PeerSource::Lan
        } else {
            PeerSource::Server
        };
        self.lan || self.server
    }

    /// How it is reached, in words.
    pub fn reach(&self) -> &'static str {
        match (self.lan, self.server) {
            (true, true) => "LAN and server",
            (true, false) => "LAN",
            _ => "server",
        }
    }

    /// The name to show: the display name, or "Nearby device".
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => "Nearby device".into(),
        }
    }
}

/// Applies a peer event (found, lost, or the server going down) to the
/// list: a peer on the LAN and the server is one row, and stays while it
/// is on the LAN after the server went away. Says whether the list changed.
pub fn apply(peers: &mut BTreeMap<String, PeerRow>, event: &Event) -> bool {
    match event {
        Event::PeerFound {
            peer,
            name,
            source,
            os,
            publishes,
        } => {
            let peer = peer.to_string();
            let row = peers
                .entry(peer.clone())
                .or_insert_with(|| PeerRow::new(peer));
            row.seen(*source, true);
            // The name the peer gives itself on the LAN wins over the
            // server's copy; either beats none.
            if name.is_some() && (*source == PeerSource::Lan || row.name.is_none()) {
                row.name = name.clone();
            }
            if os.is_some() {
                row.os = os.clone();
            }
            // The server says whether it publishes; the LAN does not yet.
            if *source == PeerSource::Server {
                row.publishes = *publishes;
            } else {
                row.publishes |= *publishes;
            }
            true
        }
        Event::PeerLost { peer, source } => {
            let peer = peer.to_string();
            if let Some(row) = peers.get_mut(&peer)
                && !row.seen(*source, false)
            {
                peers.remove(&peer);
            }
            true
        }
        Event::ServerStatus {
            connected: false, ..
        } => {
            peers.retain(|_, row| row.seen(PeerSource::Server, false));
            true
        }
        _ => false,
    }
}

/// The first and last characters of a peer ID.
pub fn short_id(peer: &str) -> String {
    let chars: Vec<char> = peer.chars().collect();
    if chars.len() <= 12 {
        return peer.to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}
