//! One configuration for every view: flags, then environment, then the
//! config file, then defaults, resolved here and nowhere else.
//!
//! The command line hands over what it parsed ([`Flags`]; clap has already
//! put a flag before its environment variable), the environment is read
//! through a lookup function (so tests pass their own), and the config file
//! arrives loaded. The CLI treats every [`ConfigIssue`] as an error; the
//! desktop app shows them and goes on with the defaults for those fields.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use protocol::signal::RoomRequest;

use super::{FileConfig, default_download_dir, parse_rate};
use crate::Transports;
use crate::engine::{EngineConfig, Inbound, default_listen, default_name};

/// Environment variable: seconds an offer waits for a decision.
pub const ENV_DECISION_TIMEOUT: &str = "P2P_DECISION_TIMEOUT_SECS";
/// Environment variable: seconds a transfer may make no progress.
pub const ENV_STALL_TIMEOUT: &str = "P2P_STALL_TIMEOUT_SECS";

/// How long an offer waits for a decision unless configured.
const DECISION_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What the command line says (each flag with its environment variable,
/// as clap reads them). Empty or `None`: not given.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--server` (repeatable) / `P2P_SERVER` (comma-separated).
    pub servers: Vec<String>,
    /// `--listen`, repeatable.
    pub listen: Vec<Multiaddr>,
    /// `--no-mdns`.
    pub no_mdns: bool,
    /// `--max-rate` / `P2P_MAX_RATE`.
    pub max_rate: Option<NonZeroU64>,
    /// `--stock-transports` / `P2P_STOCK_TRANSPORTS`.
    pub stock_transports: bool,
}

/// A setting that could not be used, and what was used instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigIssue(String);

/// The settings a node runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolved {
    /// Signal server URLs, in the order they are asked; none means LAN and
    /// tickets only.
    pub servers: Vec<String>,
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// LAN discovery by mDNS.
    pub mdns: bool,
    /// Upload limit, bytes per second.
    pub max_rate: Option<NonZeroU64>,
    /// Where received files land.
    pub download_dir: PathBuf,
    /// The name shown to peers.
    pub name: String,
    /// The signal-server room.
    pub room: RoomRequest,
    /// How long an offer waits for a decision.
    pub decision_timeout: Duration,
    /// How long a transfer may make no progress.
    pub stall_timeout: Duration,
    /// Which Noise, yamux and QUIC to build the node with.
    pub transports: Transports,
    /// Peers trusted in the config file (accepted from without asking;
    /// may browse `share --allow trusted`).
    pub trusted: Vec<libp2p::PeerId>,
}

