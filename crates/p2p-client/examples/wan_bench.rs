//! WAN benchmark: goodput of `p2p-client` over TCP and over QUIC against a
//! plain TCP copy over the same shaped path, without and with packet loss.
//!
//! ```text
//! cargo build --release -p p2p-client -p signal-server --bins --examples
//! sudo target/release/examples/wan_bench [MIB] [LOSS_PERCENT]   # default 128 MiB, 0.5%
//! ```
//!
//! Needs root, iproute2, iptables and tc. It builds the namespaces of
//! `tests/lab` (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 only) and uses
//! two of them: the sender on the public segment (`pub`, 203.0.113.20) and
//! the receiver behind the cone-NAT router `ra`. That router shapes the path
//! as issue #6 asks: 200 Mbit/s each way (tbf), 20 ms each way, so a 40 ms
//! round trip (`Lab::delay`: an NFQUEUE served by a thread of this process,
//! since this kernel has no netem), and for the lossy rows an iptables
//! `statistic` match dropping LOSS_PERCENT of the forwarded packets each way.
//! Everything is removed at the end (after a Ctrl-C, by the next lab); mDNS
//! is off, no server is used (the receiver dials the sender's ticket), no
//! traffic leaves the lab.
//!
//! Before each row everything cached is written out (`sync`), so that the
//! test file or an earlier row's writes do not compete with a row's own.
//! Rows: the plain TCP copy (the kernel's congestion control, BBR or CUBIC
//! as the host sets it, printed), then `p2p-client` with only a TCP and with
//! only a QUIC listen address. A row still running after 120 s is cut and its
//! rate taken from the receiver's last progress event. A last table holds
//! issue #6's targets (95% of the plain copy without loss, 90% with) and
//! whether each is met: TCP carries bulk data when both transports work,
//! QUIC's rows are set against the same figures. With `WAN_TRACE` set
//! in the environment, every progress event of the receivers goes to
//! stderr as `LISTEN SECONDS MB`, to tell a stall from a slow path.
//! `WAN_LOG` sets the clients' `RUST_LOG` and `BENCH_LOG_DIR` keeps their
//! logs (one file per process).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/lab/mod.rs"]
mod lab;
mod lab_support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lab::{Lab, Nat, PUBLIC_IP};
use lab_support::{Proc, bins, random_file, tcp_mode};

/// The longest one row may run.
const ROW_LIMIT: Duration = Duration::from_secs(120);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if tcp_mode(&args)? {
        return Ok(());
    }
    let mib: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(128);
    let loss: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.5);
    let (client_bin, _, me) = bins()?;
    let work = tempfile::tempdir()?;
    let big = work.path().join("big.bin");
    random_file(&big, mib * 1024 * 1024)?;
    let bytes = (mib * 1024 * 1024) as f64;

    let lab = Lab::new(Nat::Cone, Nat::Cone).map_err(anyhow::Error::msg)?;
    lab.shape("a", "200mbit").map_err(anyhow::Error::msg)?;
    lab.delay("ra", 20).map_err(anyhow::Error::msg)?;
    let cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .unwrap_or_default()
        .trim()
        .to_owned();
    println!("# WAN lab: 200 Mbit/s, 40 ms RTT, {mib} MiB; kernel TCP congestion control: {cc}");

    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for lossy in [false, true] {
        let label = if lossy {
            format!("{loss}% loss each way")
        } else {
            "no loss".to_owned()
        };
        if lossy {
            let p = format!("{}", loss / 100.0);
            let status = lab
                .command("ra", "iptables")
                .args([
                    "-I",
                    "FORWARD",
                    "1",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-j",
                    "DROP",
                ])
                .status()?;
            if !status.success() {
                bail!("cannot add the loss rule");
            }
        }
        sync()?;
        let tcp = plain_tcp(&lab, &me, &big, work.path())?;
        let tcp_rate = bytes / 1e6 / tcp;
        println!("{label}: plain TCP copy {tcp_rate:.1} MB/s");
        rows.push(format!(
            "| plain TCP copy ({cc}) | {label} | {tcp_rate:.1} | – |"
        ));
        for (name, listen) in [
            ("TCP", "/ip4/0.0.0.0/tcp/0"),
            ("QUIC", "/ip4/0.0.0.0/udp/0/quic-v1"),
        ] {
            sync()?;
            let (rate, note) = p2p(&lab, &client_bin, &big, work.path(), listen)?;
            println!("{label}: p2p-client over {name} {rate:.1} MB/s {note}");
            let share = rate / tcp_rate * 100.0;
            rows.push(format!(
                "| p2p-client over {name}{note} | {label} | {rate:.1} | {share:.0}% |"
            ));
            // TCP carries bulk data when both transports work; QUIC's row
            // is shown against the same target.
            let target = if lossy { 90.0 } else { 95.0 };
            let verdict = match (name, share >= target) {
                ("TCP", true) => "met",
                ("TCP", false) => "NOT met",
                (_, true) => "past it",
                (_, false) => "short of it",
            };
            targets.push(format!(
                "| {label}, over {name} ≥ {target:.0}% of the plain TCP copy | {share:.0}% | {verdict} |"
            ));
        }
    }
    println!();
    println!("| Transfer | Path | MB/s | of plain TCP |");
    println!("|---|---|--:|--:|");
    for row in rows {
        println!("{row}");
    }
    println!();
    println!("| Target (issue #6) | Measured | Verdict |");
    println!("|---|--:|---|");
    for row in targets {
        println!("{row}");
    }
    Ok(())
}

