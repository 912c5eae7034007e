//! The sender's open shares as a state machine without IO: a knock with a
//! ticket's secret, a share code's PAKE (SPAKE2 bound to both peer IDs)
//! and its key confirmation, the signal server's pairing notice.
//!
//! Each input returns the answer for the knocking peer and, when a share's
//! receiver is known (or it never will be), an [`Arrival`] for the share's
//! waiting task (the notify token `N`).

use std::collections::HashMap;

use libp2p::PeerId;
use protocol::code::ShareCode;
use protocol::ticket::SECRET_BYTES;
use protocol::transfer::{Knock, Refusal, Response};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use tracing::{info, warn};

use crate::engine::EngineError;

pub(crate) const SENDER_LABEL: &[u8] = b"p2p-share pake confirm sender";
pub(crate) const RECEIVER_LABEL: &[u8] = b"p2p-share pake confirm receiver";

/// A share's outcome, for its waiting task.
#[derive(Debug)]
pub(crate) struct Arrival<N> {
    pub(crate) notify: N,
    pub(crate) result: Result<PeerId, EngineError>,
}

/// Shares waiting for their receiver.
#[derive(Debug)]
pub(crate) struct Shares<N> {
    entries: HashMap<u64, Entry<N>>,
    next: u64,
}

impl<N> Default for Shares<N> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            next: 0,
        }
    }
}

#[derive(Debug)]
struct Entry<N> {
    secret: [u8; SECRET_BYTES],
    code: Option<ShareCode>,
    /// For a code: the peer the signal server paired us with, once known.
    paired: Option<PeerId>,
    /// A PAKE in progress: the peer and the key it should confirm.
    confirming: Option<(PeerId, [u8; 32])>,
    /// The waiting task, until the share's outcome is known.
    notify: Option<N>,
}

impl<N> Shares<N> {
    /// Opens a share; returns its id.
    pub(crate) fn open(
        &mut self,
        secret: [u8; SECRET_BYTES],
        code: Option<ShareCode>,
        notify: N,
    ) -> u64 {
        self.next += 1;
        self.entries.insert(
            self.next,
            Entry {
                secret,
                code,
                paired: None,
                confirming: None,
                notify: Some(notify),
            },
        );
        self.next
    }

    /// The share is done with (its receiver came, or it was given up).
    pub(crate) fn close(&mut self, id: u64) {
        self.entries.remove(&id);
    }

    /// The signal server paired the share's code with `peer`, or (none)
    /// the code expired unused.
    pub(crate) fn paired(&mut self, id: u64, peer: Option<PeerId>) -> Option<Arrival<N>> {
        let entry = self.entries.get_mut(&id)?;
        match peer {
            Some(peer) => {
                entry.paired = entry.paired.or(Some(peer));
                None
            }
            None => entry.notify.take().map(|notify| Arrival {
                notify,
                result: Err(EngineError::CodeExpired),
            }),
        }
    }

    /// A receiver knocks on one of our shares.
    pub(crate) fn knock(
        &mut self,
        me: PeerId,
        peer: PeerId,
        knock: Knock,
    ) -> (Response, Option<Arrival<N>>) {
        match knock {
            Knock::Ticket { secret } => {
                let found = self
                    .entries
                    .values_mut()
                    .find(|e| e.notify.is_some() && constant_time_eq(&e.secret, &secret));
                match found.and_then(|entry| entry.notify.take()) {
                    Some(notify) => {
                        info!(%peer, "receiver presented the ticket");
                        let arrival = Arrival {
                            notify,
                            result: Ok(peer),
                        };
                        let knocked = Response::Knocked {
                            pake: None,
                            mac: None,
                        };
                        (knocked, Some(arrival))
                    }
                    None => (
                        refused(
                            Refusal::WrongSecret,
                            "this ticket is not valid here (used or expired)",
                        ),
                        None,
                    ),
                }
            }
            Knock::Pake { msg } => {
                let found = self.entries.values_mut().find(|e| {
                    e.notify.is_some()
                        && e.code.is_some()
                        && e.confirming.is_none()
                        && e.paired.is_none_or(|p| p == peer)
                });
                let Some(entry) = found else {
                    let no = refused(Refusal::NotExpected, "no share code is waiting for you");
                    return (no, None);
                };
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
                        let knocked = Response::Knocked {
                            pake: Some(ours),
                            mac: Some(confirm_mac(&key, SENDER_LABEL).to_vec()),
                        };
                        (knocked, None)
                    }
                    None => (
                        refused(Refusal::WrongSecret, "malformed PAKE message"),
                        None,
                    ),
                }
            }
            _ => (refused(Refusal::NotExpected, "unknown knock"), None),
        }
    }

    /// The receiver's key confirmation after its PAKE knock: the share
    /// ends either way (a wrong code is not tried again on it).
    pub(crate) fn confirm(&mut self, peer: PeerId, mac: &[u8]) -> (Response, Option<Arrival<N>>) {
        let found = self
            .entries
            .values_mut()
            .find(|e| e.confirming.is_some_and(|(p, _)| p == peer));
        let Some(entry) = found else {
            return (refused(Refusal::NotExpected, "nothing to confirm"), None);
        };
        let key = entry.confirming.map(|(_, key)| key).unwrap_or_default();
        let good = constant_time_eq(&confirm_mac(&key, RECEIVER_LABEL), mac);
        let result = if good {
            info!(%peer, "receiver proved the share code");
            Ok(peer)
        } else {
            warn!(%peer, "share code mismatch");
            Err(EngineError::WrongCode)
        };
        let arrival = entry.notify.take().map(|notify| Arrival { notify, result });
        let response = if good {
            Response::Confirmed
        } else {
            refused(Refusal::WrongSecret, "the share code does not match")
        };
        (response, arrival)
    }
}

pub(crate) fn confirm_mac(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(key, label).as_bytes()
}

/// SPAKE2's identities: the sender's peer ID, then the receiver's.
pub(crate) fn pake_ids(sender: &PeerId, receiver: &PeerId) -> (Identity, Identity) {
    (
        Identity::new(&sender.to_bytes()),
        Identity::new(&receiver.to_bytes()),
    )
}

pub(crate) fn session_key(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

pub(crate) fn refused(reason: Refusal, message: &str) -> Response {
    Response::Refused {
        reason,
        message: message.into(),
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
