//! NAT-lab benchmark: hole-punch success and time to a direct connection
//! between two cone NATs, and goodput against a plain TCP copy over the same
//! path, with 25 ms one-way delay and 100 Mbit/s on each home link.
//!
//! ```text
//! cargo build --release -p p2p-client -p signal-server --bins --examples
//! sudo target/release/examples/nat_bench [TRIES] [MIB]     # default 20 tries, 256 MiB
//! ```
//!
//! Needs root, iproute2, iptables and tc. It builds the namespaces of
//! `tests/lab` (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 only), shapes the
//! home links with tbf, delays every forwarded packet on each home router by
//! 25 ms (`Lab::delay`: an NFQUEUE served by a thread of this process, as this
//! kernel has no netem), and removes everything at the end. mDNS is off; no
//! traffic leaves the lab.
//!
//! Interrupted by a signal, it leaves its namespaces behind; the next lab
//! (of this bench, `wan_bench` or the lab tests) removes them, as their
//! names carry the process ID of a process that is gone.
//!
//! A failed try (no transfer at all) is printed with its error and counted
//! as not direct. `BENCH_LOG=<filter>` sets the peers' `RUST_LOG`, and
//! `BENCH_LOG_DIR=<dir>` keeps every process's log there.
//!
//! Results (release build, 2026-11-22, 2 cores): 20 of 20 tries punched
//! through, 1.53 s (median) from starting `send` to the first byte going
//! direct; 256 MiB at 11.2 MB/s (engine) or 10.5 MB/s (wall, with startup and
//! hashing) against 11.2 MB/s for a plain TCP copy over the same path. The
//! first run had 2 of 20: a sender dialled through the relay before its own
//! connection to the relay was up, and that circuit attempt was cancelled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/lab/mod.rs"]
mod lab;
mod lab_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use lab::{Lab, Nat, SERVER_IP};
use lab_support::{Proc, bins, random_file, tcp_mode};

fn client(lab: &Lab, bin: &Path, role: &str, config: &Path) -> Command {
    let mut cmd = lab.command(role, bin.to_str().unwrap_or_default());
    cmd.args([
        "--no-mdns",
        "--json",
        "--server",
        &format!("ws://{SERVER_IP}:8080/ws"),
        "--config-dir",
    ])
    .arg(config)
    .env(
        "RUST_LOG",
        std::env::var("BENCH_LOG").unwrap_or_else(|_| "error".to_owned()),
    );
    cmd
}

fn receiver(lab: &Lab, bin: &Path, config: &Path, dir: &Path) -> anyhow::Result<Proc> {
    let mut cmd = client(lab, bin, "b", config);
    cmd.args(["receive", "--yes", "--dir"]).arg(dir);
    let proc = Proc::spawn(cmd)?;
    proc.wait("a relay circuit", |e| {
        e["event"] == "listening"
            && e["addr"]
                .as_str()
                .is_some_and(|a| a.contains("p2p-circuit"))
    })?;
    Ok(proc)
}

