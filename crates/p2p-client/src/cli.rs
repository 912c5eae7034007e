//! The command-line interface: flags, engine setup, and the commands.

mod browse;
mod history;
mod peers;
mod receive;
mod render;
mod send;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use p2p_client::config::{FileConfig, Flags, Resolved};
use p2p_client::dirs::Dirs;
use p2p_client::engine::{Engine, Inbound};
use p2p_client::event::Event;
use tokio::sync::mpsc;

/// Exit code for Ctrl-C.
pub(crate) const INTERRUPTED: u8 = 130;

/// Send files directly and encrypted between two computers, even behind NATs.
#[derive(Debug, Parser)]
#[command(name = "p2p-client", version, about)]
pub(crate) struct Cli {
    /// Signal server URL, e.g. ws://host:8080/ws (repeatable: the node uses
    /// every one it reaches; default: none, LAN and tickets only).
    #[arg(long, global = true, env = "P2P_SERVER", value_delimiter = ',')]
    server: Vec<String>,

    /// Listen on this multiaddr (repeatable; default: TCP and QUIC on all interfaces).
    #[arg(long, global = true)]
    listen: Vec<Multiaddr>,

    /// Folder for configuration, identity key and history (default: the platform's).
    #[arg(long, global = true, env = "P2P_CONFIG_DIR")]
    config_dir: Option<PathBuf>,

    /// Print events as one JSON object per line on stdout.
    #[arg(long, global = true)]
    json: bool,

    /// Do not use mDNS (no LAN discovery).
    #[arg(long, global = true)]
    no_mdns: bool,

    /// Send at most this many bytes per second, e.g. 500K, 20M, 1.5G (default: no limit).
    #[arg(long, global = true, env = "P2P_MAX_RATE", value_name = "RATE", value_parser = p2p_client::config::parse_rate)]
    max_rate: Option<std::num::NonZeroU64>,

    /// Build the node with libp2p's stock Noise, yamux and QUIC instead of
    /// ours (for comparing them; either talks to either).
    #[arg(long, global = true, hide = true, env = "P2P_STOCK_TRANSPORTS", value_parser = clap::builder::FalseyValueParser::new())]
    stock_transports: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print this node's peer ID.
    Id,
    /// Send files and folders.
    Send(send::SendArgs),
    /// Receive files: with a code or ticket from that sender, else any offer.
    Receive(receive::ReceiveArgs),
    /// Past transfers, newest first.
    History(history::HistoryArgs),
    /// List peers visible now (LAN and the signal server's room).
    Peers(peers::PeersArgs),
    /// Publish a folder read-only and stay online: peers list it (`ls`)
    /// and download from it (`get`).
    Share(browse::ShareArgs),
    /// List a folder a peer shares.
    Ls(browse::LsArgs),
    /// Download files and folders a peer shares.
    Get(browse::GetArgs),
}

/// Settings shared by every command, resolved once.
pub(crate) struct Setup {
    pub(crate) dirs: Dirs,
    pub(crate) json: bool,
    pub(crate) settings: Resolved,
}

impl Setup {
    /// Starts an engine; `download_dir` (`--dir`) overrides the settings'.
    pub(crate) async fn engine(
        &self,
        download_dir: Option<PathBuf>,
        auto_accept: bool,
        inbound: Inbound,
    ) -> anyhow::Result<(Engine, mpsc::Receiver<Event>)> {
        self.engine_with(download_dir, auto_accept, inbound, false)
            .await
    }

    /// [`Setup::engine`] that tells LAN peers it `publishes` a folder.
    pub(crate) async fn engine_with(
        &self,
        download_dir: Option<PathBuf>,
        auto_accept: bool,
        inbound: Inbound,
        publishes: bool,
    ) -> anyhow::Result<(Engine, mpsc::Receiver<Event>)> {
        let key = p2p_client::identity::load_or_create(&self.dirs.identity_file())
            .context("cannot load this node's identity")?;
        let mut config = self.settings.engine_config(key, auto_accept, inbound);
        if let Some(dir) = download_dir {
            config.download_dir = dir;
        }
        config.history = Some(self.dirs.data.clone());
        config.publishes = publishes;
        Engine::start(config)
            .await
            .context("cannot start the network")
    }
}

impl Cli {
    fn flags(&self) -> Flags {
        Flags {
            servers: self.server.clone(),
            listen: self.listen.clone(),
            no_mdns: self.no_mdns,
            max_rate: self.max_rate,
            stock_transports: self.stock_transports,
        }
    }
}

/// No subcommand: the desktop app (or, in a build without it, the help).
#[cfg(feature = "gui")]
fn open_app(cli: &Cli, dirs: Dirs) -> anyhow::Result<ExitCode> {
    #[cfg(windows)]
    close_own_console();
    p2p_client::gui::run(p2p_client::gui::GuiOptions {
        dirs,
        flags: cli.flags(),
    })
    .map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

/// Started from Explorer or the Start menu, a console program gets a
/// console window of its own, which the app does not need: it is closed.
/// Started from a terminal, the program shares the terminal's console and
/// leaves it alone (its log goes there).
#[cfg(all(feature = "gui", windows))]
#[allow(unsafe_code)]
fn close_own_console() {
    use windows_sys::Win32::System::Console::{FreeConsole, GetConsoleProcessList};
    let mut attached = [0u32; 2];
    // SAFETY: GetConsoleProcessList writes at most `attached.len()` process
    // IDs into the buffer it is given, which lives through the call.
    let count = unsafe { GetConsoleProcessList(attached.as_mut_ptr(), attached.len() as u32) };
    if count == 1 {
        // SAFETY: detaches this process from its console; no memory of
        // ours is involved. Later writes to stderr (the log) fail quietly.
        unsafe { FreeConsole() };
    }
}

#[cfg(not(feature = "gui"))]
fn open_app(_cli: &Cli, _dirs: Dirs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let _ = Cli::command().print_help();
    println!(
        "\nThis build has no desktop app (built without the `gui` feature); use the commands above."
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dirs = Dirs::resolve(cli.config_dir.as_deref())?;
    let flags = cli.flags();
    let Some(command) = cli.command else {
        return open_app(&cli, dirs);
    };
    if let Command::Id = command {
        let key = p2p_client::identity::load_or_create(&dirs.identity_file())
            .context("cannot load this node's identity")?;
        let peer_id = key.public().to_peer_id();
        if cli.json {
            println!("{}", serde_json::json!({ "peer_id": peer_id.to_string() }));
        } else {
            println!("{peer_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::History(args) = &command {
        return Ok(history::run(&dirs, cli.json, args));
    }
    let file = FileConfig::load(&dirs.config)?;
    let settings = Resolved::strict(&flags, &file)?;
    let setup = Setup {
        json: cli.json,
        dirs,
        settings,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        match command {
            Command::Id | Command::History(_) => Ok(ExitCode::SUCCESS),
            Command::Send(args) => send::run(&setup, args).await,
            Command::Receive(args) => receive::run(&setup, args).await,
            Command::Peers(args) => peers::run(&setup, args).await,
            Command::Share(args) => browse::share(&setup, args).await,
            Command::Ls(args) => browse::ls(&setup, args).await,
            Command::Get(args) => browse::get(&setup, args).await,
        }
    });
    // A prompt may still block on the terminal: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
