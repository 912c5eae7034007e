//! Every decoder of peer- or server-provided input, driven by proptest with
//! arbitrary and almost-valid input: no panic, only bounded results, and
//! what we encode decodes to the same value. The same properties are the
//! fuzz targets in `fuzz/` (run for longer by `.ci/run`).

#![allow(clippy::expect_used)]

use proptest::prelude::*;
use protocol::code::ShareCode;
use protocol::offer::{FileEntry, Hash, MAX_OFFER_BYTES, Offer, decode_offer, encode_offer};
use protocol::path::SafePath;
use protocol::signal::{
    self, ClientMsg, ServerMsg, decode_client, decode_server, encode_client, encode_server,
};
use protocol::ticket::{SECRET_BYTES, Ticket};
use protocol::transfer::{
    DataHeader, DataResult, MAX_FRAME, decode_frame_body, encode_frame, frame_len,
};

/// A path-like string: mostly ordinary names, with the characters that
/// path rules are about mixed in.
fn pathish() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._\\-/\\\\:*?<>|\u{0}\u{202e}\u{e9}]{0,40}"
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn offer() -> impl Strategy<Value = Offer> {
    let file = (pathish(), 0u64..1 << 40, hash()).prop_map(|(path, size, hash)| FileEntry {
        path,
        size,
        hash,
    });
    (
        "[0-9a-f]{32}|[ -~]{0,40}",
        prop::collection::vec(file, 0..8),
        prop::collection::vec(pathish(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(transfer_id, files, dirs, honest)| {
            let sum = files.iter().map(|f| f.size).sum::<u64>();
            Offer {
                transfer_id,
                files,
                dirs,
                // Sometimes the total lies.
                total_bytes: if honest { sum } else { sum.wrapping_add(1) },
                text: None,
                stream: None,
            }
        })
}

fn ticket() -> impl Strategy<Value = Ticket> {
    (
        // An Ed25519 key (the compact form) or a SHA-256 multihash.
        any::<([u8; 32], bool)>(),
        prop::collection::vec(
            (any::<[u8; 4]>(), any::<u16>(), any::<bool>()),
            0..signal::MAX_ADDRS + 1,
        ),
        any::<[u8; SECRET_BYTES]>(),
    )
        .prop_map(|((key, ed25519), addrs, secret)| {
            let mut peer = if ed25519 {
                vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
            } else {
                vec![0x12, 0x20]
            };
            peer.extend_from_slice(&key);
            Ticket {
                peer_id: protocol::ticket::PeerId::from_bytes(&peer).expect("a multihash"),
                addrs: addrs
                    .into_iter()
                    .map(|(ip, port, quic)| {
                        let ip = std::net::Ipv4Addr::from(ip);
                        let text = if quic {
                            format!("/ip4/{ip}/udp/{port}/quic-v1")
                        } else {
                            format!("/ip4/{ip}/tcp/{port}")
                        };
                        text.parse().expect("a multiaddr")
                    })
                    .collect(),
                secret,
            }
        })
}

/// JSON-ish text: braces, quotes and the field names of our messages, so
/// that the decoders get past their first byte.
fn jsonish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"type\"".to_owned()),
            Just("\"v\"".to_owned()),
            Just("\"register\"".to_owned()),
            Just("\"join\"".to_owned()),
            Just("\"peer_id\"".to_owned()),
            Just("\"room\"".to_owned()),
            Just("\"files\"".to_owned()),
            Just("\"path\"".to_owned()),
            Just("\"size\"".to_owned()),
            Just("1".to_owned()),
            Just("-1".to_owned()),
            Just("1e999".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            "\"[ -~]{0,12}\"",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn signal_decoders_take_any_text(input in "\\PC{0,200}") {
        let _ = decode_client(&input);
        let _ = decode_server(&input);
        let _ = signal::claimed_version(&input);
    }

    #[test]
    fn signal_decoders_take_jsonish_text(input in jsonish()) {
        if let Ok(msg) = decode_client(&input) {
            prop_assert_eq!(decode_client(&encode_client(&msg)), Ok::<ClientMsg, _>(msg));
        }
        if let Ok(msg) = decode_server(&input) {
            prop_assert_eq!(decode_server(&encode_server(&msg)), Ok::<ServerMsg, _>(msg));
        }
    }

    #[test]
    fn offer_decoder_takes_any_bytes(input in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(offer) = decode_offer(&input) {
            prop_assert!(offer.validate().is_ok());
        }
    }

    #[test]
    fn offer_decoder_takes_jsonish_text(input in jsonish()) {
        if let Ok(offer) = decode_offer(input.as_bytes()) {
            prop_assert_eq!(decode_offer(&encode_offer(&offer)), Ok(offer));
        }
    }

    #[test]
    fn offers_round_trip_exactly_when_valid(offer in offer()) {
        let decoded = decode_offer(&encode_offer(&offer));
        match offer.validate() {
            Ok(()) => {
                prop_assert_eq!(decoded, Ok(offer.clone()));
                // Every path of a valid offer is a safe path.
                for f in &offer.files {
                    prop_assert!(SafePath::parse(&f.path).is_ok());
                }
            }
            Err(e) => prop_assert_eq!(decoded, Err(e)),
        }
    }

    #[test]
    fn tickets_round_trip(ticket in ticket()) {
        prop_assert_eq!(Ticket::decode(&ticket.encode()), Ok(ticket));
    }

    #[test]
    fn ticket_decoder_takes_any_text(input in "\\PC{0,300}", prefixed in any::<bool>()) {
        let text = if prefixed { format!("{}{input}", protocol::ticket::PREFIX) } else { input };
        if let Ok(ticket) = Ticket::decode(&text) {
            prop_assert!(ticket.addrs.len() <= signal::MAX_ADDRS);
        }
        let _ = Ticket::looks_like_ticket(&text);
    }

    #[test]
    fn share_code_parser_takes_any_text(input in "\\PC{0,120}") {
        if let Ok(code) = input.parse::<ShareCode>() {
            prop_assert_eq!(code.to_string().parse::<ShareCode>(), Ok(code));
        }
    }

    #[test]
    fn frames_are_bounded(prefix in any::<[u8; 4]>()) {
        match frame_len(prefix) {
            Ok(len) => prop_assert!(len <= MAX_FRAME),
            Err(_) => prop_assert!(u32::from_be_bytes(prefix) as usize > MAX_FRAME),
        }
    }

    #[test]
    fn frame_bodies_take_any_bytes(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_frame_body::<DataHeader>(&body);
        let _ = decode_frame_body::<DataResult>(&body);
    }

    #[test]
    fn frames_round_trip(
        transfer_id in "[0-9a-f]{32}",
        starts in prop::collection::vec(any::<u64>(), 0..20),
        reason in "\\PC{0,80}",
        file in any::<Option<u32>>(),
    ) {
        let header = DataHeader { transfer_id, starts };
        let frame = encode_frame(&header);
        let (prefix, body) = frame.split_at(4);
        let len = frame_len(prefix.try_into().unwrap_or_default());
        prop_assert_eq!(len, Ok(body.len()));
        prop_assert_eq!(decode_frame_body::<DataHeader>(body), Ok(header));
        let result = DataResult::Failed { file, reason };
        let frame = encode_frame(&result);
        prop_assert_eq!(decode_frame_body::<DataResult>(&frame[4..]), Ok(result));
    }
}

#[test]
fn an_offer_over_the_limit_is_refused_before_parsing() {
    let big = vec![b' '; MAX_OFFER_BYTES + 1];
    assert!(decode_offer(&big).is_err());
}
