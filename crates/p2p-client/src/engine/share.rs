//! Shares: a sender waits for a receiver who proves it holds the ticket's
//! secret or the share code (SPAKE2 bound to both peer IDs, then key
//! confirmation both ways). Only then does the sender reveal its offer.

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use protocol::code::ShareCode;
use protocol::ticket::{SECRET_BYTES, Ticket};
use protocol::transfer::{Knock, Refusal, Request, Response, sanitize_reason};
use rand::RngCore;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Engine, EngineError};

const SENDER_LABEL: &[u8] = b"p2p-share pake confirm sender";
const RECEIVER_LABEL: &[u8] = b"p2p-share pake confirm receiver";

/// Shares waiting for their receiver.
#[derive(Default)]
pub(super) struct Shares {
    entries: HashMap<u64, Entry>,
    next: u64,
}

struct Entry {
    secret: [u8; SECRET_BYTES],
    code: Option<ShareCode>,
    /// For a code: the peer the signal server paired us with, once known.
    paired: Option<PeerId>,
    /// A PAKE in progress: the peer and the key it should confirm.
    confirming: Option<(PeerId, [u8; 32])>,
    notify: Option<oneshot::Sender<Result<PeerId, EngineError>>>,
}

/// A share waiting for its receiver.
pub struct Share {
    id: u64,
    /// The ticket to give the receiver.
    pub ticket: Ticket,
    /// The share code, if one was made.
    pub code: Option<ShareCode>,
    arrived: oneshot::Receiver<Result<PeerId, EngineError>>,
    engine: Engine,
}

impl Share {
    /// Waits until a receiver has proven it holds the ticket or the code.
    pub async fn receiver(self) -> Result<PeerId, EngineError> {
        let result = tokio::select! {
            result = self.arrived => result.unwrap_or(Err(EngineError::Stopped)),
            () = self.engine.inner.shutdown.cancelled() => Err(EngineError::Stopped),
        };
        self.engine.state().shares.entries.remove(&self.id);
        result
    }

    /// Waits for the receiver, then scans, offers and sends `paths`.
    pub async fn send(
        self,
        paths: Vec<std::path::PathBuf>,
    ) -> Result<crate::event::Summary, EngineError> {
        let engine = self.engine.clone();
        let scanned = super::send::scan_files(&engine, paths).await?;
        let peer = self.receiver().await?;
        super::send::offer_and_send(&engine, peer, scanned).await
    }
}

/// Nameplates tried before giving up when the server says they are in use.
const NAMEPLATE_TRIES: usize = 8;

/// Creates a share with a fresh ticket secret and, with a signal server, a
/// share code whose nameplate is open there.
pub(super) async fn create(engine: &Engine) -> Result<Share, EngineError> {
    let (code, paired) = match &engine.inner.signal {
        Some(signal) => {
            let (code, paired) = open_code(signal).await?;
            (Some(code), Some(paired))
        }
        None => (None, None),
    };
    let share = register(engine, code).await?;
    if let Some(paired) = paired {
        let id = share.id;
        let engine = engine.clone();
        engine.inner.tracker.clone().spawn(async move {
            let outcome = tokio::select! {
                outcome = paired => outcome,
                () = engine.inner.shutdown.cancelled() => return,
            };
            let mut state = engine.state();
            let Some(entry) = state.shares.entries.get_mut(&id) else {
                return;
            };
            match outcome.ok().and_then(|p| p.peer_id.parse::<PeerId>().ok()) {
                Some(peer) => entry.paired = entry.paired.or(Some(peer)),
                None => {
                    if let Some(notify) = entry.notify.take() {
                        let _ = notify.send(Err(EngineError::CodeExpired));
                    }
                }
            }
        });
    }
    Ok(share)
}

