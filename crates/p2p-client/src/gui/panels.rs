//! The window's panels. Each draws and returns what the person asked for
//! ([`UiCommand`]); the app applies the commands after drawing.

use eframe::egui::{self, RichText};
use indicatif::{HumanBytes, HumanDuration};

use super::model::{Model, OfferView, RowState, TransferRow, short_id};
use super::settings::Draft;
use crate::event::{Direction, count};

/// What the person asked for.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub(crate) enum UiCommand {
    /// Open the picker (files, or a folder), then send to this peer.
    PickAndSend { peer: String, folder: bool },
    /// Send dropped files to these peers.
    SendDropped(Vec<String>),
    /// Tick or untick a device for the next send.
    ToggleSelect(String),
    /// Untick every device.
    ClearSelection,
    /// Open the picker, then send to the ticked devices.
    PickAndSendSelected { folder: bool },
    /// Forget dropped files.
    DiscardDropped,
    /// Answer an offer.
    Decide {
        transfer_id: String,
        peer: String,
        accept: bool,
        always: bool,
    },
    /// Stop a transfer.
    Cancel(String),
    /// Show the download folder.
    OpenFolder,
    /// Pick files, then send them with a share code.
    ShareWithCode,
    /// Fetch with the code or ticket typed in the box.
    ReceiveWithCode,
    /// Put text on the clipboard.
    Copy(String),
    /// Open or close the settings window.
    ToggleSettings,
    /// Save the settings draft.
    SaveSettings,
    /// Pick a download folder for the draft.
    PickDownloadDir,
    /// Pick the folder to share for the draft.
    PickSharedDir,
    /// Remove a trusted peer from the draft.
    Untrust(String),
    /// Close the share-code box.
    CloseShare,
    /// Open the box to write a text to these peers.
    ComposeText(Vec<String>),
    /// Send a text to peers.
    SendText { peers: Vec<String>, text: String },
    /// Close the text box.
    CloseCompose,
    /// Close a received text's window.
    CloseText(String),
    /// Open the browser on a device's shared folder.
    Browse(String),
    /// Show this folder of the shared one in the browser.
    BrowseOpen(String),
    /// The browser's next page.
    BrowseMore,
    /// Tick or untick an entry in the browser.
    BrowseToggle(String),
    /// Download what the browser has ticked.
    BrowseDownload,
    /// Close the browser.
    BrowseClose,
}

/// Asks which peer gets files dropped onto the window.
pub(crate) fn drop_target(ctx: &egui::Context, model: &Model, count: usize) -> Vec<UiCommand> {
    let mut out = Vec::new();
    egui::Window::new("Send dropped files")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.label(format!("Send {count} dropped item(s) to:"));
            for row in model.peers.values() {
                if ui
                    .button(format!("{} ({})", row.label(), short_id(&row.peer)))
                    .clicked()
                {
                    out.push(UiCommand::SendDropped(vec![row.peer.clone()]));
                }
            }
            if model.peers.is_empty() {
                ui.label("No peer is visible yet.");
            }
            if ui.button("Cancel").clicked() {
                out.push(UiCommand::DiscardDropped);
            }
        });
    out
}

/// The one-click accept dialog for the oldest waiting offer.
pub(crate) fn offer_dialog(
    ctx: &egui::Context,
    offer: &OfferView,
    sender: &str,
    always: &mut bool,
) -> Vec<UiCommand> {
    let mut out = Vec::new();
    egui::Window::new("Incoming files")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.label(RichText::new(format!("{sender} wants to send you")).strong());
            if let Some(chars) = offer.text_chars {
                ui.label(format!("a text of {}", count(chars, "character")));
            } else if offer.unknown_size {
                ui.label("a stream whose size is known only at its end");
                for name in &offer.names {
                    ui.label(RichText::new(name).monospace());
                }
            } else {
                ui.label(format!(
                    "{}{}, {}",
                    count(offer.files, "file"),
                    if offer.folders > 0 {
                        format!(" in {}", count(offer.folders, "folder"))
                    } else {
                        String::new()
                    },
                    HumanBytes(offer.bytes)
                ));
                for name in &offer.names {
                    ui.label(RichText::new(name).monospace());
                }
                if offer.files + offer.folders > offer.names.len() {
                    ui.label("…");
                }
            }
            ui.checkbox(always, "Always accept from this peer");
            ui.horizontal(|ui| {
                let decide = |accept| UiCommand::Decide {
                    transfer_id: offer.transfer_id.clone(),
                    peer: offer.peer.clone(),
                    accept,
                    always: *always,
                };
                let accept = egui::Button::new(RichText::new("Accept").color(egui::Color32::WHITE))
                    .fill(super::home::ACCENT);
                if ui.add(accept).clicked() {
                    out.push(decide(true));
                }
                if ui.button("Decline").clicked() {
                    out.push(decide(false));
                }
            });
        });
    out
}

