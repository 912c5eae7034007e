//! Between the UI thread and the engine: a tokio runtime on its own threads,
//! the engine's lifecycle, and one bounded queue of messages the UI drains
//! each frame. Whoever queues a message asks egui for a repaint; nothing
//! repaints in a loop.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::engine::{Engine, EngineConfig};
use crate::event::Event;

/// Messages queued for the UI before senders wait.
const QUEUE: usize = 1024;

/// Something for the UI thread.
pub(crate) enum AppMsg {
    /// The engine of this generation is up.
    EngineReady(u64, Engine),
    /// The engine could not start.
    EngineFailed(u64, String),
    /// An engine event.
    Event(u64, Event),
    /// A sentence for the person (an error when `error`).
    Notice { error: bool, text: String },
    /// A share is waiting for its receiver.
    ShareReady {
        code: Option<String>,
        ticket: String,
    },
    /// Files were picked for this purpose.
    Picked {
        purpose: PickPurpose,
        paths: Vec<PathBuf>,
    },
    /// Our folder is published (or could not be).
    Published(Result<super::browse::Sharing, String>),
    /// A page of a device's shared folder came (or did not).
    Listed {
        peer: String,
        path: String,
        after: Option<String>,
        result: Result<protocol::browse::Listing, String>,
    },
}

/// Why the picker was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PickPurpose {
    /// Send to these peers.
    SendTo(Vec<String>),
    /// Send with a share code.
    Share,
    /// Choose the download folder.
    DownloadDir,
    /// Choose the folder to share.
    SharedDir,
}

/// The runtime and the queue.
pub(crate) struct Bridge {
    runtime: tokio::runtime::Runtime,
    tx: mpsc::Sender<AppMsg>,
    rx: mpsc::Receiver<AppMsg>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    generation: u64,
}

impl Bridge {
    pub(crate) fn new(repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("p2p-engine")
            .enable_all()
            .build()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        Ok(Self {
            runtime,
            tx,
            rx,
            repaint,
            generation: 0,
        })
    }

    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// The generation of the current engine; older engines' messages are stale.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// A sender that wakes the UI after each message.
    pub(crate) fn sender(&self) -> UiSender {
        UiSender {
            tx: self.tx.clone(),
            repaint: Arc::clone(&self.repaint),
        }
    }

    /// Messages queued since the last frame.
    pub(crate) fn drain(&mut self) -> Vec<AppMsg> {
        let mut out = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            out.push(msg);
        }
        out
    }

    /// Stops `old` (if any) and starts an engine with `config`.
    pub(crate) fn restart(&mut self, old: Option<Engine>, config: EngineConfig) {
        self.generation += 1;
        let generation = self.generation;
        let ui = self.sender();
        self.runtime.spawn(async move {
            if let Some(old) = old {
                old.shutdown().await;
            }
            match Engine::start(config).await {
                Ok((engine, mut events)) => {
                    ui.send(AppMsg::EngineReady(generation, engine)).await;
                    while let Some(event) = events.recv().await {
                        ui.send(AppMsg::Event(generation, event)).await;
                    }
                }
                Err(e) => {
                    ui.send(AppMsg::EngineFailed(generation, e.to_string()))
                        .await
                }
            }
        });
    }

    /// Runs a future on the engine's runtime.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(future);
    }

    /// Stops the engine and the runtime without waiting long.
    pub(crate) fn shutdown(self, engine: Option<Engine>) {
        if let Some(engine) = engine {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(3), engine.shutdown()).await
            });
        }
        self.runtime
            .shutdown_timeout(std::time::Duration::from_millis(500));
    }
}

/// Queues messages for the UI and wakes it.
#[derive(Clone)]
pub(crate) struct UiSender {
    tx: mpsc::Sender<AppMsg>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl UiSender {
    pub(crate) async fn send(&self, msg: AppMsg) {
        if self.tx.send(msg).await.is_ok() {
            (self.repaint)();
        }
    }

    /// From a non-async context (a file dialog's callback).
    pub(crate) fn send_now(&self, msg: AppMsg) {
        if self.tx.try_send(msg).is_ok() {
            (self.repaint)();
        }
    }
}
