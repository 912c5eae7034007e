//! Offers with unsafe paths.

use protocol::offer::{FileEntry, Offer};
use protocol::transfer::{Refusal, Response};
use tokio::task::block_in_place;

use crate::offers::{hash_of, header, new_id};
use crate::receiver::Receiver;
use crate::sender::Hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_with_hostile_paths_are_refused_and_write_nothing() {
    let receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    // An absolute path that points right next to the download folder.
    let absolute = format!("{}/x", receiver.root.path().display());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["../x"], vec![]),
        (vec![absolute.as_str()], vec![]),
        (vec!["/etc/passwd"], vec![]),
        (vec!["a/../../b"], vec![]),
        (vec!["C:\\evil"], vec![]),
        (vec!["x\0y"], vec![]),
        (vec!["\u{1b}[31mx"], vec![]),
        (vec!["CON"], vec![]),
        (vec!["docs/aux.txt"], vec![]),
        (vec!["trailing."], vec![]),
        (vec!["trailing "], vec![]),
        (vec!["a:stream"], vec![]),
        (vec!["a.txt", "A.TXT"], vec![]),
        (vec!["docs"], vec!["DOCS"]),
        (vec![], vec![".."]),
        (vec!["ok.txt"], vec![".."]),
    ];
    let content = b"x";
    for (files, dirs) in cases {
        let offer = Offer {
            transfer_id: new_id(),
            files: files
                .iter()
                .map(|p| FileEntry {
                    path: (*p).to_owned(),
                    size: content.len() as u64,
                    hash: hash_of(content),
                })
                .collect(),
            dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
            total_bytes: (content.len() * files.len()) as u64,
            text: None,
            stream: None,
        };
        match hostile.offer(&offer).await {
            Response::Refused {
                reason: Refusal::InvalidOffer,
                ..
            } => {}
            other => panic!("files {files:?} dirs {dirs:?}: expected a refusal, got {other:?}"),
        }
        // Even if the refusal were ignored, sending the bytes must not work.
        let reason = hostile
            .send_data_failed(&header(&offer, vec![0; files.len()]), content)
            .await;
        assert!(reason.contains("no accepted transfer"), "{reason}");
    }

    receiver.assert_untouched();
    for name in ["x", "b", "evil", "passwd"] {
        assert!(!receiver.root.path().join(name).exists(), "{name} written");
    }
    drop(hostile);
    receiver.assert_alive_and_stop();
}
