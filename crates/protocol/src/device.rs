//! What a peer tells about itself to the peers it connects to: its display
//! name, its kind of system and whether it shares a folder to browse,
//! carried in libp2p identify's agent version, e.g.
//! `p2p-share/0.1.0 (os=linux; name=Alice%27s%20laptop; shares=1)`. Peers found on
//! the LAN by mDNS are shown by this name, with no server involved.
//!
//! The name is percent-encoded (everything but letters, digits and `-_.~`),
//! so no separator or control character can be injected; a decoded name
//! is at most [`MAX_NAME_CHARS`] characters with no control characters, or
//! the agent is not ours and gives nothing.

use crate::signal::MAX_NAME_CHARS;

/// The product part of our agent version.
pub const AGENT: &str = "p2p-share";

/// Longest agent version read, in bytes.
const MAX_AGENT_BYTES: usize = 512;

/// A peer's own description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Display name (what the person set, or the host name).
    pub name: String,
    /// `linux`, `windows`, `macos`, … (Rust's `std::env::consts::OS`).
    pub os: String,
    /// It publishes a folder others may browse (`share DIR`).
    pub shares: bool,
}

impl Device {
    /// This computer, named `name`.
    pub fn this(name: &str) -> Self {
        Self {
            name: name.chars().take(MAX_NAME_CHARS).collect(),
            os: std::env::consts::OS.into(),
            shares: false,
        }
    }

    /// The agent version announcing this device, for build `version`.
    pub fn agent_version(&self, version: &str) -> String {
        format!(
            "{AGENT}/{version} (os={}; name={}{})",
            encode(&self.os),
            encode(&self.name),
            if self.shares { "; shares=1" } else { "" }
        )
    }

    /// The device an agent version of ours describes; none for any other
    /// agent, or a name that breaks the rules.
    pub fn from_agent_version(agent: &str) -> Option<Self> {
        if agent.len() > MAX_AGENT_BYTES {
            return None;
        }
        let rest = agent.strip_prefix(AGENT)?.strip_prefix('/')?;
        let (_version, fields) = rest.split_once(" (")?;
        let fields = fields.strip_suffix(')')?;
        let mut name = None;
        let mut os = None;
        let mut shares = false;
        for field in fields.split("; ") {
            match field.split_once('=') {
                Some(("name", value)) => name = decode(value),
                Some(("os", value)) => os = decode(value),
                Some(("shares", value)) => shares = value == "1",
                _ => {}
            }
        }
        let name = name.filter(|n| {
            let chars = n.chars().count();
            (1..=MAX_NAME_CHARS).contains(&chars) && !n.chars().any(char::is_control)
        })?;
        let os = os
            .filter(|o| valid_os(o))
            .unwrap_or_else(|| "unknown".into());
        Some(Self { name, os, shares })
    }
}

/// Whether `os` is a system's name as [`Device::os`] has it: 1 to 16
/// lower-case ASCII letters.
pub fn valid_os(os: &str) -> bool {
    (1..=16).contains(&os.len()) && os.bytes().all(|b| b.is_ascii_lowercase())
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_device_round_trips_through_its_agent_version() {
        let mut device = Device {
            name: "Alice's laptop; (work) 100% ☕".into(),
            os: "windows".into(),
            shares: false,
        };
        let agent = device.agent_version("0.1.0");
        assert!(agent.starts_with("p2p-share/0.1.0 (os=windows; name=Alice%27s%20laptop"));
        assert_eq!(Device::from_agent_version(&agent).unwrap(), device);
        device.shares = true;
        let agent = device.agent_version("0.1.0");
        assert!(agent.ends_with("; shares=1)"), "{agent}");
        assert_eq!(Device::from_agent_version(&agent).unwrap(), device);
    }

    #[test]
    fn other_agents_and_broken_names_give_nothing() {
        for agent in [
            "rust-libp2p/0.57",
            "p2p-share/0.1.0",
            "p2p-share/0.1.0 (os=linux)",
            "p2p-share/0.1.0 (os=linux; name=)",
            "p2p-share/0.1.0 (os=linux; name=%0A%1B[2J)",
            "p2p-share/0.1.0 (os=linux; name=%FF)",
            "p2p-share/0.1.0 (os=linux; name=%4)",
        ] {
            assert_eq!(Device::from_agent_version(agent), None, "{agent}");
        }
        let long = format!(
            "p2p-share/1 (os=linux; name={})",
            "a".repeat(MAX_NAME_CHARS + 1)
        );
        assert_eq!(Device::from_agent_version(&long), None);
        let odd_os = Device::from_agent_version("p2p-share/1 (os=Linux%20; name=Bob)").unwrap();
        assert_eq!(odd_os.os, "unknown");
        assert_eq!(odd_os.name, "Bob");
    }

    #[test]
    fn this_device_has_a_bounded_name_and_the_build_os() {
        let device = Device::this(&"x".repeat(200));
        assert_eq!(device.name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(device.os, std::env::consts::OS);
    }
}
