//! The settings window's draft, and how it maps onto `config.toml`.

use std::path::PathBuf;

use crate::config::FileConfig;

/// Editable copies of the persisted settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Draft {
    pub(crate) name: String,
    pub(crate) download_dir: String,
    /// Signal servers, separated by commas (the file's `server`, then its
    /// `servers`).
    pub(crate) server: String,
    pub(crate) room_name: String,
    pub(crate) room_secret: String,
    pub(crate) theme: String,
    /// Upload limit as typed (`5M`); empty: none.
    pub(crate) max_rate: String,
    pub(crate) trusted: Vec<String>,
    /// The folder to publish (empty: none).
    pub(crate) shared_dir: String,
    /// Who may browse it: `trusted`, `room` or `ticket`.
    pub(crate) share_with: String,
    /// Why the last save was refused.
    pub(crate) error: Option<String>,
}

impl Draft {
    /// A draft of `config`, with the effective defaults filled in.
    pub(crate) fn from_config(
        config: &FileConfig,
        name: &str,
        download_dir: &std::path::Path,
    ) -> Self {
        Self {
            name: config.name.clone().unwrap_or_else(|| name.to_owned()),
            download_dir: config
                .download_dir
                .clone()
                .unwrap_or_else(|| download_dir.to_path_buf())
                .display()
                .to_string(),
            server: config
                .server
                .iter()
                .chain(&config.servers)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            room_name: config.room_name.clone().unwrap_or_default(),
            room_secret: config.room_secret.clone().unwrap_or_default(),
            theme: config.theme.clone().unwrap_or_else(|| "system".into()),
            max_rate: config.max_rate.clone().unwrap_or_default(),
            trusted: config.trusted_peers.clone(),
            shared_dir: config
                .shared_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            share_with: config
                .share_with
                .clone()
                .unwrap_or_else(|| "trusted".into()),
            error: None,
        }
    }

    /// Applies the draft to `config`, or says what is wrong.
    pub(crate) fn apply(&self, config: &mut FileConfig) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > protocol::signal::MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(format!(
                "The display name must be 1 to {} characters.",
                protocol::signal::MAX_NAME_CHARS
            ));
        }
        let servers: Vec<&str> = self
            .server
            .split([',', ' ', '\n', '\t'])
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = servers
            .iter()
            .find(|s| !(s.starts_with("ws://") || s.starts_with("wss://")))
        {
            return Err(format!(
                "A signal server URL starts with ws:// or wss://, e.g. wss://signal.example/ws (not {bad:?})."
            ));
        }
        let dir = PathBuf::from(self.download_dir.trim());
        if !dir.is_absolute() {
            return Err("The download folder must be a full path.".into());
        }
        if self.room_name.trim().is_empty() != self.room_secret.is_empty() {
            return Err("A named room needs both a name and a secret (or neither).".into());
        }
        let max_rate = self.max_rate.trim();
        if !max_rate.is_empty() {
            crate::config::parse_rate(max_rate)
                .map_err(|reason| format!("Upload limit: {reason}."))?;
        }
        let shared = self.shared_dir.trim();
        if !shared.is_empty() && !std::path::Path::new(shared).is_absolute() {
            return Err("The shared folder must be a full path.".into());
        }
        if !["trusted", "room", "ticket"].contains(&self.share_with.as_str()) {
            return Err("Choose who may browse the shared folder.".into());
        }
        config.name = Some(name.to_owned());
        config.shared_dir = (!shared.is_empty()).then(|| PathBuf::from(shared));
        config.share_with = Some(self.share_with.clone());
        config.download_dir = Some(dir);
        config.server = servers.first().map(|s| (*s).to_owned());
        config.servers = servers.iter().skip(1).map(|s| (*s).to_owned()).collect();
        config.room_name =
            (!self.room_name.trim().is_empty()).then(|| self.room_name.trim().to_owned());
        config.room_secret = (!self.room_secret.is_empty()).then(|| self.room_secret.clone());
        config.theme = Some(self.theme.clone());
        config.max_rate = (!max_rate.is_empty()).then(|| max_rate.to_owned());
        config.trusted_peers = self.trusted.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn drafts_validate_and_apply() {
        let config = FileConfig::default();
        let mut draft = Draft::from_config(&config, "desk", std::path::Path::new("/tmp/dl"));
        assert_eq!(draft.theme, "system");
        draft.server = "http://x".into();
        let mut out = FileConfig::default();
        assert!(draft.apply(&mut out).unwrap_err().contains("ws://"));
        draft.server = "ws://127.0.0.1:1/ws".into();
        draft.room_name = "fam".into();
        assert!(draft.apply(&mut out).unwrap_err().contains("secret"));
        draft.room_secret = "s".into();
        draft.apply(&mut out).unwrap();
        assert_eq!(out.server.as_deref(), Some("ws://127.0.0.1:1/ws"));
        assert!(out.servers.is_empty());
        // Several, separated by commas: the first is `server`.
        draft.server = "ws://a/ws, wss://b/ws".into();
        draft.apply(&mut out).unwrap();
        assert_eq!(out.server.as_deref(), Some("ws://a/ws"));
        assert_eq!(out.servers, ["wss://b/ws"]);
        let back = Draft::from_config(&out, "desk", std::path::Path::new("/tmp/dl"));
        assert_eq!(back.server, "ws://a/ws, wss://b/ws");
        draft.server = "ws://a/ws, http://b".into();
        assert!(draft.apply(&mut out).unwrap_err().contains("http://b"));
        draft.server = "ws://127.0.0.1:1/ws".into();
        draft.apply(&mut out).unwrap();
        assert_eq!(out.name.as_deref(), Some("desk"));
        draft.download_dir = "relative".into();
        assert!(draft.apply(&mut out).is_err());
        draft.download_dir = "/tmp/dl".into();
        draft.shared_dir = "relative".into();
        assert!(draft.apply(&mut out).unwrap_err().contains("shared folder"));
        draft.shared_dir = "/srv/photos".into();
        draft.share_with = "room".into();
        draft.apply(&mut out).unwrap();
        assert_eq!(
            out.shared_dir.as_deref(),
            Some(std::path::Path::new("/srv/photos"))
        );
        assert_eq!(out.share_with.as_deref(), Some("room"));
    }
}