/// Writes out what earlier rows (and the test file) left in the page
/// cache, so that no row's disk writes compete with another's.
fn sync() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync")
        .status()
        .context("cannot run sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// Seconds for the plain TCP copy from `pub` to `a` (fsynced at the end).
fn plain_tcp(lab: &Lab, me: &Path, big: &Path, work: &Path) -> anyhow::Result<f64> {
    let out = work.join("tcp.bin");
    let mut serve = lab.command("pub", me.to_str().unwrap_or_default());
    serve.args(["--serve", "5201"]).arg(big);
    let mut serve = serve.spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = lab
        .command("a", me.to_str().unwrap_or_default())
        .args(["--fetch", &format!("{PUBLIC_IP}:5201")])
        .arg(&out)
        .status()?;
    let secs = start.elapsed().as_secs_f64();
    let _ = serve.wait();
    if !status.success() {
        bail!("the plain TCP copy failed");
    }
    std::fs::remove_file(&out)?;
    Ok(secs)
}

/// MB/s of one `p2p-client` transfer from `pub` to `a` by ticket, the sender
/// listening only on `listen`; and a note if the row was cut.
fn p2p(
    lab: &Lab,
    bin: &Path,
    big: &Path,
    work: &Path,
    listen: &str,
) -> anyhow::Result<(f64, String)> {
    let tag = listen.replace('/', "_");
    let dl = work.join(format!("dl{tag}"));
    std::fs::create_dir_all(&dl)?;
    let client = |role: &str, config: &str| {
        let mut cmd = lab.command(role, bin.to_str().unwrap_or_default());
        cmd.args(["--no-mdns", "--json", "--listen", listen, "--config-dir"])
            .arg(work.join(format!("{config}{tag}")))
            .env(
                "RUST_LOG",
                std::env::var("WAN_LOG").unwrap_or_else(|_| "error".into()),
            )
            .env_remove("P2P_SERVER");
        cmd
    };
    let mut send = client("pub", "s");
    send.arg("send").arg(big);
    let sender = Proc::spawn(send)?;
    let (ready, _) = sender.wait("share_ready", |e| e["event"] == "share_ready")?;
    let ticket = ready["ticket"].as_str().context("no ticket")?.to_owned();
    let mut receive = client("a", "r");
    receive
        .args(["receive", &ticket, "--yes", "--dir"])
        .arg(&dl);
    let receiver = Proc::spawn(receive)?;
    let (_, started) = receiver.wait("transfer_started", |e| e["event"] == "transfer_started")?;
    let mut last_done = 0u64;
    loop {
        let left = ROW_LIMIT.saturating_sub(started.elapsed());
        let Some(event) = receiver.next(left) else {
            let secs = started.elapsed().as_secs_f64();
            let rate = last_done as f64 / 1e6 / secs;
            std::fs::remove_dir_all(&dl).ok();
            return Ok((rate, format!(" (cut after {secs:.0} s)")));
        };
        match event["event"].as_str() {
            Some("progress") => {
                last_done = event["done"].as_u64().unwrap_or(last_done);
                if std::env::var_os("WAN_TRACE").is_some() {
                    eprintln!(
                        "{listen} {:.2} {:.1}",
                        started.elapsed().as_secs_f64(),
                        last_done as f64 / 1e6
                    );
                }
            }
            Some("transfer_done") => {
                let secs = event["summary"]["seconds"].as_f64().unwrap_or(f64::NAN);
                let bytes = event["summary"]["bytes"].as_f64().unwrap_or(f64::NAN);
                let transport = event["summary"]["path"]["transport"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned();
                std::fs::remove_dir_all(&dl).ok();
                if !listen.contains(&transport) {
                    bail!("asked for {listen}, ran over {transport}");
                }
                return Ok((bytes / 1e6 / secs, String::new()));
            }
            Some("transfer_failed") => bail!("the transfer failed: {event}"),
            _ => {}
        }
    }
}
