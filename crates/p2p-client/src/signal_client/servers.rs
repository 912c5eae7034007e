//! Several signal servers used together: the node registers with each it
//! reaches (and so reserves a slot on each one's relay), and a peer stays
//! reachable while any one of them is up.
//!
//! [`Servers`] asks them in the configured order: a lookup or a share code
//! goes to the next server when one is offline or does not know it. Each
//! server's room is its own, so [`Merge`] turns their peer events into one
//! list: a peer is lost only when no server lists it any more, and the
//! node counts as connected while any server is.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use protocol::signal::PeerInfo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{SignalConfig, SignalError, SignalHandle, spawn};
use crate::event::{Event, PeerSource};
use crate::network::Network;

/// Events queued from the servers' tasks to the merge; beyond it, they
/// are dropped as the single server's were (peer lists refresh on the
/// next change).
const MERGE_QUEUE: usize = 256;

/// The signal servers of one node, in the configured order.
#[derive(Clone)]
pub(crate) struct Servers {
    handles: Vec<SignalHandle>,
}

impl Servers {
    /// Starts a client task for each of `urls` (with the configuration
    /// `config` gives for it) and the task that merges their events into
    /// `events`. None when `urls` is empty.
    pub(crate) fn spawn(
        urls: &[String],
        config: impl Fn(&str) -> SignalConfig,
        net: &Network,
        events: mpsc::Sender<Event>,
        shutdown: &CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Option<Self> {
        if urls.is_empty() {
            return None;
        }
        let (merged, mut from_servers) = mpsc::channel::<(usize, Event)>(MERGE_QUEUE);
        let mut handles = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let (tagged, mut rx) = mpsc::channel::<Event>(MERGE_QUEUE);
            let merged = merged.clone();
            tracker.spawn(async move {
                while let Some(event) = rx.recv().await {
                    if merged.send((index, event)).await.is_err() {
                        return;
                    }
                }
            });
            handles.push(spawn(
                config(url),
                net.clone(),
                tagged,
                shutdown.clone(),
                tracker,
            ));
        }
        drop(merged);
        let mut merge = Merge::new(urls.to_vec());
        tracker.spawn(async move {
            while let Some((index, event)) = from_servers.recv().await {
                for event in merge.on(index, event) {
                    let _ = events.try_send(event);
                }
            }
        });
        Some(Self { handles })
    }

    /// Tells every server whether we publish a folder.
    pub(crate) fn set_publishing(&self, publishing: bool) {
        for handle in &self.handles {
            handle.set_publishing(publishing);
        }
    }

    /// Whether `peer` is in our room on any server now.
    pub(crate) fn in_room(&self, peer: &PeerId) -> bool {
        self.handles.iter().any(|h| h.in_room(peer))
    }

    /// Opens a nameplate on the first server that takes it. A nameplate in
    /// use there is the caller's to retry with another; an unreachable
    /// server passes to the next.
    pub(crate) async fn open_code(
        &self,
        nameplate: u32,
        claims: u32,
    ) -> Result<mpsc::Receiver<PeerInfo>, SignalError> {
        let mut last = None;
        for handle in &self.handles {
            match handle.open_code(nameplate, claims).await {
                Ok(paired) => return Ok(paired),
                Err(e @ SignalError::Refused { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(SignalError::Timeout))
    }

    /// Claims a nameplate on each server in turn, until one pairs us. The
    /// error, if none does, is a server's refusal (the code is not there)
    /// before its being offline.
    pub(crate) async fn claim_code(&self, nameplate: u32) -> Result<PeerInfo, SignalError> {
        let mut refused = None;
        let mut other = None;
        for handle in &self.handles {
            match handle.claim_code(nameplate).await {
                Ok(peer) => return Ok(peer),
                Err(e @ SignalError::Refused { .. }) => refused = refused.or(Some(e)),
                Err(e) => other = other.or(Some(e)),
            }
        }
        Err(refused.or(other).unwrap_or(SignalError::Timeout))
    }

    /// Addresses that reach `peer` through every server's relay.
    pub(crate) async fn circuit_addrs(&self, peer: PeerId, wait: Duration) -> Vec<Multiaddr> {
        let each = self.handles.iter().map(|h| h.circuit_addrs(peer, wait));
        futures::future::join_all(each)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Finds a registered peer on any server (asked at once); an error only
    /// when no server could answer.
    pub(crate) async fn lookup(&self, peer: PeerId) -> Result<Option<PeerInfo>, SignalError> {
        let each = self.handles.iter().map(|h| h.lookup(peer));
        let mut first_error = None;
        let mut answered = false;
        for result in futures::future::join_all(each).await {
            match result {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) => answered = true,
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) if !answered => Err(e),
            _ => Ok(None),
        }
    }
}

/// The servers' peer and status events, made into those of one list.
pub(super) struct Merge {
    urls: Vec<String>,
    connected: Vec<bool>,
    /// The servers (by index) that list each peer now.
    listed: HashMap<PeerId, HashSet<usize>>,
}

impl Merge {
    pub(super) fn new(urls: Vec<String>) -> Self {
        Self {
            connected: vec![false; urls.len()],
            urls,
            listed: HashMap::new(),
        }
    }

    /// What the engine sees of `event` from server `index`.
    pub(super) fn on(&mut self, index: usize, event: Event) -> Vec<Event> {
        match event {
            Event::PeerFound {
                peer,
                source: PeerSource::Server,
                ..
            } => {
                self.listed.entry(peer).or_default().insert(index);
                vec![event]
            }
            Event::PeerLost {
                peer,
                source: PeerSource::Server,
            } => {
                if self.unlist(peer, index) {
                    vec![event]
                } else {
                    Vec::new()
                }
            }
            Event::ServerStatus {
                url,
                connected,
                message,
            } => {
                if let Some(up) = self.connected.get_mut(index) {
                    *up = connected;
                }
                if connected {
                    return vec![Event::ServerStatus {
                        url,
                        connected,
                        message,
                    }];
                }
                // Its room is gone: peers only it listed are lost.
                let peers: Vec<PeerId> = self.listed.keys().copied().collect();
                let mut out: Vec<Event> = peers
                    .into_iter()
                    .filter(|peer| self.unlist(*peer, index))
                    .map(|peer| Event::PeerLost {
                        peer,
                        source: PeerSource::Server,
                    })
                    .collect();
                let still_up = self
                    .connected
                    .iter()
                    .position(|up| *up)
                    .and_then(|i| self.urls.get(i));
                out.push(match still_up {
                    Some(other) => Event::ServerStatus {
                        url: other.clone(),
                        connected: true,
                        message: format!("connected; {url} is down: {message}"),
                    },
                    None => Event::ServerStatus {
                        url,
                        connected,
                        message,
                    },
                });
                out
            }
            other => vec![other],
        }
    }

    /// Server `index` lists `peer` no more; says whether no server does.
    fn unlist(&mut self, peer: PeerId, index: usize) -> bool {
        let Some(servers) = self.listed.get_mut(&peer) else {
            return false;
        };
        servers.remove(&index);
        if servers.is_empty() {
            self.listed.remove(&peer);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[path = "servers_tests.rs"]
mod tests;
