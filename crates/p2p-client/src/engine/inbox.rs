//! The receiver's offers as a state machine, without IO: admission, a
//! person's decision, expiry, acceptance once the disk was checked, the
//! data stream's claim, and cancellation by the sender.
//!
//! Inputs are method calls that carry the time; outputs are [`Action`]s the
//! driver (`receive`) carries out: answer the offer's request (through the
//! reply token `R` the offer came with), tell the view, check the disk, set
//! a timer. Each offer is in one place: `pending` (waiting for a person),
//! `checking` (accepted, the disk being checked), `accepted` (waiting for
//! its data stream); a claimed offer leaves the inbox for its transfer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use protocol::offer::Offer;
use protocol::path::display_escaped;
use protocol::transfer::{Decision, DeclineReason, Refusal, Response, ResumePoint};

use super::Inbound;
use crate::event::Event;

/// Offers waiting for a decision, at most, from all peers together.
pub(super) const MAX_PENDING_OFFERS: usize = 16;

/// Offers waiting for a decision from one peer, at most.
const MAX_PENDING_PER_PEER: usize = 2;

/// How long a sender we knocked on may take to make its offer.
const EXPECT_FOR: Duration = Duration::from_secs(10 * 60);

/// Accepted offers waiting for their data at once, at most.
const MAX_ACCEPTED: usize = 64;

/// How long an accepted offer waits for its data stream.
pub(super) const ACCEPTED_TTL: Duration = Duration::from_secs(10 * 60);

/// Names shown in an offer prompt.
const SHOWN_NAMES: usize = 5;

/// What the driver does next.
#[derive(Debug)]
pub(super) enum Action<R> {
    /// Answer the offer's request.
    Answer { reply: R, response: Response },
    /// Drop the offer's request unanswered (its sender gave up).
    Drop(R),
    /// Tell the view.
    Emit(Event),
    /// Check the disk (free space, resume points) for an accepted offer,
    /// then call [`Inbox::checked`].
    CheckDisk {
        transfer_id: String,
        peer: PeerId,
        offer: Offer,
    },
    /// Call [`Inbox::expire`] at this time.
    ExpireAt(Instant),
}

/// An offer refused on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refused {
    pub(super) reason: Refusal,
    pub(super) message: String,
}

/// An accepted offer whose data stream has not come yet.
#[derive(Debug, Clone)]
pub(super) struct Accepted {
    pub(super) peer: PeerId,
    pub(super) offer: Offer,
    pub(super) resume: Vec<ResumePoint>,
    /// When it was accepted; a sender that never sends is forgotten.
    at: Instant,
}

#[derive(Debug)]
struct Waiting<R> {
    peer: PeerId,
    offer: Offer,
    reply: R,
    deadline: Instant,
}

/// The receiver's offers; `R` is how the driver answers an offer's request.
#[derive(Debug)]
pub(super) struct Inbox<R> {
    inbound: Inbound,
    auto_accept: bool,
    decision_timeout: Duration,
    /// Senders we asked (by ticket or code), until when: each may make one
    /// offer when `inbound` is [`Inbound::Expected`].
    expected: HashMap<PeerId, Instant>,
    /// Our fetches from published folders, by transfer ID: the owner's
    /// offer under that ID is accepted without asking, until when.
    fetches: HashMap<String, (PeerId, Instant)>,
    pending: HashMap<String, Waiting<R>>,
    checking: HashMap<String, Waiting<R>>,
    accepted: HashMap<String, Accepted>,
}

impl<R> Inbox<R> {
    pub(super) fn new(inbound: Inbound, auto_accept: bool, decision_timeout: Duration) -> Self {
        Self {
            inbound,
            auto_accept,
            decision_timeout,
            expected: HashMap::new(),
            fetches: HashMap::new(),
            pending: HashMap::new(),
            checking: HashMap::new(),
            accepted: HashMap::new(),
        }
    }

    /// `peer` may send one offer for a while (we knocked on it). The
    /// expectation ends with that offer, with [`Self::unexpect`], or after
    /// [`EXPECT_FOR`].
    pub(super) fn expect(&mut self, peer: PeerId, now: Instant) {
        self.expected.retain(|_, until| now < *until);
        self.expected.insert(peer, now + EXPECT_FOR);
    }

    /// We asked `peer` for files (a fetch): its offer under `transfer_id`
    /// is accepted without asking, for [`EXPECT_FOR`].
    pub(super) fn expect_fetch(&mut self, transfer_id: &str, peer: PeerId, now: Instant) {
        self.fetches.retain(|_, (_, until)| now < *until);
        if self.fetches.len() < MAX_ACCEPTED {
            self.fetches
                .insert(transfer_id.to_owned(), (peer, now + EXPECT_FOR));
        }
    }

