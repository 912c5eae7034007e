//! Every branch of the open shares, driven directly: a ticket's secret
//! (right, wrong, used twice), a code's PAKE with the paired peer only,
//! key confirmation (right and wrong), the code expiring unused.

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
    let id = shares.open([7; SECRET_BYTES], None, 1);
    let (response, arrival) = shares.knock(
        me,
        peer,
        Knock::Ticket {
            secret: vec![7; SECRET_BYTES],
        },
    );
    assert!(matches!(
        response,
        Response::Knocked {
            pake: None,
            mac: None
        }
    ));
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
    shares.open([7; SECRET_BYTES], None, 1);
    for wrong in [vec![8; SECRET_BYTES], vec![7; SECRET_BYTES - 1], Vec::new()] {
        let (response, arrival) = shares.knock(me, peer, Knock::Ticket { secret: wrong });
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
    );
    assert!(arrival.is_some(), "the share is still open");
}

#[test]
fn the_right_code_is_proven_both_ways() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    let id = shares.open([1; SECRET_BYTES], Some(code()), 5);
    assert!(shares.paired(id, Some(peer)).is_none());
    let (msg, pake) = receiver_start(&code(), me, peer);
    let (response, arrival) = shares.knock(me, peer, Knock::Pake { msg });
    assert!(arrival.is_none(), "not before the receiver confirms");
    let Response::Knocked {
        pake: Some(theirs),
        mac: Some(mac),
    } = response
    else {
        panic!("{response:?}");
    };
    let key = session_key(&pake.finish(&theirs).unwrap()).unwrap();
    assert_eq!(
        mac,
        confirm_mac(&key, SENDER_LABEL),
        "the sender proved the code"
    );
    let (response, arrival) = shares.confirm(peer, &confirm_mac(&key, RECEIVER_LABEL));
    assert_eq!(response, Response::Confirmed);
    let arrival = arrival.unwrap();
    assert_eq!((arrival.notify, arrival.result.unwrap()), (5, peer));
}

#[test]
fn a_wrong_code_fails_the_confirmation_and_ends_the_share() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    shares.open([1; SECRET_BYTES], Some(code()), 5);
    let wrong = ShareCode::parse("7-tiger-violin-tiger").unwrap();
    let (msg, pake) = receiver_start(&wrong, me, peer);
    let (response, _) = shares.knock(me, peer, Knock::Pake { msg });
    let Response::Knocked {
        pake: Some(theirs),
        mac: Some(mac),
    } = response
    else {
        panic!("{response:?}");
    };
    let key = session_key(&pake.finish(&theirs).unwrap()).unwrap();
    assert_ne!(
        mac,
        confirm_mac(&key, SENDER_LABEL),
        "the receiver sees the mismatch"
    );
    let (response, arrival) = shares.confirm(peer, &[]);
    assert!(matches!(
        response,
        Response::Refused {
            reason: Refusal::WrongSecret,
            ..
        }
    ));
    assert!(matches!(
        arrival.unwrap().result,
        Err(EngineError::WrongCode)
    ));
    let (msg, _) = receiver_start(&code(), me, peer);
    let (again, _) = shares.knock(me, peer, Knock::Pake { msg });
    assert!(matches!(
        again,
        Response::Refused {
            reason: Refusal::NotExpected,
            ..
        }
    ));
}

#[test]
fn once_paired_only_that_peer_may_run_the_pake_and_only_it_confirms() {
    let mut shares = TestShares::default();
    let (me, paired, other) = (PeerId::random(), PeerId::random(), PeerId::random());
    let id = shares.open([1; SECRET_BYTES], Some(code()), 5);
    shares.paired(id, Some(paired));
    let (msg, _) = receiver_start(&code(), me, other);
    let (response, _) = shares.knock(me, other, Knock::Pake { msg });
    assert!(matches!(
        response,
        Response::Refused {
            reason: Refusal::NotExpected,
            ..
        }
    ));
    let (response, arrival) = shares.confirm(other, &[0; 32]);
    assert!(matches!(
        response,
        Response::Refused {
            reason: Refusal::NotExpected,
            ..
        }
    ));
    assert!(arrival.is_none());
}

#[test]
fn a_share_without_a_code_takes_no_pake_and_a_malformed_message_is_refused() {
    let mut shares = TestShares::default();
    let (me, peer) = (PeerId::random(), PeerId::random());
    shares.open([1; SECRET_BYTES], None, 1);
    let (response, _) = shares.knock(me, peer, Knock::Pake { msg: vec![1, 2, 3] });
    assert!(matches!(
        response,
        Response::Refused {
            reason: Refusal::NotExpected,
            ..
        }
    ));
    shares.open([2; SECRET_BYTES], Some(code()), 2);
    let (response, _) = shares.knock(me, peer, Knock::Pake { msg: vec![1, 2, 3] });
    assert!(matches!(
        response,
        Response::Refused {
            reason: Refusal::WrongSecret,
            ..
        }
    ));
}

#[test]
fn a_code_that_expires_unused_tells_its_share() {
    let mut shares = TestShares::default();
    let id = shares.open([1; SECRET_BYTES], Some(code()), 9);
    let arrival = shares.paired(id, None).unwrap();
    assert_eq!(arrival.notify, 9);
    assert!(matches!(arrival.result, Err(EngineError::CodeExpired)));
    assert!(shares.paired(id, None).is_none(), "told once");
    shares.close(id);
    assert!(shares.paired(id, Some(PeerId::random())).is_none());
}
