//! Text messages in the app: the box to write one to a peer, and the
//! windows that show received ones with Copy.

use eframe::egui::{self, RichText};

use super::model::ReceivedText;
use super::panels::UiCommand;

/// A text being written to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compose {
    /// The receivers.
    pub(crate) peers: Vec<String>,
    /// What is written so far (pasting with Ctrl+V works as in any field).
    pub(crate) text: String,
}

/// The "Send text" box.
pub(crate) fn compose_window(
    ctx: &egui::Context,
    compose: &mut Compose,
    to: &str,
) -> Vec<UiCommand> {
    let mut out = Vec::new();
    egui::Window::new("Send text")
        .collapsible(false)
        .resizable(true)
        .default_width(420.0)
        .show(ctx, |ui| {
            ui.label(format!("To {to}"));
            let label = ui.label("Message");
            ui.add(
                egui::TextEdit::multiline(&mut compose.text)
                    .id_salt("compose")
                    .hint_text("Type or paste a message, a link, a password…")
                    .desired_rows(6)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
            let bytes = compose.text.len();
            let limit = protocol::offer::MAX_TEXT_BYTES;
            if bytes > limit {
                ui.label(
                    RichText::new(format!(
                        "{bytes} bytes: texts are at most {limit}; send a longer one as a file"
                    ))
                    .color(ui.visuals().error_fg_color),
                );
            }
            ui.horizontal(|ui| {
                let can_send = !compose.text.is_empty() && bytes <= limit;
                if ui
                    .add_enabled(can_send, egui::Button::new("Send"))
                    .clicked()
                {
                    out.push(UiCommand::SendText {
                        peers: compose.peers.clone(),
                        text: compose.text.clone(),
                    });
                }
                if ui.button("Cancel").clicked() {
                    out.push(UiCommand::CloseCompose);
                }
            });
        });
    out
}

/// One window per received text, with Copy and Close.
pub(crate) fn received_windows(
    ctx: &egui::Context,
    texts: &[&ReceivedText],
    name_of: &dyn Fn(&str) -> String,
) -> Vec<UiCommand> {
    let mut out = Vec::new();
    for text in texts {
        egui::Window::new(format!("Text from {}", name_of(&text.peer)))
            .id(egui::Id::new(("text", &text.transfer_id)))
            .collapsible(false)
            .default_width(420.0)
            .show(ctx, |ui| {
                egui::ScrollArea::vertical()
                    .max_height(240.0)
                    .show(ui, |ui| {
                        ui.add(
                            egui::Label::new(RichText::new(&text.text).monospace())
                                .selectable(true),
                        );
                    });
                ui.horizontal(|ui| {
                    if ui.button("Copy").clicked() {
                        out.push(UiCommand::Copy(text.text.clone()));
                    }
                    if ui.button("Close").clicked() {
                        out.push(UiCommand::CloseText(text.transfer_id.clone()));
                    }
                });
            });
    }
    out
}
