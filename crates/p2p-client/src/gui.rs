//! The desktop app (feature `gui`): the same engine as the CLI, drawn with
//! eframe/egui.
//!
//! # Layout
//! - `app`: [`GuiApp`], the state and the frame (`app::actions`: what it
//!   starts on the engine, and the pickers): drains messages, draws the
//!   panels, applies the commands they return.
//! - `home`: the main window: your device, the device cards (multi-select),
//!   the drop zone with the send actions, the code box.
//! - `panels`: transfers, the offer dialog, the share box, settings; each
//!   returns `UiCommand`s (`panels::UiCommand`) instead of acting.
//! - `text`: writing and showing text messages.
//! - `model`: what is shown, built from engine events (pure, unit-tested).
//! - `bridge`: the tokio runtime on its own threads, the engine's
//!   (re)start, and the bounded queue the UI drains; senders request a repaint.
//! - `settings`: the settings draft over `config.toml`; `picker`: file
//!   dialogs (rfd) or injected paths.

mod app;
mod bridge;
mod browse;
mod home;
mod model;
mod panels;
mod picker;
mod settings;
mod text;

pub use app::{GuiApp, GuiOptions, Notice};
pub use model::{Model, OfferView, PeerRow, RowState, ServerState, TransferRow, short_id};
pub use picker::{FixedPicker, PickDone, PickKind, Picker, SystemPicker};

/// The app's icon (assets/icon.svg drawn at 256 px).
const ICON_PNG: &[u8] = include_bytes!("../../../assets/icon-256.png");

/// Opens the window and runs until it is closed.
pub fn run(options: GuiOptions) -> Result<(), String> {
    if !has_display() {
        return Err(NO_DISPLAY.into());
    }
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("p2p-share")
        // The desktop entry's name (packaging/linux), for Wayland and X11
        // to pair the window with its icon.
        .with_app_id("p2p-share");
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(error) => tracing::warn!(%error, "the window icon cannot be read"),
    }
    let native = eframe::NativeOptions {
        viewport: viewport
            .with_inner_size([960.0, 640.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "p2p-share",
        native,
        Box::new(move |cc| Ok(Box::new(GuiApp::new(options, picker(), &cc.egui_ctx)))),
    )
    .map_err(|e| {
        // winit's errors name a source file of the machine that built us:
        // the log has them, the person gets what to do.
        tracing::debug!(error = %e, "eframe did not start");
        match e {
            eframe::Error::Winit(_) | eframe::Error::WinitEventLoop(_) => NO_DISPLAY.into(),
            other => format!("cannot open the window: {other}"),
        }
    })
}

/// The system's file dialogs; or, for scripted demos (scripts/screenshot.sh),
/// the paths in `P2P_PICK_PATHS` (separated as in `PATH`) as every pick.
fn picker() -> Box<dyn Picker> {
    match std::env::var_os("P2P_PICK_PATHS") {
        Some(list) => Box::new(FixedPicker {
            paths: std::env::split_paths(&list).collect(),
        }),
        None => Box::new(SystemPicker),
    }
}

/// What a person is told when the app cannot open a window.
const NO_DISPLAY: &str =
    "no display to open the app on; to send and receive from the terminal see `p2p-client --help`";

/// Whether a window can be opened: on Linux and the BSDs a Wayland or X11
/// display must be named; Windows and macOS always have one.
fn has_display() -> bool {
    if cfg!(any(windows, target_os = "macos")) {
        return true;
    }
    ["WAYLAND_DISPLAY", "DISPLAY", "WAYLAND_SOCKET"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod icon_tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_window_icon_is_a_256_pixel_square() {
        let icon = eframe::icon_data::from_png_bytes(super::ICON_PNG).unwrap();
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    }
}