impl Resolved {
    /// Resolves the settings; what could not be used is returned beside
    /// them (its default is in its place).
    pub fn resolve(
        flags: &Flags,
        env: impl Fn(&str) -> Option<String>,
        file: &FileConfig,
    ) -> (Self, Vec<ConfigIssue>) {
        let mut issues = Vec::new();
        let listen = if flags.listen.is_empty() {
            let mut parsed = Vec::new();
            for text in &file.listen {
                match text.parse::<Multiaddr>() {
                    Ok(addr) => parsed.push(addr),
                    Err(_) => issues.push(ConfigIssue(format!(
                        "config file: bad listen address {text:?}"
                    ))),
                }
            }
            if parsed.is_empty() {
                default_listen()
            } else {
                parsed
            }
        } else {
            flags.listen.clone()
        };
        let max_rate = flags.max_rate.or_else(|| {
            let text = file.max_rate.as_deref()?;
            parse_rate(text)
                .map_err(|reason| {
                    issues.push(ConfigIssue(format!("config file: max_rate: {reason}")));
                })
                .ok()
        });
        let mut trusted = Vec::new();
        for text in &file.trusted_peers {
            match text.parse::<libp2p::PeerId>() {
                Ok(peer) => trusted.push(peer),
                Err(_) => issues.push(ConfigIssue(format!(
                    "config file: trusted_peers: {text:?} is not a peer ID"
                ))),
            }
        }
        let mut seconds = |name: &str, default: Duration| match env(name) {
            None => default,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    issues.push(ConfigIssue(format!(
                        "{name}={text:?} is not a number of seconds above 0"
                    )));
                    default
                }
            },
        };
        let decision_timeout = seconds(ENV_DECISION_TIMEOUT, DECISION_TIMEOUT);
        let stall_timeout = seconds(ENV_STALL_TIMEOUT, crate::engine::STALL_TIMEOUT);
        let resolved = Self {
            servers: servers(flags, file),
            listen,
            mdns: !flags.no_mdns && file.mdns.unwrap_or(true),
            max_rate,
            download_dir: file
                .download_dir
                .clone()
                .unwrap_or_else(default_download_dir),
            name: file
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(default_name),
            room: file.room(),
            decision_timeout,
            stall_timeout,
            transports: if flags.stock_transports {
                Transports::Stock
            } else {
                Transports::Tuned
            },
            trusted,
        };
        (resolved, issues)
    }

    /// The first signal server, if any (what a single-server view shows).
    pub fn server(&self) -> Option<&str> {
        self.servers.first().map(String::as_str)
    }

    /// [`Resolved::resolve`] with the process's environment, every issue
    /// an error (the command line's way).
    ///
    /// # Errors
    /// The first setting that could not be used.
    pub fn strict(flags: &Flags, file: &FileConfig) -> Result<Self, ConfigIssue> {
        let (resolved, issues) = Self::resolve(flags, |name| std::env::var(name).ok(), file);
        match issues.into_iter().next() {
            Some(issue) => Err(issue),
            None => Ok(resolved),
        }
    }

    /// The engine's configuration for these settings.
    pub fn engine_config(&self, key: Keypair, auto_accept: bool, inbound: Inbound) -> EngineConfig {
        let mut config = EngineConfig::new(key, self.download_dir.clone());
        config.listen = self.listen.clone();
        config.mdns = self.mdns;
        config.auto_accept = auto_accept;
        config.inbound = inbound;
        config.decision_timeout = self.decision_timeout;
        config.stall_timeout = self.stall_timeout;
        config.servers = self.servers.clone();
        config.name = self.name.clone();
        config.room = self.room.clone();
        config.max_rate = self.max_rate;
        config.transports = self.transports;
        config
    }
}

