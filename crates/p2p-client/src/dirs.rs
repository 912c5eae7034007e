//! Where the client keeps its files.

use std::path::{Path, PathBuf};

/// The folders the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Configuration (`config.toml`) and the identity key.
    pub config: PathBuf,
    /// Data such as the transfer history.
    pub data: PathBuf,
}

/// No home directory could be found and no `--config-dir` was given.
#[derive(Debug, thiserror::Error)]
#[error("cannot find a home directory for configuration; pass --config-dir DIR")]
pub struct NoHomeDir;

impl Dirs {
    /// The platform's directories, or both under `override_dir` when given
    /// (tests and portable installs).
    pub fn resolve(override_dir: Option<&Path>) -> Result<Self, NoHomeDir> {
        if let Some(dir) = override_dir {
            return Ok(Self {
                config: dir.to_path_buf(),
                data: dir.join("data"),
            });
        }
        let project = directories::ProjectDirs::from("", "", "p2p-share").ok_or(NoHomeDir)?;
        Ok(Self {
            config: project.config_dir().to_path_buf(),
            data: project.data_dir().to_path_buf(),
        })
    }

    /// Path of the identity key file.
    pub fn identity_file(&self) -> PathBuf {
        self.config.join("identity.key")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn override_puts_everything_under_one_folder() {
        let d = Dirs::resolve(Some(Path::new("/tmp/x"))).unwrap();
        assert_eq!(d.config, Path::new("/tmp/x"));
        assert!(d.data.starts_with("/tmp/x"));
        assert_eq!(d.identity_file(), Path::new("/tmp/x/identity.key"));
    }
}
