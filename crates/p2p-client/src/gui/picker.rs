//! Choosing files: the system dialog (rfd), or an injected answer in tests.

use std::path::PathBuf;

/// What to pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickKind {
    /// One or more files.
    Files,
    /// One folder.
    Folder,
}

/// Called with the chosen paths, or `None` when the person cancelled.
pub type PickDone = Box<dyn FnOnce(Option<Vec<PathBuf>>) + Send>;

/// Opens a file dialog without blocking the UI thread.
pub trait Picker {
    /// Starts a pick; `done` runs later (on any thread) with the result.
    fn pick(&self, kind: PickKind, runtime: &tokio::runtime::Handle, done: PickDone);
}

/// The platform's dialog through rfd (the XDG portal on Linux).
#[derive(Debug, Default)]
pub struct SystemPicker;

impl Picker for SystemPicker {
    fn pick(&self, kind: PickKind, runtime: &tokio::runtime::Handle, done: PickDone) {
        runtime.spawn(async move {
            let dialog = rfd::AsyncFileDialog::new();
            let paths = match kind {
                PickKind::Files => dialog
                    .pick_files()
                    .await
                    .map(|files| files.iter().map(|f| f.path().to_path_buf()).collect()),
                PickKind::Folder => dialog
                    .pick_folder()
                    .await
                    .map(|f| vec![f.path().to_path_buf()]),
            };
            done(paths);
        });
    }
}

/// Answers every pick with the same paths at once (tests, scripted screenshots).
#[derive(Debug, Clone, Default)]
pub struct FixedPicker {
    /// What every pick returns.
    pub paths: Vec<PathBuf>,
}

impl Picker for FixedPicker {
    fn pick(&self, _kind: PickKind, _runtime: &tokio::runtime::Handle, done: PickDone) {
        done(Some(self.paths.clone()));
    }
}
