//! The desktop app: state, message handling and the frame.
//!
//! `actions`: what the app starts on the engine (send, share, receive by
//! code) and the file pickers; `browsing`: the browser window's requests;
//! `commands`: the panels' commands applied; `state`: what tests and views
//! read of the app.

mod actions;
mod browsing;
mod commands;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use eframe::egui;

use super::bridge::{AppMsg, Bridge};
use super::model::{Model, short_id};
use super::panels::{self, UiCommand};
use super::picker::Picker;
use super::settings::Draft;
use crate::config::{FileConfig, Flags, Resolved};
use crate::dirs::Dirs;
use crate::engine::{Engine, Inbound, default_name};
use crate::event::{Event, count};
use crate::history::{Entry, History, Recorder};

/// How the app starts: folders and the command line's flags.
#[derive(Debug, Clone)]
pub struct GuiOptions {
    /// Configuration, identity and data folders.
    pub dirs: Dirs,
    /// The command line's flags, over the settings (as for every command).
    pub flags: Flags,
}

/// A notice line in the status area.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// An error (shown in red) rather than information.
    pub error: bool,
    /// The sentence.
    pub text: String,
}

/// The desktop app.
pub struct GuiApp {
    options: GuiOptions,
    settings: FileConfig,
    key: Option<libp2p::identity::Keypair>,
    bridge: Option<Bridge>,
    engine: Option<Engine>,
    model: Model,
    /// Past transfers, oldest first: the file's at start, then each that
    /// ends here (the engine writes them to the file).
    history: Vec<Entry>,
    recorder: Recorder,
    picker: Box<dyn Picker>,
    notices: Vec<Notice>,
    draft: Option<Draft>,
    code_input: String,
    always_accept: bool,
    dropped: Option<Vec<PathBuf>>,
    share: Option<panels::ShareView>,
    /// The text being written, if the box is open.
    compose: Option<super::text::Compose>,
    /// Devices ticked for the next send.
    selected: std::collections::BTreeSet<String>,
    /// Receivers the next share serves.
    share_receivers: u32,
    /// The browser on a device's shared folder, if open.
    browser: Option<super::browse::Browser>,
    /// Our own published folder, once published.
    sharing: Option<super::browse::Sharing>,
}

impl GuiApp {
    /// Builds the app and starts its engine; `ctx` is asked to repaint when
    /// something arrives.
    pub fn new(options: GuiOptions, picker: Box<dyn Picker>, ctx: &egui::Context) -> Self {
        let mut notices = Vec::new();
        let settings = FileConfig::load(&options.dirs.config).unwrap_or_else(|e| {
            notices.push(Notice {
                error: true,
                text: format!("{e}; using defaults"),
            });
            FileConfig::default()
        });
        let key = match crate::identity::load_or_create(&options.dirs.identity_file()) {
            Ok(key) => Some(key),
            Err(e) => {
                notices.push(Notice {
                    error: true,
                    text: format!("{e}; the app cannot go online"),
                });
                None
            }
        };
        let repaint_ctx = ctx.clone();
        let bridge = match Bridge::new(Arc::new(move || repaint_ctx.request_repaint())) {
            Ok(bridge) => Some(bridge),
            Err(e) => {
                notices.push(Notice {
                    error: true,
                    text: format!("cannot start the network thread: {e}"),
                });
                None
            }
        };
        let history = History::new(&options.dirs.data).load();
        let any_server = !options.flags.servers.is_empty()
            || settings.server.is_some()
            || !settings.servers.is_empty();
        let mut app = Self {
            model: Model::new(any_server),
            options,
            settings,
            key,
            bridge,
            engine: None,
            history,
            recorder: Recorder::new(PathBuf::new()),
            picker,
            notices,
            draft: None,
            code_input: String::new(),
            always_accept: false,
            dropped: None,
            share: None,
            compose: None,
            selected: std::collections::BTreeSet::new(),
            share_receivers: 1,
            browser: None,
            sharing: None,
        };
        apply_theme(ctx, app.settings.theme.as_deref());
        app.restart_engine();
        app
    }

    /// The settings the engine runs with: the command line's flags, the
    /// environment, the settings saved, defaults.
    fn resolve(&self) -> (Resolved, Vec<crate::config::ConfigIssue>) {
        Resolved::resolve(
            &self.options.flags,
            |name| std::env::var(name).ok(),
            &self.settings,
        )
    }

    fn notify(&mut self, error: bool, text: impl Into<String>) {
        self.notices.push(Notice {
            error,
            text: text.into(),
        });
        let excess = self.notices.len().saturating_sub(5);
        self.notices.drain(..excess);
    }