    /// The owner asked for `transfer_id` (a fetch not offered yet), if one.
    pub(super) fn fetch_owner(&self, transfer_id: &str) -> Option<PeerId> {
        self.fetches.get(transfer_id).map(|(peer, _)| *peer)
    }

    /// Forgets the fetch `transfer_id` (it failed or was given up).
    pub(super) fn forget_fetch(&mut self, transfer_id: &str) {
        self.fetches.remove(transfer_id);
    }

    /// `peer` may no longer send offers (the knock failed).
    pub(super) fn unexpect(&mut self, peer: &PeerId) {
        self.expected.remove(peer);
    }

    /// Whether the transfer waits for a person's decision.
    pub(super) fn is_pending(&self, transfer_id: &str) -> bool {
        self.pending.contains_key(transfer_id)
    }

    /// A peer offers files. A refused offer is not kept (answer it with
    /// the refusal); an admitted one waits for a decision, or is accepted
    /// at once with `auto_accept`.
    pub(super) fn offer(
        &mut self,
        peer: PeerId,
        offer: Offer,
        reply: R,
        now: Instant,
    ) -> Result<Vec<Action<R>>, (R, Refused)> {
        let refuse = |reason, message: &str| Refused {
            reason,
            message: message.to_owned(),
        };
        let expected = self.expected.get(&peer).is_some_and(|until| now < *until);
        let fetched = self
            .fetches
            .get(&offer.transfer_id)
            .is_some_and(|(owner, until)| *owner == peer && now < *until);
        if self.inbound == Inbound::Expected && !expected && !fetched {
            let refusal = refuse(
                Refusal::NotExpected,
                "this receiver does not take offers from you",
            );
            return Err((reply, refusal));
        }
        if let Err(e) = offer.validate() {
            let refusal = refuse(Refusal::InvalidOffer, &format!("offer refused: {e}"));
            return Err((reply, refusal));
        }
        let from_peer = self.pending.values().filter(|p| p.peer == peer).count();
        if self.pending.len() >= MAX_PENDING_OFFERS || from_peer >= MAX_PENDING_PER_PEER {
            let refusal = refuse(Refusal::Busy, "too many offers waiting; try again later");
            return Err((reply, refusal));
        }
        let id = offer.transfer_id.clone();
        if self.pending.contains_key(&id)
            || self.checking.contains_key(&id)
            || self.accepted.contains_key(&id)
        {
            let refusal = refuse(Refusal::InvalidOffer, "this transfer ID is already in use");
            return Err((reply, refusal));
        }
        // One knock admits one offer; a fetch, its own.
        if fetched {
            self.fetches.remove(&id);
        } else {
            self.expected.remove(&peer);
        }
        let names = offer
            .files
            .iter()
            .map(|f| f.path.as_str())
            .chain(offer.dirs.iter().map(String::as_str))
            .chain(offer.stream.as_deref())
            .take(SHOWN_NAMES)
            .map(|n| display_escaped(n, 80))
            .collect();
        let mut actions = vec![Action::Emit(Event::OfferReceived {
            transfer_id: id.clone(),
            peer,
            files: offer.files.len() + usize::from(offer.stream.is_some()),
            folders: offer.dirs.len(),
            bytes: offer.total_bytes,
            names,
            text_chars: offer.text.as_ref().map(|t| t.chars().count()),
            unknown_size: offer.stream.is_some(),
            fetched,
        })];
        let deadline = now + self.decision_timeout;
        self.pending.insert(
            id.clone(),
            Waiting {
                peer,
                offer,
                reply,
                deadline,
            },
        );
        // We asked for what we fetched: it is not asked again.
        if self.auto_accept || fetched {
            actions.extend(self.decide(&id, true));
        } else {
            actions.push(Action::ExpireAt(deadline));
        }
        Ok(actions)
    }

    /// A person's (or `--yes`'s) answer to a pending offer.
    pub(super) fn decide(&mut self, transfer_id: &str, accept: bool) -> Vec<Action<R>> {
        let Some(waiting) = self.pending.remove(transfer_id) else {
            return Vec::new();
        };
        if !accept {
            return vec![
                Action::Answer {
                    reply: waiting.reply,
                    response: decline(DeclineReason::Declined),
                },
                Action::Emit(Event::Declined {
                    transfer_id: transfer_id.to_owned(),
                    reason: "you declined the offer".into(),
                }),
            ];
        }
        if let Some(text) = &waiting.offer.text {
            // Shown, not saved: nothing to check on disk, no data stream.
            return vec![
                Action::Answer {
                    reply: waiting.reply,
                    response: Response::Decision(Decision::Accept { resume: Vec::new() }),
                },
                Action::Emit(Event::TextReceived {
                    transfer_id: transfer_id.to_owned(),
                    peer: waiting.peer,
                    text: protocol::offer::display_text(text),
                }),
            ];
        }
        let offer = waiting.offer.clone();
        let peer = waiting.peer;
        self.checking.insert(transfer_id.to_owned(), waiting);
        vec![Action::CheckDisk {
            transfer_id: transfer_id.to_owned(),
            peer,
            offer,
        }]
    }

