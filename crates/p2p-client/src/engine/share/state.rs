//! The sender's open shares as a state machine without IO: a knock with a
//! ticket's secret, a share code's PAKE (SPAKE2 bound to both peer IDs)
//! and its key confirmation, the signal server's pairing notice.
//!
//! Each input returns the answer for the knocking peer and, when one of a
//! share's receivers is known (or none will come), an [`Arrival`] for the
//! share's waiting task (the notify token `N`). A share serves a number of
//! receivers (`send --receivers N`, 1 by default); each proof, right or
//! wrong, uses one place, and a share whose places are used takes no more.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use protocol::code::ShareCode;
use protocol::ticket::SECRET_BYTES;
use protocol::transfer::{Knock, Refusal, Response};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use crate::engine::EngineError;

pub(crate) const SENDER_LABEL: &[u8] = b"p2p-share pake confirm sender";
pub(crate) const RECEIVER_LABEL: &[u8] = b"p2p-share pake confirm receiver";

/// How long a PAKE may wait for the receiver's confirmation before its slot
/// is free again. The receiver confirms first, so a PAKE that times out
/// told it nothing about its guess; only the paired peer can start another.
pub(crate) const PAKE_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// For a code: the peers the signal server paired us with and that
    /// have not confirmed yet. Only they may run the PAKE, once each.
    paired: Vec<PeerId>,
    /// PAKEs waiting for their receiver's confirmation.
    confirming: Vec<(PeerId, Confirming)>,
    /// Receivers that may still come.
    places: u32,
    /// The waiting task, while receivers may come.
    notify: Option<N>,
}

#[derive(Debug, Clone, Copy)]
struct Confirming {
    key: [u8; 32],
    until: Instant,
}

impl<N: Clone> Entry<N> {
    fn nameplate(&self) -> Option<u32> {
        self.code.as_ref().map(ShareCode::nameplate)
    }

    /// One receiver came (or failed its proof): an arrival for the waiting
    /// task, which hears of no more once the last place is used.
    fn arrive(&mut self, result: Result<PeerId, EngineError>) -> Option<Arrival<N>> {
        self.places = self.places.saturating_sub(1);
        let notify = if self.places == 0 {
            self.notify.take()
        } else {
            self.notify.clone()
        };
        notify.map(|notify| Arrival { notify, result })
    }
}

impl<N: Clone> Shares<N> {
    /// Opens a share for `places` receivers (at least one); returns its id.
    pub(crate) fn open(
        &mut self,
        secret: [u8; SECRET_BYTES],
        code: Option<ShareCode>,
        places: u32,
        notify: N,
    ) -> u64 {
        self.next += 1;
        self.entries.insert(
            self.next,
            Entry {
                secret,
                code,
                paired: Vec::new(),
                confirming: Vec::new(),
                places: places.max(1),
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
    /// the code expired before every receiver came: the share then takes
    /// no one else.
    pub(crate) fn paired(&mut self, id: u64, peer: Option<PeerId>) -> Option<Arrival<N>> {
        let entry = self.entries.get_mut(&id)?;
        match peer {
            Some(peer) => {
                let room = entry.paired.len() < entry.places as usize;
                if room && !entry.paired.contains(&peer) {
                    entry.paired.push(peer);
                }
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
        now: Instant,
    ) -> (Response, Option<Arrival<N>>) {
        match knock {
            Knock::Ticket { secret } => self.knock_ticket(peer, &secret),
            Knock::Pake { nameplate, msg } => {
                (self.knock_pake(me, peer, nameplate, &msg, now), None)
            }
            _ => (refused(Refusal::NotExpected, "unknown knock"), None),
        }
    }

    fn knock_ticket(&mut self, peer: PeerId, secret: &[u8]) -> (Response, Option<Arrival<N>>) {
        let found = self
            .entries
            .values_mut()
            .find(|e| e.notify.is_some() && constant_time_eq(&e.secret, secret));
        match found.and_then(|entry| entry.arrive(Ok(peer))) {
            Some(arrival) => {
                info!(%peer, "receiver presented the ticket");
                (Response::Knocked { pake: None }, Some(arrival))
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

    /// A PAKE knock on the share with `nameplate`. It changes nothing unless
    /// `peer` is the one the signal server paired with that share.
    fn knock_pake(
        &mut self,
        me: PeerId,
        peer: PeerId,
        nameplate: u32,
        msg: &[u8],
        now: Instant,
    ) -> Response {
        // Nameplates are unique on one server; the pairing tells apart
        // shares on different servers that happen to share one.
        let mut named = self
            .entries
            .values_mut()
            .filter(|e| e.notify.is_some() && e.nameplate() == Some(nameplate));
        let mut unpaired = false;
        let entry = loop {
            match named.next() {
                Some(e) if e.paired.contains(&peer) => break Some(e),
                Some(e) => unpaired |= e.paired.len() < e.places as usize,
                None => break None,
            }
        };
        let Some(entry) = entry else {
            return if unpaired {
                // The server's pairing notice may still be on its way.
                refused(
                    Refusal::NotYet,
                    "the sender has not been paired with you yet",
                )
            } else {
                refused(Refusal::NotExpected, "no share code is waiting for you")
            };
        };
        entry.confirming.retain(|(_, c)| now < c.until);
        if entry.confirming.iter().any(|(p, _)| *p == peer) {
            return refused(Refusal::NotYet, "a PAKE for this share is already running");
        }
        let password = entry
            .code
            .as_ref()
            .map(ShareCode::password)
            .unwrap_or_default();
        let (id_a, id_b) = pake_ids(&me, &peer);
        let (pake, ours) =
            Spake2::<Ed25519Group>::start_a(&Password::new(password.as_bytes()), &id_a, &id_b);
        match pake.finish(msg).ok().as_deref().and_then(session_key) {
            Some(key) => {
                entry.confirming.push((
                    peer,
                    Confirming {
                        key,
                        until: now + PAKE_TIMEOUT,
                    },
                ));
                Response::Knocked { pake: Some(ours) }
            }
            None => refused(Refusal::WrongSecret, "malformed PAKE message"),
        }
    }

    /// The receiver's key confirmation after its PAKE knock: the share
    /// ends either way (a wrong code is not tried again on it). A right one
    /// is answered with the sender's confirmation.
    pub(crate) fn confirm(
        &mut self,
        peer: PeerId,
        nameplate: u32,
        mac: &[u8],
        now: Instant,
    ) -> (Response, Option<Arrival<N>>) {
        let found = self.entries.values_mut().find(|e| {
            e.notify.is_some()
                && e.nameplate() == Some(nameplate)
                && e.confirming
                    .iter()
                    .any(|(p, c)| *p == peer && now < c.until)
        });
        let Some(entry) = found else {
            return (refused(Refusal::NotExpected, "nothing to confirm"), None);
        };
        let Some(at) = entry.confirming.iter().position(|(p, _)| *p == peer) else {
            return (refused(Refusal::NotExpected, "nothing to confirm"), None);
        };
        let key = entry.confirming.swap_remove(at).1.key;
        // Each paired peer proves the code once, right or wrong.
        entry.paired.retain(|p| *p != peer);
        let good = constant_time_eq(&confirm_mac(&key, RECEIVER_LABEL), mac);
        let result = if good {
            info!(%peer, "receiver proved the share code");
            Ok(peer)
        } else {
            warn!(%peer, "share code mismatch");
            Err(EngineError::WrongCode)
        };
        let arrival = entry.arrive(result);
        let response = if good {
            Response::Confirmed {
                mac: confirm_mac(&key, SENDER_LABEL).to_vec(),
            }
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

/// Equal lengths and bytes, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