/// Transfers: progress, speed, ETA, path, Cancel; results in plain words.
pub(crate) fn transfers(
    ui: &mut egui::Ui,
    model: &Model,
    name_of: &dyn Fn(&str) -> String,
) -> Vec<UiCommand> {
    let mut out = Vec::new();
    ui.heading("Transfers");
    if model.transfers.is_empty() {
        ui.label("Nothing yet. Pick a peer and send files, or drop files onto the window.");
    }
    egui::ScrollArea::vertical()
        .id_salt("transfers")
        .show(ui, |ui| {
            for row in model.transfers.iter().rev() {
                egui::Frame::group(ui.style())
                    .show(ui, |ui| transfer_row(ui, row, name_of, &mut out));
            }
        });
    out
}

fn transfer_row(
    ui: &mut egui::Ui,
    row: &TransferRow,
    name_of: &dyn Fn(&str) -> String,
    out: &mut Vec<UiCommand>,
) {
    let who = name_of(&row.peer);
    let title = match row.direction {
        Direction::Send => format!("To {who}"),
        Direction::Receive => format!("From {who}"),
    };
    ui.horizontal(|ui| {
        ui.label(RichText::new(title).strong());
        if row.text {
            ui.label("a text");
        } else if row.unknown_size {
            ui.label("a stream of unknown size");
        } else {
            ui.label(format!(
                "{}, {}",
                count(row.files, "file"),
                HumanBytes(row.bytes)
            ));
        }
        if let Some(path) = row.path {
            ui.label(RichText::new(path.to_string()).weak());
        }
    });
    match &row.state {
        RowState::WaitingForAnswer => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Waiting for the other side to accept…");
                if ui.button("Cancel").clicked() {
                    out.push(UiCommand::Cancel(row.id.clone()));
                }
            });
        }
        RowState::Running if row.unknown_size => {
            ui.add(
                egui::ProgressBar::new(0.0)
                    .fill(super::home::ACCENT)
                    .animate(true),
            );
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{} so far · {}/s · size known at the end",
                    HumanBytes(row.done),
                    HumanBytes(row.speed as u64),
                ));
                if ui.button("Cancel").clicked() {
                    out.push(UiCommand::Cancel(row.id.clone()));
                }
            });
        }
        RowState::Running => {
            let eta = row
                .eta()
                .map_or_else(|| "–".into(), |d| HumanDuration(d).to_string());
            let percent = format!("{:.0}%", row.fraction() * 100.0);
            ui.add(
                egui::ProgressBar::new(row.fraction())
                    .fill(super::home::ACCENT)
                    .text(RichText::new(percent).color(egui::Color32::WHITE)),
            );
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{} of {} · {}/s · {} left",
                    HumanBytes(row.done),
                    HumanBytes(row.bytes),
                    HumanBytes(row.speed as u64),
                    eta
                ));
                if ui.button("Cancel").clicked() {
                    out.push(UiCommand::Cancel(row.id.clone()));
                }
            });
            if !row.current_file.is_empty() {
                ui.label(
                    RichText::new(protocol::path::display_escaped(&row.current_file, 80)).weak(),
                );
            }
        }
        RowState::Done(summary) => {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Done").color(egui::Color32::from_rgb(60, 160, 80)));
                ui.label(format!(
                    "in {:.1} s, {:.1} MB/s, {}",
                    summary.seconds,
                    summary.mb_per_sec(),
                    summary.path
                ));
                if row.direction == Direction::Receive && ui.button("Open folder").clicked() {
                    out.push(UiCommand::OpenFolder);
                }
            });
        }
        RowState::Failed(error) => {
            ui.label(RichText::new(format!("Failed: {error}")).color(ui.visuals().error_fg_color));
            ui.label(RichText::new("Send the files again to resume where it stopped.").weak());
        }
        RowState::Declined(reason) => {
            ui.label(
                RichText::new(format!("Not sent: {reason}")).color(ui.visuals().warn_fg_color),
            );
        }
    }
}

/// A share waiting for its receiver, as the share box shows it.
pub(crate) struct ShareView {
    code: Option<String>,
    ticket: String,
    /// The ticket as a QR code (none if it does not fit in one).
    qr: Option<egui::TextureHandle>,
}

/// Screen pixels per QR module.
const QR_MODULE_PX: f32 = 3.0;

impl ShareView {
    /// The share's view; the QR code is drawn into a texture once.
    pub(crate) fn new(ctx: &egui::Context, code: Option<String>, ticket: String) -> Self {
        let qr = crate::qr::encode(&crate::qr::for_share(&ticket))
            .ok()
            .map(|modules| {
                let side = modules.side();
                let pixels = (0..side * side)
                    .map(|i| {
                        if modules.is_dark(i % side, i / side) {
                            egui::Color32::BLACK
                        } else {
                            egui::Color32::WHITE
                        }
                    })
                    .collect();
                let image = egui::ColorImage::new([side, side], pixels);
                ctx.load_texture("share-qr", image, egui::TextureOptions::NEAREST)
            });
        Self { code, ticket, qr }
    }

