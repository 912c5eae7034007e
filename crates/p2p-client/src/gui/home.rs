//! The main window: who you are, the devices you can send to (cards with a
//! multi-select), a large drop zone with the send actions, and the code
//! box for anyone else. Draws and returns [`UiCommand`]s.

use std::collections::BTreeSet;

use eframe::egui::{self, Color32, CornerRadius, RichText, Stroke};

use super::model::{Model, PeerRow, ServerState, short_id};
use super::panels::UiCommand;

/// The accent of buttons and selections (both themes).
pub(crate) const ACCENT: Color32 = Color32::from_rgb(37, 99, 235);

/// Round corners of cards and the drop zone.
const CARD_RADIUS: u8 = 10;

/// What the main window needs to draw.
pub(crate) struct Home<'a> {
    /// Our display name.
    pub(crate) name: &'a str,
    /// Our peer ID (empty until the engine runs).
    pub(crate) me: &'a str,
    pub(crate) model: &'a Model,
    /// Devices ticked for the next send.
    pub(crate) selected: &'a BTreeSet<String>,
    /// Files are dragged over the window.
    pub(crate) dropping: bool,
    /// The folder we share, once shared.
    pub(crate) sharing: Option<&'a super::browse::Sharing>,
}

/// The header: our name large, our ID with Copy, the server's state, and
/// Settings.
pub(crate) fn header(ui: &mut egui::Ui, home: &Home<'_>) -> Vec<UiCommand> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.label(RichText::new(device_glyph(Some(std::env::consts::OS))).size(30.0));
        ui.vertical(|ui| {
            ui.label(RichText::new(home.name).size(22.0).strong());
            ui.horizontal(|ui| {
                let id = if home.me.is_empty() {
                    "starting…".to_owned()
                } else {
                    format!("You: {}", short_id(home.me))
                };
                ui.label(RichText::new(id).weak());
                if !home.me.is_empty()
                    && ui
                        .small_button("Copy ID")
                        .on_hover_text("Others send to you with: p2p-client send FILE --to ID")
                        .clicked()
                {
                    out.push(UiCommand::Copy(home.me.to_owned()));
                }
            });
            if let Some(sharing) = home.sharing {
                ui.horizontal(|ui| {
                    let folder = sharing.dir.file_name().map_or_else(
                        || sharing.dir.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    ui.label(
                        RichText::new(format!("📂 Sharing “{folder}” with {}", sharing.with))
                            .color(ACCENT),
                    )
                    .on_hover_text(format!(
                        "{} is read-only for them; change it in Settings",
                        sharing.dir.display()
                    ));
                    if let Some(ticket) = &sharing.ticket
                        && ui
                            .small_button("Copy ticket")
                            .on_hover_text("They list it with: p2p-client ls TICKET")
                            .clicked()
                    {
                        out.push(UiCommand::Copy(ticket.clone()));
                    }
                });
            }
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Settings").clicked() {
                out.push(UiCommand::ToggleSettings);
            }
            server_chip(ui, home.model);
        });
    });
    out
}

/// The server's state as a coloured dot and a few words.
fn server_chip(ui: &mut egui::Ui, model: &Model) {
    let (text, color, hover) = match &model.server {
        ServerState::None => (
            "LAN only (no signal server)".to_owned(),
            ui.visuals().weak_text_color(),
            "Devices on this network appear by themselves; set a signal server in Settings to reach others.".to_owned(),
        ),
        ServerState::Connecting => (
            "Connecting to the signal server…".to_owned(),
            ui.visuals().weak_text_color(),
            String::new(),
        ),
        ServerState::Connected => (
            "Signal server connected".to_owned(),
            Color32::from_rgb(34, 160, 90),
            "Devices in your server room appear too, and share codes work.".to_owned(),
        ),
        ServerState::Down(why) => (
            format!("Signal server unreachable: {why}"),
            ui.visuals().warn_fg_color,
            "LAN discovery and tickets still work.".to_owned(),
        ),
    };
    let response = ui.label(RichText::new(text).color(color));
    if !hover.is_empty() {
        response.on_hover_text(hover);
    }
    let (dot, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(dot.center(), 4.5, color);
    if !model.listen_failed.is_empty() {
        ui.label(
            RichText::new(format!(
                "Cannot listen on {} address(es); the others work",
                model.listen_failed.len()
            ))
            .color(ui.visuals().warn_fg_color),
        )
        .on_hover_text(model.listen_failed.join("\n"));
    }
}

/// The device list: one card per peer, with a tick to select it, its name,
/// its kind of system, how it is reached, and its own send buttons.
pub(crate) fn devices(ui: &mut egui::Ui, home: &Home<'_>) -> Vec<UiCommand> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Devices ({})", home.model.peers.len())).strong());
        if !home.selected.is_empty() {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button("Clear").clicked() {
                    out.push(UiCommand::ClearSelection);
                }
                ui.label(RichText::new(format!("{} selected", home.selected.len())).weak());
            });
        }
    });
    ui.add_space(4.0);
    if home.model.peers.is_empty() {
        empty_devices(ui, home.model);
        return out;
    }
    egui::ScrollArea::vertical()
        .id_salt("peers")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for row in home.model.peers.values() {
                out.extend(card(
                    ui,
                    row,
                    home.selected.contains(&row.peer),
                    home.dropping,
                ));
                ui.add_space(6.0);
            }
        });
    out
}

