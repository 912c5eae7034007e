//! [`Outgoing`], the messages every presence operation returns, and the
//! refusals they are built from.

use protocol::signal::{ErrorCode, ServerMsg};

use super::ConnId;

/// A refusal: its code and a sentence for the user.
pub(super) type Refusal = (ErrorCode, String);

/// A message for one or more connections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// The recipients.
    pub(crate) to: Vec<ConnId>,
    /// The message, encoded once for all of them.
    pub(crate) msg: ServerMsg,
}

impl Outgoing {
    pub(super) fn one(to: ConnId, msg: ServerMsg) -> Self {
        Self { to: vec![to], msg }
    }

    pub(super) fn from_refusal(to: ConnId, (code, message): Refusal) -> Self {
        Self::error(to, code, message)
    }

    pub(super) fn error(to: ConnId, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::one(
            to,
            ServerMsg::Error {
                code,
                message: message.into(),
            },
        )
    }
}

pub(super) fn not_registered(conn: ConnId) -> Outgoing {
    Outgoing::error(conn, ErrorCode::NotRegistered, "register first")
}
