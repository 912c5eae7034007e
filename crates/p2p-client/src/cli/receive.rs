//! `p2p-client receive`.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use indicatif::HumanBytes;
use p2p_client::engine::{Engine, EngineError, Inbound, Secret};
use p2p_client::event::{Event, count};

use super::render::Renderer;
use super::{INTERRUPTED, Setup};

#[derive(Debug, clap::Args)]
pub(crate) struct ReceiveArgs {
    /// The sender's share code or ticket; `-` reads it from the terminal so it
    /// stays out of the process list. Without it: wait for offers from anyone.
    code_or_ticket: Option<String>,

    /// Where files land (default: the platform's download folder).
    #[arg(long)]
    dir: Option<PathBuf>,

    /// Accept every offer without asking.
    #[arg(long)]
    yes: bool,

    /// Waiting for offers: also show this computer's peer ID as a QR code
    /// (for `send --to`).
    #[arg(long)]
    qr: bool,

    /// Write the single file received to standard output (after it was
    /// verified) instead of saving it, e.g. `receive CODE --stdout | tar x`.
    #[arg(long, conflicts_with_all = ["dir", "qr"])]
    stdout: bool,
}

pub(crate) async fn run(setup: &Setup, args: ReceiveArgs) -> anyhow::Result<ExitCode> {
    let secret = match args.code_or_ticket.as_deref() {
        Some("-") => Some(read_secret()?),
        Some(text) => Some(text.to_owned()),
        None => std::env::var("P2P_CODE").ok(),
    };
    let inbound = if secret.is_some() {
        Inbound::Expected
    } else {
        Inbound::Anyone
    };
    let spool = if args.stdout {
        if secret.is_none() || setup.json {
            eprintln!("error: --stdout needs the sender's code or ticket, and no --json");
            return Ok(ExitCode::from(2));
        }
        Some(Spool::new()?)
    } else {
        None
    };
    let dir = spool.as_ref().map(|s| s.dir.clone()).or(args.dir.clone());
    // With --stdout the offer is checked here before it is accepted.
    let auto_accept = args.yes && spool.is_none();
    let (engine, mut events) = setup.engine(dir, auto_accept, inbound).await?;
    let mut renderer = Renderer::new(setup.json)
        .with_qr(args.qr)
        .with_stdout_for_data(args.stdout);
    let once = secret.is_some();
    let mut sender = None;
    if let Some(secret) = secret {
        let fetched = match Secret::parse(&secret) {
            Ok(secret) => engine.fetch(&secret).await,
            Err(e) => Err(e),
        };
        match fetched {
            Ok(peer) => sender = Some(peer),
            Err(e) => {
                engine.shutdown().await;
                let what = match e {
                    EngineError::BadSecret(_) | EngineError::NoServer => "",
                    _ => "cannot meet the sender: ",
                };
                bail!("{what}{e}");
            }
        }
    } else {
        let addrs = engine.wait_listening().await;
        renderer.say(&format!(
            "Waiting for files as {} (Ctrl-C to stop)",
            engine.peer_id()
        ));
        for addr in addrs {
            renderer.say(&format!("  listening on {addr}/p2p/{}", engine.peer_id()));
        }
        renderer.show_qr(&engine.peer_id().to_string());
    }
    let mode = Mode {
        yes: args.yes,
        once,
        spool: spool.as_ref(),
    };
    let code = serve(&engine, &mut events, &mut renderer, &mode).await;
    // Let our last answer (result, decline) reach the sender before leaving.
    if let Some(sender) = sender {
        engine
            .wait_disconnected(sender, std::time::Duration::from_secs(3))
            .await;
    }
    engine.shutdown().await;
    code
}

/// How `serve` handles offers.
struct Mode<'a> {
    /// Accept without asking.
    yes: bool,
    /// One transfer, then exit.
    once: bool,
    /// `--stdout`: where the one file lands before it goes to stdout.
    spool: Option<&'a Spool>,
}