    /// The disk check of an accepted offer came back: with the points to
    /// resume from, or why the files do not fit.
    pub(super) fn checked(
        &mut self,
        transfer_id: &str,
        result: Result<Vec<ResumePoint>, String>,
        now: Instant,
    ) -> Vec<Action<R>> {
        let Some(waiting) = self.checking.remove(transfer_id) else {
            return Vec::new();
        };
        let resume = match result {
            Ok(resume) => resume,
            Err(reason) => {
                return vec![
                    Action::Answer {
                        reply: waiting.reply,
                        response: decline(DeclineReason::NoSpace),
                    },
                    Action::Emit(Event::TransferFailed {
                        transfer_id: transfer_id.to_owned(),
                        peer: waiting.peer,
                        error: format!("declined: {reason}"),
                    }),
                ];
            }
        };
        // Accepted offers whose data never came are forgotten after a while,
        // and the oldest ones when too many wait.
        self.accepted
            .retain(|_, a| now.saturating_duration_since(a.at) < ACCEPTED_TTL);
        while self.accepted.len() >= MAX_ACCEPTED {
            let oldest = self
                .accepted
                .iter()
                .min_by_key(|(_, a)| a.at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.accepted.remove(&id),
                None => break,
            };
        }
        self.accepted.insert(
            transfer_id.to_owned(),
            Accepted {
                peer: waiting.peer,
                offer: waiting.offer,
                resume: resume.clone(),
                at: now,
            },
        );
        vec![Action::Answer {
            reply: waiting.reply,
            response: Response::Decision(Decision::Accept { resume }),
        }]
    }

    /// Declines every pending offer whose time to decide is up.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<Action<R>> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut actions = Vec::new();
        for id in due {
            if let Some(waiting) = self.pending.remove(&id) {
                actions.push(Action::Answer {
                    reply: waiting.reply,
                    response: decline(DeclineReason::Expired),
                });
                actions.push(Action::Emit(Event::Declined {
                    transfer_id: id,
                    reason: "no decision in time: the offer expired".into(),
                }));
            }
        }
        actions
    }

    /// The receiver shuts down: every offer still waiting is declined.
    pub(super) fn shutdown(&mut self) -> Vec<Action<R>> {
        self.pending
            .drain()
            .chain(self.checking.drain())
            .map(|(_, waiting)| Action::Answer {
                reply: waiting.reply,
                response: decline(DeclineReason::ShuttingDown),
            })
            .collect()
    }

    /// The sender of `transfer_id` gave up on it before its data came.
    /// Only that sender can cancel it.
    pub(super) fn cancel(
        &mut self,
        peer: PeerId,
        transfer_id: &str,
        reason: &str,
    ) -> Vec<Action<R>> {
        let mut actions = Vec::new();
        for waiting in [&mut self.pending, &mut self.checking] {
            if waiting.get(transfer_id).is_some_and(|w| w.peer == peer)
                && let Some(w) = waiting.remove(transfer_id)
            {
                actions.push(Action::Drop(w.reply));
            }
        }
        let accepted = self
            .accepted
            .get(transfer_id)
            .is_some_and(|a| a.peer == peer);
        if accepted {
            self.accepted.remove(transfer_id);
        }
        if accepted || !actions.is_empty() {
            actions.push(Action::Emit(Event::TransferFailed {
                transfer_id: transfer_id.to_owned(),
                peer,
                error: format!(
                    "the sender cancelled: {}",
                    protocol::transfer::sanitize_reason(reason)
                ),
            }));
        }
        actions
    }

    /// A data stream for `transfer_id` came from `peer`: the accepted offer
    /// it carries, taken out of the inbox (one stream per accepted offer;
    /// a retry is a new offer, which resumes from the partial files).
    pub(super) fn claim(
        &mut self,
        peer: PeerId,
        transfer_id: &str,
        now: Instant,
    ) -> Option<Accepted> {
        let fresh = self
            .accepted
            .get(transfer_id)
            .is_some_and(|a| a.peer == peer && now.saturating_duration_since(a.at) < ACCEPTED_TTL);
        if fresh {
            self.accepted.remove(transfer_id)
        } else {
            None
        }
    }
}

fn decline(reason: DeclineReason) -> Response {
    Response::Decision(Decision::Decline { reason })
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
mod tests;
