//! The task that owns the swarm.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::core::transport::ListenerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, relay};
use protocol::transfer::{Refusal, Request, Response};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::dialing::Dials;
use p2p_transport::quic;

use super::{Command, NetError, NetEvent, PathInfo, REQUEST_TIMEOUT, is_dialable};

mod commands;

type PendingReply = BoxFuture<'static, (ResponseChannel<Response>, Response)>;

/// The swarm and everything waiting on it.
pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// QUIC's endpoints, waited on at shutdown (see `quic::Endpoints`).
    quic_endpoints: quic::Endpoints,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    dials: HashMap<PeerId, Vec<oneshot::Sender<Result<PathInfo, NetError>>>>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    replies: FuturesUnordered<PendingReply>,
    connections: HashMap<PeerId, Vec<(ConnectionId, Multiaddr)>>,
    listen_addrs: Vec<Multiaddr>,
    /// `listen_addrs` for the handles, sent on every change.
    listening: watch::Sender<Vec<Multiaddr>>,
    waiting_direct: HashMap<PeerId, Vec<oneshot::Sender<bool>>>,
    our_dials: Dials,
    waiting_best: HashMap<PeerId, Vec<oneshot::Sender<()>>>,
    /// Callers waiting for all but one connection to a peer to close.
    waiting_single: HashMap<PeerId, Vec<oneshot::Sender<()>>>,
    /// Callers waiting for the last connection to a peer to close.
    waiting_gone: HashMap<PeerId, Vec<oneshot::Sender<()>>>,
    /// Listeners added by `Command::Listen`: told why when they close.
    listeners: HashMap<ListenerId, oneshot::Sender<String>>,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        quic_endpoints: quic::Endpoints,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        listening: watch::Sender<Vec<Multiaddr>>,
    ) -> Self {
        Self {
            listening,
            swarm,
            quic_endpoints,
            commands,
            events,
            dials: HashMap::new(),
            requests: HashMap::new(),
            replies: FuturesUnordered::new(),
            connections: HashMap::new(),
            listen_addrs: Vec::new(),
            waiting_direct: HashMap::new(),
            our_dials: Dials::default(),
            waiting_best: HashMap::new(),
            waiting_single: HashMap::new(),
            waiting_gone: HashMap::new(),
            listeners: HashMap::new(),
        }
    }

    /// Runs until `shutdown` is cancelled or every handle is dropped.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                (peer, stage) = self.our_dials.next_due() => {
                    let best = self.best_path(&peer);
                    self.our_dials.start_late(&mut self.swarm, peer, Some(stage), best);
                    self.check_waiting_best(&peer);
                }
                Some((channel, response)) = self.replies.next(), if !self.replies.is_empty() => {
                    if self.swarm.behaviour_mut().control.send_response(channel, response).is_err() {
                        debug!("peer went away before our answer");
                    }
                }
            }
        }
        self.close_gracefully().await;
        debug!("network loop stopped");
    }

    /// Closes every connection, letting muxers flush what is queued.
    async fn close_gracefully(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let drain = async {
            while self.swarm.connected_peers().next().is_some() {
                self.swarm.select_next_some().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        self.quic_endpoints.wait_closed().await;
    }

    fn best_path(&self, peer: &PeerId) -> Option<PathInfo> {
        self.connections
            .get(peer)?
            .iter()
            .map(|(_, addr)| PathInfo::of(addr))
            .max_by_key(|path| path.rank())
    }

    /// Answers the `WaitBest` waiters of `peer` if it is time.
    fn check_waiting_best(&mut self, peer: &PeerId) {
        if self
            .our_dials
            .nothing_better_coming(peer, self.best_path(peer))
            && let Some(waiting) = self.waiting_best.remove(peer)
        {
            for reply in waiting {
                let _ = reply.send(());
            }
        }
    }

    fn emit(&self, event: NetEvent) {
        if let Err(e) = self.events.try_send(event) {
            warn!(error = %e, "engine is not keeping up with network events; one dropped");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address.clone());
                self.listening.send_replace(self.listen_addrs.clone());
                self.emit(NetEvent::Listening { addr: address });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
                self.listening.send_replace(self.listen_addrs.clone());
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
                self.listening.send_replace(self.listen_addrs.clone());
                let failed = reason.is_err();
                let why = match reason {
                    Ok(()) => "closed".to_owned(),
                    Err(e) => super::error_chain(&e),
                };
                debug!(?addresses, %why, "listener closed");
                if let Some(closed) = self.listeners.remove(&listener_id) {
                    let _ = closed.send(why);
                } else if failed {
                    // One of the configured listeners: the others go on.
                    warn!(?addresses, reason = %why, "a listener failed");
                    let addr = addresses
                        .into_iter()
                        .next()
                        .unwrap_or_else(Multiaddr::empty);
                    self.emit(NetEvent::ListenFailed { addr, reason: why });
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.our_dials
                    .connected(connection_id, &peer_id, endpoint.is_relayed());
                let addr = endpoint.get_remote_address().clone();
                debug!(peer = %peer_id, %addr, "connected");
                if !PathInfo::of(&addr).relayed
                    && let Some(waiting) = self.waiting_direct.remove(&peer_id)
                {
                    for reply in waiting {
                        let _ = reply.send(true);
                    }
                }
                self.connections
                    .entry(peer_id)
                    .or_default()
                    .push((connection_id, addr));
                if let (Some(waiting), Some(path)) =
                    (self.dials.remove(&peer_id), self.best_path(&peer_id))
                {
                    for reply in waiting {
                        let _ = reply.send(Ok(path));
                    }
                }
                self.check_waiting_best(&peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                debug!(peer = %peer_id, ?cause, "connection closed");
                if let Some(list) = self.connections.get_mut(&peer_id) {
                    list.retain(|(id, _)| *id != connection_id);
                    if list.len() <= 1 {
                        for waiting in self.waiting_single.remove(&peer_id).unwrap_or_default() {
                            let _ = waiting.send(());
                        }
                    }
                    if list.is_empty() {
                        self.connections.remove(&peer_id);
                        for waiting in self.waiting_gone.remove(&peer_id).unwrap_or_default() {
                            let _ = waiting.send(());
                        }
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                connection_id,
                error,
            } => {
                self.our_dials.failed(connection_id);
                // Every dial under way failed before the next kind's turn:
                // try that now.
                let best = self.best_path(&peer);
                if !self.our_dials.dialling(&peer)
                    && self.our_dials.start_late(&mut self.swarm, peer, None, best)
                {
                    debug!(%peer, %error, "no connection this way; trying the next kind");
                    return;
                }
                self.check_waiting_best(&peer);
                if self.connections.contains_key(&peer) {
                    return;
                }
                // Another of our attempts may still connect.
                if self.our_dials.dialling(&peer) {
                    return;
                }
                if let Some(waiting) = self.dials.remove(&peer) {
                    for reply in waiting {
                        let _ = reply.send(Err(NetError::Unreachable {
                            peer,
                            reason: error.to_string(),
                        }));
                    }
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            other => debug!(event = ?other, "swarm"),
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Control(event) => self.on_control_event(event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    self.swarm.add_peer_address(peer, addr.clone());
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    self.emit(NetEvent::LanPeer { peer, addrs });
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(gone)) => {
                let mut peers: Vec<PeerId> = gone.into_iter().map(|(p, _)| p).collect();
                peers.dedup();
                for peer in peers {
                    self.emit(NetEvent::LanPeerGone { peer });
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.emit(NetEvent::Identified {
                    peer: peer_id,
                    agent_version: info.agent_version,
                });
                for addr in info.listen_addrs {
                    if is_dialable(&addr) {
                        self.swarm.add_peer_address(peer_id, addr);
                    }
                }
            }
            BehaviourEvent::Relay(relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                ..
            }) => {
                info!(relay = %relay_peer_id, "relay reservation accepted");
                self.emit(NetEvent::Reserved {
                    relay: relay_peer_id,
                });
            }
            // A failed attempt says little (another relayed connection may
            // still punch through): waiters time out instead.
            BehaviourEvent::Dcutr(event) => info!(?event, "hole punching"),
            other => debug!(event = ?other, "behaviour"),
        }
    }

    fn on_control_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let (reply, answer) = oneshot::channel();
                let event = NetEvent::Request {
                    peer,
                    request,
                    reply,
                };
                if self.events.try_send(event).is_err() {
                    let busy =
                        refused(Refusal::Busy, "the receiver is busy; try again in a moment");
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .control
                        .send_response(channel, busy);
                    return;
                }
                self.replies.push(Box::pin(async move {
                    let response = match tokio::time::timeout(
                        REQUEST_TIMEOUT - Duration::from_secs(5),
                        answer,
                    )
                    .await
                    {
                        Ok(Ok(response)) => response,
                        Ok(Err(_)) => refused(Refusal::NotExpected, "the request was not expected"),
                        Err(_) => refused(Refusal::Busy, "no answer in time"),
                    };
                    (channel, response)
                }));
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::NoAnswer {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

fn refused(reason: Refusal, message: &str) -> Response {
    Response::Refused {
        reason,
        message: message.into(),
    }
}