/// Handles events until one transfer ends (`once`) or Ctrl-C.
async fn serve(
    engine: &Engine,
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    renderer: &mut Renderer,
    mode: &Mode<'_>,
) -> anyhow::Result<ExitCode> {
    let (yes, once) = (mode.yes, mode.once);
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => bail!("the engine stopped"),
            },
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(INTERRUPTED)),
        };
        renderer.on(&event);
        if let Some(spool) = mode.spool {
            match &event {
                Event::OfferReceived {
                    transfer_id,
                    files,
                    folders,
                    text_chars: None,
                    ..
                } if *files != 1 || *folders > 0 => {
                    engine.decide(transfer_id, false);
                    bail!(
                        "--stdout takes a single file; the sender offers {}{}",
                        count(*files, "file"),
                        if *folders > 0 {
                            format!(" in {}", count(*folders, "folder"))
                        } else {
                            String::new()
                        }
                    );
                }
                Event::OfferReceived { transfer_id, .. } if yes => {
                    engine.decide(transfer_id, true);
                    continue;
                }
                Event::TransferDone { summary, .. } => {
                    let name = summary.saved.first().cloned().unwrap_or_default();
                    spool.write_out(&name).await?;
                    return Ok(ExitCode::SUCCESS);
                }
                _ => {}
            }
        }
        match &event {
            Event::OfferReceived {
                transfer_id,
                peer,
                files,
                folders,
                bytes,
                names,
                text_chars,
                unknown_size,
                fetched: false,
            } if !yes => {
                let question = if let Some(chars) = text_chars {
                    format!(
                        "{peer} sends you a text of {}.\nShow it? [y/N] ",
                        count(*chars, "character")
                    )
                } else if *unknown_size {
                    format!(
                        "{peer} offers a stream (its size is known only at its end): {}\nAccept? [y/N] ",
                        names.join(", ")
                    )
                } else {
                    format!(
                        "{peer} offers {}{}, {}: {}{}\nAccept? [y/N] ",
                        count(*files, "file"),
                        if *folders > 0 {
                            format!(" in {}", count(*folders, "folder"))
                        } else {
                            String::new()
                        },
                        HumanBytes(*bytes),
                        names.join(", "),
                        if files + folders > names.len() {
                            ", …"
                        } else {
                            ""
                        },
                    )
                };
                let engine = engine.clone();
                let transfer_id = transfer_id.clone();
                tokio::task::spawn_blocking(move || {
                    eprint!("{question}");
                    let mut answer = String::new();
                    let accepted = std::io::stdin().lock().read_line(&mut answer).is_ok()
                        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
                    engine.decide(&transfer_id, accepted);
                });
            }
            Event::TransferDone { .. } | Event::TextReceived { .. } if once => {
                return Ok(ExitCode::SUCCESS);
            }
            Event::TransferFailed { error, .. } if once => bail!("{error}"),
            Event::Declined { reason, .. } if once => bail!("{reason}"),
            _ => {}
        }
    }
}

/// `receive --stdout`: a folder of our own for the one file, removed at
/// the end (on failure too); the file goes to stdout only once verified.
struct Spool {
    dir: PathBuf,
}

impl Spool {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "p2p-share-stdout-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir(&dir).with_context(|| {
            format!("cannot make a folder in {}", std::env::temp_dir().display())
        })?;
        Ok(Self { dir })
    }

    /// Copies the verified file `name` to stdout.
    async fn write_out(&self, name: &str) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut file = std::fs::File::open(&path)
                .with_context(|| format!("cannot read the received {}", path.display()))?;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut file, &mut out)
                .and_then(|_| out.flush())
                .context("cannot write to standard output (closed?)")?;
            Ok(())
        })
        .await
        .context("the copy to standard output was interrupted")?
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the spool folder");
        }
    }
}

/// Reads a code or ticket typed on the terminal (not echoed to argv or history).
pub(crate) fn read_secret() -> anyhow::Result<String> {
    eprint!("Enter the share code or ticket: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the code")?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        bail!("no code given");
    }
    Ok(line)
}
