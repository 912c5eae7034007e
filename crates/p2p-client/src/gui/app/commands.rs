//! The commands panels return, applied to the app after each frame.

use eframe::egui;

use super::{GuiApp, actions, open_folder};
use crate::engine::default_name;
use crate::gui::bridge::PickPurpose;
use crate::gui::panels::UiCommand;
use crate::gui::picker::PickKind;
use crate::gui::settings::Draft;

impl GuiApp {
    /// Applies one command a panel returned.
    pub(super) fn apply(&mut self, ctx: &egui::Context, command: UiCommand) {
        match command {
            UiCommand::PickAndSend { peer, folder } => {
                let kind = if folder {
                    PickKind::Folder
                } else {
                    PickKind::Files
                };
                self.pick(kind, PickPurpose::SendTo(vec![peer]));
            }
            UiCommand::PickAndSendSelected { folder } => {
                let kind = if folder {
                    PickKind::Folder
                } else {
                    PickKind::Files
                };
                let peers = self.selected.iter().cloned().collect();
                self.pick(kind, PickPurpose::SendTo(peers));
            }
            UiCommand::SendDropped(peers) => {
                if let Some(paths) = self.dropped.take() {
                    self.send_to_each(peers, actions::Outgoing::Files(paths));
                }
            }
            UiCommand::ToggleSelect(peer) => {
                if !self.selected.remove(&peer) {
                    self.selected.insert(peer);
                }
            }
            UiCommand::ClearSelection => self.selected.clear(),
            UiCommand::DiscardDropped => self.dropped = None,
            UiCommand::Decide {
                transfer_id,
                peer,
                accept,
                always,
            } => {
                self.model.take_offer(&transfer_id);
                self.always_accept = false;
                if let Some(engine) = &self.engine {
                    engine.decide(&transfer_id, accept);
                }
                if accept && always && !self.settings.trusted_peers.contains(&peer) {
                    let mut next = self.settings.clone();
                    next.trusted_peers.push(peer);
                    match next.save(&self.options.dirs.config) {
                        Ok(()) => {
                            self.settings = next;
                            // A newly trusted peer may browse a folder
                            // shared with trusted peers.
                            self.publish_shared();
                        }
                        Err(e) => self.notify(true, e.to_string()),
                    }
                }
            }
            UiCommand::Cancel(id) => {
                if let Some(engine) = &self.engine {
                    engine.cancel(&id);
                }
            }
            UiCommand::OpenFolder => open_folder(&self.download_dir()),
            UiCommand::ShareWithCode => self.pick(PickKind::Files, PickPurpose::Share),
            UiCommand::ReceiveWithCode => self.receive_with_code(),
            UiCommand::Copy(text) => ctx.copy_text(text),
            UiCommand::ToggleSettings => {
                self.draft = match self.draft.take() {
                    Some(_) => None,
                    None => Some(Draft::from_config(
                        &self.settings,
                        &default_name(),
                        &self.download_dir(),
                    )),
                };
            }
            UiCommand::SaveSettings => self.save_settings(ctx),
            UiCommand::PickDownloadDir => self.pick(PickKind::Folder, PickPurpose::DownloadDir),
            UiCommand::PickSharedDir => self.pick(PickKind::Folder, PickPurpose::SharedDir),
            UiCommand::Untrust(peer) => {
                if let Some(draft) = self.draft.as_mut() {
                    draft.trusted.retain(|p| *p != peer);
                }
            }
            UiCommand::CloseShare => self.share = None,
            UiCommand::ComposeText(peers) => {
                self.compose = Some(crate::gui::text::Compose {
                    peers,
                    text: String::new(),
                });
            }
            UiCommand::SendText { peers, text } => {
                self.compose = None;
                self.send_to_each(peers, actions::Outgoing::Text(text));
            }
            UiCommand::CloseCompose => self.compose = None,
            UiCommand::CloseText(transfer_id) => {
                self.model.texts.retain(|t| t.transfer_id != transfer_id);
            }
            browse @ (UiCommand::Browse(_)
            | UiCommand::BrowseOpen(_)
            | UiCommand::BrowseMore
            | UiCommand::BrowseToggle(_)
            | UiCommand::BrowseDownload
            | UiCommand::BrowseClose) => self.apply_browse(browse),
        }
    }
}
