//! `p2p-client`: the command-line entry point.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use p2p_client::dirs::Dirs;

/// Send files directly and encrypted between two computers.
#[derive(Debug, Parser)]
#[command(name = "p2p-client", version, about)]
struct Cli {
    /// Folder for configuration and the identity key (default: the platform's).
    #[arg(long, global = true, env = "P2P_CONFIG_DIR")]
    config_dir: Option<PathBuf>,

    /// Print results as one JSON object per line.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print this node's peer ID.
    Id,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("p2p-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dirs = Dirs::resolve(cli.config_dir.as_deref())?;
    match cli.command {
        Command::Id => {
            let key = p2p_client::identity::load_or_create(&dirs.identity_file())
                .context("cannot load this node's identity")?;
            let peer_id = key.public().to_peer_id();
            if cli.json {
                println!("{{\"peer_id\":\"{peer_id}\"}}");
            } else {
                println!("{peer_id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
