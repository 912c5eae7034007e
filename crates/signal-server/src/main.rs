//! `signal-server`: parses flags, sets up logging, runs until SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use signal_server::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Parser)]
#[command(name = "signal-server", version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,

    /// Probe `/healthz` of the server configured by `--listen` and exit 0 if it
    /// answers 200 (for container health checks; needs no curl).
    #[arg(long)]
    health_check: bool,
}

fn main() -> ExitCode {
    let Cli {
        config,
        health_check,
    } = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: not in a pipe, a file or `docker logs`.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let result = if health_check {
        check_health(&config)
    } else {
        run(config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signal-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        signal_server::run(config, shutdown)
            .await
            .context("signal server failed")
    })
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
    shutdown.cancel();
}

/// Exit 0 if `GET /healthz` on the configured listener answers 200.
fn check_health(config: &Config) -> anyhow::Result<()> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let probe = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut response = Vec::new();
            stream.take(4096).read_to_end(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), probe)
            .await
            .context("health check timed out")?
            .with_context(|| format!("cannot reach {addr}"))?;
        if response.starts_with(b"HTTP/1.1 200") {
            println!("healthy");
            Ok(())
        } else {
            let status = String::from_utf8_lossy(&response[..response.len().min(40)]).into_owned();
            anyhow::bail!("unhealthy: {status}")
        }
    })
}