/// What to do when no device is visible yet.
fn empty_devices(ui: &mut egui::Ui, model: &Model) {
    egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .corner_radius(CornerRadius::same(CARD_RADIUS))
        .inner_margin(14.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new("No peers yet").strong());
            ui.label(
                "Others appear here when they run p2p-share on your network or in your server room.",
            );
            if matches!(model.server, ServerState::None) {
                ui.label(
                    RichText::new(
                        "To reach a computer elsewhere, send with a code: it gives a ticket that works anywhere.",
                    )
                    .weak(),
                );
            }
        });
}

/// One device.
fn card(ui: &mut egui::Ui, row: &PeerRow, selected: bool, dropping: bool) -> Vec<UiCommand> {
    let mut out = Vec::new();
    let visuals = ui.visuals();
    let stroke = if selected {
        Stroke::new(2.0, ACCENT)
    } else {
        Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color)
    };
    let fill = if selected {
        ACCENT.gamma_multiply(0.12)
    } else {
        visuals.faint_bg_color
    };
    let response = egui::Frame::new()
        .fill(fill)
        .stroke(stroke)
        .corner_radius(CornerRadius::same(CARD_RADIUS))
        .inner_margin(10.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let mut ticked = selected;
                let label = format!("Select {}", row.label());
                let tick = ui.checkbox(&mut ticked, "");
                tick.widget_info(|| {
                    egui::WidgetInfo::selected(egui::WidgetType::Checkbox, true, selected, &label)
                });
                if tick.changed() {
                    out.push(UiCommand::ToggleSelect(row.peer.clone()));
                }
                ui.label(RichText::new(device_glyph(row.os.as_deref())).size(24.0));
                ui.vertical(|ui| {
                    ui.label(RichText::new(row.label()).strong().size(15.0));
                    let system = row
                        .os
                        .as_deref()
                        .map(|os| format!("{} · ", os_name(os)))
                        .unwrap_or_default();
                    ui.label(
                        RichText::new(format!(
                            "{system}{} · {} · online",
                            row.reach(),
                            short_id(&row.peer)
                        ))
                        .weak()
                        .small(),
                    );
                });
            });
            ui.horizontal(|ui| {
                if ui.button("Send files…").clicked() {
                    out.push(UiCommand::PickAndSend {
                        peer: row.peer.clone(),
                        folder: false,
                    });
                }
                if ui.button("Send folder…").clicked() {
                    out.push(UiCommand::PickAndSend {
                        peer: row.peer.clone(),
                        folder: true,
                    });
                }
                if ui.button("Send text…").clicked() {
                    out.push(UiCommand::ComposeText(vec![row.peer.clone()]));
                }
                if row.publishes
                    && ui
                        .button("Browse…")
                        .on_hover_text("See the folder it shares, and download from it")
                        .clicked()
                {
                    out.push(UiCommand::Browse(row.peer.clone()));
                }
            });
        })
        .response;
    if dropping && response.contains_pointer() {
        ui.painter().rect_stroke(
            response.rect,
            CornerRadius::same(CARD_RADIUS),
            Stroke::new(2.0, ACCENT),
            egui::StrokeKind::Inside,
        );
        if ui.input(|i| !i.raw.dropped_files.is_empty()) {
            out.push(UiCommand::SendDropped(vec![row.peer.clone()]));
        }
    }
    out
}

