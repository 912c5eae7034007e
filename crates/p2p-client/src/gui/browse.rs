//! Browsing a device's shared folder: a window with its folders and files
//! (sizes, dates), opened from the device's card ("Browse…"). Folders open
//! on a click, "Up" goes back; ticked entries are downloaded with one
//! "Download", which then shows as any transfer. Pages come as the owner
//! sends them ("Show more" for a large folder).

use std::collections::BTreeSet;

use eframe::egui::{self, RichText};
use indicatif::HumanBytes;
use protocol::browse::{Entry, EntryKind, Listing};

use super::panels::UiCommand;

/// Our own published folder, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sharing {
    /// The folder.
    pub(crate) dir: std::path::PathBuf,
    /// Who may browse it, in words.
    pub(crate) with: &'static str,
    /// Its ticket, when ticket holders may.
    pub(crate) ticket: Option<String>,
    /// What it was published with (folder, who, trusted peers): the same
    /// again is not published again, so its ticket stays valid.
    pub(crate) key: (std::path::PathBuf, String, Vec<String>),
}

/// The window's state: whose folder, where in it, what is shown.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    /// The owner.
    pub(crate) peer: String,
    /// The folder shown, relative to the shared one (`""`: its top).
    pub(crate) path: String,
    /// Its entries so far, sorted by name.
    pub(crate) entries: Vec<Entry>,
    /// More entries follow (another page).
    pub(crate) more: bool,
    /// A page is on its way.
    pub(crate) loading: bool,
    /// Ticked entries, as paths relative to the shared folder.
    pub(crate) selected: BTreeSet<String>,
    /// Why the last page did not come.
    pub(crate) error: Option<String>,
}

impl Browser {
    /// The top of `peer`'s shared folder, its first page on its way.
    pub(crate) fn new(peer: String) -> Self {
        Self {
            peer,
            path: String::new(),
            entries: Vec::new(),
            more: false,
            loading: true,
            selected: BTreeSet::new(),
            error: None,
        }
    }

    /// Goes to the folder `path` (its first page on its way); ticks stay.
    pub(crate) fn open(&mut self, path: String) {
        self.path = path;
        self.entries.clear();
        self.more = false;
        self.loading = true;
        self.error = None;
    }

    /// The cursor of the next page: the last name shown.
    pub(crate) fn next_after(&self) -> Option<String> {
        self.entries.last().map(|e| e.name.clone())
    }

    /// A page came for `path` after `after`: kept if it is the one shown.
    pub(crate) fn listed(
        &mut self,
        path: &str,
        after: Option<&str>,
        result: Result<Listing, String>,
    ) {
        if path != self.path || after != self.next_after().as_deref() {
            return;
        }
        self.loading = false;
        match result {
            Ok(page) => {
                self.entries.extend(page.entries);
                self.more = page.more;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// The path of the entry `name` in the folder shown.
    pub(crate) fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.path)
        }
    }

    /// The folder above the one shown.
    pub(crate) fn parent(&self) -> String {
        self.path
            .rsplit_once('/')
            .map_or_else(String::new, |(up, _)| up.to_owned())
    }
}

