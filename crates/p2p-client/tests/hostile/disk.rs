//! A disk that fills up during a receive (tmpfs and ext4, as root).

use protocol::transfer::DataResult;
use tokio::task::block_in_place;

use crate::MIB;
use crate::common::{Ext4, Tmpfs};
use crate::offers::{bytes, file_names, hash_of, header, one_file};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_keeps_what_arrived_and_resumes() {
    let receiver = block_in_place(Receiver::start);
    // The download folder becomes a 24 MiB disk.
    let Some(_disk) = Tmpfs::mount(&receiver.dir, "24m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    disk_fills_up(receiver, 20).await;
}

/// The same on ext4, where a large file is written around the page cache
/// (`O_DIRECT`): the disk fills up in the middle of a direct write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_during_direct_writes_keeps_what_arrived_and_resumes() {
    let receiver = block_in_place(Receiver::start);
    let Some(_disk) = Ext4::mount(&receiver.dir, 32) else {
        eprintln!("skipped: mounting an ext4 image needs root, mkfs.ext4 and loop devices");
        return;
    };
    // About 30 MiB free: the offer fits, the filler leaves about 4 MiB.
    disk_fills_up(receiver, 26).await;
}

/// A 6 MiB file is accepted, then a filler of `filler_mib` takes the space:
/// the transfer fails as "disk is full", keeps a true prefix, and resumes
/// from it once the filler is gone.
async fn disk_fills_up(mut receiver: Receiver, filler_mib: usize) {
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    // 6 MiB fits (with the 16 MiB margin the receiver keeps)...
    let content = bytes(6 * MIB, 21);
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    // ...until something else takes the space once it was accepted.
    let filler = receiver.dir.join("filler");
    std::fs::write(&filler, vec![1u8; filler_mib * MIB]).unwrap();
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("disk is full"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("disk is full"), "{error}");
    assert!(error.contains("free some space"), "{error}");

    // Nothing under a final name; the partial holds a true prefix.
    assert_eq!(file_names(&receiver.dir), ["filler"]);
    let partials = receiver.partials();
    assert_eq!(partials.len(), 1, "{partials:?}");
    let kept = partials[0].1;
    assert!(kept > 0 && kept < content.len() as u64, "{partials:?}");

    // Space freed, the same content offered again resumes and completes.
    std::fs::remove_file(&filler).unwrap();
    let again = one_file("a.bin", content.len(), hash_of(&content));
    let resume = hostile.offer_accepted(&again).await;
    assert_eq!(resume.len(), 1, "{resume:?}");
    let from = resume[0].offset;
    assert!(from > 0, "{resume:?}");
    assert_eq!(resume[0].prefix_hash, hash_of(&content[..from as usize]));
    assert_eq!(
        hostile
            .send_data(&header(&again, vec![from]), &content[from as usize..])
            .await,
        Ok(DataResult::Complete)
    );
    receiver.done(&again.transfer_id);
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    drop(hostile);
    receiver.assert_alive_and_stop();
}
