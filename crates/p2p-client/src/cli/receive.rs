//! `p2p-client receive`.

use std::io::BufRead as _;
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
    let (engine, mut events) = setup.engine(args.dir.clone(), args.yes, inbound).await?;
    let mut renderer = Renderer::new(setup.json).with_qr(args.qr);
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
    let code = serve(&engine, &mut events, &mut renderer, args.yes, once).await;
    // Let our last answer (result, decline) reach the sender before leaving.
    if let Some(sender) = sender {
        engine
            .wait_disconnected(sender, std::time::Duration::from_secs(3))
            .await;
    }
    engine.shutdown().await;
    code
}

/// Handles events until one transfer ends (`once`) or Ctrl-C.
async fn serve(
    engine: &Engine,
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    renderer: &mut Renderer,
    yes: bool,
    once: bool,
) -> anyhow::Result<ExitCode> {
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => bail!("the engine stopped"),
            },
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(INTERRUPTED)),
        };
        renderer.on(&event);
        match &event {
            Event::OfferReceived {
                transfer_id,
                peer,
                files,
                folders,
                bytes,
                names,
                text_chars,
            } if !yes => {
                let question = if let Some(chars) = text_chars {
                    format!(
                        "{peer} sends you a text of {}.\nShow it? [y/N] ",
                        count(*chars, "character")
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

/// Reads a code or ticket typed on the terminal (not echoed to argv or history).
fn read_secret() -> anyhow::Result<String> {
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
