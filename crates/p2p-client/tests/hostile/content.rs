//! Bytes that do not match the offer: too many, or a wrong hash.

use protocol::offer::{FileEntry, Offer};
use tokio::task::block_in_place;

use crate::MIB;
use crate::offers::{bytes, eventually, file_names, hash_of, header, new_id, one_file};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_bytes_than_announced_fail_and_nothing_else_is_written() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 2);
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let mut body = content.clone();
    body.extend_from_slice(&bytes(1000, 3));
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &body)
        .await;
    assert!(reason.contains("more data than it announced"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("more data than it announced"), "{error}");

    // Accepted: the announced file, whose bytes were right, may be kept (it
    // was verified against its hash before the extra bytes were seen). The
    // extra bytes must not be in it, and nothing else may exist.
    let names = file_names(&receiver.dir);
    assert!(
        names.is_empty() || names == ["a.bin"],
        "unexpected files: {names:?}"
    );
    if names == ["a.bin"] {
        assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    }
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    receiver.assert_nothing_outside();

    // The transfer is over: the same ID takes no more data.
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hash_places_nothing_and_deletes_the_partial() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 4);
    let offer = one_file("a.bin", content.len(), hash_of(&bytes(MIB, 5)));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("hash"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(
        error.contains("does not match the sender's hash"),
        "{error}"
    );

    // No `a.bin`, no `a (1).bin`, no partial data.
    receiver.assert_untouched();

    // A damaged transfer is over: the same ID takes no more data.
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

/// Small files wait in a batch for one sync before their final names; a
/// later file failing must not lose the good ones verified before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_verified_before_a_bad_one_are_still_placed() {
    let receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let (good, bad) = (bytes(4096, 7), bytes(4096, 8));
    let offer = Offer {
        transfer_id: new_id(),
        files: vec![
            FileEntry {
                path: "good.bin".into(),
                size: 4096,
                hash: hash_of(&good),
            },
            FileEntry {
                path: "bad.bin".into(),
                size: 4096,
                hash: hash_of(&bytes(4096, 9)),
            },
        ],
        dirs: Vec::new(),
        total_bytes: 8192,
        text: None,
        stream: None,
    };
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let body = [good.as_slice(), bad.as_slice()].concat();
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0, 0]), &body)
        .await;
    assert!(reason.contains("hash"), "{reason}");
    let dir = receiver.dir.clone();
    eventually("good.bin placed", || {
        std::fs::read(dir.join("good.bin")).is_ok_and(|b| b == good)
    });
    assert!(
        !dir.join("bad.bin").exists(),
        "a file with the wrong hash was placed"
    );
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    drop(hostile);
    receiver.assert_alive_and_stop();
}
