//! Every branch of the inbox, driven directly: admission, decline,
//! expiry, acceptance after the disk check (or not), a second offer while
//! one is pending, cancellation by the sender, the stream's claim.

#![allow(clippy::unwrap_used, clippy::panic)]

use protocol::offer::{FileEntry, Hash};

use super::*;

/// Reply tokens are numbers, so a test can tell which request was answered.
type TestInbox = Inbox<u32>;

const DECIDE: Duration = Duration::from_secs(60);

fn inbox(inbound: Inbound, auto_accept: bool) -> TestInbox {
    Inbox::new(inbound, auto_accept, DECIDE)
}

fn id(n: u8) -> String {
    format!("{n:032x}")
}

fn offer(n: u8) -> Offer {
    Offer {
        transfer_id: id(n),
        files: vec![FileEntry {
            path: format!("file{n}.txt"),
            size: 10,
            hash: Hash([n; 32]),
        }],
        dirs: Vec::new(),
        total_bytes: 10,
        text: None,
        stream: None,
    }
}

fn answers(actions: &[Action<u32>]) -> Vec<(u32, Response)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Answer { reply, response } => Some((*reply, response.clone())),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action<u32>]) -> Vec<Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn declined(reason: DeclineReason) -> Response {
    Response::Decision(Decision::Decline { reason })
}

#[test]
fn an_offer_from_a_peer_we_did_not_ask_is_refused_and_not_kept() {
    let mut inbox = inbox(Inbound::Expected, false);
    let now = Instant::now();
    let peer = PeerId::random();
    let (reply, refused) = inbox.offer(peer, offer(1), 7, now).unwrap_err();
    assert_eq!(reply, 7);
    assert_eq!(refused.reason, Refusal::NotExpected);
    assert!(!inbox.is_pending(&id(1)));
    // Once we knocked on it, it may offer; a failed knock takes that back.
    inbox.expect(peer, now);
    inbox.unexpect(&peer);
    let (_, refused) = inbox.offer(peer, offer(1), 8, now).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
    inbox.expect(peer, now);
    assert!(inbox.offer(peer, offer(1), 8, now).is_ok());
}

#[test]
fn a_knock_admits_one_offer_and_expires_unused() {
    let mut inbox = inbox(Inbound::Expected, true);
    let now = Instant::now();
    let peer = PeerId::random();
    inbox.expect(peer, now);
    assert!(inbox.offer(peer, offer(1), 1, now).is_ok());
    // The transfer is under way or done: the sender is not let in again.
    let (_, refused) = inbox.offer(peer, offer(2), 2, now).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
    // A knock whose sender never offers lapses.
    inbox.expect(peer, now);
    let late = now + EXPECT_FOR + Duration::from_secs(1);
    let (_, refused) = inbox.offer(peer, offer(3), 3, late).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
}

#[test]
fn an_invalid_offer_is_refused() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let mut bad = offer(1);
    bad.transfer_id = "not hex".into();
    let (_, refused) = inbox
        .offer(PeerId::random(), bad, 1, Instant::now())
        .unwrap_err();
    assert_eq!(refused.reason, Refusal::InvalidOffer);
}

#[test]
fn an_admitted_offer_is_shown_and_waits_for_its_deadline() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    let peer = PeerId::random();
    let actions = inbox.offer(peer, offer(1), 1, now).unwrap();
    assert!(answers(&actions).is_empty(), "nobody decided yet");
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::OfferReceived { peer: p, files: 1, bytes: 10, names, .. }]
            if *p == peer && names == &["file1.txt"]
    ));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::ExpireAt(at) if *at == now + DECIDE))
    );
    assert!(inbox.is_pending(&id(1)));
}

#[test]
fn a_declined_offer_is_answered_and_reported() {
    let mut inbox = inbox(Inbound::Anyone, false);
    inbox
        .offer(PeerId::random(), offer(1), 1, Instant::now())
        .unwrap();
    let actions = inbox.decide(&id(1), false);
    assert_eq!(answers(&actions), [(1, declined(DeclineReason::Declined))]);
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::Declined { .. }]
    ));
    assert!(!inbox.is_pending(&id(1)));
    assert!(inbox.decide(&id(1), true).is_empty(), "decided once only");
}

#[test]
fn an_offer_nobody_decides_expires_at_its_deadline_not_before() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    inbox.offer(PeerId::random(), offer(1), 1, now).unwrap();
    assert!(inbox.expire(now + DECIDE / 2).is_empty());
    let actions = inbox.expire(now + DECIDE);
    assert_eq!(answers(&actions), [(1, declined(DeclineReason::Expired))]);
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::Declined { reason, .. }] if reason.contains("expired")
    ));
    assert!(inbox.decide(&id(1), true).is_empty(), "too late to accept");
}

