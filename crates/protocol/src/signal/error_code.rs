//! [`ErrorCode`]: the machine-readable reason of every refusal, its wire name
//! and whether the server hangs up after sending it.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a known message.
    BadMessage,
    /// The frame was larger than the limit.
    FrameTooLarge,
    /// The client's protocol version is not supported.
    UnsupportedVersion,
    /// The ownership proof (key, peer ID, signature) did not verify.
    BadProof,
    /// A field was out of bounds (name, address, room name length...).
    InvalidField,
    /// The message needs a registered connection.
    NotRegistered,
    /// `register` was sent twice on one connection.
    AlreadyRegistered,
    /// Another connection registered with this peer ID (it proved the key).
    Replaced,
    /// The named room exists with a different secret.
    WrongSecret,
    /// The room has as many peers as allowed.
    RoomFull,
    /// Too many messages per second.
    RateLimited,
    /// Too many failed guesses (room secrets, share codes) from this address.
    TooManyAttempts,
    /// Too many connections from this address.
    TooManyConnections,
    /// The nameplate is already open.
    CodeInUse,
    /// No open nameplate with this number (never opened, claimed or expired).
    CodeNotFound,
    /// This connection holds as many open nameplates as allowed.
    TooManyCodes,
    /// The client did not register, or went silent, in time.
    Timeout,
    /// The client did not read its messages fast enough.
    SlowConsumer,
    /// The server is shutting down.
    ServerShutdown,
}

impl ErrorCode {
    /// Every code, for metrics and docs.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::BadMessage,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::BadProof,
        ErrorCode::InvalidField,
        ErrorCode::NotRegistered,
        ErrorCode::AlreadyRegistered,
        ErrorCode::Replaced,
        ErrorCode::WrongSecret,
        ErrorCode::RoomFull,
        ErrorCode::RateLimited,
        ErrorCode::TooManyAttempts,
        ErrorCode::TooManyConnections,
        ErrorCode::CodeInUse,
        ErrorCode::CodeNotFound,
        ErrorCode::TooManyCodes,
        ErrorCode::Timeout,
        ErrorCode::SlowConsumer,
        ErrorCode::ServerShutdown,
    ];

    /// The snake_case name used on the wire and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::BadProof => "bad_proof",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::NotRegistered => "not_registered",
            ErrorCode::AlreadyRegistered => "already_registered",
            ErrorCode::Replaced => "replaced",
            ErrorCode::WrongSecret => "wrong_secret",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::CodeInUse => "code_in_use",
            ErrorCode::CodeNotFound => "code_not_found",
            ErrorCode::TooManyCodes => "too_many_codes",
            ErrorCode::Timeout => "timeout",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::ServerShutdown => "server_shutdown",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion
                | ErrorCode::BadProof
                | ErrorCode::Replaced
                | ErrorCode::RateLimited
                | ErrorCode::TooManyConnections
                | ErrorCode::Timeout
                | ErrorCode::SlowConsumer
                | ErrorCode::ServerShutdown
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
