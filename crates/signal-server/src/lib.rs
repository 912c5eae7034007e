//! The signal server: presence, rooms, share-code rendezvous and a libp2p
//! circuit relay, so that two peers anywhere can find each other and connect.
//!
//! It sees who talks to whom, never file names or bytes: transfers run
//! peer-to-peer (or through the relay, end-to-end encrypted).
//!
//! # Layout
//! - [`config`]: flags and environment variables ([`Config`]).
//! - `server`: axum routes (`/ws`, `/healthz`, `/metrics`), per-address
//!   admission, and ordered shutdown ([`Server`], [`run`]).
//! - `session`: one WebSocket: challenge, ownership proof (`proof`), rate
//!   limit (`limit`), timeouts; it turns frames into presence operations.
//! - `hub`: the shared [`presence`](crate) state behind one lock, plus each
//!   connection's bounded outbox; slow clients are kicked, never waited for.
//! - `presence`: pure state: rooms, peers, share codes, guess limits. Each
//!   operation returns the messages to send. One file per concern under
//!   `presence/`: `peers`, `rooms`, `codes`, `attempts`, `outgoing`.
//! - `relay`: the libp2p relay v2 node, listening on TCP and QUIC, with
//!   `ip_limit` capping its connections per IP address.
//! - `metrics`: counters rendered as Prometheus text.
//! - `client_ip`: the client address (trusted `X-Forwarded-For`) and its
//!   automatic room.
//! - `testing` (feature `test-utils`): a server on loopback and a WebSocket
//!   client that registers, for tests in this and other crates.
//!
//! Data flow: socket → `session` → `hub::apply(presence op)` → outboxes →
//! each recipient's `session` → socket.

mod client_ip;
pub mod config;
mod hub;
mod ip_limit;
mod limit;
mod metrics;
mod presence;
mod proof;
mod relay;
mod server;
mod session;
#[cfg(feature = "test-utils")]
pub mod testing;

use std::net::SocketAddr;

pub use client_ip::IpRange;
pub use config::{Config, RelayLimits};
pub use server::Server;
use tokio_util::sync::CancellationToken;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The relay could not start.
    #[error("relay: {0}")]
    Relay(String),
    /// The relay's identity key could not be read or created.
    #[error("relay identity key: {0}")]
    Identity(String),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds and serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServerError> {
    Server::bind(config).await?.serve(shutdown).await
}