#[test]
fn an_accepted_offer_is_answered_only_after_the_disk_check() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    let peer = PeerId::random();
    inbox.offer(peer, offer(1), 1, now).unwrap();
    let actions = inbox.decide(&id(1), true);
    assert!(answers(&actions).is_empty());
    assert!(matches!(
        actions.as_slice(),
        [Action::CheckDisk { transfer_id, .. }] if *transfer_id == id(1)
    ));
    assert!(!inbox.is_pending(&id(1)));
    // No expiry while the disk is checked.
    assert!(inbox.expire(now + 2 * DECIDE).is_empty());
    let point = ResumePoint {
        file: 0,
        offset: 4,
        prefix_hash: Hash([9; 32]),
    };
    let actions = inbox.checked(&id(1), Ok(vec![point.clone()]), now);
    assert_eq!(
        answers(&actions),
        [(
            1,
            Response::Decision(Decision::Accept {
                resume: vec![point.clone()]
            })
        )]
    );
    let accepted = inbox.claim(peer, &id(1), now).unwrap();
    assert_eq!(accepted.resume, [point]);
    assert!(
        inbox.claim(peer, &id(1), now).is_none(),
        "one stream per offer"
    );
}

#[test]
fn a_failed_disk_check_declines_with_no_space_and_reports_it() {
    let mut inbox = inbox(Inbound::Anyone, true);
    let now = Instant::now();
    let peer = PeerId::random();
    let actions = inbox.offer(peer, offer(1), 1, now).unwrap();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CheckDisk { .. })),
        "auto-accept checks the disk at once"
    );
    let actions = inbox.checked(&id(1), Err("5 GB needed, 1 GB free".into()), now);
    assert_eq!(answers(&actions), [(1, declined(DeclineReason::NoSpace))]);
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::TransferFailed { error, .. }] if error.contains("5 GB needed")
    ));
    assert!(inbox.claim(peer, &id(1), now).is_none());
}

#[test]
fn a_second_offer_while_one_is_pending_waits_beside_it_up_to_the_limit() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    let peer = PeerId::random();
    inbox.offer(peer, offer(1), 1, now).unwrap();
    let (_, refused) = inbox.offer(peer, offer(1), 2, now).unwrap_err();
    assert_eq!(
        refused.reason,
        Refusal::InvalidOffer,
        "the same transfer ID again"
    );
    inbox.offer(peer, offer(2), 3, now).unwrap();
    assert!(inbox.is_pending(&id(1)) && inbox.is_pending(&id(2)));
    let (_, refused) = inbox.offer(peer, offer(3), 4, now).unwrap_err();
    assert_eq!(refused.reason, Refusal::Busy, "two per peer");
    // Other peers fill the rest, up to the limit for all.
    for n in 3..=MAX_PENDING_OFFERS as u8 {
        inbox.offer(PeerId::random(), offer(n), 0, now).unwrap();
    }
    let (_, refused) = inbox
        .offer(PeerId::random(), offer(200), 5, now)
        .unwrap_err();
    assert_eq!(refused.reason, Refusal::Busy);
    // Deciding one makes room.
    inbox.decide(&id(1), false);
    inbox.offer(PeerId::random(), offer(200), 6, now).unwrap();
}

#[test]
fn the_sender_cancels_at_any_stage_but_nobody_else_can() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    let (sender, other) = (PeerId::random(), PeerId::random());
    // Pending.
    inbox.offer(sender, offer(1), 1, now).unwrap();
    assert!(inbox.cancel(other, &id(1), "no").is_empty());
    let actions = inbox.cancel(sender, &id(1), "changed my mind");
    assert!(matches!(actions.first(), Some(Action::Drop(1))));
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::TransferFailed { error, .. }] if error.contains("changed my mind")
    ));
    assert!(!inbox.is_pending(&id(1)));
    // While the disk is checked: the check's result then changes nothing.
    inbox.offer(sender, offer(2), 2, now).unwrap();
    inbox.decide(&id(2), true);
    assert!(matches!(
        inbox.cancel(sender, &id(2), "").first(),
        Some(Action::Drop(2))
    ));
    assert!(inbox.checked(&id(2), Ok(Vec::new()), now).is_empty());
    // Accepted, waiting for its data.
    inbox.offer(sender, offer(3), 3, now).unwrap();
    inbox.decide(&id(3), true);
    inbox.checked(&id(3), Ok(Vec::new()), now);
    assert!(inbox.cancel(other, &id(3), "").is_empty());
    assert_eq!(events(&inbox.cancel(sender, &id(3), "")).len(), 1);
    assert!(inbox.claim(sender, &id(3), now).is_none());
}

