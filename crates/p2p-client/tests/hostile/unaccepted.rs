//! Data for transfers that were never accepted, or accepted for
//! another peer.

use protocol::transfer::{DataHeader, DataResult};
use tokio::task::block_in_place;

use crate::offers::{bytes, file_names, hash_of, header, one_file};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_for_a_transfer_never_accepted_is_refused() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(4096, 6);

    // An ID nobody offered.
    let unknown = one_file("a.bin", content.len(), hash_of(&content));
    let reason = hostile
        .send_data_failed(&header(&unknown, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");

    // A syntactically hostile ID.
    let weird = DataHeader {
        transfer_id: "../../../etc".into(),
        starts: vec![0],
    };
    let reason = hostile.send_data_failed(&weird, &content).await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();

    // Another peer's accepted transfer: the ID alone is not enough.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let thief = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let mut forged = bytes(4096, 7);
    forged[0] ^= 1;
    let reason = thief
        .send_data_failed(&header(&offer, vec![0]), &forged)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();

    // The rightful sender still gets through.
    assert_eq!(
        hostile.send_data(&header(&offer, vec![0]), &content).await,
        Ok(DataResult::Complete)
    );
    receiver.done(&offer.transfer_id);
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    receiver.assert_nothing_outside();
    drop((hostile, thief));
    receiver.assert_alive_and_stop();
}
