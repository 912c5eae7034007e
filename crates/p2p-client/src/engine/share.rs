//! Shares: a sender waits for receivers (one by default, `--receivers N`
//! for more), each of whom proves it holds the ticket's
//! secret or the share code (SPAKE2 bound to both peer IDs, then key
//! confirmation both ways, the receiver's first). A code's knock names its
//! share by nameplate, and only the peer the signal server paired with
//! that nameplate may run its PAKE. Only then does the sender reveal its
//! offer.

mod state;

pub(super) use self::state::constant_time_eq;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use libp2p::{Multiaddr, PeerId};
use protocol::code::ShareCode;
use protocol::ticket::{SECRET_BYTES, Ticket};
use protocol::transfer::{Knock, Refusal, Request, Response, sanitize_reason};
use rand::RngCore;
use spake2::{Ed25519Group, Password, Spake2};
use tokio::sync::{mpsc, oneshot};

use self::state::{Arrival, RECEIVER_LABEL, SENDER_LABEL, confirm_mac, pake_ids, session_key};
use super::{Engine, EngineError};

/// How a share's waiting task hears of each receiver.
pub(super) type Notify = mpsc::Sender<Result<PeerId, EngineError>>;

/// The open shares, each told of its receiver through a [`Notify`].
pub(super) type Shares = state::Shares<Notify>;

/// A share waiting for its receiver.
pub struct Share {
    id: u64,
    /// The ticket to give the receiver.
    pub ticket: Ticket,
    /// The share code, if one was made.
    pub code: Option<ShareCode>,
    /// Receivers it serves.
    pub receivers: u32,
    arrived: mpsc::Receiver<Result<PeerId, EngineError>>,
    engine: Engine,
}

/// What one receiver of a share got: who it was (unknown when its proof
/// failed) and the transfer's result.
pub type Served = (Option<PeerId>, Result<crate::event::Summary, EngineError>);

impl Share {
    /// Waits until a receiver has proven it holds the ticket or the code;
    /// the share then takes no one else.
    pub async fn receiver(mut self) -> Result<PeerId, EngineError> {
        let result = self.next_receiver().await;
        self.engine.shares().close(self.id);
        result.unwrap_or(Err(EngineError::Stopped))
    }

    /// The next receiver (or failed proof); none once no more can come.
    async fn next_receiver(&mut self) -> Option<Result<PeerId, EngineError>> {
        tokio::select! {
            result = self.arrived.recv() => result,
            () = self.engine.inner.shutdown.cancelled() => Some(Err(EngineError::Stopped)),
        }
    }

