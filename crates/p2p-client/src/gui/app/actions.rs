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
pub(super) enum Outgoing {
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
            PickPurpose::SendTo(peers) => self.send_to_each(peers, Outgoing::Files(paths)),
            PickPurpose::Share => self.share_with_code(paths),
            PickPurpose::DownloadDir => {
                if let (Some(draft), Some(dir)) = (self.draft.as_mut(), paths.into_iter().next()) {
                    draft.download_dir = dir.display().to_string();
                }
            }
            PickPurpose::SharedDir => {
                if let (Some(draft), Some(dir)) = (self.draft.as_mut(), paths.into_iter().next()) {
                    draft.shared_dir = dir.display().to_string();
                }
            }
        }
    }

    /// Sends to every peer in `peers` at once: files are hashed once, each
    /// peer gets its own offer, and one failing does not stop the others.
    pub(super) fn send_to_each(&mut self, peers: Vec<String>, outgoing: Outgoing) {
        let Some((engine, ui)) = self.online() else {
            return;
        };
        let targets: Vec<(PeerId, String)> = peers
            .iter()
            .filter_map(|p| Some((p.parse::<PeerId>().ok()?, self.name_of(p))))
            .collect();
        if targets.is_empty() {
            return;
        }
        self.spawn(async move {
            let scanned = match outgoing {
                Outgoing::Files(paths) => engine.scan(paths).await,
                Outgoing::Text(text) => crate::files::scan::Scanned::text(text)
                    .map_err(crate::engine::EngineError::from),
            };
            let scanned = match scanned {
                Ok(scanned) => scanned,
                Err(e) => {
                    ui.send(AppMsg::Notice {
                        error: true,
                        text: format!("Cannot send: {e}"),
                    })
                    .await;
                    return;
                }
            };
            let names: std::collections::HashMap<PeerId, String> =
                targets.iter().cloned().collect();
            let targets = targets
                .into_iter()
                .map(|(peer, _)| (peer, Vec::new()))
                .collect();
            let mut results = std::pin::pin!(engine.send_each(targets, scanned));
            while let Some((peer, sent)) = futures::StreamExt::next(&mut results).await {
                // Declines and transfer failures already show in the
                // transfer row.
                if let Err(e) = sent
                    && !matches!(
                        e,
                        crate::engine::EngineError::Declined(_)
                            | crate::engine::EngineError::Transfer { .. }
                            | crate::engine::EngineError::Cancelled
                    )
                {
                    let name = names
                        .get(&peer)
                        .cloned()
                        .unwrap_or_else(|| peer.to_string());
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
        let receivers = self.share_receivers;
        self.spawn(async move {
            match engine.share_for(receivers).await {
                Ok(share) => {
                    ui.send(AppMsg::ShareReady {
                        code: share.code.as_ref().map(ToString::to_string),
                        ticket: share.ticket.encode(),
                    })
                    .await;
                    let failures: Vec<String> = if receivers == 1 {
                        share
                            .send(paths)
                            .await
                            .err()
                            .map(|e| e.to_string())
                            .into_iter()
                            .collect()
                    } else {
                        match engine.scan(paths).await {
                            Ok(scanned) => share
                                .send_to_each(scanned)
                                .await
                                .into_iter()
                                .filter_map(|(_, result)| result.err().map(|e| e.to_string()))
                                .collect(),
                            Err(e) => vec![e.to_string()],
                        }
                    };
                    for e in failures {
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