/// The large drop zone with the actions for the selected devices, and the
/// code box for anyone else.
pub(crate) fn send_area(
    ui: &mut egui::Ui,
    home: &Home<'_>,
    name_of: &dyn Fn(&str) -> String,
    code_input: &mut String,
    receivers: &mut u32,
) -> Vec<UiCommand> {
    let mut out = Vec::new();
    let targets: Vec<String> = home.selected.iter().cloned().collect();
    let to = match targets.len() {
        0 => None,
        1 => Some(name_of(&targets[0])),
        n => Some(format!("{n} devices")),
    };
    let highlight = home.dropping;
    let stroke = Stroke::new(
        if highlight { 2.5 } else { 1.5 },
        if highlight {
            ACCENT
        } else {
            ui.visuals().widgets.inactive.bg_stroke.color
        },
    );
    let zone = egui::Frame::new()
        .fill(if highlight {
            ACCENT.gamma_multiply(0.10)
        } else {
            ui.visuals().extreme_bg_color
        })
        .stroke(stroke)
        .corner_radius(CornerRadius::same(CARD_RADIUS + 4))
        .inner_margin(18.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.vertical_centered(|ui| {
                ui.label(RichText::new("⬇").size(34.0).color(ACCENT));
                ui.label(RichText::new("Drop files here").size(20.0).strong());
                ui.label(
                    RichText::new(match &to {
                        Some(to) => format!("to send them to {to}"),
                        None => "Tick one or more devices to send to, or drop onto a device".into(),
                    })
                    .weak(),
                );
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    // Centre the row of buttons.
                    let width = 3.0 * 128.0;
                    ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
                    let enabled = !targets.is_empty();
                    if ui
                        .add_enabled(enabled, accent_button("Choose files…"))
                        .clicked()
                    {
                        out.push(UiCommand::PickAndSendSelected { folder: false });
                    }
                    if ui
                        .add_enabled(enabled, egui::Button::new("Choose folder…"))
                        .clicked()
                    {
                        out.push(UiCommand::PickAndSendSelected { folder: true });
                    }
                    if ui
                        .add_enabled(enabled, egui::Button::new("Write text…"))
                        .clicked()
                    {
                        out.push(UiCommand::ComposeText(targets.clone()));
                    }
                });
            });
        })
        .response;
    if highlight
        && zone.contains_pointer()
        && !targets.is_empty()
        && ui.input(|i| !i.raw.dropped_files.is_empty())
    {
        out.push(UiCommand::SendDropped(targets));
    }
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui
            .button("Send with a code…")
            .on_hover_text("For anyone: a short code (with a server) and a ticket with a QR code")
            .clicked()
        {
            out.push(UiCommand::ShareWithCode);
        }
        ui.label("for");
        let max = protocol::signal::MAX_CODE_CLAIMS;
        let value = ui
            .add(egui::DragValue::new(receivers).range(1..=max).speed(0.05))
            .on_hover_text(
                "How many receivers the code and ticket serve, each proving it on its own",
            );
        let label = ui.label(if *receivers == 1 {
            "receiver"
        } else {
            "receivers"
        });
        value.labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        ui.label("Receive with a code:");
        let edit = ui.add(
            egui::TextEdit::singleline(code_input)
                .hint_text("7-tiger-violin-amber or ticket")
                .desired_width(220.0),
        );
        let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Receive").clicked() || entered) && !code_input.trim().is_empty() {
            out.push(UiCommand::ReceiveWithCode);
        }
    });
    out
}

/// A filled button in the accent colour.
fn accent_button(text: &str) -> egui::Button<'_> {
    egui::Button::new(RichText::new(text).color(Color32::WHITE)).fill(ACCENT)
}

/// A picture for a kind of system (from the peer's OS).
fn device_glyph(os: Option<&str>) -> &'static str {
    match os {
        Some("windows" | "linux") => "🖥",
        Some("macos") => "💻",
        Some("android" | "ios") => "📱",
        _ => "💻",
    }
}

/// The system's name as people say it.
fn os_name(os: &str) -> &str {
    match os {
        "linux" => "Linux",
        "windows" => "Windows",
        "macos" => "macOS",
        "android" => "Android",
        "ios" => "iOS",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// The app's look: roomier spacing, rounder widgets, the accent for
/// selections; on top of the light or dark theme.
pub(crate) fn style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(10.0, 5.0);
        style.spacing.interact_size.y = 26.0;
        let radius = CornerRadius::same(4);
        for widget in [
            &mut style.visuals.widgets.inactive,
            &mut style.visuals.widgets.hovered,
            &mut style.visuals.widgets.active,
            &mut style.visuals.widgets.open,
        ] {
            widget.corner_radius = radius;
        }
        style.visuals.selection.bg_fill = ACCENT;
        style.visuals.hyperlink_color = ACCENT;
    });
}
