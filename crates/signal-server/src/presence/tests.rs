#![allow(clippy::unwrap_used, clippy::panic)]

use protocol::signal::{ErrorCode, RoomKind, RoomRequest, ServerMsg};

use super::*;

fn settings() -> Settings {
    Settings {
        peers_per_room: 3,
        code_ttl: Duration::from_secs(60),
        codes_per_conn: 2,
        failed_attempts_per_min: 3,
        relay: None,
        limits: Limits {
            max_frame: 1,
            messages_per_sec: 1,
            idle_timeout_secs: 1,
            code_ttl_secs: 60,
            peers_per_room: 3,
        },
    }
}

fn info(peer: &str) -> PeerInfo {
    PeerInfo {
        peer_id: peer.into(),
        name: format!("{peer}'s laptop"),
        os: None,
        addrs: vec![],
        publishes: false,
    }
}

fn named(name: &str, secret: &str) -> RoomRequest {
    RoomRequest::Named {
        name: name.into(),
        secret: secret.into(),
    }
}

/// Connects and registers `conn` from `ip` as peer `p{conn}`.
fn join(
    p: &mut Presence,
    conn: ConnId,
    ip: &str,
    room: RoomRequest,
    now: Instant,
) -> Vec<Outgoing> {
    p.connect(conn, ip.into(), ip.into());
    p.register(conn, info(&format!("p{conn}")), &room, now)
}

fn errors_for(out: &[Outgoing], conn: ConnId) -> Vec<ErrorCode> {
    out.iter()
        .filter(|o| o.to.contains(&conn))
        .filter_map(|o| match &o.msg {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

fn welcome_peers(out: &[Outgoing], conn: ConnId) -> Vec<String> {
    for o in out {
        if let (true, ServerMsg::Welcome { peers, .. }) = (o.to == vec![conn], &o.msg) {
            return peers.iter().map(|p| p.peer_id.clone()).collect();
        }
    }
    panic!("no welcome for {conn} in {out:?}");
}

#[test]
fn same_address_shares_a_room_others_do_not() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    assert!(welcome_peers(&join(&mut p, 1, "198.51.100.1", RoomRequest::Auto, now), 1).is_empty());
    let out = join(&mut p, 2, "198.51.100.1", RoomRequest::Auto, now);
    assert_eq!(welcome_peers(&out, 2), vec!["p1"]);
    assert!(out.iter().any(|o| o.to == vec![1]
        && matches!(&o.msg, ServerMsg::PeerJoined { peer } if peer.peer_id == "p2")));
    let out = join(&mut p, 3, "203.0.113.7", RoomRequest::Auto, now);
    assert!(welcome_peers(&out, 3).is_empty());
    assert_eq!(out.len(), 1, "nobody else hears of p3: {out:?}");
    assert_eq!(p.room_count(), 2);

    let out = p.disconnect(1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, vec![2]);
    assert!(matches!(&out[0].msg, ServerMsg::PeerLeft { peer_id } if peer_id == "p1"));
    assert_eq!(p.peer_count(), 2);
}

#[test]
fn named_room_checks_its_secret_and_limits_guesses() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", named("fam", "right"), now);
    let out = join(&mut p, 2, "b", named("fam", "right"), now);
    assert_eq!(welcome_peers(&out, 2), vec!["p1"]);
    p.connect(3, "c".into(), "c".into());
    for _ in 0..3 {
        let out = p.register(3, info("p3"), &named("fam", "wrong"), now);
        assert_eq!(errors_for(&out, 3), vec![ErrorCode::WrongSecret]);
    }
    // The fourth guess within a minute is refused even with the right secret.
    let out = p.register(3, info("p3"), &named("fam", "right"), now);
    assert_eq!(errors_for(&out, 3), vec![ErrorCode::TooManyAttempts]);
    assert!(!p.is_registered(3));
    // A minute later it works again.
    let later = now + Duration::from_secs(61);
    let out = p.register(3, info("p3"), &named("fam", "right"), later);
    assert_eq!(welcome_peers(&out, 3).len(), 2);
}

#[test]
fn only_the_exact_secret_opens_a_room() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", named("fam", "right"), now);
    // A prefix, an extension and another case: each a wrong secret, from
    // addresses of their own so the guess budget does not interfere.
    for (conn, guess) in [(2, "righ"), (3, "right!"), (4, "Right"), (5, "")] {
        let out = join(&mut p, conn, &format!("ip{conn}"), named("fam", guess), now);
        assert_eq!(
            errors_for(&out, conn),
            vec![ErrorCode::WrongSecret],
            "{guess:?}"
        );
    }
    let out = join(&mut p, 6, "ip6", named("fam", "right"), now);
    assert_eq!(welcome_peers(&out, 6), vec!["p1"]);
}

