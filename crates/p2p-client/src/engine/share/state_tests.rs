//! Every branch of the open shares, driven directly: a ticket's secret
//! (right, wrong, used twice), a code's PAKE named by nameplate and run
//! with the paired peer only, key confirmation (right and wrong, the
//! receiver's first), an unconfirmed PAKE timing out, the code expiring
//! unused.

#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

type TestShares = Shares<u32>;

fn code() -> ShareCode {
    ShareCode::parse("7-tiger-violin-amber").unwrap()
}

/// The receiver's half of the PAKE: its message, and how to finish it.
fn receiver_start(
    code: &ShareCode,
    sender: PeerId,
    receiver: PeerId,
) -> (Vec<u8>, Spake2<Ed25519Group>) {
    let (id_a, id_b) = pake_ids(&sender, &receiver);
    let (pake, msg) =
        Spake2::<Ed25519Group>::start_b(&Password::new(code.password().as_bytes()), &id_a, &id_b);
    (msg, pake)
}

#[test]
fn the_tickets_secret_admits_its_receiver_once() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let id = shares.open([7; SECRET_BYTES], None, 1, 1);
    let now = Instant::now();
    let (response, arrival) = shares.knock(
        me,
        peer,
        Knock::Ticket {
            secret: vec![7; SECRET_BYTES],
        },
        now,
    );
    assert!(matches!(response, Response::Knocked { pake: None }));
    let arrival = arrival.unwrap();
    assert_eq!(arrival.notify, 1);
    assert_eq!(arrival.result.unwrap(), peer);
    // Used: the same secret again is refused.
    let (again, arrival) = shares.knock(
        me,
        PeerId::random(),
        Knock::Ticket {
            secret: vec![7; SECRET_BYTES],
        },
        now,
    );
    assert!(matches!(
        again,
        Response::Refused {
            reason: Refusal::WrongSecret,
            ..
        }
    ));
    assert!(arrival.is_none());
    shares.close(id);
}

#[test]
fn a_wrong_secret_is_refused_and_uses_nothing() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    shares.open([7; SECRET_BYTES], None, 1, 1);
    for wrong in [vec![8; SECRET_BYTES], vec![7; SECRET_BYTES - 1], Vec::new()] {
        let (response, arrival) = shares.knock(me, peer, Knock::Ticket { secret: wrong }, now);
        assert!(matches!(
            response,
            Response::Refused {
                reason: Refusal::WrongSecret,
                ..
            }
        ));
        assert!(arrival.is_none());
    }
    let (_, arrival) = shares.knock(
        me,
        peer,
        Knock::Ticket {
            secret: vec![7; SECRET_BYTES],
        },
        now,
    );
    assert!(arrival.is_some(), "the share is still open");
}

/// The receiver's PAKE knock on the code's nameplate.
fn pake_knock(code: &ShareCode, msg: Vec<u8>) -> Knock {
    Knock::Pake {
        nameplate: code.nameplate(),
        msg,
    }
}

/// Runs the receiver's side of the PAKE up to its confirmation: the key
/// the receiver derived from `code`, or the sender's refusal.
fn run_pake(
    shares: &mut TestShares,
    me: PeerId,
    peer: PeerId,
    code: &ShareCode,
    now: Instant,
) -> Result<[u8; 32], Response> {
    let (msg, pake) = receiver_start(code, me, peer);
    let (response, arrival) = shares.knock(me, peer, pake_knock(code, msg), now);
    assert!(arrival.is_none(), "not before the receiver confirms");
    match response {
        Response::Knocked { pake: Some(theirs) } => {
            Ok(session_key(&pake.finish(&theirs).unwrap()).unwrap())
        }
        other => Err(other),
    }
}

fn refusal(response: &Response) -> Option<Refusal> {
    match response {
        Response::Refused { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[test]
fn the_right_code_is_proven_both_ways_the_receiver_first() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 5);
    assert!(shares.paired(id, Some(peer)).is_none());
    let key = run_pake(&mut shares, me, peer, &code(), now).unwrap();
    let (response, arrival) = shares.confirm(
        peer,
        code().nameplate(),
        &confirm_mac(&key, RECEIVER_LABEL),
        now,
    );
    let Response::Confirmed { mac } = response else {
        panic!("{response:?}");
    };
    assert_eq!(
        mac,
        confirm_mac(&key, SENDER_LABEL),
        "the sender proved the code"
    );
    let arrival = arrival.unwrap();
    assert_eq!((arrival.notify, arrival.result.unwrap()), (5, peer));
}

#[test]
fn a_wrong_code_fails_the_confirmation_and_ends_the_share() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 5);
    shares.paired(id, Some(peer));
    let wrong = ShareCode::parse("7-tiger-violin-tiger").unwrap();
    let key = run_pake(&mut shares, me, peer, &wrong, now).unwrap();
    let (response, arrival) = shares.confirm(peer, 7, &confirm_mac(&key, RECEIVER_LABEL), now);
    assert_eq!(refusal(&response), Some(Refusal::WrongSecret));
    assert!(matches!(
        arrival.unwrap().result,
        Err(EngineError::WrongCode)
    ));
    // One guess per share: the right code now finds nothing.
    let again = run_pake(&mut shares, me, peer, &code(), now).unwrap_err();
    assert_eq!(refusal(&again), Some(Refusal::NotExpected));
}