    fn restart_engine(&mut self) {
        let (resolved, issues) = self.resolve();
        for issue in issues {
            self.notify(true, format!("{issue}: ignored. Fix it in Settings."));
        }
        let (Some(bridge), Some(key)) = (self.bridge.as_mut(), self.key.clone()) else {
            return;
        };
        let mut config = resolved.engine_config(key, false, Inbound::Anyone);
        config.history = Some(self.options.dirs.data.clone());
        config.publishes = self.settings.shared_dir.is_some();
        self.recorder = Recorder::new(config.download_dir.clone());
        self.model = Model::new(!config.servers.is_empty());
        bridge.restart(self.engine.take(), config);
    }

    /// Handles queued messages; called once per frame.
    fn drain(&mut self, ctx: &egui::Context) {
        let Some(bridge) = self.bridge.as_mut() else {
            return;
        };
        let generation = bridge.generation();
        for msg in bridge.drain() {
            match msg {
                AppMsg::EngineReady(g, engine) if g == generation => {
                    self.engine = Some(engine);
                    // A new engine publishes afresh.
                    self.sharing = None;
                    self.publish_shared();
                }
                AppMsg::Published(published) => match published {
                    Ok(sharing) => self.sharing = Some(sharing),
                    Err(e) => {
                        self.sharing = None;
                        self.notify(true, e);
                    }
                },
                AppMsg::EngineFailed(g, error) if g == generation => {
                    self.notify(true, format!("The network did not start: {error}"));
                }
                AppMsg::Event(g, event) if g == generation => self.on_event(event),
                AppMsg::Notice { error, text } => self.notify(error, text),
                AppMsg::ShareReady { code, ticket } => {
                    self.share = Some(panels::ShareView::new(ctx, code, ticket));
                }
                AppMsg::Picked { purpose, paths } => self.on_picked(purpose, paths),
                AppMsg::Listed {
                    peer,
                    path,
                    after,
                    result,
                } => {
                    if let Some(browser) = self.browser.as_mut()
                        && browser.peer == peer
                    {
                        browser.listed(&path, after.as_deref(), result);
                    }
                }
                _ => {}
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        if let Some(entry) = self.recorder.observe(&event, SystemTime::now()) {
            self.history.push(entry);
            let excess = self
                .history
                .len()
                .saturating_sub(crate::history::MAX_ENTRIES);
            self.history.drain(..excess);
        }
        if let Event::OfferReceived {
            transfer_id, peer, ..
        } = &event
            && self.settings.trusted_peers.contains(&peer.to_string())
        {
            if let Some(engine) = &self.engine {
                engine.decide(transfer_id, true);
            }
            self.notify(
                false,
                format!(
                    "Accepted files from trusted peer {}",
                    self.name_of(&peer.to_string())
                ),
            );
            return;
        }
        self.model.apply(&event, Instant::now());
    }

    fn save_settings(&mut self, ctx: &egui::Context) {
        let Some(draft) = self.draft.as_mut() else {
            return;
        };
        let mut next = self.settings.clone();
        if let Err(e) = draft.apply(&mut next) {
            draft.error = Some(e);
            return;
        }
        if let Err(e) = next.save(&self.options.dirs.config) {
            draft.error = Some(e.to_string());
            return;
        }
        draft.error = None;
        let (before, _) = self.resolve();
        let before_shares = self.settings.shared_dir.is_some();
        self.settings = next;
        let (after, _) = self.resolve();
        apply_theme(ctx, self.settings.theme.as_deref());
        self.draft = None;
        // The upload limit applies at once, also to running transfers; the
        // rest of what the engine was started with needs a new engine.
        let mut same_but_rate = after.clone();
        same_but_rate.max_rate = before.max_rate;
        // Trust is read where it is used: no new engine for it.
        same_but_rate.trusted.clone_from(&before.trusted);
        // LAN peers learn whether we share a folder when they connect: a
        // change there needs a new engine too.
        let shares_changed = before_shares != self.settings.shared_dir.is_some();
        if same_but_rate != before || shares_changed {
            self.restart_engine();
        } else {
            if after.max_rate != before.max_rate
                && let Some(engine) = &self.engine
            {
                engine.set_max_rate(after.max_rate);
            }
            // The shared folder changes without a new engine.
            self.publish_shared();
        }
        self.notify(false, "Settings saved.");
    }

    /// Draws one frame and applies what the person asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.drain(&ctx);
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .filter_map(|f| f.path.clone())
                .collect()
        });
        let dropping =
            ctx.input(|i| !i.raw.hovered_files.is_empty() || !i.raw.dropped_files.is_empty());
        if !dropped.is_empty() {
            self.dropped = Some(dropped);
        }
        let me = self.peer_id().map(|p| p.to_string()).unwrap_or_default();
        // Taken out while `name_of` borrows the app; put back below.
        let mut code_input = std::mem::take(&mut self.code_input);
        let mut share_receivers = self.share_receivers;
        self.selected.retain(|p| self.model.peers.contains_key(p));
        let name = self
            .settings
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(default_name);
        let mut commands = Vec::new();
        let home = super::home::Home {
            name: &name,
            me: &me,
            model: &self.model,
            selected: &self.selected,
            dropping,
            sharing: self.sharing.as_ref(),
        };
        let name_of = |peer: &str| self.name_of(peer);
        egui::Panel::top("header")
            .frame(egui::Frame::new().inner_margin(egui::Margin::symmetric(14, 10)))
            .show(ui, |ui| {
                commands.extend(super::home::header(ui, &home));
                for notice in self.notices.iter().rev().take(3) {
                    let color = if notice.error {
                        ui.visuals().error_fg_color
                    } else {
                        ui.visuals().text_color()
                    };
                    ui.label(egui::RichText::new(&notice.text).color(color));
                }
            });
        egui::Panel::left("devices")
            .resizable(true)
            .default_size(330.0)
            .size_range(240.0..=480.0)
            .frame(egui::Frame::new().inner_margin(egui::Margin::symmetric(14, 10)))
            .show(ui, |ui| commands.extend(super::home::devices(ui, &home)));
        let history = &self.history;
        egui::CentralPanel::default()
            .frame(egui::Frame::new().inner_margin(egui::Margin::symmetric(16, 10)))
            .show(ui, |ui| {
                commands.extend(super::home::send_area(
                    ui,
                    &home,
                    &name_of,
                    &mut code_input,
                    &mut share_receivers,
                ));
                ui.add_space(10.0);
                commands.extend(panels::transfers(ui, home.model, &name_of));
                if !history.is_empty() {
                    ui.collapsing(format!("History ({})", history.len()), |ui| {
                        for entry in history.iter().rev().take(20) {
                            ui.label(format!(
                                "{} {}, {} with {}: {}",
                                entry.direction,
                                count(entry.files, "file"),
                                indicatif::HumanBytes(entry.bytes),
                                short_id(&entry.peer),
                                entry.outcome
                            ));
                        }
                    });
                }
            });
        self.code_input = code_input;
        self.share_receivers = share_receivers;
        // A drop onto a peer row was handled there; otherwise ask which peer.
        let dropped_on_row = commands
            .iter()
            .any(|c| matches!(c, UiCommand::SendDropped(_)));
        if !dropped_on_row
            && let Some(dropped) = &self.dropped
            && ctx.input(|i| i.raw.dropped_files.is_empty())
        {
            commands.extend(panels::drop_target(&ctx, &self.model, dropped.len()));
        }
        if let Some(offer) = self.model.offers.front().cloned() {
            let sender = self.name_of(&offer.peer);
            commands.extend(panels::offer_dialog(
                &ctx,
                &offer,
                &sender,
                &mut self.always_accept,
            ));
        }
        if let Some(share) = &self.share {
            commands.extend(panels::share_box(&ctx, share));
        }
        if let Some(browser) = &self.browser {
            let owner = self.name_of(&browser.peer);
            commands.extend(super::browse::window(&ctx, browser, &owner));
        }
        if let Some(draft) = self.draft.as_mut() {
            commands.extend(panels::settings_window(&ctx, draft));
        }
        if let Some(compose) = &self.compose {
            let to = match &compose.peers[..] {
                [one] => self.name_of(one),
                many => format!("{} devices", many.len()),
            };
            if let Some(compose) = self.compose.as_mut() {
                commands.extend(super::text::compose_window(&ctx, compose, &to));
            }
        }
        let texts: Vec<_> = self.model.texts.iter().collect();
        commands.extend(super::text::received_windows(&ctx, &texts, &|p| {
            self.name_of(p)
        }));
        for command in commands {
            self.apply(&ctx, command);
        }
    }

    /// Stops the engine (on window close).
    pub fn shutdown(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.shutdown(self.engine.take());
        }
    }
}

impl eframe::App for GuiApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| GuiApp::ui(self, ui));
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

impl Drop for GuiApp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn apply_theme(ctx: &egui::Context, theme: Option<&str>) {
    ctx.set_theme(match theme {
        Some("light") => egui::ThemePreference::Light,
        Some("dark") => egui::ThemePreference::Dark,
        _ => egui::ThemePreference::System,
    });
    super::home::style(ctx);
}

/// Shows a folder in the platform's file manager.
fn open_folder(dir: &std::path::Path) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(program).arg(dir).spawn() {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot open the folder");
    }
}