#[test]
fn an_emptied_room_forgets_its_secret() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", named("r", "one"), now);
    p.disconnect(1);
    let out = join(&mut p, 2, "a", named("r", "two"), now);
    assert!(errors_for(&out, 2).is_empty());
}

#[test]
fn full_room_is_refused() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    for c in 1..=3 {
        join(&mut p, c, "x", RoomRequest::Auto, now);
    }
    let out = join(&mut p, 4, "x", RoomRequest::Auto, now);
    assert_eq!(errors_for(&out, 4), vec![ErrorCode::RoomFull]);
}

#[test]
fn join_moves_between_rooms() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "x", RoomRequest::Auto, now);
    join(&mut p, 2, "x", RoomRequest::Auto, now);
    join(&mut p, 3, "y", named("team", "s"), now);
    let out = p.join(2, &named("team", "s"), now);
    assert!(
        out.iter()
            .any(|o| o.to == vec![1] && matches!(o.msg, ServerMsg::PeerLeft { .. }))
    );
    assert!(
        out.iter()
            .any(|o| o.to == vec![3] && matches!(o.msg, ServerMsg::PeerJoined { .. }))
    );
    assert!(out.iter().any(|o| o.to == vec![2]
        && matches!(&o.msg, ServerMsg::RoomChanged { room, peers } if room.kind == RoomKind::Named && peers.len() == 1)));
}

#[test]
fn update_reaches_the_room() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "x", RoomRequest::Auto, now);
    join(&mut p, 2, "x", RoomRequest::Auto, now);
    let out = p.update(
        1,
        None,
        Some(vec!["/ip4/127.0.0.1/tcp/1/p2p-circuit".into()]),
        Some(true),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, vec![2]);
    assert!(
        matches!(&out[0].msg, ServerMsg::PeerUpdated { peer } if peer.addrs.len() == 1 && peer.name == "p1's laptop" && peer.publishes)
    );
    assert_eq!(
        errors_for(&p.update(9, None, None, None), 9),
        vec![ErrorCode::NotRegistered]
    );
}

#[test]
fn share_code_pairs_two_peers_once() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    join(&mut p, 2, "b", RoomRequest::Auto, now);
    join(&mut p, 3, "c", RoomRequest::Auto, now);
    let out = p.code_open(1, 7, 1, now);
    assert!(matches!(
        out[0].msg,
        ServerMsg::CodeOpened {
            nameplate: 7,
            expires_in_secs: 60
        }
    ));
    assert_eq!(
        errors_for(&p.code_open(2, 7, 1, now), 2),
        vec![ErrorCode::CodeInUse]
    );
    assert_eq!(
        errors_for(&p.code_claim(1, 7, now), 1),
        vec![ErrorCode::CodeNotFound]
    );
    let out = p.code_claim(2, 7, now);
    assert!(out.iter().any(|o| o.to == vec![1]
        && matches!(&o.msg, ServerMsg::CodePaired { peer, .. } if peer.peer_id == "p2")));
    assert!(out.iter().any(|o| o.to == vec![2]
        && matches!(&o.msg, ServerMsg::CodePaired { peer, .. } if peer.peer_id == "p1")));
    // Used once: a third peer finds nothing.
    assert_eq!(
        errors_for(&p.code_claim(3, 7, now), 3),
        vec![ErrorCode::CodeNotFound]
    );
    assert_eq!(p.code_count(), 0);
}

#[test]
fn a_code_for_several_receivers_pairs_each_once_and_closes_with_the_last() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    for (conn, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        join(&mut p, conn, name, RoomRequest::Auto, now);
    }
    p.code_open(1, 7, 2, now);
    let paired = |out: &[Outgoing], to: ConnId| {
        out.iter()
            .any(|o| o.to == vec![to] && matches!(o.msg, ServerMsg::CodePaired { .. }))
    };
    let out = p.code_claim(2, 7, now);
    assert!(paired(&out, 1) && paired(&out, 2));
    // The same receiver does not take a second place.
    assert_eq!(
        errors_for(&p.code_claim(2, 7, now), 2),
        vec![ErrorCode::CodeNotFound]
    );
    assert_eq!(p.code_count(), 1);
    let out = p.code_claim(3, 7, now);
    assert!(paired(&out, 1) && paired(&out, 3));
    assert_eq!(p.code_count(), 0);
    assert_eq!(
        errors_for(&p.code_claim(4, 7, now), 4),
        vec![ErrorCode::CodeNotFound]
    );
}