    /// Sends what was scanned (hashed once) to each receiver as it comes,
    /// while others are still coming, until every place is used, the code
    /// expired, or the engine stops; returns what each receiver got.
    pub async fn send_to_each(mut self, scanned: crate::files::scan::Scanned) -> Vec<Served> {
        let engine = self.engine.clone();
        let scanned = if self.receivers > 1 {
            scanned.for_many()
        } else {
            scanned
        };
        let mut running = FuturesUnordered::new();
        let mut served = Vec::new();
        let mut came = 0u32;
        let mut open = true;
        loop {
            tokio::select! {
                next = self.next_receiver(), if open => match next {
                    Some(Ok(peer)) => {
                        came += 1;
                        let scanned = if came == 1 { Ok(scanned.clone()) } else { scanned.renewed() };
                        let engine = engine.clone();
                        running.push(async move {
                            let result = match scanned {
                                Ok(scanned) => super::send::offer_and_send(&engine, peer, scanned).await,
                                Err(e) => Err(e.into()),
                            };
                            (Some(peer), result)
                        });
                    }
                    Some(Err(e)) => {
                        // A code that expired or an engine that stops ends
                        // the waiting; a wrong code used one place.
                        open = !matches!(e, EngineError::CodeExpired | EngineError::Stopped);
                        served.push((None, Err(e)));
                    }
                    None => open = false,
                },
                Some(done) = running.next() => served.push(done),
                else => break,
            }
        }
        self.engine.shares().close(self.id);
        served
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

    /// Waits for the receiver, then offers what was scanned (files, a
    /// text or a stream).
    pub async fn send_scanned(
        self,
        scanned: crate::files::scan::Scanned,
    ) -> Result<crate::event::Summary, EngineError> {
        let engine = self.engine.clone();
        let peer = self.receiver().await?;
        super::send::offer_and_send(&engine, peer, scanned).await
    }
}

/// Nameplates tried before giving up when the server says they are in use.
const NAMEPLATE_TRIES: usize = 8;

/// Creates a share for `receivers` receivers with a fresh ticket secret
/// and, with a signal server, a share code whose nameplate is open there
/// for as many claims.
pub(super) async fn create(engine: &Engine, receivers: u32) -> Result<Share, EngineError> {
    let receivers = receivers.clamp(1, protocol::signal::MAX_CODE_CLAIMS);
    let (code, paired) = match &engine.inner.signal {
        Some(signal) => {
            let (code, paired) = open_code(signal, receivers).await?;
            (Some(code), Some(paired))
        }
        None => (None, None),
    };
    let share = register(engine, code, receivers).await?;
    if let Some(mut paired) = paired {
        let id = share.id;
        let engine = engine.clone();
        engine.inner.tracker.clone().spawn(async move {
            let mut claims = 0;
            loop {
                let next = tokio::select! {
                    next = paired.recv() => next,
                    () = engine.inner.shutdown.cancelled() => return,
                };
                match next {
                    Some(info) => {
                        claims += 1;
                        if let Ok(peer) = info.peer_id.parse::<PeerId>() {
                            engine.shares().paired(id, Some(peer));
                        }
                    }
                    // Closed before every claim came: the code expired
                    // (or the server went away).
                    None if claims < receivers => {
                        deliver(engine.shares().paired(id, None));
                        return;
                    }
                    None => return,
                }
            }
        });
    }
    Ok(share)
}

async fn open_code(
    signal: &crate::signal_client::Servers,
    receivers: u32,
) -> Result<(ShareCode, mpsc::Receiver<protocol::signal::PeerInfo>), EngineError> {
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
        match signal.open_code(nameplate, receivers).await {
            Ok(paired) => return Ok((code, paired)),
            Err(crate::signal_client::SignalError::Refused {
                code: protocol::signal::ErrorCode::CodeInUse,
                message,
            }) => last = Some(message),
            Err(e) => return Err(e.into()),
        }
    }
    Err(EngineError::Signal(
        crate::signal_client::SignalError::Refused {
            code: protocol::signal::ErrorCode::CodeInUse,
            message: last.unwrap_or_default(),
        },
    ))
}

/// Registers a share with a fresh ticket secret.
async fn register(
    engine: &Engine,
    code: Option<ShareCode>,
    receivers: u32,
) -> Result<Share, EngineError> {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let addrs = engine.wait_listening().await;
    let ticket = Ticket::new(engine.peer_id(), &addrs, secret);
    // Room for every receiver and a last word (the code expired).
    let (notify, arrived) = mpsc::channel(receivers as usize + 1);
    let id = engine
        .shares()
        .open(secret, code.clone(), receivers, notify);
    Ok(Share {
        id,
        ticket,
        code,
        receivers,
        arrived,
        engine: engine.clone(),
    })
}

/// A receiver knocks on one of our shares.
pub(super) fn on_knock(
    engine: &Engine,
    peer: PeerId,
    knock: Knock,
    reply: oneshot::Sender<Response>,
) {
    let me = engine.peer_id();
    let (response, arrival) = engine.shares().knock(me, peer, knock, Instant::now());
    deliver(arrival);
    let _ = reply.send(response);
}

/// The receiver's key confirmation after a PAKE knock.
pub(super) fn on_confirm(
    engine: &Engine,
    peer: PeerId,
    nameplate: u32,
    mac: &[u8],
    reply: oneshot::Sender<Response>,
) {
    let (response, arrival) = engine
        .shares()
        .confirm(peer, nameplate, mac, Instant::now());
    let _ = reply.send(response);
    match arrival {
        // The share ends: let our refusal reach the receiver before the
        // share's task may stop the engine (the CLI exits on it).
        Some(arrival) if arrival.result.is_err() => {
            let engine = engine.clone();
            engine.inner.tracker.clone().spawn(async move {
                engine.wait_disconnected(peer, REFUSAL_GRACE).await;
                deliver(Some(arrival));
            });
        }
        arrival => deliver(arrival),
    }
}

