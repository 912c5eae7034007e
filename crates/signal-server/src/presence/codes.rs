//! Share codes: a connection opens a nameplate for one receiver (or, when
//! it asks, up to N), each claim pairs the claimer with the owner once;
//! nameplates not fully claimed in time expire.

use std::time::Instant;

use protocol::signal::{ErrorCode, ServerMsg};

use super::attempts::too_many_attempts;
use super::outgoing::not_registered;
use super::{ConnId, Outgoing, Presence};

#[derive(Debug)]
pub(super) struct Rendezvous {
    owner: ConnId,
    expires: Instant,
    /// Claims left before the nameplate closes.
    claims_left: u32,
    /// Who claimed it already: each connection pairs once.
    claimed_by: Vec<ConnId>,
}

impl Presence {
    /// Opens a nameplate owned by this connection, for `claims` receivers
    /// (bounded by the protocol's validation).
    pub(crate) fn code_open(
        &mut self,
        conn: ConnId,
        nameplate: u32,
        claims: u32,
        now: Instant,
    ) -> Vec<Outgoing> {
        if !self.is_registered(conn) {
            return vec![not_registered(conn)];
        }
        let mut out = Vec::new();
        self.expire_code(nameplate, now, &mut out);
        if self.codes.contains_key(&nameplate) {
            // Probing for open nameplates counts like a guess.
            self.record_failure(conn, now);
            return vec![Outgoing::error(
                conn,
                ErrorCode::CodeInUse,
                format!("nameplate {nameplate} is in use; pick another"),
            )];
        }
        let held = self.codes.values().filter(|r| r.owner == conn).count();
        if held >= self.settings.codes_per_conn {
            return vec![Outgoing::error(
                conn,
                ErrorCode::TooManyCodes,
                format!(
                    "at most {} open share codes per connection",
                    self.settings.codes_per_conn
                ),
            )];
        }
        let ttl = self.settings.code_ttl;
        self.codes.insert(
            nameplate,
            Rendezvous {
                owner: conn,
                expires: now + ttl,
                claims_left: claims.clamp(1, protocol::signal::MAX_CODE_CLAIMS),
                claimed_by: Vec::new(),
            },
        );
        out.push(Outgoing::one(
            conn,
            ServerMsg::CodeOpened {
                nameplate,
                expires_in_secs: ttl.as_secs(),
            },
        ));
        out
    }

    /// Claims a nameplate: pairs this connection with its owner, once; the
    /// nameplate closes with its last claim.
    pub(crate) fn code_claim(
        &mut self,
        conn: ConnId,
        nameplate: u32,
        now: Instant,
    ) -> Vec<Outgoing> {
        let Some(claimer) = self.peer_info(conn) else {
            return vec![not_registered(conn)];
        };
        if self.attempts_exhausted(conn, now) {
            return vec![Outgoing::from_refusal(conn, too_many_attempts())];
        }
        // Every claim counts, found or not: a legitimate receiver claims once,
        // someone hunting for open nameplates claims many.
        self.record_failure(conn, now);
        let mut out = Vec::new();
        self.expire_code(nameplate, now, &mut out);
        let owner = match self.codes.get_mut(&nameplate) {
            Some(r) if r.owner != conn && !r.claimed_by.contains(&conn) => {
                r.claims_left = r.claims_left.saturating_sub(1);
                r.claimed_by.push(conn);
                let owner = r.owner;
                if r.claims_left == 0 {
                    self.codes.remove(&nameplate);
                }
                owner
            }
            _ => {
                out.push(Outgoing::error(
                    conn,
                    ErrorCode::CodeNotFound,
                    format!(
                        "no open share code with number {nameplate}: check the code, or ask the sender for a new one"
                    ),
                ));
                return out;
            }
        };
        // Owners leave no open nameplates behind when they disconnect.
        if let Some(owner_info) = self.peer_info(owner) {
            out.push(Outgoing::one(
                owner,
                ServerMsg::CodePaired {
                    nameplate,
                    peer: claimer,
                },
            ));
            out.push(Outgoing::one(
                conn,
                ServerMsg::CodePaired {
                    nameplate,
                    peer: owner_info,
                },
            ));
        }
        out
    }

    /// Closes `nameplate` if its time is up, telling its owner.
    fn expire_code(&mut self, nameplate: u32, now: Instant, out: &mut Vec<Outgoing>) {
        if let Some(r) = self.codes.get(&nameplate)
            && r.expires <= now
        {
            out.push(Outgoing::one(r.owner, ServerMsg::CodeExpired { nameplate }));
            self.codes.remove(&nameplate);
        }
    }

    /// Closes nameplates whose time is up, telling their owners.
    pub(super) fn expire_codes(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.codes.retain(|nameplate, r| {
            let alive = r.expires > now;
            if !alive {
                out.push(Outgoing::one(
                    r.owner,
                    ServerMsg::CodeExpired {
                        nameplate: *nameplate,
                    },
                ));
            }
            alive
        });
        out
    }

    /// Closes every nameplate `conn` holds open.
    pub(super) fn close_codes_of(&mut self, conn: ConnId) {
        self.codes.retain(|_, r| r.owner != conn);
    }
}
