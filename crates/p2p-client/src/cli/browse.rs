//! `p2p-client share DIR`, `ls PEER_OR_TICKET [PATH]` and `get
//! PEER_OR_TICKET PATH...`: a published folder, listed and fetched from.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::HumanBytes;
use p2p_client::engine::{Allow, Engine, Inbound, Target};
use protocol::browse::{Entry, EntryKind};
use protocol::ticket::Ticket;

use super::render::Renderer;
use super::send::{Outcome, drive};
use super::{INTERRUPTED, Setup};

/// Who may browse.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum AllowArg {
    /// Holders of the ticket printed now.
    Ticket,
    /// The config file's trusted peers.
    Trusted,
    /// Peers in the same signal-server room (and trusted peers).
    Room,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShareArgs {
    /// The folder to publish, read-only.
    dir: PathBuf,

    /// Who may list and fetch from it.
    #[arg(long, value_enum, default_value = "ticket")]
    allow: AllowArg,

    /// Also show the ticket as a QR code.
    #[arg(long)]
    qr: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LsArgs {
    /// The owner: its ticket, or its peer ID (found on the LAN or through
    /// the server); `-` reads it from standard input.
    target: String,

    /// The folder to list, relative to the shared one (default: the shared
    /// folder itself).
    #[arg(default_value = "")]
    path: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The owner: its ticket or its peer ID; `-` reads it from standard
    /// input.
    target: String,

    /// Files and folders to download, relative to the shared folder.
    #[arg(required = true)]
    paths: Vec<String>,

    /// Where they land (default: the download folder).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) async fn share(setup: &Setup, args: ShareArgs) -> anyhow::Result<ExitCode> {
    if matches!(args.allow, AllowArg::Room) && setup.settings.server().is_none() {
        eprintln!("error: --allow room needs a signal server (--server URL)");
        return Ok(ExitCode::from(2));
    }
    let (engine, mut events) = setup
        .engine_with(None, false, Inbound::Expected, true)
        .await?;
    let allow = match args.allow {
        AllowArg::Ticket => Allow::Ticket,
        AllowArg::Trusted => Allow::Trusted,
        AllowArg::Room => Allow::Room,
    };
    let ticket = engine
        .publish(&args.dir, allow, setup.settings.trusted.clone())
        .await?;
    let shown = args.dir.display();
    let mut renderer = Renderer::new(setup.json).with_qr(args.qr);
    if setup.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "publishing",
                "dir": args.dir.display().to_string(),
                "ticket": matches!(allow, Allow::Ticket).then(|| ticket.encode()),
            })
        );
    } else {
        match allow {
            Allow::Ticket => {
                renderer.say(&format!(
                    "Sharing {shown} (read-only) with whoever has this ticket:"
                ));
                renderer.say(&ticket.encode());
                renderer.show_qr(&p2p_client::qr::for_share(&ticket.encode()));
                renderer.say("List it with `p2p-client ls TICKET`, download with `p2p-client get TICKET PATH`.");
            }
            Allow::Trusted => renderer.say(&format!(
                "Sharing {shown} (read-only) with your {} trusted peers, as {}.",
                setup.settings.trusted.len(),
                engine.peer_id()
            )),
            Allow::Room => renderer.say(&format!(
                "Sharing {shown} (read-only) with the peers in your server room, as {}.",
                engine.peer_id()
            )),
        }
        renderer.say("Stop with Ctrl-C.");
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => renderer.on(&event),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    engine.shutdown().await;
    Ok(ExitCode::from(INTERRUPTED))
}

pub(crate) async fn ls(setup: &Setup, args: LsArgs) -> anyhow::Result<ExitCode> {
    let target = target(&args.target)?;
    let (engine, mut events) = setup.engine(None, false, Inbound::Expected).await?;
    let mut renderer = Renderer::new(false);
    let job = list_all(&engine, &target, &args.path, setup.json);
    let outcome = drive(job, &mut events, &mut renderer).await;
    engine.shutdown().await;
    match outcome {
        Outcome::Done(()) => Ok(ExitCode::SUCCESS),
        Outcome::Failed(e) => Err(e),
        Outcome::Interrupted => Ok(ExitCode::from(INTERRUPTED)),
    }
}

/// Prints every page of the folder as it comes: a large folder is never
/// held whole.
async fn list_all(engine: &Engine, target: &Target, path: &str, json: bool) -> anyhow::Result<()> {
    let mut after = None;
    let mut count = 0usize;
    loop {
        let page = engine
            .list(target, path, after.clone(), protocol::browse::MAX_PAGE)
            .await?;
        for entry in &page.entries {
            print_entry(entry, json);
        }
        count += page.entries.len();
        after = page.entries.last().map(|e| e.name.clone());
        if !page.more || after.is_none() {
            break;
        }
    }
    if count == 0 && !json {
        eprintln!("(empty folder)");
    }
    Ok(())
}

fn print_entry(entry: &Entry, json: bool) {
    let name = protocol::path::display_escaped(&entry.name, 255);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "name": entry.name,
                "kind": entry.kind,
                "size": entry.size,
                "modified": entry.modified,
            })
        );
        return;
    }
    let when = entry
        .modified
        .map_or_else(|| "-".repeat(16), super::history::utc);
    match entry.kind {
        EntryKind::Dir => println!("{:>10}  {when}  {name}/", "folder"),
        EntryKind::File => println!("{:>10}  {when}  {name}", HumanBytes(entry.size).to_string()),
    }
}

pub(crate) async fn get(setup: &Setup, args: GetArgs) -> anyhow::Result<ExitCode> {
    let target = target(&args.target)?;
    let (engine, mut events) = setup.engine(args.dir, false, Inbound::Expected).await?;
    let mut renderer = Renderer::new(setup.json);
    let paths = args.paths;
    let driver = engine.clone();
    let job = async move { Ok(driver.get(&target, paths).await?) };
    let outcome = drive(job, &mut events, &mut renderer).await;
    engine.shutdown().await;
    match outcome {
        Outcome::Done(_) => Ok(ExitCode::SUCCESS),
        Outcome::Failed(e) => Err(e),
        Outcome::Interrupted => Ok(ExitCode::from(INTERRUPTED)),
    }
}

/// A ticket, a peer ID or a `/…/p2p/PEER_ID` address; `-` reads one from
/// standard input.
fn target(text: &str) -> anyhow::Result<Target> {
    let text = if text == "-" {
        super::receive::read_secret()?
    } else {
        text.to_owned()
    };
    if Ticket::looks_like_ticket(&text) {
        let ticket = Ticket::decode(text.trim()).context("cannot read the ticket")?;
        return Ok(Target {
            peer: ticket.peer_id,
            addrs: ticket.addrs,
            secret: Some(ticket.secret.to_vec()),
        });
    }
    let (peer, addrs) = super::send::parse_target(text.trim())?;
    Ok(Target {
        peer,
        addrs,
        secret: None,
    })
}
