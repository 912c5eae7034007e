//! Every branch of a sending offer, driven directly: the decision, the
//! agreed start of each file, chunks and their events, files that grew,
//! and the receiver's answers (a success before the end is a lie).

#![allow(clippy::unwrap_used, clippy::panic)]

use protocol::offer::FileEntry;
use protocol::transfer::DeclineReason;

use super::*;

fn offer(sizes: &[u64]) -> Offer {
    Offer {
        transfer_id: "cd".repeat(16),
        files: sizes
            .iter()
            .enumerate()
            .map(|(i, size)| FileEntry {
                path: format!("f{i}"),
                size: *size,
                hash: Hash([0; 32]),
            })
            .collect(),
        dirs: Vec::new(),
        total_bytes: sizes.iter().sum(),
        text: None,
        stream: None,
    }
}

fn point(file: u32, offset: u64, hash: u8) -> ResumePoint {
    ResumePoint {
        file,
        offset,
        prefix_hash: Hash([hash; 32]),
    }
}

fn chunk(len: u64, finished: Range<usize>, file: usize, file_done: u64) -> ChunkInfo {
    ChunkInfo {
        len,
        finished,
        file,
        file_done,
    }
}

#[test]
fn an_accept_gives_its_resume_points_and_a_decline_its_reason() {
    let peer = PeerId::random();
    let points = vec![point(0, 4, 1)];
    let accept = Response::Decision(Decision::Accept {
        resume: points.clone(),
    });
    assert_eq!(decision(peer, accept).unwrap(), points);
    let decline = Response::Decision(Decision::Decline {
        reason: DeclineReason::Expired,
    });
    match decision(peer, decline) {
        Err(EngineError::Declined(reason)) => assert!(reason.contains("in time"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let refused = Response::Refused {
        reason: protocol::transfer::Refusal::Busy,
        message: "busy".into(),
    };
    assert!(matches!(
        decision(peer, refused),
        Err(EngineError::Refused { .. })
    ));
    assert!(matches!(
        decision(peer, Response::Confirmed { mac: Vec::new() }),
        Err(EngineError::Protocol { .. })
    ));
}

#[test]
fn a_file_resumes_only_where_our_prefix_hashes_the_same() {
    let offer = offer(&[10, 10, 10]);
    let resume = [
        point(0, 4, 1),
        point(1, 6, 2),
        point(2, 0, 3),  // nothing to skip
        point(7, 1, 4),  // no such file
        point(1, 11, 5), // past the end
    ];
    let checks = resume_checks(&offer, &resume);
    assert_eq!(checks, [point(0, 4, 1), point(1, 6, 2)]);
    // File 0's prefix matches ours; file 1's does not (it changed).
    let hashed = [
        (point(0, 4, 1), Some(Hash([1; 32]))),
        (point(1, 6, 2), Some(Hash([9; 32]))),
    ];
    assert_eq!(starts(&offer, &hashed), [4, 0, 0]);
    // Our file could not be read: start from 0.
    assert_eq!(starts(&offer, &[(point(0, 4, 1), None)]), [0, 0, 0]);
}

#[test]
fn chunks_report_finished_files_and_progress_at_most_every_tenth_second() {
    let offer = offer(&[3, 0, 5]);
    let mut session = Sending::new(&offer, vec![0, 0, 0]);
    assert_eq!(session.header().starts, [0, 0, 0]);
    let now = Instant::now();
    // One chunk carries file 0, the empty file 1 and 2 bytes of file 2.
    let events = session.sent(&chunk(5, 0..2, 2, 2), now).unwrap();
    let done: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::FileDone { file, .. } => Some(file.display().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(done, ["f0", "f1"]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Progress { done: 5, total: 8, file, file_done: 2, .. } if file == "f2"
    )));
    assert!(!session.all_sent());
    let events = session
        .sent(&chunk(3, 2..3, 2, 5), now + Duration::from_millis(10))
        .unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Progress { .. })),
        "too soon for progress"
    );
    assert!(session.all_sent());
    assert!(session.answer(DataResult::Complete).is_ok());
}

#[test]
fn a_resumed_offer_sends_only_the_rest() {
    let offer = offer(&[10, 10]);
    let session = Sending::new(&offer, vec![4, 0]);
    assert_eq!(session.resumed(), 4);
    assert_eq!(session.to_send(), 16);
    assert!(session.fits(&chunk(16, 0..2, 1, 10)).is_ok());
    assert!(session.fits(&chunk(17, 0..2, 1, 10)).is_err());
}

#[test]
fn files_that_grew_while_read_are_caught_before_their_bytes_go() {
    let offer = offer(&[4]);
    let mut session = Sending::new(&offer, vec![0]);
    let grown = chunk(6, 0..1, 0, 6);
    assert!(session.fits(&grown).unwrap_err().contains("grew"));
    assert!(session.sent(&grown, Instant::now()).is_err());
    session.sent(&chunk(4, 0..1, 0, 4), Instant::now()).unwrap();
    assert!(session.fits(&chunk(1, 1..1, 0, 5)).is_err());
}

#[test]
fn the_receivers_answers_success_early_failure_and_nonsense() {
    let offer = offer(&[4]);
    let mut session = Sending::new(&offer, vec![0]);
    let early = session.answer(DataResult::Complete).unwrap_err();
    assert!(early.contains("before every byte"), "{early}");
    let failed = session
        .answer(DataResult::Failed {
            file: Some(0),
            reason: "f0 does not match its hash\u{7}".into(),
        })
        .unwrap_err();
    assert!(failed.starts_with("the receiver reports: f0 does not match its hash"));
    assert!(!failed.contains('\u{7}'), "control characters removed");
    session.sent(&chunk(4, 0..1, 0, 4), Instant::now()).unwrap();
    assert!(session.answer(DataResult::Complete).is_ok());
}
