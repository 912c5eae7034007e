//! Every branch of a receiving stream, driven directly: the header's start
//! offsets, the plan with resumed and already placed files, the position
//! across files, progress, a broken stream, a sender that lies about sizes.

#![allow(clippy::unwrap_used, clippy::panic)]

use protocol::offer::{FileEntry, Hash};
use protocol::transfer::ResumePoint;

use super::*;

fn offer(sizes: &[u64]) -> Offer {
    Offer {
        transfer_id: "ab".repeat(16),
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

fn header(offer: &Offer, starts: &[u64]) -> DataHeader {
    DataHeader {
        transfer_id: offer.transfer_id.clone(),
        starts: starts.to_vec(),
    }
}

fn point(file: u32, offset: u64) -> ResumePoint {
    ResumePoint {
        file,
        offset,
        prefix_hash: Hash([1; 32]),
    }
}

/// The file a progress event names and its bytes so far.
fn at(event: Option<Event>) -> (String, u64) {
    match event {
        Some(Event::Progress {
            file, file_done, ..
        }) => (file, file_done),
        other => panic!("not progress: {other:?}"),
    }
}

#[test]
fn starts_must_be_zero_or_the_offset_we_offered() {
    let offer = offer(&[10, 10]);
    let offered = [point(1, 4)];
    assert!(Receiving::new(&offer, &offered, &header(&offer, &[0, 4])).is_ok());
    assert!(Receiving::new(&offer, &offered, &header(&offer, &[0, 0])).is_ok());
    let wrong = Receiving::new(&offer, &offered, &header(&offer, &[0, 5])).unwrap_err();
    assert_eq!(wrong.file, Some(1));
    assert!(wrong.message.contains("did not offer"), "{}", wrong.message);
    let unasked = Receiving::new(&offer, &offered, &header(&offer, &[3, 4])).unwrap_err();
    assert_eq!(unasked.file, Some(0));
    let short = Receiving::new(&offer, &offered, &header(&offer, &[0])).unwrap_err();
    assert!(short.message.contains("do not match the offer"));
}

#[test]
fn resumed_bytes_count_as_done_and_not_as_transferred() {
    let offer = offer(&[10, 10]);
    let session = Receiving::new(&offer, &[point(1, 4)], &header(&offer, &[0, 4])).unwrap();
    assert_eq!(session.resumed(), 4);
    assert_eq!(session.transferred(), 16);
    assert!(matches!(
        session.started(
            libp2p::PeerId::random(),
            PathInfo {
                relayed: true,
                transport: crate::TransportKind::Tcp
            }
        ),
        Event::TransferStarted {
            resumed: 4,
            files: 2,
            bytes: 20,
            ..
        }
    ));
}

#[test]
fn files_already_placed_are_left_out_of_the_plan() {
    // An empty file, a complete one, a resumed one.
    let offer = offer(&[0, 5, 10]);
    let mut session = Receiving::new(
        &offer,
        &[point(1, 5), point(2, 4)],
        &header(&offer, &[0, 5, 4]),
    )
    .unwrap();
    assert_eq!(session.complete_before(), [0, 1]);
    // The driver found file 1 in place; the empty file 0 was not.
    let plan = session.plan(&[1]);
    let indexes: Vec<u32> = plan.iter().map(|p| p.index).collect();
    assert_eq!(indexes, [0, 2]);
    assert_eq!(session.want(), 6, "only file 2's last 6 bytes");
}

#[test]
fn the_position_walks_across_files_and_progress_names_the_current_one() {
    // An empty file, a resumed one, one already complete, a small one.
    let offer = offer(&[0, 10, 5, 3]);
    let mut session = Receiving::new(
        &offer,
        &[point(1, 4), point(2, 5)],
        &header(&offer, &[0, 4, 5, 0]),
    )
    .unwrap();
    session.plan(&[]);
    let now = Instant::now();
    assert_eq!(at(session.received(5, now)), ("f1".into(), 9));
    // Within 100 ms of the last one: no progress event.
    assert!(
        session
            .received(0, now + Duration::from_millis(50))
            .is_none()
    );
    // The last byte of file 1 also passes the complete file 2.
    let later = now + PROGRESS_EVERY;
    assert_eq!(at(session.received(2, later)), ("f3".into(), 1));
    assert_eq!(
        at(session.received(2, later + PROGRESS_EVERY)),
        ("f3".into(), 3),
        "at the end: the last file, complete"
    );
    assert_eq!(session.want(), 0);
}

#[test]
fn reads_are_in_chunks_and_never_past_the_announced_bytes() {
    let big = CHUNK as u64 * 2 + 10;
    let offer = offer(&[big]);
    let mut session = Receiving::new(&offer, &[], &header(&offer, &[0])).unwrap();
    session.plan(&[]);
    assert_eq!(session.want(), CHUNK);
    session.received(CHUNK, Instant::now());
    session.received(CHUNK, Instant::now());
    assert_eq!(session.want(), 10);
    // More than asked for is counted only up to the end.
    session.received(100, Instant::now());
    assert_eq!(session.want(), 0);
}

#[test]
fn a_broken_stream_names_the_file_it_broke_in() {
    let offer = offer(&[4, 8]);
    let mut session = Receiving::new(&offer, &[], &header(&offer, &[0, 0])).unwrap();
    session.plan(&[]);
    session.received(6, Instant::now());
    let failure = session.broken("the connection closed in the middle of");
    assert_eq!(failure.file, Some(1));
    assert!(
        failure.message.contains("f1") && failure.message.contains("resume"),
        "{}",
        failure.message
    );
}

#[test]
fn bytes_past_the_announced_sizes_are_a_lie_and_a_closed_stream_is_not() {
    let offer = offer(&[4]);
    let session = Receiving::new(&offer, &[], &header(&offer, &[0])).unwrap();
    assert!(session.end(Trailing::Nothing).is_ok());
    assert!(session.end(Trailing::Broken).is_ok());
    let lie = session.end(Trailing::Bytes).unwrap_err();
    assert!(lie.message.contains("more data than it announced"));
    let stalled = session
        .end(Trailing::Failed("no data for 60 s".into()))
        .unwrap_err();
    assert_eq!(stalled.message, "no data for 60 s");
}

#[test]
fn an_empty_plan_wants_nothing_and_has_no_position() {
    let offer = offer(&[0]);
    let mut session = Receiving::new(&offer, &[], &header(&offer, &[0])).unwrap();
    session.plan(&[0]);
    assert_eq!(session.want(), 0);
    assert!(session.received(1, Instant::now()).is_none());
    assert_eq!(session.broken("x").file, None);
}
