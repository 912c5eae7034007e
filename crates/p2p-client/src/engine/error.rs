//! Why an engine operation failed.

use libp2p::PeerId;
use protocol::transfer::Response;

use crate::network::NetError;

/// Why a transfer or an engine operation failed. Messages name the peer and
/// the file where one is concerned, and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Network failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The files to send could not be read.
    #[error(transparent)]
    Scan(#[from] crate::files::scan::ScanError),
    /// The other side declined.
    #[error("{0}")]
    Declined(String),
    /// The other side refused a request.
    #[error("peer {peer} refused: {message}")]
    Refused {
        /// The peer.
        peer: PeerId,
        /// Its explanation.
        message: String,
    },
    /// The signal server failed or refused.
    #[error(transparent)]
    Signal(#[from] crate::signal_client::SignalError),
    /// The folder to publish cannot be shared.
    #[error("{0}")]
    Publish(String),
    /// The operation needs a signal server and none is configured.
    #[error("share codes need a signal server: pass --server URL (or use the ticket)")]
    NoServer,
    /// The share code expired before anyone used it.
    #[error("the share code expired unused; run send again for a new one")]
    CodeExpired,
    /// Someone cancelled the transfer.
    #[error("the transfer was cancelled")]
    Cancelled,
    /// The share code did not match on both sides.
    #[error("the share code does not match: check it and try again with a new code")]
    WrongCode,
    /// The peer broke the protocol.
    #[error("peer {peer} broke the protocol: {reason}")]
    Protocol {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: String,
    },
    /// The transfer itself failed.
    #[error("transfer with {peer} failed: {reason}")]
    Transfer {
        /// The peer.
        peer: PeerId,
        /// What happened and what to do.
        reason: String,
    },
    /// What was typed is neither a ticket nor a share code.
    #[error("{0}")]
    BadSecret(String),
    /// The peer is not on the signal server and did not show up on the LAN.
    #[error(
        "peer {peer} was not found on the local network within {seconds} s; \
         check that it runs `p2p-client receive`, or give its address (--to /ip4/…/p2p/{peer})"
    )]
    NotFound {
        /// The peer.
        peer: PeerId,
        /// How long it was waited for.
        seconds: u64,
    },
    /// The engine is shutting down.
    #[error("the engine stopped")]
    Stopped,
}

impl EngineError {
    /// The error for an answer that is not the one expected: the peer's
    /// refusal, or a protocol error naming `what` was asked.
    pub(super) fn unexpected(peer: PeerId, answer: Response, what: &str) -> Self {
        match answer {
            Response::Refused { message, .. } => EngineError::Refused {
                peer,
                message: protocol::transfer::sanitize_reason(&message),
            },
            other => EngineError::Protocol {
                peer,
                reason: format!("unexpected answer to {what}: {other:?}"),
            },
        }
    }
}