    /// The share's ticket.
    pub(crate) fn ticket(&self) -> &str {
        &self.ticket
    }
}

/// The share-code box: the code, the ticket and its QR code, with copy
/// buttons.
pub(crate) fn share_box(ctx: &egui::Context, share: &ShareView) -> Vec<UiCommand> {
    let mut out = Vec::new();
    let (code, ticket) = (share.code.as_deref(), share.ticket.as_str());
    egui::Window::new("Send with a code")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
        match code {
            Some(code) => {
                ui.label("Give the receiver this code:");
                ui.horizontal(|ui| {
                    ui.label(RichText::new(code).monospace().size(20.0));
                    if ui.button("Copy code").clicked() {
                        out.push(UiCommand::Copy(code.to_owned()));
                    }
                });
            }
            None => {
                ui.label("No signal server is set, so there is no short code; the ticket works anywhere:");
            }
        }
        ui.horizontal(|ui| {
            ui.label("Ticket:");
            ui.label(RichText::new(format!("{}…", &ticket[..ticket.len().min(24)])).monospace());
            if ui.button("Copy ticket").clicked() {
                out.push(UiCommand::Copy(ticket.to_owned()));
            }
        });
        if let Some(qr) = &share.qr {
            let size = qr.size_vec2() * QR_MODULE_PX;
            ui.add(
                egui::Image::new((qr.id(), size))
                    .alt_text("QR code of the ticket"),
            );
        }
        ui.label("Waiting for the receiver… the transfer appears below when it starts.");
        if ui.button("Close").clicked() {
            out.push(UiCommand::CloseShare);
        }
    });
    out
}

/// The settings window over a draft; saved on "Save".
pub(crate) fn settings_window(ctx: &egui::Context, draft: &mut Draft) -> Vec<UiCommand> {
    let mut out = Vec::new();
    egui::Window::new("Settings")
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("settings").num_columns(2).show(ui, |ui| {
                let label = ui.label("Display name");
                ui.add(egui::TextEdit::singleline(&mut draft.name).id_salt("name"))
                    .labelled_by(label.id);
                ui.end_row();
                ui.label("Download folder");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut draft.download_dir).id_salt("download_dir"),
                    );
                    if ui.button("Choose…").clicked() {
                        out.push(UiCommand::PickDownloadDir);
                    }
                });
                ui.end_row();
                let label = ui.label("Signal servers");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.server)
                        .id_salt("server")
                        .hint_text("empty: LAN only; several: separated by commas"),
                )
                .labelled_by(label.id);
                ui.end_row();
                ui.label("Room name");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.room_name)
                        .id_salt("room_name")
                        .hint_text("empty: your network"),
                );
                ui.end_row();
                ui.label("Room secret");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.room_secret)
                        .id_salt("room_secret")
                        .password(true),
                );
                ui.end_row();
                let label = ui.label("Upload limit");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.max_rate)
                        .id_salt("max_rate")
                        .hint_text("empty: no limit; e.g. 5M = 5 MB/s"),
                )
                .labelled_by(label.id);
                ui.end_row();
                ui.label("Theme");
                ui.horizontal(|ui| {
                    for theme in ["system", "light", "dark"] {
                        ui.radio_value(&mut draft.theme, theme.to_owned(), theme);
                    }
                });
                ui.end_row();
                let label = ui.label("Shared folder");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut draft.shared_dir)
                            .id_salt("shared_dir")
                            .hint_text("empty: share nothing"),
                    )
                    .labelled_by(label.id);
                    if ui.button("Choose…").clicked() {
                        out.push(UiCommand::PickSharedDir);
                    }
                });
                ui.end_row();
                ui.label("Who may browse it");
                ui.horizontal(|ui| {
                    for (value, text) in [
                        ("trusted", "trusted peers"),
                        ("room", "my server room"),
                        ("ticket", "whoever has its ticket"),
                    ] {
                        ui.radio_value(&mut draft.share_with, value.to_owned(), text);
                    }
                });
                ui.end_row();
            });
            ui.separator();
            ui.label("Trusted peers (their files are accepted without asking):");
            if draft.trusted.is_empty() {
                ui.label(RichText::new("none").weak());
            }
            for peer in &draft.trusted {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(short_id(peer)).monospace());
                    if ui.button("Remove").clicked() {
                        out.push(UiCommand::Untrust(peer.clone()));
                    }
                });
            }
            if let Some(error) = &draft.error {
                ui.label(RichText::new(error).color(ui.visuals().error_fg_color));
            }
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    out.push(UiCommand::SaveSettings);
                }
                if ui.button("Close").clicked() {
                    out.push(UiCommand::ToggleSettings);
                }
            });
        });
    out
}
