//! Streams (`send -`, size unknown in advance) that lie: a wrong hash or
//! size at the end, a chunk over the limit, bytes after the end, an end
//! that never comes, a name that is not one safe file name. Nothing of
//! such a stream may be placed or left behind.

use protocol::offer::{Hash, Offer};
use protocol::transfer::{MAX_CHUNK, Refusal, Response, StreamEnd, chunk_prefix, encode_frame};
use tokio::task::block_in_place;

use crate::MIB;
use crate::offers::{bytes, hash_of, header, new_id};
use crate::receiver::Receiver;
use crate::sender::Hostile;

fn stream_offer(name: &str) -> Offer {
    Offer {
        transfer_id: new_id(),
        files: Vec::new(),
        dirs: Vec::new(),
        total_bytes: 0,
        text: None,
        stream: Some(name.into()),
    }
}

/// `content` in chunks of 300 KB, then the end with `end`.
fn chunked(content: &[u8], end: Option<&StreamEnd>) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in content.chunks(300_000) {
        body.extend_from_slice(&chunk_prefix(chunk.len()).unwrap());
        body.extend_from_slice(chunk);
    }
    if let Some(end) = end {
        body.extend_from_slice(&chunk_prefix(0).unwrap());
        body.extend_from_slice(&encode_frame(end));
    }
    body
}

fn end_of(content: &[u8]) -> StreamEnd {
    StreamEnd {
        bytes: content.len() as u64,
        hash: hash_of(content),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_stream_places_nothing_and_leaves_nothing() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(2 * MIB, 11);

    let wrong_hash = StreamEnd {
        hash: Hash([0; 32]),
        ..end_of(&content)
    };
    let longer = StreamEnd {
        bytes: content.len() as u64 + 1,
        ..end_of(&content)
    };
    let mut too_big = chunk_prefix(MAX_CHUNK).unwrap().to_vec();
    too_big[0] += 1;
    too_big.extend_from_slice(&bytes(1000, 1));
    let mut trailing = chunked(&content, Some(&end_of(&content)));
    trailing.extend_from_slice(b"more");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong hash",
            chunked(&content, Some(&wrong_hash)),
            "does not match the sender's hash",
        ),
        (
            "wrong size",
            chunked(&content, Some(&longer)),
            "did not arrive as the sender read it",
        ),
        ("chunk over the limit", too_big, "bad chunk"),
        ("bytes after the end", trailing, "more after the end"),
        ("no end", chunked(&content, None), "nothing of it was kept"),
    ];
    for (what, body, expected) in cases {
        let offer = stream_offer("s.bin");
        assert_eq!(hostile.offer_accepted(&offer).await, Vec::new(), "{what}");
        let reason = hostile
            .send_data_failed(&header(&offer, Vec::new()), &body)
            .await;
        assert!(reason.contains(expected), "{what}: {reason}");
        let error = receiver.failed(&offer.transfer_id);
        assert!(error.contains(expected), "{what}: {error}");
        receiver.assert_untouched();
    }

    // A stream with resume offsets in its header is refused too.
    let offer = stream_offer("s.bin");
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let body = chunked(&content, Some(&end_of(&content)));
    let reason = hostile
        .send_data_failed(&header(&offer, vec![5]), &body)
        .await;
    assert!(reason.contains("does not fit a stream"), "{reason}");
    receiver.assert_untouched();

    // And the same bytes told right arrive, verified, under their name.
    let offer = stream_offer("s.bin");
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let result = hostile.send_data(&header(&offer, Vec::new()), &body).await;
    assert_eq!(result, Ok(protocol::transfer::DataResult::Complete));
    receiver.done(&offer.transfer_id);
    assert_eq!(std::fs::read(receiver.dir.join("s.bin")).unwrap(), content);
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    receiver.assert_nothing_outside();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_must_be_named_by_one_safe_file_name() {
    let receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    for name in [
        "../s.bin",
        "a/s.bin",
        "/etc/passwd",
        "",
        "CON",
        "s\u{1b}.bin",
    ] {
        let offer = stream_offer(name);
        match hostile.offer(&offer).await {
            Response::Refused {
                reason: Refusal::InvalidOffer,
                ..
            } => {}
            other => panic!("stream {name:?}: expected a refusal, got {other:?}"),
        }
        let body = chunked(b"evil", Some(&end_of(b"evil")));
        let reason = hostile
            .send_data_failed(&header(&offer, Vec::new()), &body)
            .await;
        assert!(reason.contains("no accepted transfer"), "{reason}");
    }
    // A stream that also lists a file is refused.
    let mut both = stream_offer("s.bin");
    both.files = crate::offers::one_file("a", 4, hash_of(b"evil")).files;
    both.total_bytes = 4;
    assert!(matches!(
        hostile.offer(&both).await,
        Response::Refused {
            reason: Refusal::InvalidOffer,
            ..
        }
    ));
    receiver.assert_untouched();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fills_the_disk_fails_and_leaves_nothing() {
    let mut receiver = block_in_place(Receiver::start);
    // The download folder becomes a 24 MiB disk: the offer is accepted
    // (the 16 MiB margin is free), the stream is larger than the disk.
    let Some(_disk) = crate::common::Tmpfs::mount(&receiver.dir, "24m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(30 * MIB, 12);
    let offer = stream_offer("big.tar");
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let body = chunked(&content, Some(&end_of(&content)));
    let reason = hostile
        .send_data_failed(&header(&offer, Vec::new()), &body)
        .await;
    assert!(reason.contains("disk is full"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("free some space"), "{error}");
    receiver.assert_untouched();
    drop(hostile);
    receiver.assert_alive_and_stop();
}
