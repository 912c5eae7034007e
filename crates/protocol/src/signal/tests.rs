#![allow(clippy::unwrap_used)]
use super::handshake::REGISTER_DOMAIN;
use super::*;

fn register() -> ClientMsg {
    ClientMsg::Register(Register {
        version: PROTOCOL_VERSION,
        peer_id: "12D3KooW".into(),
        public_key: "AAAA".into(),
        origin: "ws://127.0.0.1:8080".into(),
        signature: "BBBB".into(),
        name: "alice".into(),
        os: Some("linux".into()),
        addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
        publishes: false,
        room: RoomRequest::Named {
            name: "family".into(),
            secret: "s3cret".into(),
        },
    })
}

#[test]
fn client_messages_round_trip() {
    let msgs = [
        register(),
        ClientMsg::Update {
            name: Some("bob".into()),
            addrs: None,
            publishes: None,
        },
        ClientMsg::Join {
            room: RoomRequest::Auto,
        },
        ClientMsg::CodeOpen {
            nameplate: 7,
            claims: 1,
        },
        ClientMsg::CodeClaim { nameplate: 7 },
        ClientMsg::Lookup {
            peer_id: "x".into(),
        },
    ];
    for msg in msgs {
        let text = encode_client(&msg);
        assert_eq!(decode_client(&text).unwrap(), msg, "{text}");
    }
}

#[test]
fn server_messages_round_trip() {
    let peer = PeerInfo {
        peer_id: "p".into(),
        name: "n".into(),
        os: None,
        addrs: vec![],
        publishes: true,
    };
    let msgs = [
        ServerMsg::Challenge {
            version: 1,
            nonce: "abc".into(),
        },
        ServerMsg::Welcome {
            peer_id: "p".into(),
            room: RoomInfo {
                kind: RoomKind::Auto,
                name: "home".into(),
            },
            peers: vec![peer.clone()],
            relay: Some(RelayInfo {
                peer_id: "r".into(),
                addrs: vec!["/ip4/127.0.0.1/tcp/4001/p2p/r".into()],
            }),
            limits: Limits {
                max_frame: 1,
                messages_per_sec: 2,
                idle_timeout_secs: 3,
                code_ttl_secs: 4,
                peers_per_room: 5,
            },
        },
        ServerMsg::PeerJoined { peer: peer.clone() },
        ServerMsg::PeerLeft {
            peer_id: "p".into(),
        },
        ServerMsg::CodePaired { nameplate: 3, peer },
        ServerMsg::Error {
            code: ErrorCode::WrongSecret,
            message: "no".into(),
        },
    ];
    for msg in msgs {
        let text = encode_server(&msg);
        assert_eq!(decode_server(&text).unwrap(), msg, "{text}");
    }
}

#[test]
fn wire_format_is_tagged_snake_case() {
    let text = encode_client(&ClientMsg::CodeOpen {
        nameplate: 7,
        claims: 1,
    });
    assert_eq!(text, r#"{"type":"code_open","nameplate":7}"#);
    let text = encode_server(&ServerMsg::Error {
        code: ErrorCode::RoomFull,
        message: "full".into(),
    });
    assert_eq!(
        text,
        r#"{"type":"error","code":"room_full","message":"full"}"#
    );
}

#[test]
fn malformed_and_unknown_input_is_an_error() {
    for bad in [
        "",
        "{",
        "null",
        "[]",
        r#"{"type":"nope"}"#,
        r#"{"type":"code_open"}"#,
        r#"{"type":"code_open","nameplate":-1}"#,
        r#"{"type":"code_open","nameplate":99999999999}"#,
        r#"{"nameplate":1}"#,
        "\u{0}",
    ] {
        let err = decode_client(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage, "{bad:?}");
    }
}

#[test]
fn oversized_frame_is_refused_before_parsing() {
    let big = format!(
        r#"{{"type":"lookup","peer_id":"{}"}}"#,
        "x".repeat(MAX_CLIENT_FRAME)
    );
    let err = decode_client(&big).unwrap_err();
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);
}

