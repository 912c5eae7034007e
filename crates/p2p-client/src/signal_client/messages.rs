//! What the server says, turned into answers to the pending request,
//! claims of opened nameplates, and peer events for the engine.

use std::collections::HashMap;

use libp2p::PeerId;
use protocol::signal::{PeerInfo, ServerMsg};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Answer, Ask, Pending, SignalError};
use crate::event::{Event, PeerSource};

/// A nameplate we opened: where its claims go, and how many may still come.
pub(super) struct Opened {
    pub(super) paired: mpsc::Sender<PeerInfo>,
    pub(super) left: u32,
}

pub(super) fn on_server_msg(
    msg: ServerMsg,
    events: &mpsc::Sender<Event>,
    room: &mut HashMap<String, PeerInfo>,
    current: &mut Option<Pending>,
    opened: &mut HashMap<u32, Opened>,
) {
    fn answer(current: &mut Option<Pending>, result: Result<Answer, SignalError>) {
        if let Some(pending) = current.take() {
            let _ = pending.reply.send(result);
        }
    }
    match msg {
        ServerMsg::PeerJoined { peer } | ServerMsg::PeerUpdated { peer } => {
            // New, or changed in what a view shows (its name, system, or
            // whether it publishes a folder).
            let shown = |p: &PeerInfo| (p.name.clone(), p.os.clone(), p.publishes);
            if room.get(&peer.peer_id).map(shown) != Some(shown(&peer)) {
                peer_found(events, &peer);
            }
            room.insert(peer.peer_id.clone(), peer);
        }
        ServerMsg::PeerLeft { peer_id } => {
            if room.remove(&peer_id).is_some()
                && let Ok(peer) = peer_id.parse::<PeerId>()
            {
                let _ = events.try_send(Event::PeerLost {
                    peer,
                    source: PeerSource::Server,
                });
            }
        }
        ServerMsg::CodeOpened { nameplate, .. } => {
            if let Some(Pending {
                ask: Ask::OpenCode { paired, claims, .. },
                reply,
            }) = current.take()
            {
                opened.insert(
                    nameplate,
                    Opened {
                        paired,
                        left: claims,
                    },
                );
                let _ = reply.send(Ok(Answer::Opened));
            }
        }
        ServerMsg::CodePaired { nameplate, peer } => {
            if let Some(open) = opened.get_mut(&nameplate) {
                // The channel holds every claim there can be.
                let _ = open.paired.try_send(peer);
                open.left = open.left.saturating_sub(1);
                if open.left == 0 {
                    opened.remove(&nameplate);
                }
            } else if matches!(current, Some(Pending { ask: Ask::ClaimCode { nameplate: n }, .. }) if *n == nameplate)
            {
                answer(current, Ok(Answer::Paired(peer)));
            }
        }
        ServerMsg::CodeExpired { nameplate } => {
            // Dropping the sender tells the share its code expired.
            opened.remove(&nameplate);
        }
        ServerMsg::LookupResult { peer, .. } => answer(current, Ok(Answer::Found(peer))),
        ServerMsg::Error { code, message } => {
            debug!(%code, %message, "signal server error");
            answer(
                current,
                Err(SignalError::Refused {
                    code,
                    message: protocol::transfer::sanitize_reason(&message),
                }),
            );
        }
        other => debug!(msg = ?other, "signal server message"),
    }
}

pub(super) fn peer_found(events: &mpsc::Sender<Event>, peer: &PeerInfo) {
    let Ok(id) = peer.peer_id.parse::<PeerId>() else {
        warn!(peer = %peer.peer_id, "the server listed a peer with an invalid peer ID; ignored");
        return;
    };
    let _ = events.try_send(Event::PeerFound {
        peer: id,
        name: Some(protocol::path::display_escaped(&peer.name, 64)),
        source: PeerSource::Server,
        os: peer.os.clone().filter(|os| protocol::device::valid_os(os)),
        publishes: peer.publishes,
    });
}
