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
//! Interrupted by a signal, it leaves its namespaces behind: remove them with
//! `for ns in $(ip netns list | awk '/^p2plab/ {print $1}'); do ip netns del $ns; done`.
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

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lab::{Lab, Nat, SERVER_IP};
use serde_json::Value;

const STEP: Duration = Duration::from_secs(300);

struct Proc {
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
    lines: mpsc::Receiver<String>,
    errors: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> anyhow::Result<Self> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut stderr = child.stderr.take().context("no stderr")?;
        let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&errors);
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            if let Ok(mut e) = sink.lock() {
                *e = text;
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            reader: Some(reader),
            lines,
            errors,
        })
    }

    /// The first JSON event for which `want` holds, and when it came.
    fn wait(&self, what: &str, want: impl Fn(&Value) -> bool) -> anyhow::Result<(Value, Instant)> {
        let deadline = Instant::now() + STEP;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
                    anyhow::anyhow!("no {what}: {}", errors.trim())
                })?;
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && want(&value)
            {
                return Ok((value, Instant::now()));
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // With BENCH_LOG_DIR set, every process's log is kept there.
        if let (Ok(dir), Some(reader)) = (std::env::var("BENCH_LOG_DIR"), self.reader.take()) {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let _ = reader.join();
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let text = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
            let _ = std::fs::write(Path::new(&dir).join(format!("proc{n:02}.log")), text);
        }
    }
}

fn bins() -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    let me = std::env::current_exe()?;
    let examples = me.parent().context("no parent")?.to_path_buf();
    let profile = examples.parent().context("no profile dir")?.to_path_buf();
    let client = profile.join("p2p-client");
    let server = profile.join("signal-server");
    for bin in [&client, &server] {
        if !bin.exists() {
            bail!(
                "{} is missing: cargo build --release -p p2p-client -p signal-server --bins --examples",
                bin.display()
            );
        }
    }
    Ok((client, server, me))
}

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

fn random_file(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = buf.len().min(left as usize);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

/// `--sink PORT PATH` and `--source ADDR PATH`: the plain TCP copy's ends.
fn tcp_mode(args: &[String]) -> anyhow::Result<bool> {
    match args.first().map(String::as_str) {
        Some("--sink") => {
            let listener = std::net::TcpListener::bind(("0.0.0.0", args[1].parse::<u16>()?))?;
            let (mut stream, _) = listener.accept()?;
            let mut out = std::fs::File::create(&args[2])?;
            std::io::copy(&mut stream, &mut out)?;
            out.sync_all()?;
            Ok(true)
        }
        Some("--source") => {
            let mut stream = std::net::TcpStream::connect(&args[1])?;
            let mut file = std::fs::File::open(&args[2])?;
            std::io::copy(&mut file, &mut stream)?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            Ok(true)
        }
        _ => Ok(false),
    }
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
    let relay = format!("/ip4/{SERVER_IP}/tcp/4001,/ip4/{SERVER_IP}/udp/4001/quic-v1");
    let mut cmd = lab.command("srv", server_bin.to_str().unwrap_or_default());
    cmd.args([
        "--listen",
        &format!("{SERVER_IP}:8080"),
        "--relay-listen",
        &relay,
        "--external-addr",
        &relay,
    ]);
    let _server = Proc::spawn(cmd)?;
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
