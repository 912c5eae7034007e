#![allow(clippy::unwrap_used)]
use super::*;

/// An Ed25519 peer ID (the kind every p2p-client has).
fn ed25519_peer(fill: u8) -> PeerId {
    let mut bytes = ED25519_PEER_PREFIX.to_vec();
    bytes.extend_from_slice(&[fill; 32]);
    PeerId::from_bytes(&bytes).unwrap()
}

/// A SHA-256 peer ID, as RSA keys have.
fn sha256_peer() -> PeerId {
    let mut bytes = vec![0x12, 0x20];
    bytes.extend_from_slice(&[7; 32]);
    PeerId::from_bytes(&bytes).unwrap()
}

fn addrs(list: &[&str]) -> Vec<Multiaddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn ticket() -> Ticket {
    Ticket {
        peer_id: ed25519_peer(3),
        addrs: addrs(&["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"]),
        secret: [9; SECRET_BYTES],
    }
}

#[test]
fn round_trips_through_wrapping_and_case() {
    let text = ticket().encode();
    assert!(text.starts_with(PREFIX));
    assert!(Ticket::looks_like_ticket(&text));
    let wrapped: String = text
        .to_uppercase()
        .chars()
        .enumerate()
        .flat_map(|(i, c)| if i % 40 == 39 { vec![c, '\n'] } else { vec![c] })
        .collect();
    assert_eq!(Ticket::decode(&wrapped).unwrap(), ticket());
}

#[test]
fn a_computer_with_two_addresses_fits_in_160_characters() {
    let ticket = Ticket::new(
        ed25519_peer(200),
        &addrs(&[
            "/ip4/203.0.113.7/tcp/45123",
            "/ip4/203.0.113.7/udp/45123/quic-v1",
            "/ip4/198.51.100.20/tcp/45123",
            "/ip4/198.51.100.20/udp/45124/quic-v1",
        ]),
        [0xab; SECRET_BYTES],
    );
    let text = ticket.encode();
    assert!(text.len() <= 160, "{} characters: {text}", text.len());
    assert_eq!(Ticket::decode(&text).unwrap(), ticket);
}

#[test]
fn other_peer_id_kinds_round_trip() {
    let ticket = Ticket {
        peer_id: sha256_peer(),
        ..ticket()
    };
    assert_eq!(Ticket::decode(&ticket.encode()).unwrap(), ticket);
}

#[test]
fn loopback_and_link_local_only_when_nothing_else_exists() {
    let all = addrs(&[
        "/ip4/0.0.0.0/tcp/1",
        "/ip4/127.0.0.1/tcp/2",
        "/ip6/::1/tcp/3",
        "/ip4/169.254.1.1/tcp/4",
        "/ip6/fe80::1/tcp/5",
        "/ip4/192.0.2.9/tcp/6",
        "/ip4/192.0.2.9/tcp/6",
        "/ip6/2001:db8::9/udp/7/quic-v1",
    ]);
    assert_eq!(
        Ticket::pick_addrs(&all),
        addrs(&["/ip4/192.0.2.9/tcp/6", "/ip6/2001:db8::9/udp/7/quic-v1"])
    );
    let local = addrs(&[
        "/ip4/0.0.0.0/tcp/1",
        "/ip4/127.0.0.1/tcp/2",
        "/ip6/::1/tcp/3",
    ]);
    assert_eq!(
        Ticket::pick_addrs(&local),
        addrs(&["/ip4/127.0.0.1/tcp/2", "/ip6/::1/tcp/3"])
    );
    let many: Vec<Multiaddr> = (0..40u16)
        .map(|p| format!("/ip4/192.0.2.1/tcp/{}", p + 1).parse().unwrap())
        .collect();
    assert_eq!(Ticket::pick_addrs(&many).len(), crate::signal::MAX_ADDRS);
}

#[test]
fn damaged_tickets_are_errors() {
    assert_eq!(Ticket::decode("7-tiger-violin"), Err(TicketError::NoPrefix));
    assert!(!Ticket::looks_like_ticket("7-tiger-violin"));
    assert!(matches!(
        Ticket::decode("p2pt!!!"),
        Err(TicketError::Damaged(_))
    ));
    let mut text = ticket().encode();
    text.truncate(text.len() - 5);
    assert!(matches!(
        Ticket::decode(&text),
        Err(TicketError::Damaged(_))
    ));
    assert_eq!(
        Ticket::decode(&"a".repeat(MAX_TICKET_BYTES + 1)),
        Err(TicketError::TooLong)
    );
}

/// Encodes a raw body the way [`Ticket::encode`] does.
fn text_of(body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        data_encoding::BASE32_NOPAD.encode(body).to_lowercase()
    )
}

#[test]
fn hostile_bodies_are_refused_with_a_reason() {
    // The JSON tickets of earlier builds start with '{'.
    assert_eq!(
        Ticket::decode(&text_of(b"{\"peer_id\":1}")),
        Err(TicketError::Version(b'{'))
    );
    let good = data_encoding::BASE32_NOPAD
        .decode(ticket().encode()[PREFIX.len()..].to_uppercase().as_bytes())
        .unwrap();
    // One byte more at the end.
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        Ticket::decode(&text_of(&longer)),
        Err(TicketError::Damaged(_))
    ));
    // An unknown peer kind.
    let mut kind = good.clone();
    kind[1] = 9;
    assert!(matches!(
        Ticket::decode(&text_of(&kind)),
        Err(TicketError::Damaged(_))
    ));
    // An address count past the limit, and one past the bytes there are.
    let count_at = 2 + 32 + SECRET_BYTES;
    let mut many = good.clone();
    many[count_at] = 200;
    assert!(matches!(
        Ticket::decode(&text_of(&many)),
        Err(TicketError::Damaged(_))
    ));
    let mut more = good.clone();
    more[count_at] = 3;
    assert!(matches!(
        Ticket::decode(&text_of(&more)),
        Err(TicketError::Damaged(_))
    ));
    // An address that is not a multiaddr.
    let mut garbage = good[..=count_at].to_vec();
    garbage[count_at] = 1;
    garbage.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
    assert!(matches!(
        Ticket::decode(&text_of(&garbage)),
        Err(TicketError::Damaged(_))
    ));
    // A multihash peer ID that is not one.
    let mut peer = vec![VERSION, PEER_MULTIHASH, 3, 0xff, 0xff, 0xff];
    peer.extend_from_slice(&[0; SECRET_BYTES]);
    peer.push(0);
    assert!(matches!(
        Ticket::decode(&text_of(&peer)),
        Err(TicketError::Damaged(_))
    ));
}

proptest::proptest! {
    #[test]
    fn any_text_decodes_or_fails_cleanly(text in "p2pt[a-z2-7]{0,300}") {
        if let Ok(ticket) = Ticket::decode(&text) {
            proptest::prop_assert!(ticket.addrs.len() <= crate::signal::MAX_ADDRS);
            proptest::prop_assert_eq!(Ticket::decode(&ticket.encode()).ok(), Some(ticket));
        }
    }
}
