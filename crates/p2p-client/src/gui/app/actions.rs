//! What the app starts on the engine: sending to a peer, sharing with a
//! code, receiving by a code or ticket; and the file pickers.

use std::path::PathBuf;

use libp2p::PeerId;

use super::GuiApp;
use crate::engine::Engine;
use crate::gui::bridge::{AppMsg, Bridge, PickPurpose, UiSender};
use crate::gui::model::short_id;
use crate::gui::picker::PickKind;

/// What a send carries.
enum Outgoing {
    Files(Vec<PathBuf>),
    Text(String),
}

impl GuiApp {
    pub(super) fn name_of(&self, peer: &str) -> String {
        self.model.peers.get(peer).map_or_else(
            || short_id(peer),
            |row| format!("{} ({})", row.label(), short_id(peer)),
        )
    }

    /// The engine and a way to the UI, or a notice that the network is not up.
    pub(super) fn online(&mut self) -> Option<(Engine, UiSender)> {
        match (self.engine.clone(), self.ui_sender()) {
            (Some(engine), Some(ui)) => Some((engine, ui)),
            _ => {
                self.notify(
                    true,
                    "The network is not running yet; try again in a moment.",
                );
                None
            }
        }
    }

    pub(super) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(bridge) = &self.bridge {
            bridge.spawn(future);
        }
    }

    pub(super) fn ui_sender(&self) -> Option<UiSender> {
        self.bridge.as_ref().map(Bridge::sender)
    }

    pub(super) fn pick(&self, kind: PickKind, purpose: PickPurpose) {
        let (Some(bridge), Some(ui)) = (self.bridge.as_ref(), self.ui_sender()) else {
            return;
        };
        self.picker.pick(
            kind,
            &bridge.handle(),
            Box::new(move |paths| {
                if let Some(paths) = paths.filter(|p| !p.is_empty()) {
                    ui.send_now(AppMsg::Picked { purpose, paths });
                }
            }),
        );
    }

    pub(super) fn on_picked(&mut self, purpose: PickPurpose, paths: Vec<PathBuf>) {
        match purpose {
            PickPurpose::SendTo(peer) => self.send_to(&peer, paths),
            PickPurpose::Share => self.share_with_code(paths),
            PickPurpose::DownloadDir => {
                if let (Some(draft), Some(dir)) = (self.draft.as_mut(), paths.into_iter().next()) {
                    draft.download_dir = dir.display().to_string();
                }
            }
        }
    }

    /// Sends `paths` to `peer` in the background; events show the progress.
    pub fn send_to(&mut self, peer: &str, paths: Vec<PathBuf>) {
        self.send_outgoing(peer, Outgoing::Files(paths));
    }

    /// Sends a text to `peer` in the background.
    pub fn send_text_to(&mut self, peer: &str, text: String) {
        self.send_outgoing(peer, Outgoing::Text(text));
    }

    fn send_outgoing(&mut self, peer: &str, outgoing: Outgoing) {
        let Some((engine, ui)) = self.online() else {
            return;
        };
        let Ok(peer_id) = peer.parse::<PeerId>() else {
            return;
        };
        let name = self.name_of(peer);
        self.spawn(async move {
            let sent = match engine.find_peer(peer_id, Vec::new()).await {
                Ok(addrs) => match outgoing {
                    Outgoing::Files(paths) => engine.send(peer_id, addrs, paths).await,
                    Outgoing::Text(text) => engine.send_text(peer_id, addrs, text).await,
                },
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                // Declines and transfer failures already show in the transfer row.
                if !matches!(
                    e,
                    crate::engine::EngineError::Declined(_)
                        | crate::engine::EngineError::Transfer { .. }
                        | crate::engine::EngineError::Cancelled
                ) {
                    ui.send(AppMsg::Notice {
                        error: true,
                        text: format!("Sending to {name} failed: {e}"),
                    })
                    .await;
                }
            }
        });
    }

    pub(super) fn share_with_code(&mut self, paths: Vec<PathBuf>) {
        let Some((engine, ui)) = self.online() else {
            return;
        };
        self.spawn(async move {
            match engine.share().await {
                Ok(share) => {
                    ui.send(AppMsg::ShareReady {
                        code: share.code.as_ref().map(ToString::to_string),
                        ticket: share.ticket.encode(),
                    })
                    .await;
                    if let Err(e) = share.send(paths).await {
                        ui.send(AppMsg::Notice {
                            error: true,
                            text: format!("Sending with a code failed: {e}"),
                        })
                        .await;
                    }
                }
                Err(e) => {
                    ui.send(AppMsg::Notice {
                        error: true,
                        text: format!("Cannot create a share code: {e}"),
                    })
                    .await;
                }
            }
        });
    }

    pub(super) fn receive_with_code(&mut self) {
        let text = std::mem::take(&mut self.code_input).trim().to_owned();
        let Some((engine, ui)) = self.online() else {
            return;
        };
        self.spawn(async move {
            let result = match crate::engine::Secret::parse(&text) {
                Ok(secret) => engine.fetch(&secret).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let notice = match result {
                Ok(peer) => AppMsg::Notice {
                    error: false,
                    text: format!(
                        "Connected to the sender {}; its files will be offered here.",
                        short_id(&peer.to_string())
                    ),
                },
                Err(e) => AppMsg::Notice {
                    error: true,
                    text: format!("Receiving with the code failed: {e}"),
                },
            };
            ui.send(notice).await;
        });
    }
}
