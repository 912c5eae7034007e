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
    /// Files and folders to send; `-` alone sends standard input (as one
    /// file, named by --name).
    #[arg(required_unless_present = "text")]
    paths: Vec<PathBuf>,

    /// With `-`: the name the receiver saves standard input under.
    #[arg(long, default_value = "stdin")]
    name: String,

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

/// What is sent: files, a text, or standard input.
#[derive(Debug, Clone)]
enum Payload {
    Paths(Vec<PathBuf>),
    Text(String),
    Stdin { name: String },
}

impl Payload {
    /// Ready to offer: files hashed once (for every recipient), or the
    /// text, or standard input, which can go to one receiver only.
    async fn scan(self, engine: &Engine) -> Result<Scanned, EngineError> {
        match self {
            Payload::Paths(paths) => engine.scan(paths).await,
            Payload::Text(text) => Ok(Scanned::text(text)?),
            Payload::Stdin { name } => {
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    eprintln!("Reading standard input; end it with Ctrl+D.");
                }
                Ok(Scanned::piped(&name, Box::new(std::io::stdin()))?)
            }
        }
    }
}

pub(crate) async fn run(setup: &Setup, args: SendArgs) -> anyhow::Result<ExitCode> {
    let stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
    let payload = if let Some(text) = &args.text {
        Payload::Text(text.clone())
    } else if stdin {
        if args.paths.len() > 1 || args.to.len() > 1 || args.receivers > 1 {
            eprintln!(
                "error: `-` (standard input) is sent alone, to one receiver: it can be read once"
            );
            return Ok(ExitCode::from(2));
        }
        Payload::Stdin {
            name: args.name.clone(),
        }
    } else {
        for path in &args.paths {
            if std::fs::symlink_metadata(path).is_err() {
                bail!("{}: no such file or folder", path.display());
            }
        }
        Payload::Paths(args.paths.clone())
    };
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
        share_once(&engine, payload, args.receivers, &mut events, &mut renderer).await
    } else {
        send_to_each(&engine, targets, payload, &mut events, &mut renderer).await
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
    payload: Payload,
    receivers: u32,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<()> {
    let share = match engine.share_for(receivers).await {
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
    let engine = engine.clone();
    if receivers == 1 {
        let job = async move {
            let scanned = payload.scan(&engine).await?;
            Ok(share.send_scanned(scanned).await?)
        };
        return drive(job, events, renderer).await.map(|_| ());
    }
    renderer.say(&format!(
        "Open for {receivers} receivers, each sent the files as it comes."
    ));
    let job = async move {
        let scanned = payload.scan(&engine).await?;
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
    payload: Payload,
    events: &mut mpsc::Receiver<Event>,
    renderer: &mut Renderer,
) -> Outcome<()> {
    let engine = engine.clone();
    let job = async move {
        let scanned = payload.scan(&engine).await?;
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
pub(crate) fn parse_target(to: &str) -> anyhow::Result<(PeerId, Vec<Multiaddr>)> {
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
