#![allow(clippy::unwrap_used)]
use std::time::Duration;

use libp2p::PeerId;

use super::*;
use crate::event::Summary;
use crate::network::{PathInfo, TransportKind};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn summary(saved: &[&str]) -> Summary {
    Summary {
        files: 2,
        bytes: 10,
        transferred: 10,
        seconds: 1.0,
        path: PathInfo {
            relayed: false,
            transport: TransportKind::Tcp,
        },
        saved: saved.iter().map(|s| (*s).to_owned()).collect(),
        text: false,
    }
}

#[test]
fn a_received_transfer_is_recorded_with_where_it_landed() {
    let mut recorder = Recorder::new(PathBuf::from("/downloads"));
    let peer = PeerId::random();
    let offer = Event::OfferReceived {
        transfer_id: "t1".into(),
        peer,
        files: 2,
        folders: 1,
        bytes: 10,
        names: vec!["album".into()],
        text_chars: None,
        unknown_size: false,
        fetched: false,
    };
    assert_eq!(recorder.observe(&offer, at(1)), None);
    let done = Event::TransferDone {
        transfer_id: "t1".into(),
        summary: summary(&["album (1)"]),
    };
    let entry = recorder.observe(&done, at(5)).unwrap();
    assert_eq!(
        entry,
        Entry {
            when: 5,
            direction: "receive".into(),
            peer: peer.to_string(),
            files: 2,
            bytes: 10,
            outcome: "done".into(),
            names: vec!["album (1)".into()],
            path: Some("/downloads".into()),
        }
    );
    assert!(entry.succeeded());
    // Each transfer ends once.
    assert_eq!(recorder.observe(&done, at(6)), None);
}

#[test]
fn sends_that_fail_or_are_declined_are_recorded_with_the_reason() {
    let mut recorder = Recorder::new(PathBuf::from("/d"));
    let peer = PeerId::random();
    for id in ["a", "b"] {
        let sent = Event::OfferSent {
            transfer_id: id.into(),
            peer,
            files: 1,
            bytes: 3,
            text: false,
            unknown_size: false,
        };
        assert_eq!(recorder.observe(&sent, at(1)), None);
    }
    let failed = recorder
        .observe(
            &Event::TransferFailed {
                transfer_id: "a".into(),
                peer,
                error: "disk full".into(),
            },
            at(2),
        )
        .unwrap();
    assert_eq!(failed.outcome, "failed: disk full");
    assert_eq!(failed.direction, "send");
    assert_eq!(failed.path, None);
    let declined = recorder
        .observe(
            &Event::Declined {
                transfer_id: "b".into(),
                reason: "no thanks".into(),
            },
            at(3),
        )
        .unwrap();
    assert_eq!(declined.outcome, "declined: no thanks");
    assert!(!declined.succeeded());
    // The end of a transfer that was never offered is not recorded.
    let unknown = Event::Declined {
        transfer_id: "zzz".into(),
        reason: "x".into(),
    };
    assert_eq!(recorder.observe(&unknown, at(4)), None);
}

#[test]
fn the_recorder_forgets_the_oldest_offer_past_its_bound() {
    let mut recorder = Recorder::new(PathBuf::from("/d"));
    let peer = PeerId::random();
    for i in 0..=MAX_PENDING {
        let sent = Event::OfferSent {
            transfer_id: format!("t{i}"),
            peer,
            files: 1,
            bytes: 1,
            text: false,
            unknown_size: false,
        };
        recorder.observe(&sent, at(1));
    }
    assert_eq!(recorder.pending.len(), MAX_PENDING);
    let end = |id: &str| Event::Declined {
        transfer_id: id.into(),
        reason: "x".into(),
    };
    assert_eq!(recorder.observe(&end("t0"), at(2)), None);
    assert!(
        recorder
            .observe(&end(&format!("t{MAX_PENDING}")), at(2))
            .is_some()
    );
}

fn entry(when: u64) -> Entry {
    Entry {
        when,
        direction: "send".into(),
        peer: "p".into(),
        files: 1,
        bytes: 1,
        outcome: "done".into(),
        names: Vec::new(),
        path: None,
    }
}

#[test]
fn the_file_survives_a_reload_stays_bounded_and_a_damaged_one_reads_empty() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::new(&dir.path().join("data"));
    assert!(history.load().is_empty());
    for i in 0..(MAX_ENTRIES as u64 + 5) {
        history.append(entry(i)).unwrap();
    }
    let entries = history.load();
    assert_eq!(entries.len(), MAX_ENTRIES);
    assert_eq!(entries.first().unwrap().when, 5);
    assert_eq!(entries.last().unwrap().when, MAX_ENTRIES as u64 + 4);
    std::fs::write(dir.path().join("data").join(FILE_NAME), b"{damaged").unwrap();
    assert!(history.load().is_empty());
    // A damaged file is replaced by the next entry, not an error.
    history.append(entry(1)).unwrap();
    assert_eq!(history.load(), vec![entry(1)]);
}

#[test]
fn entries_of_an_older_build_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let old = r#"[{"when":1,"direction":"send","peer":"p","files":1,"bytes":2,"outcome":"done"}]"#;
    std::fs::write(dir.path().join(FILE_NAME), old).unwrap();
    let entries = History::new(dir.path()).load();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].names.is_empty());
}

#[test]
fn two_writers_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let history = History::new(dir.path());
            std::thread::spawn(move || {
                for i in 0..50 {
                    history.append(entry(w * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(History::new(dir.path()).load().len(), 100);
}