async fn open_code(
    signal: &crate::signal::SignalHandle,
) -> Result<(ShareCode, oneshot::Receiver<protocol::signal::PeerInfo>), EngineError> {
    let mut last = None;
    for attempt in 0..NAMEPLATE_TRIES {
        // Short numbers first; widen the range when they are taken.
        let upper = if attempt < NAMEPLATE_TRIES / 2 {
            999
        } else {
            protocol::code::MAX_NAMEPLATE
        };
        let mut rng = rand::rngs::OsRng;
        let nameplate = ShareCode::random_nameplate(&mut rng, upper);
        let code = ShareCode::generate(&mut rng, nameplate, protocol::code::DEFAULT_WORDS)
            .map_err(|e| EngineError::Protocol {
                peer: PeerId::random(),
                reason: e.to_string(),
            })?;
        match signal.open_code(nameplate).await {
            Ok(paired) => return Ok((code, paired)),
            Err(crate::signal::SignalError::Refused {
                code: protocol::signal::ErrorCode::CodeInUse,
                message,
            }) => last = Some(message),
            Err(e) => return Err(e.into()),
        }
    }
    Err(EngineError::Signal(crate::signal::SignalError::Refused {
        code: protocol::signal::ErrorCode::CodeInUse,
        message: last.unwrap_or_default(),
    }))
}

/// Registers a share with a fresh ticket secret.
async fn register(engine: &Engine, code: Option<ShareCode>) -> Result<Share, EngineError> {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let addrs = engine.wait_listening().await;
    let ticket = Ticket {
        peer_id: engine.peer_id().to_string(),
        addrs: addrs
            .iter()
            .filter(|a| crate::network::is_dialable(a))
            .map(ToString::to_string)
            .take(protocol::signal::MAX_ADDRS)
            .collect(),
        secret,
    };
    let (notify, arrived) = oneshot::channel();
    let id = {
        let mut state = engine.state();
        let shares = &mut state.shares;
        shares.next += 1;
        let id = shares.next;
        shares.entries.insert(
            id,
            Entry {
                secret,
                code: code.clone(),
                paired: None,
                confirming: None,
                notify: Some(notify),
            },
        );
        id
    };
    Ok(Share {
        id,
        ticket,
        code,
        arrived,
        engine: engine.clone(),
    })
}

fn confirm_mac(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(key, label).as_bytes()
}

fn pake_ids(sender: &PeerId, receiver: &PeerId) -> (Identity, Identity) {
    (
        Identity::new(&sender.to_bytes()),
        Identity::new(&receiver.to_bytes()),
    )
}

