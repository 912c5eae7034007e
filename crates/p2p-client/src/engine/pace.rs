//! A sender's rate limit (`--max-rate`): bytes leave no faster than the
//! rate, averaged over a tenth of a second.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Credit a pause may build up, so that after the receiver or the network
/// held us back we do not burst past the rate to catch up.
const BURST: Duration = Duration::from_millis(100);

/// Most bytes handed to the stream at once under a limit: a tenth of a
/// second's worth, so a slow rate still writes often (never so rarely that
/// the receiver's stall timeout fires) and never less than this floor.
const MIN_PIECE: usize = 1024;

/// The upload limit, shared by the engine and every transfer it sends: a
/// change applies to running transfers from their next chunk on.
#[derive(Debug, Clone, Default)]
pub(super) struct RateLimit(Arc<AtomicU64>);

impl RateLimit {
    pub(super) fn new(rate: Option<NonZeroU64>) -> Self {
        let limit = Self::default();
        limit.set(rate);
        limit
    }

    /// Sets the limit in bytes per second; none: no limit.
    pub(super) fn set(&self, rate: Option<NonZeroU64>) {
        self.0
            .store(rate.map_or(0, NonZeroU64::get), Ordering::Relaxed);
    }

    /// The limit now.
    pub(super) fn get(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.0.load(Ordering::Relaxed))
    }
}

/// Paces writes to at most the limit's rate in bytes per second.
#[derive(Debug)]
pub(super) struct Pacer {
    limit: RateLimit,
    /// When the next byte may go.
    next: Instant,
}

impl Pacer {
    pub(super) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            next: Instant::now(),
        }
    }

    /// Whether there is a limit now.
    pub(super) fn limited(&self) -> bool {
        self.limit.get().is_some()
    }

    /// How many bytes to write before the next [`Pacer::wait`].
    pub(super) fn piece(&self, len: usize) -> usize {
        match self.limit.get() {
            None => len,
            Some(rate) => {
                let tenth = usize::try_from(rate.get() / 10).unwrap_or(usize::MAX);
                len.min(tenth.max(MIN_PIECE)).max(1)
            }
        }
    }

    /// Waits until `len` more bytes fit under the rate.
    pub(super) async fn wait(&mut self, len: usize) {
        let Some(rate) = self.limit.get() else {
            return;
        };
        let now = Instant::now();
        if let Some(oldest) = now.checked_sub(BURST)
            && self.next < oldest
        {
            self.next = oldest;
        }
        self.next += Duration::from_secs_f64(len as f64 / rate.get() as f64);
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bytes_leave_at_the_rate_and_a_pause_earns_no_burst() {
        let mut pacer = Pacer::new(RateLimit::new(NonZeroU64::new(1_000_000)));
        assert_eq!(pacer.piece(256 * 1024), 100_000);
        let start = Instant::now();
        for _ in 0..20 {
            pacer.wait(100_000).await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1900), "{took:?}");
        assert!(took <= Duration::from_millis(2100), "{took:?}");

        // Idle for 5 s: at most BURST of credit, so 1 MB still takes ~0.9 s.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        for _ in 0..10 {
            pacer.wait(100_000).await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(850), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_never_waits_and_a_slow_rate_writes_small_pieces() {
        let mut pacer = Pacer::new(RateLimit::new(None));
        assert_eq!(pacer.piece(256 * 1024), 256 * 1024);
        let start = Instant::now();
        pacer.wait(1 << 30).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        let slow = Pacer::new(RateLimit::new(NonZeroU64::new(2000)));
        assert_eq!(slow.piece(256 * 1024), MIN_PIECE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_limit_applies_to_a_running_pacer_at_once() {
        let limit = RateLimit::new(None);
        let mut pacer = Pacer::new(limit.clone());
        assert!(!pacer.limited());
        limit.set(NonZeroU64::new(100_000));
        assert!(pacer.limited());
        assert_eq!(pacer.piece(256 * 1024), 10_000);
        let start = Instant::now();
        for _ in 0..10 {
            pacer.wait(10_000).await;
        }
        assert!(start.elapsed() >= Duration::from_millis(900));
        limit.set(None);
        let start = Instant::now();
        pacer.wait(1 << 30).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