#[test]
fn once_paired_only_that_peer_may_run_the_pake_and_only_it_confirms() {
    let mut shares = TestShares::default();
    let (me, paired, other) = (PeerId::random(), PeerId::random(), PeerId::random());
    let now = Instant::now();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 5);
    shares.paired(id, Some(paired));
    let response = run_pake(&mut shares, me, other, &code(), now).unwrap_err();
    assert_eq!(refusal(&response), Some(Refusal::NotExpected));
    let (response, arrival) = shares.confirm(other, 7, &[0; 32], now);
    assert_eq!(refusal(&response), Some(Refusal::NotExpected));
    assert!(arrival.is_none());
    // The paired peer still finds its share as it was.
    let key = run_pake(&mut shares, me, paired, &code(), now).unwrap();
    let (response, arrival) = shares.confirm(paired, 7, &confirm_mac(&key, RECEIVER_LABEL), now);
    assert!(matches!(response, Response::Confirmed { .. }));
    assert_eq!(arrival.unwrap().result.unwrap(), paired);
}

#[test]
fn a_knock_before_the_pairing_is_told_not_yet_and_uses_up_nothing() {
    let mut shares = TestShares::default();
    let (me, stranger, peer) = (PeerId::random(), PeerId::random(), PeerId::random());
    let now = Instant::now();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 5);
    // Anyone who can dial us, knocking with the right code before the
    // server has told us whom it paired: no PAKE runs, nothing is held.
    for knocker in [stranger, peer] {
        let response = run_pake(&mut shares, me, knocker, &code(), now).unwrap_err();
        assert_eq!(refusal(&response), Some(Refusal::NotYet));
        let (response, _) = shares.confirm(knocker, 7, &[0; 32], now);
        assert_eq!(refusal(&response), Some(Refusal::NotExpected));
    }
    shares.paired(id, Some(peer));
    let key = run_pake(&mut shares, me, peer, &code(), now).unwrap();
    let (response, arrival) = shares.confirm(peer, 7, &confirm_mac(&key, RECEIVER_LABEL), now);
    assert!(matches!(response, Response::Confirmed { .. }));
    assert_eq!(arrival.unwrap().result.unwrap(), peer);
}

#[test]
fn the_knock_names_its_share_and_leaves_the_others_untouched() {
    let mut shares = TestShares::default();
    let (me, first_peer, second_peer) = (PeerId::random(), PeerId::random(), PeerId::random());
    let now = Instant::now();
    let first = shares.open([1; SECRET_BYTES], Some(code()), 1, 1);
    let second_code = ShareCode::parse("42-apple-zebra-mango").unwrap();
    let second = shares.open([2; SECRET_BYTES], Some(second_code.clone()), 1, 2);
    shares.paired(second, Some(second_peer));
    let key = run_pake(&mut shares, me, second_peer, &second_code, now).unwrap();
    let (response, arrival) =
        shares.confirm(second_peer, 42, &confirm_mac(&key, RECEIVER_LABEL), now);
    assert!(matches!(response, Response::Confirmed { .. }));
    let arrival = arrival.unwrap();
    assert_eq!((arrival.notify, arrival.result.unwrap()), (2, second_peer));
    // The second's peer knocking on the first's nameplate, which the server
    // has not paired yet: told "not yet", and nothing of the first is used.
    let response = run_pake(&mut shares, me, second_peer, &code(), now).unwrap_err();
    assert_eq!(refusal(&response), Some(Refusal::NotYet));
    // The first is as it was: paired later, its own code proves it.
    shares.paired(first, Some(first_peer));
    let key = run_pake(&mut shares, me, first_peer, &code(), now).unwrap();
    let (response, arrival) =
        shares.confirm(first_peer, 7, &confirm_mac(&key, RECEIVER_LABEL), now);
    assert!(matches!(response, Response::Confirmed { .. }));
    assert_eq!(arrival.unwrap().notify, 1);
}