/// How long a failed confirmation's refusal may take to reach the receiver.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);

/// Tells a waiting share who came (or why nobody will).
fn deliver(arrival: Option<Arrival<Notify>>) {
    if let Some(Arrival { notify, result }) = arrival {
        // The channel has room for every arrival a share can have.
        let _ = notify.try_send(result);
    }
}

/// Receiver: presents a ticket's secret to the sender it names.
pub(super) async fn knock_ticket(engine: &Engine, ticket: &Ticket) -> Result<PeerId, EngineError> {
    let peer = ticket.peer_id;
    engine.inner.net.dial(peer, ticket.addrs.clone()).await?;
    // Expect the offer before asking, so it cannot race past us.
    engine.inbox().expect(peer, Instant::now());
    let knock = Request::Knock(Knock::Ticket {
        secret: ticket.secret.to_vec(),
    });
    match engine.inner.net.request(peer, knock).await {
        Ok(Response::Knocked { .. }) => Ok(peer),
        Ok(Response::Refused { message, .. }) => {
            engine.inbox().unexpect(&peer);
            Err(EngineError::Refused {
                peer,
                message: sanitize_reason(&message),
            })
        }
        Ok(other) => {
            engine.inbox().unexpect(&peer);
            Err(EngineError::Protocol {
                peer,
                reason: format!("unexpected answer to a knock: {other:?}"),
            })
        }
        Err(e) => {
            engine.inbox().unexpect(&peer);
            Err(e.into())
        }
    }
}

/// How long a receiver keeps knocking while the sender answers "not yet"
/// (the server's pairing notice to it may trail the answer to our claim).
const NOT_YET_FOR: Duration = Duration::from_secs(10);

/// Receiver: runs the PAKE for `code` with the sender the server paired us
/// with; we confirm first, then check the sender's confirmation.
pub(super) async fn knock_code(
    engine: &Engine,
    code: &ShareCode,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
) -> Result<PeerId, EngineError> {
    engine.inner.net.dial(peer, addrs).await?;
    let me = engine.peer_id();
    let nameplate = code.nameplate();
    let password = code.password();
    let deadline = Instant::now() + NOT_YET_FOR;
    let mut pause = Duration::from_millis(50);
    let (pake, theirs) = loop {
        let (id_a, id_b) = pake_ids(&peer, &me);
        let (pake, ours) =
            Spake2::<Ed25519Group>::start_b(&Password::new(password.as_bytes()), &id_a, &id_b);
        let knock = Request::Knock(Knock::Pake {
            nameplate,
            msg: ours,
        });
        match engine.inner.net.request(peer, knock).await? {
            Response::Knocked { pake: Some(theirs) } => break (pake, theirs),
            Response::Refused {
                reason: Refusal::NotYet,
                ..
            } if Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return Err(EngineError::unexpected(peer, other, "a code knock")),
        }
    };
    // A malformed answer leaves no key: confirm with nothing, so the
    // sender ends the share as we do.
    let key = pake.finish(&theirs).ok().as_deref().and_then(session_key);
    let mac = key.map(|k| confirm_mac(&k, RECEIVER_LABEL).to_vec());
    // Expect the offer before confirming, so it cannot race past us.
    engine.inbox().expect(peer, Instant::now());
    let confirm = Request::Confirm {
        nameplate,
        mac: mac.unwrap_or_default(),
    };
    let answer = engine.inner.net.request(peer, confirm).await;
    let proven = match (&answer, key) {
        (Ok(Response::Confirmed { mac }), Some(key)) => {
            constant_time_eq(&confirm_mac(&key, SENDER_LABEL), mac)
        }
        _ => false,
    };
    if proven {
        return Ok(peer);
    }
    engine.inbox().unexpect(&peer);
    match answer {
        Err(e) => Err(e.into()),
        // A sender that confirms with the wrong key does not hold the code.
        Ok(Response::Confirmed { .. }) => Err(EngineError::WrongCode),
        Ok(Response::Refused {
            reason: Refusal::WrongSecret,
            ..
        }) => Err(EngineError::WrongCode),
        Ok(other) => Err(EngineError::unexpected(peer, other, "a code confirmation")),
    }
}
