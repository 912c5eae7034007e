//! The engine's dispatcher: the network's events, in one task. Peers'
//! requests go to their handlers; LAN peers are announced, asked who they
//! are (identify), and announced again by name.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use protocol::transfer::{Request, Response};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::{Engine, lock, publish, receive, share};
use crate::event::{Event, PeerSource};
use crate::network::NetEvent;

/// Peers whose self-description is kept (identify); past it the cache
/// starts again.
const MAX_DEVICES: usize = 1024;

/// How long a connection made only to learn a LAN peer's name may take.
const ASK_WHO_WAIT: Duration = Duration::from_secs(5);

impl Engine {
    pub(super) async fn dispatch(self, mut net_events: mpsc::Receiver<NetEvent>) {
        loop {
            let event = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                event = net_events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            match event {
                NetEvent::Request {
                    peer,
                    request,
                    reply,
                } => self.on_request(peer, request, reply).await,
                NetEvent::LanPeer { peer, addrs } => {
                    if self
                        .inner
                        .lan_peers
                        .send_if_modified(|peers| peers.insert(peer))
                    {
                        let device = lock(&self.inner.devices).get(&peer).cloned();
                        self.emit(Event::PeerFound {
                            peer,
                            name: device.as_ref().map(|d| d.name.clone()),
                            source: PeerSource::Lan,
                            publishes: device.as_ref().is_some_and(|d| d.shares),
                            os: device.map(|d| d.os),
                        })
                        .await;
                        if !lock(&self.inner.devices).contains_key(&peer) {
                            self.ask_who(peer, addrs);
                        }
                    }
                }
                NetEvent::Identified {
                    peer,
                    agent_version,
                } => {
                    let Some(device) = protocol::device::Device::from_agent_version(&agent_version)
                    else {
                        continue;
                    };
                    {
                        let mut devices = lock(&self.inner.devices);
                        if devices.len() >= MAX_DEVICES && !devices.contains_key(&peer) {
                            devices.clear();
                        }
                        devices.insert(peer, device.clone());
                    }
                    if self.inner.lan_peers.borrow().contains(&peer) {
                        self.emit(Event::PeerFound {
                            peer,
                            name: Some(device.name),
                            source: PeerSource::Lan,
                            os: Some(device.os),
                            publishes: device.shares,
                        })
                        .await;
                    }
                }
                NetEvent::LanPeerGone { peer } => {
                    if self
                        .inner
                        .lan_peers
                        .send_if_modified(|peers| peers.remove(&peer))
                    {
                        self.emit(Event::PeerLost {
                            peer,
                            source: PeerSource::Lan,
                        })
                        .await;
                    }
                }
                NetEvent::Listening { addr } => {
                    self.emit(Event::Listening { addr }).await;
                }
                NetEvent::ListenFailed { addr, reason } => {
                    self.emit(Event::ListenFailed { addr, reason }).await;
                }
                NetEvent::Reserved { relay } => debug!(%relay, "relay slot reserved"),
            }
        }
    }

    async fn on_request(&self, peer: PeerId, request: Request, reply: oneshot::Sender<Response>) {
        match request {
            Request::Knock(knock) => share::on_knock(self, peer, knock, reply),
            Request::Confirm { nameplate, mac } => {
                share::on_confirm(self, peer, nameplate, &mac, reply);
            }
            Request::Offer(offer) => receive::on_offer(self, peer, offer, reply).await,
            Request::Cancel {
                transfer_id,
                reason,
            } => {
                receive::on_cancel(self, peer, &transfer_id, &reason).await;
                let _ = reply.send(Response::Cancelled);
            }
            Request::List(list) => publish::on_list(self, peer, list, reply),
            Request::Fetch(fetch) => publish::on_fetch(self, peer, fetch, reply),
            _ => {
                let _ = reply.send(Response::Refused {
                    reason: protocol::transfer::Refusal::NotExpected,
                    message: "unknown request".into(),
                });
            }
        }
    }

    /// Connects to a peer found on the LAN, so that identify tells its name
    /// (mDNS carries none); the idle connection closes by itself.
    fn ask_who(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let net = self.inner.net.clone();
        self.spawn(async move {
            match tokio::time::timeout(ASK_WHO_WAIT, net.dial(peer, addrs)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "LAN peer did not answer"),
                Err(_) => tracing::debug!(%peer, "LAN peer did not answer in time"),
            }
        });
    }
}
