//! The shared presence state plus every connection's outbox.
//!
//! One mutex guards both, so the messages that one presence operation produces
//! are queued in the order it produced them. Delivery never waits: a client
//! whose queue is full is too slow and gets kicked, and its room moves on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use protocol::signal::{ErrorCode, ServerMsg, encode_server};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, PresenceGauges};
use crate::presence::{ConnId, Outgoing, Presence};

/// One encoded message on its way to a client.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// The JSON text.
    pub(crate) text: Utf8Bytes,
    /// Set when the message is a fatal error: the session closes after it.
    pub(crate) close: Option<ErrorCode>,
}

/// Where a connection's messages go.
#[derive(Debug)]
pub(crate) struct Outbox {
    pub(crate) tx: mpsc::Sender<Outbound>,
    /// Cancelled when the client cannot keep up.
    pub(crate) kick: CancellationToken,
}

struct Inner {
    presence: Presence,
    outboxes: HashMap<ConnId, Outbox>,
}

/// Presence plus delivery.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
}

impl Hub {
    pub(crate) fn new(presence: Presence, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                presence,
                outboxes: HashMap::new(),
            }),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave presence half-updated in a
        // way that is worse than stopping: keep serving with what is there.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a connection and its outbox.
    pub(crate) fn connect(
        &self,
        conn: ConnId,
        auto_room: String,
        addr_key: String,
        outbox: Outbox,
    ) {
        let mut inner = self.lock();
        inner.presence.connect(conn, auto_room, addr_key);
        inner.outboxes.insert(conn, outbox);
    }

    /// Removes a connection, telling its room.
    pub(crate) fn disconnect(&self, conn: ConnId) {
        let mut inner = self.lock();
        inner.outboxes.remove(&conn);
        let out = inner.presence.disconnect(conn);
        self.deliver(&inner, out);
    }

    /// Runs one presence operation and delivers what it produced.
    pub(crate) fn apply(&self, op: impl FnOnce(&mut Presence) -> Vec<Outgoing>) {
        let mut inner = self.lock();
        let out = op(&mut inner.presence);
        self.deliver(&inner, out);
    }

    /// Whether the connection has registered.
    pub(crate) fn is_registered(&self, conn: ConnId) -> bool {
        self.lock().presence.is_registered(conn)
    }

    /// Whether some connection is registered now under this peer ID (its
    /// ownership proof verified).
    pub(crate) fn has_peer(&self, peer: &libp2p::PeerId) -> bool {
        self.lock().presence.has_peer(&peer.to_string())
    }

    /// Sets the relay announced in later welcomes.
    pub(crate) fn set_relay(&self, relay: Option<protocol::signal::RelayInfo>) {
        self.lock().presence.set_relay(relay);
    }

    /// Current counts for `/metrics`.
    pub(crate) fn gauges(&self) -> PresenceGauges {
        let inner = self.lock();
        PresenceGauges {
            peers: inner.presence.peer_count(),
            rooms: inner.presence.room_count(),
            codes: inner.presence.code_count(),
        }
    }

    fn deliver(&self, inner: &Inner, out: Vec<Outgoing>) {
        for Outgoing { to, msg } in out {
            let outbound = encode(&msg, &self.metrics, to.len());
            for conn in to {
                let Some(outbox) = inner.outboxes.get(&conn) else {
                    continue;
                };
                match outbox.tx.try_send(outbound.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::info!(conn, "client too slow to read its messages: disconnecting");
                        outbox.kick.cancel();
                    }
                    // The session is already ending.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
    }
}

/// Encodes a message once for `recipients` clients, counting it (and, for an
/// error, the refusal) in the metrics.
pub(crate) fn encode(msg: &ServerMsg, metrics: &Metrics, recipients: usize) -> Outbound {
    let close = match msg {
        ServerMsg::Error { code, .. } => {
            for _ in 0..recipients {
                metrics.reject(*code);
            }
            code.is_fatal().then_some(*code)
        }
        _ => None,
    };
    metrics
        .messages_out
        .fetch_add(recipients as u64, std::sync::atomic::Ordering::Relaxed);
    Outbound {
        text: encode_server(msg).into(),
        close,
    }
}
