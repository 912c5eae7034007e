//! `p2p-client send`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use p2p_client::engine::Inbound;
use p2p_client::event::{Event, Summary};
use tokio::sync::mpsc;

use super::render::Renderer;
use super::{INTERRUPTED, Setup};

#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// Files and folders to send.
    #[arg(required_unless_present = "text")]
    paths: Vec<PathBuf>,

    /// Send this text instead of files (shown by the receiver, not saved;
    /// up to 64 KiB).
    #[arg(long, conflicts_with = "paths")]
    text: Option<String>,

    /// The receiver: a peer ID (found on the LAN or via the server) or a
    /// multiaddr ending in /p2p/PEER_ID.
    #[arg(long)]
    to: Option<String>,

    /// Also show the ticket as a QR code.
    #[arg(long)]
    qr: bool,
}

pub(crate) async fn run(setup: &Setup, args: SendArgs) -> anyhow::Result<ExitCode> {
    for path in &args.paths {
        if std::fs::symlink_metadata(path).is_err() {
            bail!("{}: no such file or folder", path.display());
        }
    }
    let (engine, mut events) = setup.engine(None, false, Inbound::Expected).await?;
    let mut renderer = Renderer::new(setup.json).with_qr(args.qr);
    let result = match args.to {
        Some(to) => {
            let (peer, addrs) = parse_target(&to)?;
            let engine2 = engine.clone();
            let paths = args.paths.clone();
            let text = args.text.clone();
            let job = async move {
                let addrs = engine2.find_peer(peer, addrs).await?;
                match text {
                    Some(text) => engine2.send_text(peer, addrs, text).await,
                    None => engine2.send(peer, addrs, paths).await,
                }
                .map_err(anyhow::Error::from)
            };
            drive(job, &mut events, &mut renderer).await
        }
        None => {
            let share = engine.share().await.context("cannot create a share code")?;
            let ready = Event::ShareReady {
                code: share.code.as_ref().map(ToString::to_string),
                ticket: share.ticket.encode(),
            };
            renderer.on(&ready);
            let paths = args.paths.clone();
            let text = args.text.clone();
            drive(
                async move {
                    match text {
                        Some(text) => share.send_text(text).await,
                        None => share.send(paths).await,
                    }
                    .map_err(anyhow::Error::from)
                },
                &mut events,
                &mut renderer,
            )
            .await
        }
    };
    engine.shutdown().await;
    match result {
        Outcome::Done(_) => Ok(ExitCode::SUCCESS),
        Outcome::Failed(e) => Err(e),
        Outcome::Interrupted => Ok(ExitCode::from(INTERRUPTED)),
    }
}

pub(crate) enum Outcome<T> {
    Done(T),
    Failed(anyhow::Error),
    Interrupted,
}

/// Runs `job` while rendering events; Ctrl-C interrupts.
pub(crate) async fn drive<F>(
    job: F,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<Summary>
where
    F: Future<Output = anyhow::Result<Summary>>,
{
    tokio::pin!(job);
    let outcome = loop {
        tokio::select! {
            result = &mut job => break match result {
                Ok(summary) => Outcome::Done(summary),
                Err(e) => Outcome::Failed(e),
            },
            Some(event) = events.recv() => renderer.on(&event),
            _ = tokio::signal::ctrl_c() => break Outcome::Interrupted,
        }
    };
    while let Ok(event) = events.try_recv() {
        renderer.on(&event);
    }
    outcome
}

/// `PEER_ID` or `/ip4/…/p2p/PEER_ID`.
fn parse_target(to: &str) -> anyhow::Result<(PeerId, Vec<Multiaddr>)> {
    if let Ok(peer) = to.parse::<PeerId>() {
        return Ok((peer, Vec::new()));
    }
    let addr: Multiaddr = to
        .parse()
        .with_context(|| format!("--to {to:?} is neither a peer ID nor a multiaddr"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok((peer, vec![addr])),
        _ => bail!("--to {to}: a multiaddr must end in /p2p/PEER_ID"),
    }
}