fn session_key(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// A receiver knocks on one of our shares.
pub(super) fn on_knock(
    engine: &Engine,
    peer: PeerId,
    knock: Knock,
    reply: oneshot::Sender<Response>,
) {
    let me = engine.peer_id();
    let mut state = engine.state();
    let response = match knock {
        Knock::Ticket { secret } => {
            let found = state
                .shares
                .entries
                .values_mut()
                .find(|e| e.notify.is_some() && constant_time_eq(&e.secret, &secret));
            match found {
                Some(entry) => {
                    info!(%peer, "receiver presented the ticket");
                    if let Some(notify) = entry.notify.take() {
                        let _ = notify.send(Ok(peer));
                    }
                    Response::Knocked {
                        pake: None,
                        mac: None,
                    }
                }
                None => refused(
                    Refusal::WrongSecret,
                    "this ticket is not valid here (used or expired)",
                ),
            }
        }
        Knock::Pake { msg } => {
            let found = state.shares.entries.values_mut().find(|e| {
                e.notify.is_some()
                    && e.code.is_some()
                    && e.confirming.is_none()
                    && e.paired.is_none_or(|p| p == peer)
            });
            match found {
                Some(entry) => {
                    let password = entry
                        .code
                        .as_ref()
                        .map(ShareCode::password)
                        .unwrap_or_default();
                    let (id_a, id_b) = pake_ids(&me, &peer);
                    let (pake, ours) = Spake2::<Ed25519Group>::start_a(
                        &Password::new(password.as_bytes()),
                        &id_a,
                        &id_b,
                    );
                    match pake.finish(&msg).ok().as_deref().and_then(session_key) {
                        Some(key) => {
                            entry.confirming = Some((peer, key));
                            Response::Knocked {
                                pake: Some(ours),
                                mac: Some(confirm_mac(&key, SENDER_LABEL).to_vec()),
                            }
                        }
                        None => refused(Refusal::WrongSecret, "malformed PAKE message"),
                    }
                }
                None => refused(Refusal::NotExpected, "no share code is waiting for you"),
            }
        }
        _ => refused(Refusal::NotExpected, "unknown knock"),
    };
    drop(state);
    let _ = reply.send(response);
}

/// The receiver's key confirmation after a PAKE knock.
pub(super) fn on_confirm(
    engine: &Engine,
    peer: PeerId,
    mac: &[u8],
    reply: oneshot::Sender<Response>,
) {
    let mut state = engine.state();
    let found = state
        .shares
        .entries
        .values_mut()
        .find(|e| e.confirming.is_some_and(|(p, _)| p == peer));
    let response = match found {
        Some(entry) => {
            let key = entry.confirming.map(|(_, key)| key).unwrap_or_default();
            let good = constant_time_eq(&confirm_mac(&key, RECEIVER_LABEL), mac);
            let result = if good {
                info!(%peer, "receiver proved the share code");
                Ok(peer)
            } else {
                warn!(%peer, "share code mismatch");
                Err(EngineError::WrongCode)
            };
            if let Some(notify) = entry.notify.take() {
                let _ = notify.send(result);
            }
            if good {
                Response::Confirmed
            } else {
                refused(Refusal::WrongSecret, "the share code does not match")
            }
        }
        None => refused(Refusal::NotExpected, "nothing to confirm"),
    };
    drop(state);
    let _ = reply.send(response);
}

/// Receiver: presents a ticket's secret to the sender it names.
pub(super) async fn knock_ticket(engine: &Engine, ticket: &Ticket) -> Result<PeerId, EngineError> {
    let peer: PeerId = ticket.peer_id.parse().map_err(|_| EngineError::Protocol {
        peer: engine.peer_id(),
        reason: "the ticket's peer ID is not valid".into(),
    })?;
    let addrs = ticket.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    engine.inner.net.dial(peer, addrs).await?;
    // Expect the offer before asking, so it cannot race past us.
    engine.state().expected_senders.insert(peer);
    let knock = Request::Knock(Knock::Ticket {
        secret: ticket.secret.to_vec(),
    });
    match engine.inner.net.request(peer, knock).await {
        Ok(Response::Knocked { .. }) => Ok(peer),
        Ok(Response::Refused { message, .. }) => {
            engine.state().expected_senders.remove(&peer);
            Err(EngineError::Refused {
                peer,
                message: sanitize_reason(&message),
            })
        }
        Ok(other) => {
            engine.state().expected_senders.remove(&peer);
            Err(EngineError::Protocol {
                peer,
                reason: format!("unexpected answer to a knock: {other:?}"),
            })
        }
        Err(e) => {
            engine.state().expected_senders.remove(&peer);
            Err(e.into())
        }
    }
}

/// Receiver: runs the PAKE for `code` with the sender the server paired us with.
pub(super) async fn knock_code(
    engine: &Engine,
    code: &ShareCode,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
) -> Result<PeerId, EngineError> {
    engine.inner.net.dial(peer, addrs).await?;
    let me = engine.peer_id();
    let (id_a, id_b) = pake_ids(&peer, &me);
    let password = code.password();
    let (pake, ours) =
        Spake2::<Ed25519Group>::start_b(&Password::new(password.as_bytes()), &id_a, &id_b);
    let answer = engine
        .inner
        .net
        .request(peer, Request::Knock(Knock::Pake { msg: ours }))
        .await?;
    let (theirs, their_mac) = match answer {
        Response::Knocked {
            pake: Some(theirs),
            mac: Some(mac),
        } => (theirs, mac),
        other => return Err(EngineError::unexpected(peer, other, "a code knock")),
    };
    let key = pake.finish(&theirs).ok().as_deref().and_then(session_key);
    let matches = key.is_some_and(|k| constant_time_eq(&confirm_mac(&k, SENDER_LABEL), &their_mac));
    let Some(key) = key.filter(|_| matches) else {
        // Tell the sender too, so both sides stop with the same message.
        let _ = engine
            .inner
            .net
            .request(peer, Request::Confirm { mac: Vec::new() })
            .await;
        return Err(EngineError::WrongCode);
    };
    engine.state().expected_senders.insert(peer);
    let confirm = Request::Confirm {
        mac: confirm_mac(&key, RECEIVER_LABEL).to_vec(),
    };
    match engine.inner.net.request(peer, confirm).await? {
        Response::Confirmed => Ok(peer),
        _ => {
            engine.state().expected_senders.remove(&peer);
            Err(EngineError::WrongCode)
        }
    }
}

fn refused(reason: Refusal, message: &str) -> Response {
    Response::Refused {
        reason,
        message: message.into(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