/// The browser window for `browser`, titled with the owner's name.
pub(crate) fn window(ctx: &egui::Context, browser: &Browser, owner: &str) -> Vec<UiCommand> {
    let mut out = Vec::new();
    let mut open = true;
    egui::Window::new(format!("Files on {owner}"))
        .id(egui::Id::new("browse"))
        .collapsible(false)
        .default_size([560.0, 420.0])
        .open(&mut open)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                let up = ui.add_enabled(!browser.path.is_empty(), egui::Button::new("⬆ Up"));
                if up.clicked() {
                    out.push(UiCommand::BrowseOpen(browser.parent()));
                }
                let shown = if browser.path.is_empty() {
                    "/".to_owned()
                } else {
                    format!("/{}", browser.path)
                };
                ui.label(RichText::new(protocol::path::display_escaped(&shown, 120)).monospace());
                if browser.loading {
                    ui.spinner();
                }
            });
            ui.separator();
            if let Some(error) = &browser.error {
                ui.label(RichText::new(error).color(ui.visuals().error_fg_color));
            }
            egui::ScrollArea::vertical()
                .max_height(300.0)
                .auto_shrink([false, true])
                .show(ui, |ui| {
                    egui::Grid::new("entries")
                        .num_columns(4)
                        .striped(true)
                        .spacing([12.0, 4.0])
                        .show(ui, |ui| {
                            for entry in &browser.entries {
                                entry_row(ui, browser, entry, &mut out);
                                ui.end_row();
                            }
                        });
                    if !browser.loading && browser.entries.is_empty() && browser.error.is_none() {
                        ui.label(RichText::new("This folder is empty.").weak());
                    }
                    if browser.more && !browser.loading && ui.button("Show more").clicked() {
                        out.push(UiCommand::BrowseMore);
                    }
                });
            ui.separator();
            ui.horizontal(|ui| {
                let count = browser.selected.len();
                let label = match count {
                    0 => "Download".to_owned(),
                    1 => "Download 1 item".to_owned(),
                    n => format!("Download {n} items"),
                };
                if ui
                    .add_enabled(count > 0, egui::Button::new(label))
                    .clicked()
                {
                    out.push(UiCommand::BrowseDownload);
                }
                if count > 0 {
                    ui.label(
                        RichText::new(
                            browser
                                .selected
                                .iter()
                                .take(3)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", "),
                        )
                        .weak(),
                    );
                }
            });
        });
    if !open {
        out.push(UiCommand::BrowseClose);
    }
    out
}

fn entry_row(ui: &mut egui::Ui, browser: &Browser, entry: &Entry, out: &mut Vec<UiCommand>) {
    let path = browser.child(&entry.name);
    let name = protocol::path::display_escaped(&entry.name, 80);
    let mut ticked = browser.selected.contains(&path);
    let tick = ui.checkbox(&mut ticked, "");
    let label = format!("Select {name}");
    tick.widget_info(|| {
        egui::WidgetInfo::selected(egui::WidgetType::Checkbox, true, ticked, &label)
    });
    if tick.changed() {
        out.push(UiCommand::BrowseToggle(path.clone()));
    }
    match entry.kind {
        EntryKind::Dir => {
            if ui.link(format!("📁 {name}")).clicked() {
                out.push(UiCommand::BrowseOpen(path));
            }
            ui.label(RichText::new("folder").weak());
        }
        EntryKind::File => {
            ui.label(format!("📄 {name}"));
            ui.label(HumanBytes(entry.size).to_string());
        }
    }
    ui.label(RichText::new(entry.modified.map(date).unwrap_or_default()).weak());
}

/// `2026-12-03 14:02` (UTC) for seconds since 1970.
fn date(secs: u64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0)) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size: 1,
            modified: None,
        }
    }

    #[test]
    fn pages_are_kept_only_for_the_folder_shown_and_in_order() {
        let mut b = Browser::new("p".into());
        let page = |names: &[&str], more| {
            Ok(Listing {
                entries: names.iter().map(|n| entry(n)).collect(),
                more,
            })
        };
        b.listed("", None, page(&["a", "b"], true));
        assert_eq!(b.entries.len(), 2);
        assert!(b.more && !b.loading);
        // A late page for another folder, or out of order, is dropped.
        b.listed("x", Some("b"), page(&["c"], false));
        b.listed("", Some("a"), page(&["c"], false));
        assert_eq!(b.entries.len(), 2);
        b.listed("", Some("b"), page(&["c"], false));
        assert_eq!(b.entries.len(), 3);
        assert!(!b.more);
        b.open("photos/2024".into());
        assert_eq!(b.child("a.jpg"), "photos/2024/a.jpg");
        assert_eq!(b.parent(), "photos");
        b.open(b.parent());
        assert_eq!(b.parent(), "");
        assert_eq!(b.child("x"), "photos/x");
    }
}
