//! `p2p-client send`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use p2p_client::engine::{Engine, EngineError, Inbound};
use p2p_client::event::{Direction, Event, Summary};
use p2p_client::files::scan::Scanned;
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
    /// multiaddr ending in /p2p/PEER_ID. Repeat it to send to several at
    /// once: each gets its own offer and result.
    #[arg(long)]
    to: Vec<String>,

    /// Without --to: how many receivers the ticket (or code) serves, each
    /// proving it on its own; the sender stays until they have all come.
    #[arg(long, default_value_t = 1, conflicts_with = "to",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(protocol::signal::MAX_CODE_CLAIMS)))]
    receivers: u32,

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
    let mut targets: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
    for to in &args.to {
        let (peer, addrs) = parse_target(to)?;
        match targets.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, known)) => known.extend(addrs),
            None => targets.push((peer, addrs)),
        }
    }
    let (engine, mut events) = setup.engine(None, false, Inbound::Expected).await?;
    let mut renderer = Renderer::new(setup.json).with_qr(args.qr);
    let result = if targets.is_empty() {
        share_once(&engine, &args, &mut events, &mut renderer).await
    } else {
        send_to_each(&engine, targets, &args, &mut events, &mut renderer).await
    };
    engine.shutdown().await;
    match result {
        Outcome::Done(()) => Ok(ExitCode::SUCCESS),
        Outcome::Failed(e) => Err(e),
        Outcome::Interrupted => Ok(ExitCode::from(INTERRUPTED)),
    }
}

/// No `--to`: a share (ticket, and a code with a server) for one receiver.
async fn share_once(
    engine: &Engine,
    args: &SendArgs,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<()> {
    let share = match engine.share_for(args.receivers).await {
        Ok(share) => share,
        Err(e) => {
            return Outcome::Failed(anyhow::Error::from(e).context("cannot create a share code"));
        }
    };
    let ready = Event::ShareReady {
        code: share.code.as_ref().map(ToString::to_string),
        ticket: share.ticket.encode(),
    };
    renderer.on(&ready);
    let paths = args.paths.clone();
    let text = args.text.clone();
    if args.receivers == 1 {
        let job = async move {
            match text {
                Some(text) => share.send_text(text).await,
                None => share.send(paths).await,
            }
            .map_err(anyhow::Error::from)
        };
        return drive(job, events, renderer).await.map(|_| ());
    }
    renderer.say(&format!(
        "Open for {} receivers, each sent the files as it comes.",
        args.receivers
    ));
    let engine = engine.clone();
    let job = async move {
        let scanned = match text {
            Some(text) => Scanned::text(text).map_err(EngineError::from)?,
            None => engine.scan(paths).await?,
        };
        Ok(share.send_to_each(scanned).await)
    };
    match drive(job, events, renderer).await {
        Outcome::Done(served) => each_result(
            renderer,
            served
                .into_iter()
                .map(|(peer, result)| {
                    let who = peer.map_or_else(|| "a receiver".to_owned(), |p| p.to_string());
                    (who, result)
                })
                .collect(),
        ),
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Interrupted => Outcome::Interrupted,
    }
}

/// `--to` once or more: the files are hashed once, then each recipient
/// gets its own offer at the same time; one declining, failing or being
/// away does not stop the others.
async fn send_to_each(
    engine: &Engine,
    targets: Vec<(PeerId, Vec<Multiaddr>)>,
    args: &SendArgs,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<()> {
    let engine = engine.clone();
    let paths = args.paths.clone();
    let text = args.text.clone();
    let job = async move {
        let scanned = match text {
            Some(text) => Scanned::text(text).map_err(EngineError::from)?,
            None => engine.scan(paths).await?,
        };
        Ok(engine.send_each(targets, scanned).collect::<Vec<_>>().await)
    };
    match drive(job, events, renderer).await {
        Outcome::Done(results) => each_result(
            renderer,
            results
                .into_iter()
                .map(|(peer, result)| (peer.to_string(), result))
                .collect(),
        ),
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Interrupted => Outcome::Interrupted,
    }
}

/// One recipient: its error as it is. Several: a line for each, and a
/// failure naming those that did not get the files.
fn each_result(
    renderer: &Renderer,
    results: Vec<(String, Result<Summary, EngineError>)>,
) -> Outcome<()> {
    if results.is_empty() {
        return Outcome::Failed(anyhow::anyhow!("no receiver came"));
    }
    if results.len() == 1 {
        return match results.into_iter().next() {
            Some((_, Err(e))) => Outcome::Failed(e.into()),
            _ => Outcome::Done(()),
        };
    }
    let total = results.len();
    let mut missed = Vec::new();
    renderer.say(&format!("To {total} recipients:"));
    for (peer, result) in &results {
        match result {
            Ok(summary) => renderer.say(&format!(
                "  {peer}: {}",
                super::render::summary_line(Direction::Send, summary)
            )),
            Err(e) => {
                renderer.say(&format!("  {peer}: not sent: {e}"));
                missed.push(format!("{peer} ({e})"));
            }
        }
    }
    if missed.is_empty() {
        Outcome::Done(())
    } else {
        Outcome::Failed(anyhow::anyhow!(
            "{} of {total} recipients did not get them: {}",
            missed.len(),
            missed.join("; ")
        ))
    }
}

pub(crate) enum Outcome<T> {
    Done(T),
    Failed(anyhow::Error),
    Interrupted,
}

impl<T> Outcome<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(value) => Outcome::Done(f(value)),
            Outcome::Failed(e) => Outcome::Failed(e),
            Outcome::Interrupted => Outcome::Interrupted,
        }
    }
}

/// Runs `job` while rendering events; Ctrl-C interrupts.
pub(crate) async fn drive<F, T>(
    job: F,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<T>
where
    F: Future<Output = anyhow::Result<T>>,
{
    tokio::pin!(job);
    let outcome = loop {
        tokio::select! {
            result = &mut job => break match result {
                Ok(value) => Outcome::Done(value),
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
