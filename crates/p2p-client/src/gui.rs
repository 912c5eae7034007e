//! The desktop app (feature `gui`): the same engine as the CLI, drawn with
//! eframe/egui.
//!
//! # Layout
//! - `app`: [`GuiApp`], the state and the frame (`app::actions`: what it
//!   starts on the engine, and the pickers): drains messages, draws the
//!   panels, applies the commands they return.
//! - `panels`: top bar (identity, server state, share codes), peer list,
//!   transfers, offer dialog, settings; each returns `UiCommand`s
//!   (`panels::UiCommand`) instead of acting.
//! - `model`: what is shown, built from engine events (pure, unit-tested).
//! - `bridge`: the tokio runtime on its own threads, the engine's
//!   (re)start, and the bounded queue the UI drains; senders request a repaint.
//! - `settings`: the settings draft over `config.toml`; `history`: finished
//!   transfers in `history.json`; `picker`: file dialogs (rfd) or injected paths.

mod app;
mod bridge;
mod history;
mod model;
mod panels;
mod picker;
mod settings;

pub use app::{GuiApp, GuiOptions, Notice};
pub use model::{Model, OfferView, PeerRow, RowState, ServerState, TransferRow, short_id};
pub use picker::{FixedPicker, PickDone, PickKind, Picker, SystemPicker};

/// Opens the window and runs until it is closed.
pub fn run(options: GuiOptions) -> Result<(), String> {
    let native = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("p2p-share")
            .with_inner_size([960.0, 640.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "p2p-share",
        native,
        Box::new(move |cc| {
            Ok(Box::new(GuiApp::new(
                options,
                Box::new(SystemPicker),
                &cc.egui_ctx,
            )))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
