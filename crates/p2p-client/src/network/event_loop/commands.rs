//! What the engine asks of the swarm: each [`Command`] carried out, or
//! its reply kept until the swarm has the answer.

use libp2p::Multiaddr;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use tokio::sync::oneshot;
use tracing::debug;

use super::EventLoop;
use crate::network::{Command, NetError, PathInfo, error_chain};

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial { peer, addrs, reply } => {
                if let Some(path) = self.best_path(&peer) {
                    let _ = reply.send(Ok(path));
                    return;
                }
                match self.our_dials.start(&mut self.swarm, peer, addrs) {
                    Ok(()) => self.dials.entry(peer).or_default().push(reply),
                    Err(reason) => {
                        let _ = reply.send(Err(NetError::Unreachable { peer, reason }));
                    }
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .control
                    .send_request(&peer, request);
                self.requests.insert(id, reply);
            }
            Command::DialAlongside { peer, addrs } => {
                // A dial from a fresh port would show the peer an address
                // nobody can reach us at.
                let listening = |transport| {
                    self.listen_addrs.iter().any(|l| {
                        let path = PathInfo::of(l);
                        !path.relayed && path.transport == transport
                    })
                };
                let addrs: Vec<Multiaddr> = addrs
                    .into_iter()
                    .filter(|a| listening(PathInfo::of(a).transport))
                    .collect();
                if addrs.is_empty() {
                    return;
                }
                let opts = DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .condition(PeerCondition::Always)
                    .build();
                if let Err(e) = self.swarm.dial(opts) {
                    debug!(%peer, error = %e, "second connection not dialled");
                }
            }
            Command::Listen { addr, reply } => {
                let result = match self.swarm.listen_on(addr.clone()) {
                    Ok(id) => {
                        let (closed, on_closed) = oneshot::channel();
                        self.listeners.insert(id, closed);
                        Ok(on_closed)
                    }
                    Err(e) => Err(NetError::Listen {
                        addr,
                        reason: error_chain(&e),
                    }),
                };
                let _ = reply.send(result);
            }
            Command::Path { peer, reply } => {
                let _ = reply.send(self.best_path(&peer));
            }
            Command::WaitGone { peer, reply } => {
                if self.connections.contains_key(&peer) {
                    self.waiting_gone.entry(peer).or_default().push(reply);
                } else {
                    let _ = reply.send(());
                }
            }
            Command::WaitDirect { peer, reply } => {
                if self.best_path(&peer).is_some_and(|p| !p.relayed) {
                    let _ = reply.send(true);
                } else {
                    self.waiting_direct.entry(peer).or_default().push(reply);
                }
            }
            Command::WaitBest { peer, reply } => {
                if self
                    .our_dials
                    .nothing_better_coming(&peer, self.best_path(&peer))
                {
                    let _ = reply.send(());
                } else {
                    self.waiting_best.entry(peer).or_default().push(reply);
                }
            }
            Command::KeepBest { peer, reply } => {
                let Some(best) = self.connections.get(&peer).and_then(|list| {
                    list.iter()
                        .max_by_key(|(_, addr)| PathInfo::of(addr).rank())
                        .map(|(id, _)| *id)
                }) else {
                    let _ = reply.send(());
                    return;
                };
                let others: Vec<(ConnectionId, Multiaddr)> = self
                    .connections
                    .get(&peer)
                    .into_iter()
                    .flatten()
                    .filter(|(id, _)| *id != best)
                    .cloned()
                    .collect();
                if others.is_empty() {
                    let _ = reply.send(());
                    return;
                }
                for (id, addr) in others {
                    debug!(%peer, %addr, "closing a connection: a better one exists");
                    self.swarm.close_connection(id);
                }
                self.waiting_single.entry(peer).or_default().push(reply);
            }
        }
    }
}
