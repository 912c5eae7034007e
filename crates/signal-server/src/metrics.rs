//! Counters for `/metrics`, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::signal::ErrorCode;

/// Counters shared by every task of the server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    rejections: [AtomicU64; ErrorCode::ALL.len()],
    pub(crate) relay_reservations_accepted: AtomicU64,
    pub(crate) relay_reservations_denied: AtomicU64,
    pub(crate) relay_circuits_accepted: AtomicU64,
    pub(crate) relay_circuits_denied: AtomicU64,
    pub(crate) relay_circuits_open: AtomicU64,
    pub(crate) relay_connections_denied: AtomicU64,
}

/// Gauges read from the presence state at scrape time.
pub(crate) struct PresenceGauges {
    pub(crate) peers: usize,
    pub(crate) rooms: usize,
    pub(crate) codes: usize,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dec(counter: &AtomicU64) {
        // Never wraps below zero even if events arrive out of order.
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    /// Counts one refusal sent to a client (or an HTTP-level refusal).
    pub(crate) fn reject(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            Self::inc(&self.rejections[i]);
        }
    }

    /// Refusals counted so far with this code.
    #[cfg(test)]
    pub(crate) fn rejections(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.rejections[i].load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self, gauges: &PresenceGauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "signal_connections",
            "gauge",
            "Open WebSocket connections.",
            load(&self.connections_open),
        );
        metric(
            "signal_connections_total",
            "counter",
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        metric(
            "signal_peers",
            "gauge",
            "Registered peers.",
            gauges.peers as u64,
        );
        metric(
            "signal_rooms",
            "gauge",
            "Non-empty rooms.",
            gauges.rooms as u64,
        );
        metric(
            "signal_share_codes",
            "gauge",
            "Open share-code nameplates.",
            gauges.codes as u64,
        );
        metric(
            "signal_messages_received_total",
            "counter",
            "Frames received from clients.",
            load(&self.messages_in),
        );
        metric(
            "signal_messages_sent_total",
            "counter",
            "Messages sent to clients.",
            load(&self.messages_out),
        );
        metric(
            "relay_reservations_accepted_total",
            "counter",
            "Relay reservations accepted.",
            load(&self.relay_reservations_accepted),
        );
        metric(
            "relay_reservations_denied_total",
            "counter",
            "Relay reservations denied.",
            load(&self.relay_reservations_denied),
        );
        metric(
            "relay_circuits_accepted_total",
            "counter",
            "Relay circuits accepted.",
            load(&self.relay_circuits_accepted),
        );
        metric(
            "relay_circuits_denied_total",
            "counter",
            "Relay circuits denied.",
            load(&self.relay_circuits_denied),
        );
        metric(
            "relay_circuits",
            "gauge",
            "Relay circuits open.",
            load(&self.relay_circuits_open),
        );
        metric(
            "relay_connections_denied_total",
            "counter",
            "Relay connections refused: too many from one IP address.",
            load(&self.relay_connections_denied),
        );
        let _ = writeln!(
            out,
            "# HELP signal_rejections_total Requests refused, by reason.\n# TYPE signal_rejections_total counter"
        );
        for (code, count) in ErrorCode::ALL.iter().zip(&self.rejections) {
            let _ = writeln!(
                out,
                "signal_rejections_total{{reason=\"{code}\"}} {}",
                load(count)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.reject(ErrorCode::BadProof);
        m.reject(ErrorCode::BadProof);
        Metrics::inc(&m.connections_open);
        Metrics::dec(&m.connections_open);
        Metrics::dec(&m.connections_open);
        let text = m.render(&PresenceGauges {
            peers: 3,
            rooms: 2,
            codes: 1,
        });
        assert!(
            text.contains("signal_rejections_total{reason=\"bad_proof\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("signal_connections 0\n"));
        assert!(text.contains("signal_peers 3\n"));
        assert!(text.contains("# TYPE signal_rooms gauge\n"));
        assert_eq!(m.rejections(ErrorCode::BadProof), 2);
    }
}
