//! `p2p-client peers`: who is visible now, on the LAN and in the server's room.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use p2p_client::engine::Inbound;
use p2p_client::event::{Event, PeerSource};

use super::Setup;
use super::render::Renderer;

#[derive(Debug, clap::Args)]
pub(crate) struct PeersArgs {
    /// Seconds to listen for peers before printing the list.
    #[arg(long, default_value_t = 3)]
    wait: u64,
}

pub(crate) async fn run(setup: &Setup, args: PeersArgs) -> anyhow::Result<ExitCode> {
    let (engine, mut events) = setup.engine(None, false, Inbound::Expected).await?;
    let mut renderer = Renderer::new(setup.json);
    let mut seen: BTreeMap<String, (Option<String>, PeerSource)> = BTreeMap::new();
    let deadline = tokio::time::sleep(Duration::from_secs(args.wait));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                if setup.json {
                    renderer.on(&event);
                }
                match event {
                    Event::PeerFound { peer, name, source } => {
                        seen.insert(peer.to_string(), (name, source));
                    }
                    Event::PeerLost { peer, .. } => {
                        seen.remove(&peer.to_string());
                    }
                    Event::ServerStatus { connected: false, message, .. } if !setup.json => {
                        eprintln!("signal server: {message}");
                    }
                    _ => {}
                }
            }
        }
    }
    engine.shutdown().await;
    if !setup.json {
        if seen.is_empty() {
            println!(
                "No peers visible (LAN via mDNS{}).",
                if setup.settings.server.is_some() {
                    " and the signal server's room"
                } else {
                    "; add --server URL for peers beyond it"
                }
            );
        }
        for (peer, (name, source)) in &seen {
            let source = match source {
                PeerSource::Lan => "LAN",
                PeerSource::Server => "server",
            };
            println!("{peer}  {source:<6}  {}", name.as_deref().unwrap_or("-"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