fn peer_id(bin: &Path, config: &Path) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["id", "--config-dir"])
        .arg(config)
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if tcp_mode(&args)? {
        return Ok(());
    }
    let tries: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);
    let mib: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(256);
    let (client_bin, server_bin, me) = bins()?;
    let work = tempfile::tempdir()?;
    let lab = Lab::new(Nat::Cone, Nat::Cone).map_err(anyhow::Error::msg)?;
    for host in ["a", "b"] {
        lab.shape(host, "100mbit").map_err(anyhow::Error::msg)?;
    }
    for router in ["ra", "rb"] {
        lab.delay(router, 25).map_err(anyhow::Error::msg)?;
    }
    let _server = Proc::spawn(lab.signal_server(&server_bin))?;
    std::thread::sleep(Duration::from_secs(1));

    println!("# NAT lab: cone <-> cone, 100 Mbit/s and 25 ms one-way on each home link");
    let tiny = work.path().join("tiny.txt");
    std::fs::write(&tiny, b"x")?;
    let mut direct = 0;
    let mut times = Vec::new();
    for i in 0..tries {
        let (rc, sc, dl) = (
            work.path().join(format!("r{i}")),
            work.path().join(format!("s{i}")),
            work.path().join(format!("d{i}")),
        );
        let _receiving = receiver(&lab, &client_bin, &rc, &dl)?;
        let to = peer_id(&client_bin, &rc)?;
        let start = Instant::now();
        let mut cmd = client(&lab, &client_bin, "a", &sc);
        cmd.arg("send").arg(&tiny).args(["--to", &to]);
        let sending = Proc::spawn(cmd)?;
        let (started, at) =
            match sending.wait("transfer_started", |e| e["event"] == "transfer_started") {
                Ok(started) => started,
                Err(e) => {
                    if let Ok(dir) = std::env::var("BENCH_LOG_DIR") {
                        let _ = std::fs::write(
                            Path::new(&dir).join(format!("try{}.log", i + 1)),
                            e.to_string(),
                        );
                    }
                    println!(
                        "try {:>2}: failed ({})",
                        i + 1,
                        e.to_string().chars().take(1500).collect::<String>()
                    );
                    continue;
                }
            };
        let is_direct = started["path"]["relayed"] == false;
        let secs = at.duration_since(start).as_secs_f64();
        println!(
            "try {:>2}: {} after {secs:.2} s",
            i + 1,
            if is_direct { "direct" } else { "relayed" }
        );
        if is_direct {
            direct += 1;
            times.push(secs);
        }
        let _ = sending.wait("transfer_done", |e| e["event"] == "transfer_done");
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);

    // Goodput of a large file over the punched path.
    let big = work.path().join("big.bin");
    random_file(&big, mib * 1024 * 1024)?;
    let (rc, sc, dl) = (
        work.path().join("rg"),
        work.path().join("sg"),
        work.path().join("dg"),
    );
    let receiving = receiver(&lab, &client_bin, &rc, &dl)?;
    let to = peer_id(&client_bin, &rc)?;
    let start = Instant::now();
    let mut cmd = client(&lab, &client_bin, "a", &sc);
    cmd.arg("send").arg(&big).args(["--to", &to]);
    let sending = Proc::spawn(cmd)?;
    let (done, _) = receiving.wait("transfer_done", |e| e["event"] == "transfer_done")?;
    let ours_wall = start.elapsed().as_secs_f64();
    drop(sending);
    let bytes = (mib * 1024 * 1024) as f64;
    let engine_secs = done["summary"]["seconds"].as_f64().unwrap_or(f64::NAN);
    let path = &done["summary"]["path"];

    // The same bytes with a plain TCP copy over the same routers (a port
    // forwarded on B's router, as the punched path goes).
    for rule in [
        vec![
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-i",
            "wan",
            "-p",
            "tcp",
            "--dport",
            "5201",
            "-j",
            "DNAT",
            "--to-destination",
            "192.0.2.2:5201",
        ],
        vec![
            "-I",
            "FORWARD",
            "1",
            "-i",
            "wan",
            "-p",
            "tcp",
            "-d",
            "192.0.2.2",
            "--dport",
            "5201",
            "-j",
            "ACCEPT",
        ],
    ] {
        lab.command("rb", "iptables").args(&rule).status()?;
    }
    let sink_out = work.path().join("sink.bin");
    let mut sink = lab.command("b", me.to_str().unwrap_or_default());
    sink.args(["--sink", "5201"]).arg(&sink_out);
    let mut sink = sink.spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = lab
        .command("a", me.to_str().unwrap_or_default())
        .args(["--source", "203.0.113.2:5201"])
        .arg(&big)
        .status()?;
    let _ = sink.wait();
    let tcp_wall = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the plain TCP copy failed");
    }

    println!();
    println!("| Measure | Result |");
    println!("|---|--:|");
    println!("| hole punch, cone ↔ cone | {direct} / {tries} direct |");
    println!("| time from `send` to a direct transfer (median) | {median:.2} s |");
    println!(
        "| {mib} MiB, p2p-client ({}, {}) | {:.1} MB/s wall, {:.1} MB/s engine |",
        if path["relayed"] == true {
            "relayed"
        } else {
            "direct"
        },
        path["transport"].as_str().unwrap_or("?"),
        bytes / 1e6 / ours_wall,
        bytes / 1e6 / engine_secs
    );
    println!(
        "| {mib} MiB, plain TCP copy, same path | {:.1} MB/s |",
        bytes / 1e6 / tcp_wall
    );
    Ok(())
}