#[test]
fn share_codes_expire_and_guesses_are_limited() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    join(&mut p, 2, "b", RoomRequest::Auto, now);
    p.code_open(1, 7, 1, now);
    let out = p.expire(now + Duration::from_secs(61));
    assert_eq!(
        out,
        vec![Outgoing::one(1, ServerMsg::CodeExpired { nameplate: 7 })]
    );
    let later = now + Duration::from_secs(62);
    assert_eq!(
        errors_for(&p.code_claim(2, 7, later), 2),
        vec![ErrorCode::CodeNotFound]
    );
    assert_eq!(
        errors_for(&p.code_claim(2, 8, later), 2),
        vec![ErrorCode::CodeNotFound]
    );
    assert_eq!(
        errors_for(&p.code_claim(2, 9, later), 2),
        vec![ErrorCode::CodeNotFound]
    );
    // Out of guesses: even an open code is refused to this address for now.
    p.code_open(1, 10, 1, later);
    assert_eq!(
        errors_for(&p.code_claim(2, 10, later), 2),
        vec![ErrorCode::TooManyAttempts]
    );
}

#[test]
fn a_reconnecting_peer_gets_back_into_its_full_room() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    for c in 1..=3 {
        join(&mut p, c, "x", RoomRequest::Auto, now);
    }
    p.connect(9, "x".into(), "x".into());
    let out = p.register(9, info("p3"), &RoomRequest::Auto, now);
    assert_eq!(errors_for(&out, 3), vec![ErrorCode::Replaced]);
    assert_eq!(welcome_peers(&out, 9).len(), 2);
}

#[test]
fn probing_open_nameplates_uses_up_guesses() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    join(&mut p, 2, "b", RoomRequest::Auto, now);
    for n in 1..=2 {
        p.code_open(1, n, 1, now);
    }
    // Successful claims count too: three per minute in these settings.
    assert!(
        p.code_claim(2, 1, now)
            .iter()
            .any(|o| matches!(o.msg, ServerMsg::CodePaired { .. }))
    );
    assert_eq!(
        errors_for(&p.code_open(2, 2, 1, now), 2),
        vec![ErrorCode::CodeInUse]
    );
    assert_eq!(
        errors_for(&p.code_claim(2, 5, now), 2),
        vec![ErrorCode::CodeNotFound]
    );
    assert_eq!(
        errors_for(&p.code_claim(2, 2, now), 2),
        vec![ErrorCode::TooManyAttempts]
    );
}

#[test]
fn codes_per_connection_are_limited_and_closed_on_disconnect() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    p.code_open(1, 1, 1, now);
    p.code_open(1, 2, 1, now);
    assert_eq!(
        errors_for(&p.code_open(1, 3, 1, now), 1),
        vec![ErrorCode::TooManyCodes]
    );
    p.disconnect(1);
    assert_eq!(p.code_count(), 0);
}

#[test]
fn a_newer_connection_replaces_the_older_one() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    join(&mut p, 5, "a", RoomRequest::Auto, now);
    p.connect(2, "a".into(), "a".into());
    let out = p.register(2, info("p1"), &RoomRequest::Auto, now);
    assert_eq!(errors_for(&out, 1), vec![ErrorCode::Replaced]);
    assert!(!p.is_registered(1));
    assert!(p.is_registered(2));
    // The old connection closing later does not remove the new registration.
    p.disconnect(1);
    let found = p.lookup(5, "p1".into());
    assert!(matches!(
        &found[0].msg,
        ServerMsg::LookupResult { peer: Some(_), .. }
    ));
    assert_eq!(
        errors_for(&p.register(2, info("p1"), &RoomRequest::Auto, now), 2),
        vec![ErrorCode::AlreadyRegistered]
    );
}

#[test]
fn lookup_finds_peers_in_any_room() {
    let now = Instant::now();
    let mut p = Presence::new(settings());
    join(&mut p, 1, "a", RoomRequest::Auto, now);
    join(&mut p, 2, "b", named("x", "y"), now);
    let out = p.lookup(1, "p2".into());
    assert!(
        matches!(&out[0].msg, ServerMsg::LookupResult { peer: Some(peer), .. } if peer.peer_id == "p2")
    );
    let out = p.lookup(1, "nobody".into());
    assert!(matches!(
        &out[0].msg,
        ServerMsg::LookupResult { peer: None, .. }
    ));
}