#[test]
fn only_the_accepting_peer_claims_and_only_while_fresh() {
    let mut inbox = inbox(Inbound::Anyone, true);
    let now = Instant::now();
    let sender = PeerId::random();
    inbox.offer(sender, offer(1), 1, now).unwrap();
    inbox.checked(&id(1), Ok(Vec::new()), now);
    assert!(inbox.claim(PeerId::random(), &id(1), now).is_none());
    assert!(inbox.claim(sender, &id(1), now + ACCEPTED_TTL).is_none());
    inbox.offer(sender, offer(2), 2, now).unwrap();
    inbox.checked(&id(2), Ok(Vec::new()), now);
    assert!(
        inbox
            .claim(sender, &id(2), now + ACCEPTED_TTL / 2)
            .is_some()
    );
}

#[test]
fn shutting_down_declines_what_still_waits() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let now = Instant::now();
    inbox.offer(PeerId::random(), offer(1), 1, now).unwrap();
    inbox.offer(PeerId::random(), offer(2), 2, now).unwrap();
    inbox.decide(&id(2), true);
    let mut answered = answers(&inbox.shutdown());
    answered.sort_by_key(|(reply, _)| *reply);
    assert_eq!(
        answered,
        [
            (1, declined(DeclineReason::ShuttingDown)),
            (2, declined(DeclineReason::ShuttingDown))
        ]
    );
    assert!(inbox.expire(now + 2 * DECIDE).is_empty());
}

fn text_offer(n: u8, text: &str) -> Offer {
    Offer {
        transfer_id: id(n),
        files: Vec::new(),
        dirs: Vec::new(),
        total_bytes: 0,
        text: Some(text.into()),
        stream: None,
    }
}

#[test]
fn an_accepted_text_is_shown_without_a_disk_check_or_a_data_stream() {
    let mut inbox = inbox(Inbound::Anyone, false);
    let peer = PeerId::random();
    let now = Instant::now();
    let actions = inbox
        .offer(peer, text_offer(1, "hi\u{1b}[2J there"), 7, now)
        .unwrap();
    // The prompt tells how long the text is, not what it says.
    assert!(matches!(
        &events(&actions)[..],
        [Event::OfferReceived { files: 0, text_chars: Some(12), names, .. }] if names.is_empty()
    ));
    let actions = inbox.decide(&id(1), true);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CheckDisk { .. }))
    );
    assert_eq!(
        answers(&actions),
        vec![(
            7,
            Response::Decision(Decision::Accept { resume: Vec::new() })
        )]
    );
    assert!(matches!(
        &events(&actions)[..],
        [Event::TextReceived { peer: p, text, .. }] if *p == peer && text == "hi\\u{1b}[2J there"
    ));
    // No data stream is expected for it.
    assert!(inbox.claim(peer, &id(1), now).is_none());
}

#[test]
fn a_declined_text_is_not_shown() {
    let mut inbox = inbox(Inbound::Anyone, false);
    inbox
        .offer(PeerId::random(), text_offer(2, "secret"), 1, Instant::now())
        .unwrap();
    let actions = inbox.decide(&id(2), false);
    assert_eq!(
        answers(&actions),
        vec![(1, declined(DeclineReason::Declined))]
    );
    assert!(
        !events(&actions)
            .iter()
            .any(|e| matches!(e, Event::TextReceived { .. }))
    );
}

#[test]
fn what_we_fetched_is_accepted_without_asking_from_its_owner_only() {
    // A receiver that takes no offers and asks before accepting.
    let mut inbox = inbox(Inbound::Expected, false);
    let now = Instant::now();
    let owner = PeerId::random();
    inbox.expect_fetch(&id(1), owner, now);
    assert_eq!(inbox.fetch_owner(&id(1)), Some(owner));
    // Another peer cannot use the fetch's ID.
    let (_, refused) = inbox.offer(PeerId::random(), offer(1), 1, now).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
    // Nor can the owner make another offer.
    let (_, refused) = inbox.offer(owner, offer(2), 2, now).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
    // Its offer under the fetch's ID goes straight to the disk check.
    let actions = inbox.offer(owner, offer(1), 3, now).unwrap();
    assert!(matches!(
        events(&actions).as_slice(),
        [Event::OfferReceived { fetched: true, .. }]
    ));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CheckDisk { transfer_id, .. } if *transfer_id == id(1)))
    );
    assert!(!inbox.is_pending(&id(1)));
    assert_eq!(inbox.fetch_owner(&id(1)), None, "used once");
    // A fetch whose offer never comes lapses.
    inbox.expect_fetch(&id(4), owner, now);
    let late = now + EXPECT_FOR + Duration::from_secs(1);
    let (_, refused) = inbox.offer(owner, offer(4), 4, late).unwrap_err();
    assert_eq!(refused.reason, Refusal::NotExpected);
}