/// The signal servers: the flags' if any, else the file's `server` and then
/// its `servers`; blanks dropped, each once.
fn servers(flags: &Flags, file: &FileConfig) -> Vec<String> {
    let given: Vec<&String> = if flags.servers.is_empty() {
        file.server.iter().chain(&file.servers).collect()
    } else {
        flags.servers.iter().collect()
    };
    let mut servers: Vec<String> = Vec::new();
    for url in given {
        let url = url.trim();
        if !url.is_empty() && !servers.iter().any(|s| s == url) {
            servers.push(url.to_owned());
        }
    }
    servers
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn file() -> FileConfig {
        FileConfig {
            server: Some("ws://file/ws".into()),
            name: Some("desk".into()),
            download_dir: Some("/file/downloads".into()),
            listen: vec!["/ip4/127.0.0.1/tcp/7000".into()],
            mdns: Some(true),
            max_rate: Some("1M".into()),
            ..FileConfig::default()
        }
    }

    #[test]
    fn the_file_beats_the_defaults() {
        let (r, issues) = Resolved::resolve(&Flags::default(), env(&[]), &file());
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(r.servers, ["ws://file/ws"]);
        assert_eq!(r.name, "desk");
        assert_eq!(r.download_dir, PathBuf::from("/file/downloads"));
        assert_eq!(r.listen, vec!["/ip4/127.0.0.1/tcp/7000".parse().unwrap()]);
        assert_eq!(r.max_rate.map(NonZeroU64::get), Some(1_000_000));
        assert!(r.mdns);
        assert_eq!(r.transports, Transports::Tuned);
    }

    #[test]
    fn flags_beat_the_file() {
        let flags = Flags {
            servers: vec!["ws://flag/ws".into()],
            listen: vec!["/ip4/127.0.0.1/tcp/9000".parse().unwrap()],
            no_mdns: true,
            max_rate: NonZeroU64::new(5000),
            stock_transports: true,
        };
        let (r, issues) = Resolved::resolve(&flags, env(&[]), &file());
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(r.servers, ["ws://flag/ws"]);
        assert_eq!(r.listen, flags.listen);
        assert!(!r.mdns);
        assert_eq!(r.max_rate, NonZeroU64::new(5000));
        assert_eq!(r.transports, Transports::Stock);
    }

    #[test]
    fn servers_come_from_the_flags_or_else_from_both_file_keys_each_once() {
        let file = FileConfig {
            server: Some("ws://a/ws".into()),
            servers: vec!["ws://b/ws".into(), " ".into(), "ws://a/ws".into()],
            ..FileConfig::default()
        };
        let (r, _) = Resolved::resolve(&Flags::default(), env(&[]), &file);
        assert_eq!(r.servers, ["ws://a/ws", "ws://b/ws"]);
        assert_eq!(r.server(), Some("ws://a/ws"));
        let flags = Flags {
            servers: vec!["ws://c/ws".into(), "ws://d/ws".into()],
            ..Flags::default()
        };
        let (r, _) = Resolved::resolve(&flags, env(&[]), &file);
        assert_eq!(r.servers, ["ws://c/ws", "ws://d/ws"]);
        let only_list = FileConfig {
            servers: vec!["ws://b/ws".into()],
            ..FileConfig::default()
        };
        let (r, _) = Resolved::resolve(&Flags::default(), env(&[]), &only_list);
        assert_eq!(r.servers, ["ws://b/ws"]);
    }

    #[test]
    fn nothing_given_means_the_defaults() {
        let (r, issues) = Resolved::resolve(&Flags::default(), env(&[]), &FileConfig::default());
        assert!(issues.is_empty(), "{issues:?}");
        assert!(r.servers.is_empty());
        assert_eq!(r.server(), None);
        assert_eq!(r.listen, default_listen());
        assert!(r.mdns);
        assert_eq!(r.max_rate, None);
        assert_eq!(r.download_dir, default_download_dir());
        assert_eq!(r.decision_timeout, DECISION_TIMEOUT);
        assert_eq!(r.stall_timeout, crate::engine::STALL_TIMEOUT);
        assert_eq!(r.room, RoomRequest::Auto);
    }

    #[test]
    fn the_environment_sets_the_timeouts_and_nonsense_is_an_issue() {
        let (r, issues) = Resolved::resolve(
            &Flags::default(),
            env(&[(ENV_DECISION_TIMEOUT, "7"), (ENV_STALL_TIMEOUT, "4")]),
            &FileConfig::default(),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(r.decision_timeout, Duration::from_secs(7));
        assert_eq!(r.stall_timeout, Duration::from_secs(4));
        let (r, issues) = Resolved::resolve(
            &Flags::default(),
            env(&[(ENV_STALL_TIMEOUT, "0"), (ENV_DECISION_TIMEOUT, "soon")]),
            &FileConfig::default(),
        );
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(r.stall_timeout, crate::engine::STALL_TIMEOUT);
        assert_eq!(r.decision_timeout, DECISION_TIMEOUT);
    }

    #[test]
    fn bad_file_values_are_issues_with_the_default_in_their_place() {
        let bad = FileConfig {
            listen: vec!["not an address".into()],
            max_rate: Some("10 X".into()),
            ..FileConfig::default()
        };
        let (r, issues) = Resolved::resolve(&Flags::default(), env(&[]), &bad);
        assert_eq!(r.listen, default_listen());
        assert_eq!(r.max_rate, None);
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("bad listen address"), "{text:?}");
        assert!(text[1].contains("config file: max_rate") && text[1].contains("\"10 X\""));
        // A flag over a bad file value leaves nothing to complain about.
        let flags = Flags {
            max_rate: NonZeroU64::new(2000),
            ..Flags::default()
        };
        let (r, issues) = Resolved::resolve(&flags, env(&[]), &bad);
        assert_eq!(r.max_rate, NonZeroU64::new(2000));
        assert_eq!(issues.len(), 1, "only the listen address: {issues:?}");
    }

    #[test]
    fn the_engine_gets_every_setting() {
        let (r, _) =
            Resolved::resolve(&Flags::default(), env(&[(ENV_STALL_TIMEOUT, "9")]), &file());
        let config = r.engine_config(Keypair::generate_ed25519(), true, Inbound::Anyone);
        assert_eq!(config.listen, r.listen);
        assert_eq!(config.servers, r.servers);
        assert_eq!(config.max_rate, r.max_rate);
        assert_eq!(config.stall_timeout, Duration::from_secs(9));
        assert_eq!(config.download_dir, r.download_dir);
        assert_eq!(config.name, "desk");
        assert!(config.auto_accept);
        assert_eq!(config.inbound, Inbound::Anyone);
    }
}
