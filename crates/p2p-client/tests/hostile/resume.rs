//! Resumes: a partial kept after too few bytes, and offsets that were
//! never offered.

use protocol::transfer::{DataResult, ResumePoint};
use tokio::task::block_in_place;

use crate::MIB;
use crate::offers::{bytes, eventually, file_names, hash_of, header, one_file};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_bytes_than_announced_keep_the_partial_for_resume() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 8);
    let sent = 300_000;
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content[..sent])
        .await;
    assert!(reason.contains("closed in the middle"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("closed in the middle"), "{error}");

    // No final file; the partial holds exactly what arrived.
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());
    let part = format!("{}-{}.part", hash_of(&content), content.len());
    block_in_place(|| {
        eventually("the partial should hold the bytes received", || {
            receiver.partials_by_content() == [(part.clone(), sent as u64)]
        });
    });
    receiver.assert_nothing_outside();

    // A new offer of the same content is told where to resume...
    let again = one_file("a.bin", content.len(), hash_of(&content));
    let resume = hostile.offer_accepted(&again).await;
    assert_eq!(
        resume,
        [ResumePoint {
            file: 0,
            offset: sent as u64,
            prefix_hash: hash_of(&content[..sent]),
        }]
    );
    // ...and may not start anywhere else: nothing is cut or written then.
    let reason = hostile
        .send_data_failed(&header(&again, vec![200_000]), &content[200_000..210_000])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    receiver.failed(&again.transfer_id);
    assert_eq!(
        receiver.partials_by_content(),
        [(part.clone(), sent as u64)]
    );
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());

    // An honest resume completes the file.
    let last = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&last).await.len(), 1);
    assert_eq!(
        hostile
            .send_data(&header(&last, vec![sent as u64]), &content[sent..])
            .await,
        Ok(DataResult::Complete)
    );
    let done = receiver.done(&last.transfer_id);
    assert_eq!(
        done["summary"]["transferred"],
        (content.len() - sent) as u64
    );
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    assert_eq!(receiver.partials(), Vec::new());
    receiver.assert_nothing_outside();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_offsets_that_were_never_offered_are_refused() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(8192, 9);

    // Start in the middle although the receiver had nothing.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![4096]), &content[4096..])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("offset we did not offer"), "{error}");
    receiver.assert_untouched();

    // Start past the end (an underflow bait).
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![u64::MAX]), &[])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    receiver.failed(&offer.transfer_id);
    receiver.assert_untouched();

    // Offsets for files that are not in the offer.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0, 0]), &content)
        .await;
    assert!(reason.contains("start offsets do not match"), "{reason}");
    receiver.failed(&offer.transfer_id);
    receiver.assert_untouched();

    drop(hostile);
    receiver.assert_alive_and_stop();
}

/// Partial data belongs to the peer that sent it: another peer offering the
/// same content (path, size, hash) is told of no resume point, so it cannot
/// learn that the first peer sent that file, and its bytes go to a partial
/// of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_peer_offering_the_same_content_learns_nothing_of_a_partial() {
    let mut receiver = block_in_place(Receiver::start);
    let first = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(MIB, 10);
    let sent = 300_000;
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(first.offer_accepted(&offer).await, Vec::new());
    first
        .send_data_failed(&header(&offer, vec![0]), &content[..sent])
        .await;
    receiver.failed(&offer.transfer_id);
    block_in_place(|| {
        eventually("the partial should hold the bytes received", || {
            receiver.partials().len() == 1 && receiver.partials()[0].1 == sent as u64
        });
    });

    let other = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let again = one_file("b.bin", content.len(), hash_of(&content));
    assert_eq!(other.offer_accepted(&again).await, Vec::new());
    assert_eq!(
        other.send_data(&header(&again, vec![0]), &content).await,
        Ok(DataResult::Complete)
    );
    receiver.done(&again.transfer_id);
    assert_eq!(std::fs::read(receiver.dir.join("b.bin")).unwrap(), content);
    // The first peer's partial is untouched, and still resumes for it.
    assert_eq!(receiver.partials().len(), 1);
    assert_eq!(receiver.partials()[0].1, sent as u64);
    let third = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(
        first.offer_accepted(&third).await,
        [ResumePoint {
            file: 0,
            offset: sent as u64,
            prefix_hash: hash_of(&content[..sent]),
        }]
    );
    drop((first, other));
    receiver.assert_alive_and_stop();
}