#[test]
fn an_unconfirmed_pake_times_out_and_frees_the_slot() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 5);
    shares.paired(id, Some(peer));
    let stale = run_pake(&mut shares, me, peer, &code(), now).unwrap();
    let busy = run_pake(&mut shares, me, peer, &code(), now).unwrap_err();
    assert_eq!(refusal(&busy), Some(Refusal::NotYet), "one PAKE at a time");
    let later = now + PAKE_TIMEOUT + Duration::from_secs(1);
    // A confirmation after the timeout finds nothing and ends nothing.
    let (response, arrival) = shares.confirm(peer, 7, &confirm_mac(&stale, RECEIVER_LABEL), later);
    assert_eq!(refusal(&response), Some(Refusal::NotExpected));
    assert!(arrival.is_none());
    let key = run_pake(&mut shares, me, peer, &code(), later).unwrap();
    let (response, arrival) = shares.confirm(peer, 7, &confirm_mac(&key, RECEIVER_LABEL), later);
    assert!(matches!(response, Response::Confirmed { .. }));
    assert_eq!(arrival.unwrap().result.unwrap(), peer);
}

#[test]
fn a_share_without_a_code_takes_no_pake_and_a_malformed_message_is_refused() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    shares.open([1; SECRET_BYTES], None, 1, 1);
    let (response, _) = shares.knock(me, peer, pake_knock(&code(), vec![1, 2, 3]), now);
    assert_eq!(refusal(&response), Some(Refusal::NotExpected));
    let id = shares.open([2; SECRET_BYTES], Some(code()), 1, 2);
    shares.paired(id, Some(peer));
    let (response, _) = shares.knock(me, peer, pake_knock(&code(), vec![1, 2, 3]), now);
    assert_eq!(refusal(&response), Some(Refusal::WrongSecret));
}

#[test]
fn a_code_that_expires_unused_tells_its_share() {
    let mut shares = TestShares::default();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 1, 9);
    let arrival = shares.paired(id, None).unwrap();
    assert_eq!(arrival.notify, 9);
    assert!(matches!(arrival.result, Err(EngineError::CodeExpired)));
    assert!(shares.paired(id, None).is_none(), "told once");
    shares.close(id);
    assert!(shares.paired(id, Some(PeerId::random())).is_none());
}

#[test]
fn a_ticket_for_three_receivers_admits_three_then_none() {
    let mut shares = TestShares::default();
    let me = PeerId::random();
    shares.open([7; SECRET_BYTES], None, 3, 1);
    let knock = || Knock::Ticket {
        secret: vec![7; SECRET_BYTES],
    };
    let now = Instant::now();
    for _ in 0..3 {
        let peer = PeerId::random();
        let (response, arrival) = shares.knock(me, peer, knock(), now);
        assert!(matches!(response, Response::Knocked { pake: None }));
        assert_eq!(arrival.unwrap().result.unwrap(), peer);
    }
    let (response, arrival) = shares.knock(me, PeerId::random(), knock(), now);
    assert_eq!(refusal(&response), Some(Refusal::WrongSecret));
    assert!(arrival.is_none());
}

#[test]
fn a_code_for_two_runs_a_pake_with_each_paired_peer_and_a_wrong_guess_uses_a_place() {
    let mut shares = TestShares::default();
    let (me, bob, carol, eve) = (
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
    );
    let code = code();
    let id = shares.open([1; SECRET_BYTES], Some(code.clone()), 2, 5);
    let now = Instant::now();
    shares.paired(id, Some(bob));
    shares.paired(id, Some(eve));
    // Only two places: a third pairing is not let in.
    shares.paired(id, Some(carol));
    assert_eq!(
        run_pake(&mut shares, me, carol, &code, now)
            .err()
            .as_ref()
            .and_then(refusal),
        Some(Refusal::NotExpected)
    );
    // Both PAKEs run side by side.
    let bob_key = run_pake(&mut shares, me, bob, &code, now).unwrap();
    let wrong = ShareCode::parse("7-apple-banana-cherry").unwrap();
    let eve_key = run_pake(&mut shares, me, eve, &wrong, now).unwrap();
    let (response, arrival) = shares.confirm(
        eve,
        code.nameplate(),
        &confirm_mac(&eve_key, RECEIVER_LABEL),
        now,
    );
    assert_eq!(refusal(&response), Some(Refusal::WrongSecret));
    assert!(matches!(
        arrival.unwrap().result,
        Err(EngineError::WrongCode)
    ));
    let (response, arrival) = shares.confirm(
        bob,
        code.nameplate(),
        &confirm_mac(&bob_key, RECEIVER_LABEL),
        now,
    );
    assert!(matches!(response, Response::Confirmed { .. }));
    assert_eq!(arrival.unwrap().result.unwrap(), bob);
    // Both places are used: the share takes no one else, even by ticket.
    let (response, arrival) = shares.knock(
        me,
        carol,
        Knock::Ticket {
            secret: vec![1; SECRET_BYTES],
        },
        now,
    );
    assert_eq!(refusal(&response), Some(Refusal::WrongSecret));
    assert!(arrival.is_none());
}
