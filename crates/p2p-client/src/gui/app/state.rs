//! What tests and views read of the app: its model, notices, share, engine
//! and settings.

use std::path::PathBuf;

use libp2p::PeerId;

use super::{GuiApp, Notice};
use crate::config::FileConfig;
use crate::engine::Engine;
use crate::gui::model::Model;
use crate::gui::panels;

impl GuiApp {
    /// The current model (peers, transfers, offers), for tests and views.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Notices shown so far.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The ticket of the share the share box shows, if one is open.
    pub fn share_ticket(&self) -> Option<&str> {
        self.share.as_ref().map(panels::ShareView::ticket)
    }

    /// This node's peer ID, once the engine runs.
    pub fn peer_id(&self) -> Option<PeerId> {
        self.engine.as_ref().map(Engine::peer_id)
    }

    /// The running engine's upload limit (bytes per second).
    pub fn upload_limit(&self) -> Option<std::num::NonZeroU64> {
        self.engine.as_ref().and_then(Engine::max_rate)
    }

    /// The settings as saved.
    pub fn settings(&self) -> &FileConfig {
        &self.settings
    }

    /// The folder received files land in.
    pub fn download_dir(&self) -> PathBuf {
        self.resolve().0.download_dir
    }
}
