//! Configuration: the config file (`config.toml` in the config folder),
//! and the settings resolved from flags, environment, that file and
//! defaults.
//!
//! # Layout
//! - this file: [`FileConfig`] (what `config.toml` may say), [`parse_rate`],
//!   [`default_download_dir`];
//! - `resolve`: [`Resolved`], the one place where flags, environment, the
//!   file and defaults meet, used by the CLI and the app alike.

mod resolve;

use std::path::{Path, PathBuf};

pub use resolve::{ConfigIssue, ENV_DECISION_TIMEOUT, ENV_STALL_TIMEOUT, Flags, Resolved};

use serde::{Deserialize, Serialize};

/// What `config.toml` may set. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Signal server URL (`ws://host:8080/ws`); none means LAN and tickets only.
    pub server: Option<String>,
    /// More signal servers, used together with `server`: the node registers
    /// with each it reaches and reserves a slot on each one's relay.
    pub servers: Vec<String>,
    /// Display name shown to other peers.
    pub name: Option<String>,
    /// Where received files land.
    pub download_dir: Option<PathBuf>,
    /// Listen multiaddrs.
    pub listen: Vec<String>,
    /// LAN discovery by mDNS.
    pub mdns: Option<bool>,
    /// Named room on the signal server (none: the room of your public address).
    pub room_name: Option<String>,
    /// Secret of the named room.
    pub room_secret: Option<String>,
    /// Peers whose offers the desktop app accepts without asking.
    pub trusted_peers: Vec<String>,
    /// Desktop app theme: `system`, `light` or `dark`.
    pub theme: Option<String>,
    /// Most bytes per second a transfer sends, as [`parse_rate`] reads it
    /// (`"20M"`); none: as fast as the path allows.
    pub max_rate: Option<String>,
    /// A folder the desktop app publishes read-only for others to browse.
    pub shared_dir: Option<PathBuf>,
    /// Who may browse it: `trusted` (the default), `room` or `ticket`.
    pub share_with: Option<String>,
}

/// The config file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Largest config file read, in bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

impl FileConfig {
    /// Reads `config.toml` from `dir`; a missing file is an empty config.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join("config.toml");
        let err = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(err(e.to_string())),
            Ok(meta) if meta.len() > MAX_CONFIG_BYTES => {
                return Err(err("file is too large".into()));
            }
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

impl FileConfig {
    /// The signal-server room these settings ask for.
    pub fn room(&self) -> protocol::signal::RoomRequest {
        match (&self.room_name, &self.room_secret) {
            (Some(name), Some(secret)) if !name.trim().is_empty() && !secret.is_empty() => {
                protocol::signal::RoomRequest::Named {
                    name: name.trim().to_owned(),
                    secret: secret.clone(),
                }
            }
            _ => protocol::signal::RoomRequest::Auto,
        }
    }

    /// Writes `config.toml` into `dir` (atomically: a temporary file, then a rename).
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join("config.toml");
        let err = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let tmp = dir.join("config.toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
    }
}

/// Slowest rate [`parse_rate`] accepts, in bytes per second.
pub const MIN_RATE: u64 = 1000;

/// Reads a rate in bytes per second: a number with an optional unit, `K`,
/// `M`, `G` (1000, 10^6, 10^9) or `Ki`, `Mi`, `Gi` (1024, 2^20, 2^30), an
/// optional `B` and an optional `/s`: `500K`, `2.5MB/s`, `10Mi`, `64000`.
///
/// # Errors
/// A message that says what was wrong and what is accepted.
pub fn parse_rate(text: &str) -> Result<std::num::NonZeroU64, String> {
    let bad = || {
        format!(
            "{text:?} is not a rate: use bytes per second with an optional unit, e.g. 500K, 20M, 1.5G or 10Mi"
        )
    };
    let lower = text.trim().to_ascii_lowercase();
    let unit_start = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_start);
    let unit = unit.trim_start();
    let unit = unit.strip_suffix("/s").unwrap_or(unit);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * scale;
    if !bytes.is_finite() || bytes > 1e15 {
        return Err(bad());
    }
    // In range: checked just above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bytes = bytes.round() as u64;
    if bytes < MIN_RATE {
        return Err(format!(
            "{text:?} is too slow: the least is 1K (1000 bytes per second)"
        ));
    }
    std::num::NonZeroU64::new(bytes).ok_or_else(bad)
}

/// The platform's download folder, or `~/Downloads`, or the current folder.
pub fn default_download_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(Path::to_path_buf))
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_file_is_empty_and_fields_parse() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(FileConfig::load(dir.path()).unwrap(), FileConfig::default());
        std::fs::write(
            dir.path().join("config.toml"),
            "server = \"ws://127.0.0.1:8080/ws\"\nname = \"desk\"\nmdns = false\n",
        )
        .unwrap();
        let c = FileConfig::load(dir.path()).unwrap();
        assert_eq!(c.server.as_deref(), Some("ws://127.0.0.1:8080/ws"));
        assert_eq!(c.mdns, Some(false));
    }

    #[test]
    fn rates_read_with_their_units_and_nonsense_is_refused() {
        let rate = |s: &str| parse_rate(s).map(std::num::NonZeroU64::get);
        assert_eq!(rate("64000"), Ok(64_000));
        assert_eq!(rate("500K"), Ok(500_000));
        assert_eq!(rate("2.5MB/s"), Ok(2_500_000));
        assert_eq!(rate(" 10 Mi "), Ok(10 * 1024 * 1024));
        assert_eq!(rate("1g"), Ok(1_000_000_000));
        assert_eq!(rate("1KiB/s"), Ok(1024));
        for bad in ["", "fast", "10X", "-5M", "1.2.3M", "M", "1e3", "999", "0"] {
            let error = parse_rate(bad).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }

    #[test]
    fn saved_settings_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileConfig {
            name: Some("desk".into()),
            room_name: Some("family".into()),
            room_secret: Some("s".into()),
            trusted_peers: vec!["12D3KooWx".into()],
            theme: Some("dark".into()),
            max_rate: Some("20M".into()),
            ..FileConfig::default()
        };
        config.save(dir.path()).unwrap();
        let back = FileConfig::load(dir.path()).unwrap();
        assert_eq!(back, config);
        assert!(matches!(
            back.room(),
            protocol::signal::RoomRequest::Named { .. }
        ));
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "sever = 1\n").unwrap();
        let e = FileConfig::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("config.toml"), "{e}");
    }
}
