//! `p2p-client peers`: who is visible now, on the LAN and in the server's room.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use p2p_client::engine::Inbound;
use p2p_client::event::Event;
use p2p_client::peers::PeerRow;

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
    let mut seen: BTreeMap<String, PeerRow> = BTreeMap::new();
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
                p2p_client::peers::apply(&mut seen, &event);
                if let Event::ServerStatus { connected: false, message, .. } = &event
                    && !setup.json
                {
                    eprintln!("signal server: {message}");
                }
            }
        }
    }
    engine.shutdown().await;
    if !setup.json {
        if seen.is_empty() {
            println!(
                "No peers visible (LAN via mDNS{}).",
                if setup.settings.server().is_some() {
                    " and the signal server's room"
                } else {
                    "; add --server URL for peers beyond it"
                }
            );
        }
        for row in seen.values() {
            let os = row
                .os
                .as_deref()
                .map(|os| format!(" ({os})"))
                .unwrap_or_default();
            println!("{}  {:<14}  {}{os}", row.peer, row.reach(), row.label());
        }
    }
    Ok(ExitCode::SUCCESS)
}
