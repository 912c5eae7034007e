//! Share codes: a connection opens a one-time nameplate, another claims it,
//! and both are paired once; unclaimed nameplates expire.

use std::time::Instant;

use protocol::signal::{ErrorCode, ServerMsg};

use super::attempts::too_many_attempts;
use super::outgoing::not_registered;
use super::{ConnId, Outgoing, Presence};

#[derive(Debug)]
pub(super) struct Rendezvous {
    owner: ConnId,
    expires: Instant,
}

impl Presence {
    /// Opens a one-time nameplate owned by this connection.
    pub(crate) fn code_open(
        &mut self,
        conn: ConnId,
        nameplate: u32,
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

    /// Claims a nameplate: pairs this connection with its owner, once.
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
        let owner = match self.codes.get(&nameplate) {
            Some(r) if r.owner != conn => r.owner,
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
        self.codes.remove(&nameplate);
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
