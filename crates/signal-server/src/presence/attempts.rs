//! The per-address budget of failed guesses (room secrets, nameplates): a
//! token bucket per address, refilled over a minute.

use std::time::{Duration, Instant};

use protocol::signal::ErrorCode;

use super::outgoing::Refusal;
use super::{ConnId, Presence};
use crate::limit::TokenBucket;

impl Presence {
    pub(super) fn attempts_exhausted(&mut self, conn: ConnId, now: Instant) -> bool {
        let Some(addr) = self.conns.get(&conn).map(|c| &c.addr_key) else {
            return false;
        };
        self.attempts
            .get_mut(addr)
            .is_some_and(|bucket| !bucket.has_token(now))
    }

    pub(super) fn record_failure(&mut self, conn: ConnId, now: Instant) {
        let Some(addr) = self.conns.get(&conn).map(|c| c.addr_key.clone()) else {
            return;
        };
        let per_min = self.settings.failed_attempts_per_min;
        self.attempts
            .entry(addr)
            .or_insert_with(|| TokenBucket::per_window(per_min, Duration::from_secs(60), now))
            .try_take(now);
    }

    /// Forgets the counters of addresses that have not failed for a while.
    pub(super) fn forget_idle_attempts(&mut self, now: Instant) {
        self.attempts.retain(|_, bucket| !bucket.is_full(now));
    }
}

pub(super) fn too_many_attempts() -> Refusal {
    (
        ErrorCode::TooManyAttempts,
        "too many failed attempts from your address; wait a minute".into(),
    )
}
