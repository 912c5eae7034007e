//! What the browser window starts on the engine: a page of a device's
//! shared folder, and the download of what was ticked.

use libp2p::PeerId;

use super::GuiApp;
use crate::engine::{Allow, Target};
use crate::gui::bridge::AppMsg;
use crate::gui::browse::{Browser, Sharing};
use crate::gui::panels::UiCommand;

impl GuiApp {
    /// Publishes the shared folder of the settings (or stops publishing
    /// when there is none); the header then shows it.
    pub(super) fn publish_shared(&mut self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let Some(dir) = self.settings.shared_dir.clone() else {
            engine.unpublish();
            self.sharing = None;
            return;
        };
        let (allow, with) = match self.settings.share_with.as_deref() {
            Some("room") => (Allow::Room, "your server room"),
            Some("ticket") => (Allow::Ticket, "whoever has its ticket"),
            _ => (Allow::Trusted, "your trusted peers"),
        };
        let trusted: Vec<PeerId> = self
            .settings
            .trusted_peers
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        let key = (
            dir.clone(),
            with.to_owned(),
            self.settings.trusted_peers.clone(),
        );
        if self.sharing.as_ref().is_some_and(|s| s.key == key) {
            return;
        }
        let Some(ui) = self.ui_sender() else { return };
        self.spawn(async move {
            let published = engine
                .publish(&dir, allow, trusted)
                .await
                .map(|ticket| Sharing {
                    dir: dir.clone(),
                    with,
                    ticket: (allow == Allow::Ticket).then(|| ticket.encode()),
                    key,
                })
                .map_err(|e| format!("Cannot share {}: {e}", dir.display()));
            ui.send(AppMsg::Published(published)).await;
        });
    }

    /// Applies a command of the browser window.
    pub(super) fn apply_browse(&mut self, command: UiCommand) {
        match command {
            UiCommand::Browse(peer) => {
                self.browser = Some(Browser::new(peer));
                self.list_page();
            }
            UiCommand::BrowseOpen(path) => {
                if let Some(browser) = self.browser.as_mut() {
                    browser.open(path);
                    self.list_page();
                }
            }
            UiCommand::BrowseMore => {
                if let Some(browser) = self.browser.as_mut() {
                    browser.loading = true;
                    self.list_page();
                }
            }
            UiCommand::BrowseToggle(path) => {
                if let Some(browser) = self.browser.as_mut()
                    && !browser.selected.remove(&path)
                {
                    browser.selected.insert(path);
                }
            }
            UiCommand::BrowseDownload => self.download_selected(),
            UiCommand::BrowseClose => self.browser = None,
            _ => {}
        }
    }

    /// Asks for the next page of the folder the browser shows.
    fn list_page(&mut self) {
        let Some(browser) = &self.browser else { return };
        let Ok(peer) = browser.peer.parse::<PeerId>() else {
            return;
        };
        let (path, after) = (browser.path.clone(), browser.next_after());
        let Some((engine, ui)) = self.online() else {
            return;
        };
        self.spawn(async move {
            let target = Target {
                peer,
                addrs: Vec::new(),
                secret: None,
            };
            let result = engine
                .list(&target, &path, after.clone(), protocol::browse::MAX_PAGE)
                .await
                .map_err(|e| e.to_string());
            ui.send(AppMsg::Listed {
                peer: peer.to_string(),
                path,
                after,
                result,
            })
            .await;
        });
    }

    /// Downloads what is ticked into the download folder; it shows as a
    /// transfer, and a notice says how it ended.
    fn download_selected(&mut self) {
        let Some(browser) = &mut self.browser else {
            return;
        };
        let paths: Vec<String> = std::mem::take(&mut browser.selected).into_iter().collect();
        let Ok(peer) = browser.peer.parse::<PeerId>() else {
            return;
        };
        let owner = self.name_of(&peer.to_string());
        let Some((engine, ui)) = self.online() else {
            return;
        };
        self.spawn(async move {
            let target = Target {
                peer,
                addrs: Vec::new(),
                secret: None,
            };
            let notice = match engine.get(&target, paths).await {
                Ok(summary) => AppMsg::Notice {
                    error: false,
                    text: format!(
                        "Downloaded {} from {owner}",
                        crate::event::count(summary.files, "file")
                    ),
                },
                Err(e) => AppMsg::Notice {
                    error: true,
                    text: format!("Downloading from {owner} failed: {e}"),
                },
            };
            ui.send(notice).await;
        });
    }
}
