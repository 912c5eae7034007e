//! The protocol's bounds: frame sizes, field lengths and counts, and the
//! `validate` methods of [`ClientMsg`] and [`RoomRequest`] that check a decoded
//! message against them, failing with a [`FieldError`].

use super::{ClientMsg, RoomRequest};

/// Largest frame a client may send, in bytes.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// Largest frame the server sends, in bytes: a welcome listing 255 peers with
/// [`MAX_ADDRS`] addresses of [`MAX_ADDR_BYTES`] each (about 2.2 MB) fits.
pub const MAX_SERVER_FRAME: usize = 4 * 1024 * 1024;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Most addresses a peer may announce.
pub const MAX_ADDRS: usize = 16;

/// Longest single address string, in bytes.
pub const MAX_ADDR_BYTES: usize = 512;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;

/// Longest room secret, in bytes.
pub const MAX_ROOM_SECRET_BYTES: usize = 256;

/// Most receivers one share code may serve.
pub const MAX_CODE_CLAIMS: u32 = 100;

/// Why a message's fields are out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The display name is empty or too long.
    #[error("display name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    Name,
    /// The system's name is not 1 to 16 lower-case letters.
    #[error("os must be 1 to 16 lower-case letters")]
    Os,
    /// Too many addresses, or one too long.
    #[error("at most {MAX_ADDRS} addresses of at most {MAX_ADDR_BYTES} bytes each")]
    Addrs,
    /// The room name is empty, too long or has control characters.
    #[error("room name must be 1 to {MAX_ROOM_NAME_CHARS} characters without control characters")]
    RoomName,
    /// The room secret is empty or too long.
    #[error("room secret must be 1 to {MAX_ROOM_SECRET_BYTES} bytes")]
    RoomSecret,
    /// The nameplate is out of range.
    #[error("nameplate must be between 1 and {}", crate::code::MAX_NAMEPLATE)]
    Nameplate,
    /// A share code for no receiver, or for too many.
    #[error("a share code serves 1 to {MAX_CODE_CLAIMS} receivers")]
    Claims,
    /// The origin is not a canonical `ws://host:port` or `wss://host:port`.
    #[error(
        "origin must be the server's ws:// or wss:// origin in canonical form (scheme://host:port, lower case)"
    )]
    Origin,
}

impl ClientMsg {
    /// Checks every field against the protocol's bounds.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ClientMsg::Register(reg) => {
                validate_origin(&reg.origin)?;
                validate_name(&reg.name)?;
                if reg
                    .os
                    .as_deref()
                    .is_some_and(|os| !crate::device::valid_os(os))
                {
                    return Err(FieldError::Os);
                }
                validate_addrs(&reg.addrs)?;
                reg.room.validate()
            }
            ClientMsg::Update { name, addrs, .. } => {
                if let Some(name) = name {
                    validate_name(name)?;
                }
                if let Some(addrs) = addrs {
                    validate_addrs(addrs)?;
                }
                Ok(())
            }
            ClientMsg::Join { room } => room.validate(),
            ClientMsg::CodeOpen { nameplate, claims } => {
                validate_nameplate(*nameplate)?;
                if (1..=MAX_CODE_CLAIMS).contains(claims) {
                    Ok(())
                } else {
                    Err(FieldError::Claims)
                }
            }
            ClientMsg::CodeClaim { nameplate } => validate_nameplate(*nameplate),
            ClientMsg::Lookup { .. } => Ok(()),
        }
    }
}

fn validate_nameplate(nameplate: u32) -> Result<(), FieldError> {
    if (1..=crate::code::MAX_NAMEPLATE).contains(&nameplate) {
        Ok(())
    } else {
        Err(FieldError::Nameplate)
    }
}

impl RoomRequest {
    /// Checks the room name and secret against the protocol's bounds.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            RoomRequest::Auto => Ok(()),
            RoomRequest::Named { name, secret } => {
                if !bounded_text(name, MAX_ROOM_NAME_CHARS) {
                    return Err(FieldError::RoomName);
                }
                if secret.is_empty() || secret.len() > MAX_ROOM_SECRET_BYTES {
                    return Err(FieldError::RoomSecret);
                }
                Ok(())
            }
        }
    }
}

/// Bounded, and exactly the canonical text of the origin it parses to, so the
/// bytes signed and the server they name are one thing.
fn validate_origin(origin: &str) -> Result<(), FieldError> {
    let canonical = origin.len() <= super::MAX_ORIGIN_BYTES
        && super::Origin::from_url(origin).is_ok_and(|o| o.to_string() == origin);
    if canonical {
        Ok(())
    } else {
        Err(FieldError::Origin)
    }
}

fn validate_name(name: &str) -> Result<(), FieldError> {
    if bounded_text(name, MAX_NAME_CHARS) {
        Ok(())
    } else {
        Err(FieldError::Name)
    }
}

fn validate_addrs(addrs: &[String]) -> Result<(), FieldError> {
    let ok = addrs.len() <= MAX_ADDRS
        && addrs
            .iter()
            .all(|a| !a.is_empty() && a.len() <= MAX_ADDR_BYTES && a.is_ascii());
    if ok { Ok(()) } else { Err(FieldError::Addrs) }
}

/// Non-empty, at most `max` characters, no control characters.
fn bounded_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}