#[test]
fn field_bounds_are_enforced() {
    assert!(register().validate().is_ok());
    let bad_name = ClientMsg::Update {
        name: Some("x".repeat(MAX_NAME_CHARS + 1)),
        addrs: None,
        publishes: None,
    };
    assert_eq!(bad_name.validate(), Err(FieldError::Name));
    let ctrl = ClientMsg::Update {
        name: Some("evil\u{1b}[2J".into()),
        addrs: None,
        publishes: None,
    };
    assert_eq!(ctrl.validate(), Err(FieldError::Name));
    for os in ["", "Linux", "evil\u{1b}", "averyveryverylongos"] {
        let ClientMsg::Register(mut reg) = register() else {
            unreachable!()
        };
        reg.os = Some(os.into());
        assert_eq!(
            ClientMsg::Register(reg).validate(),
            Err(FieldError::Os),
            "{os:?}"
        );
    }
    let addrs = ClientMsg::Update {
        name: None,
        addrs: Some(vec!["/ip4/1.2.3.4".into(); MAX_ADDRS + 1]),
        publishes: None,
    };
    assert_eq!(addrs.validate(), Err(FieldError::Addrs));
    let room = ClientMsg::Join {
        room: RoomRequest::Named {
            name: "r".into(),
            secret: String::new(),
        },
    };
    assert_eq!(room.validate(), Err(FieldError::RoomSecret));
    assert_eq!(
        ClientMsg::CodeOpen {
            nameplate: 0,
            claims: 1
        }
        .validate(),
        Err(FieldError::Nameplate)
    );
    for claims in [0, crate::signal::MAX_CODE_CLAIMS + 1] {
        let open = ClientMsg::CodeOpen {
            nameplate: 5,
            claims,
        };
        assert_eq!(open.validate(), Err(FieldError::Claims));
    }
}

#[test]
fn a_code_for_one_receiver_is_written_as_before_and_claims_default_to_one() {
    let one = encode_client(&ClientMsg::CodeOpen {
        nameplate: 5,
        claims: 1,
    });
    assert!(!one.contains("claims"), "{one}");
    assert_eq!(
        decode_client(r#"{"type":"code_open","nameplate":5}"#).unwrap(),
        ClientMsg::CodeOpen {
            nameplate: 5,
            claims: 1
        }
    );
    let three = ClientMsg::CodeOpen {
        nameplate: 5,
        claims: 3,
    };
    assert_eq!(decode_client(&encode_client(&three)).unwrap(), three);
}

#[test]
fn error_code_names_match_serde() {
    for code in ErrorCode::ALL {
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
}

#[test]
fn version_is_read_from_frames_of_other_versions() {
    assert_eq!(
        claimed_version(r#"{"type":"register","version":7,"new_field":[1]}"#),
        Some(7)
    );
    assert_eq!(claimed_version(r#"{"type":"lookup","version":7}"#), None);
    assert_eq!(claimed_version("{"), None);
}

#[test]
fn payload_is_domain_separated_and_names_the_server() {
    let p = registration_payload("ws://a.example:80", "nonce");
    assert!(p.starts_with(REGISTER_DOMAIN));
    assert!(p.ends_with(b"ws://a.example:80\nnonce"));
    assert_ne!(
        registration_payload("ws://a.example:80", "a"),
        registration_payload("ws://a.example:80", "b")
    );
    assert_ne!(
        registration_payload("ws://a.example:80", "n"),
        registration_payload("ws://b.example:80", "n")
    );
}

#[test]
fn register_needs_a_canonical_origin() {
    let with_origin = |origin: &str| match register() {
        ClientMsg::Register(mut reg) => {
            reg.origin = origin.into();
            ClientMsg::Register(reg)
        }
        _ => unreachable!(),
    };
    assert!(
        with_origin("wss://signal.example.org:443")
            .validate()
            .is_ok()
    );
    for bad in [
        "",
        "wss://signal.example.org",
        "wss://Signal.example.org:443",
        "ws://127.0.0.1:8080/ws",
        "http://127.0.0.1:8080",
        "ws://127.0.0.1:8080\nx",
    ] {
        assert_eq!(
            with_origin(bad).validate(),
            Err(FieldError::Origin),
            "{bad:?}"
        );
    }
    // A register without the field (a version 1 client) does not decode.
    let mut json: serde_json::Value = serde_json::from_str(&encode_client(&register())).unwrap();
    json.as_object_mut().unwrap().remove("origin");
    assert!(decode_client(&json.to_string()).is_err());
}
