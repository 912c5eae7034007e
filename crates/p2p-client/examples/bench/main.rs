//! Loopback benchmark of the real `p2p-client` binary against a raw TCP copy.
//!
//! ```text
//! cargo build --release -p p2p-client      # the bench drives this binary; build it first
//! cargo run --release -p p2p-client --example bench [-- --quick] [--runs N] [--bin PATH] [--dir DIR]
//! ```
//!
//! Everything runs on 127.0.0.1 (no mDNS, no signal server). The binary is
//! `target/<profile>/p2p-client` next to this example's own executable, or
//! `--bin PATH`. Test data goes to a temporary folder (under `--dir DIR` if
//! given) that is removed at the end. Files are xorshift noise, so nothing
//! compresses; the source stays in the page cache for every row alike.
//! `--quick` uses 256 MiB instead of 1 GiB and 1,000 files instead of 10,000.
//!
//! Rows (MB/s = 10^6 bytes per second):
//! - **Raw TCP copy**: the ceiling. One thread reads the file and writes a
//!   socket, another reads the socket and writes the destination, 256 KiB at
//!   a time; timed from start to the destination file closed. The same run is
//!   also shown with an fsync of the destination added, because `p2p-client`
//!   fsyncs every received file before giving it its final name.
//! - **Essential work only**: the floors for the big-file rows (see
//!   `floor.rs`): the same file hashed before the offer, sealed in
//!   Noise-sized frames, opened, hashed again, written as the engine writes
//!   a large file and fsynced, by plain threads with no libp2p or tokio:
//!   about what an engine on this design could reach on this machine. With
//!   ChaCha20-Poly1305 (Noise to libp2p peers), AES-256-GCM (Noise between
//!   our peers on a processor with AES instructions: TCP's floor there)
//!   and AES-128-GCM (what our TLS uses over QUIC).
//! - **p2p-client, TCP / QUIC**: the same file by ticket, both processes given
//!   only a TCP (or only a QUIC) listen address. *Wall* runs from starting the
//!   receiver (just after the sender printed its ticket, so the sender's
//!   hashing before the offer is included) to the receiver exiting 0 with the
//!   verified file on disk. *Engine* is the receiver's own `summary.seconds`
//!   (first byte to verification). The copy is checked by BLAKE3.
//! - **…, stock transports**: the TCP, QUIC and folder rows again with
//!   both processes built on libp2p's own Noise, yamux and QUIC
//!   (`--stock-transports`); a last table gives each pair's ratio, what
//!   the `p2p-transport` crate buys.
//! - **tar stream over TCP**: the baseline for many small files:
//!   `tar -c | loopback TCP | tar -x`, timed to the unpacking tar's exit.
//! - **N × 4 KiB folder**: one folder tree of small files, sent as one folder.
//! - **1-byte file**: setup cost: receiver start to receiver exit.
//! - **Peak RSS**: `VmHWM` of each process, read from `/proc/PID/status` every
//!   20 ms until it exits (a lower bound if it peaks in its last 20 ms).
//! - **CPU s**: user and kernel CPU seconds, of both processes for our rows
//!   (from `/proc/PID/stat`, sampled likewise), of this process's threads
//!   for the raw copy (without the fsync) and the essential work.
//!
//! A last table holds the targets of issue #6 (ratios to the baselines of the
//! same run) and whether they are met.
//!
//! Before each row, `sync` writes out what the rows before it left in the
//! page cache, so that no row pays for another's writes (tar never syncs;
//! our receiver's batched `syncfs` would flush tar's files too).
//!
//! Each step fails after 10 minutes; child processes are killed on any failure.
//! Every row runs `--runs` times (3 by default), in rounds; the tables show
//! medians (peak RSS: the highest) and the range of the wall times. Use an
//! otherwise idle machine.

use std::fs::File;
use std::io::{BufRead as _, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail, ensure};
use serde_json::Value;

mod baseline;
mod floor;
mod peer;

use baseline::{raw_tcp, tar_tcp};
use peer::{cpu_seconds, transfer};

/// How long any single step may take.
const STEP: Duration = Duration::from_secs(600);
const MIB: u64 = 1024 * 1024;
const TCP: &str = "/ip4/127.0.0.1/tcp/0";
const QUIC: &str = "/ip4/127.0.0.1/udp/0/quic-v1";

fn main() -> anyhow::Result<()> {
    let (mut quick, mut bin, mut dir, mut runs) = (false, None, None, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--bin" => bin = Some(PathBuf::from(args.next().context("--bin needs a path")?)),
            "--dir" => dir = Some(PathBuf::from(args.next().context("--dir needs a path")?)),
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .context("--runs needs a number above 0")?;
            }
            _ => bail!(
                "unknown argument {arg:?}; usage: bench [--quick] [--runs N] [--bin PATH] [--dir DIR]"
            ),
        }
    }
    let exe = std::env::current_exe().context("cannot locate this example")?;
    // target/<profile>/examples/bench → target/<profile>/p2p-client
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .context("odd example path")?;
    let bin = bin.unwrap_or_else(|| profile.join("p2p-client"));
    ensure!(
        bin.is_file(),
        "{} not found: run `cargo build --release -p p2p-client` first (or pass --bin PATH)",
        bin.display()
    );
    let (big, count, size) = match quick {
        true => (256 * MIB, 1_000, "256 MiB"),
        false => (1024 * MIB, 10_000, "1 GiB"),
    };
    let work = match &dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("cannot create a temporary folder")?;
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!("# p2p-client loopback benchmark, {}", utc_now());
    println!("cores: {cores}, cpu: {}", cpu_model());
    println!("binary: {}", bin.display());
    println!("data: {}", work.path().display());
    if bin.components().any(|c| c.as_os_str() == "debug") {
        println!("WARNING: a debug build of p2p-client; its figures mean little");
    }

    let src = work.path().join("src");
    let (big_file, tree, one) = (src.join("big.bin"), src.join("tree"), src.join("one.bin"));
    std::fs::create_dir_all(&src).context("cannot create the source folder")?;
    let big_hash = random_file(&big_file, big, 1)?;
    let mut rng = XorShift(2);
    for i in 0..count {
        let path = tree.join(tree_file(i));
        let dir = path.parent().context("no parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut data = [0u8; 4096];
        rng.fill(&mut data);
        write_synced(&path, &data)?;
    }
    write_synced(&one, &[0x5a])?;

    let both: &[&str] = &[TCP, QUIC];
    // The last three: the same node built with libp2p's stock Noise,
    // yamux and QUIC (`--stock-transports`), to show what ours buy.
    let cases: [(&str, &str, &Path, &[&str], bool); 7] = [
        ("p2p-client over TCP", size, &big_file, &[TCP], false),
        ("p2p-client over QUIC", size, &big_file, &[QUIC], false),
        (
            "p2p-client, one folder",
            &files_label(count),
            &tree,
            both,
            false,
        ),
        ("p2p-client, 1-byte file, setup", "1 B", &one, both, false),
        (
            "p2p-client over TCP, stock transports",
            size,
            &big_file,
            &[TCP],
            true,
        ),
        (
            "p2p-client over QUIC, stock transports",
            size,
            &big_file,
            &[QUIC],
            true,
        ),
        (
            "p2p-client, one folder, stock transports",
            &files_label(count),
            &tree,
            both,
            true,
        ),
    ];
    // Rounds run every row once, in the same order, so that a slow moment
    // of a shared machine hits one round rather than one row.
    let mut raw_runs = Vec::new();
    let mut floor_runs = Vec::new();
    let mut aes256_floor_runs = Vec::new();
    let mut aes_floor_runs = Vec::new();
    let mut tar_runs = Vec::new();
    let mut case_runs: Vec<Vec<CaseRun>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 1..=runs {
        println!("\n# Round {round} of {runs}");
        println!("\n## Raw TCP copy, {size}");
        let raw_dst = work.path().join("raw.bin");
        settle()?;
        let cpu_before = cpu_seconds(std::process::id());
        let (raw, synced) = raw_tcp(&big_file, &raw_dst)?;
        let raw_cpu = cpu_seconds(std::process::id()) - cpu_before;
        ensure!(hash_file(&raw_dst)? == big_hash, "the raw TCP copy differs");
        std::fs::remove_file(&raw_dst).context("cannot remove the raw copy")?;
        println!("{raw:.3} s to close, {synced:.3} s with fsync");
        raw_runs.push((raw, synced, raw_cpu));

        for (cipher, runs) in [
            (floor::Cipher::ChaCha20, &mut floor_runs),
            (floor::Cipher::Aes256, &mut aes256_floor_runs),
            (floor::Cipher::Aes128, &mut aes_floor_runs),
        ] {
            println!("\n## Essential work only, {}, {size}", cipher_name(cipher));
            let floor_dst = work.path().join("floor.bin");
            settle()?;
            let floor = floor::essential_copy(&big_file, &floor_dst, cipher)?;
            std::fs::remove_file(&floor_dst).context("cannot remove the essential copy")?;
            println!(
                "{:.3} s to the verified copy synced ({:.3} s hashing first), {:.2} CPU s",
                floor.wall, floor.hashing, floor.cpu
            );
            runs.push(floor);
        }

        for (i, (name, what, path, listen, stock)) in cases.iter().enumerate() {
            // tar runs just before the folder it is the baseline of, so
            // that both meet the machine in the same state.
            if *path == tree {
                println!("\n## tar stream over TCP, {count} × 4 KiB");
                let tar_dst = work.path().join(format!("untar{round}"));
                settle()?;
                let tar = tar_tcp(&tree, &tar_dst)?;
                for rel in (0..count).map(tree_file) {
                    let name = tree.file_name().context("no name")?;
                    let (a, b) = (
                        read(&tree.join(&rel))?,
                        read(&tar_dst.join(name).join(&rel))?,
                    );
                    ensure!(a == b, "tar: {} differs", rel.display());
                }
                // Many small files are kept until the end: ext4 without a journal
                // (as on the development machine) skips inodes deleted in the last
                // minutes when it creates files, so deleting 10,000 here would slow
                // the next case.
                println!("{tar:.3} s to tar's exit");
                tar_runs.push(tar);
            }
            println!("\n## {name}, {what}");
            let tag = format!("r{round}c{i}");
            settle()?;
            let run = transfer(&bin, work.path(), &tag, path, listen, *stock)
                .with_context(|| format!("{name} failed"))?;
            let summary = &run.done["summary"];
            let got = summary["path"]["transport"].as_str().unwrap_or("?");
            let forced = if *listen == [QUIC] { "quic" } else { "tcp" };
            ensure!(listen.len() > 1 || got == forced, "{name}: ran over {got}");
            let bytes = summary["bytes"].as_u64().context("summary without bytes")?;
            let engine = summary["seconds"]
                .as_f64()
                .context("no seconds in the summary")?;
            let landed = run
                .dl
                .join(path.file_name().context("source without a name")?);
            if *path == tree {
                ensure!(
                    summary["files"] == count,
                    "{name}: {} files",
                    summary["files"]
                );
                for rel in (0..count).map(tree_file) {
                    let (a, b) = (read(&tree.join(&rel))?, read(&landed.join(&rel))?);
                    ensure!(a == b, "{name}: {} differs", rel.display());
                }
            } else {
                ensure!(
                    hash_file(&landed)? == hash_file(path)?,
                    "{name}: the copy differs"
                );
                std::fs::remove_dir_all(&run.dl).context("cannot remove the received files")?;
            }
            let (wall, s, r) = (run.wall, run.sender_mib, run.receiver_mib);
            println!(
                "over {got}: wall {wall:.3} s ({:.3} s to transfer_done), engine {engine:.3} s, \
                 peak RSS sender {s:.1} MiB, receiver {r:.1} MiB",
                run.to_done
            );
            case_runs[i].push(CaseRun {
                wall,
                engine,
                bytes,
                sender_mib: s,
                receiver_mib: r,
                cpu: run.cpu,
                transport: got.to_owned(),
            });
        }
    }

    let raw = median(raw_runs.iter().map(|r| r.0));
    let synced = median(raw_runs.iter().map(|r| r.1));
    let raw_cpu = median(raw_runs.iter().map(|r| r.2));
    let chacha = Floors::of(&floor_runs);
    let aes256 = Floors::of(&aes256_floor_runs);
    let aes = Floors::of(&aes_floor_runs);
    // What TCP between two of our peers uses here (see p2p_transport::noise).
    let tcp_floor = if p2p_transport::aes_in_hardware() {
        &aes256
    } else {
        &chacha
    };
    let tar = median(tar_runs.iter().copied());
    let raw_all: Vec<f64> = raw_runs.iter().map(|r| r.0).collect();
    let synced_all: Vec<f64> = raw_runs.iter().map(|r| r.1).collect();
    let mut rows = vec![
        format!(
            "| Raw TCP copy, file to file (ceiling) | {size} | {raw:.3} | {} | {} | – | – | – | – | {raw_cpu:.2} |",
            spread(&raw_all),
            mb(big, raw)
        ),
        format!(
            "| Raw TCP copy + fsync | {size} | {synced:.3} | {} | {} | – | – | – | – | – |",
            spread(&synced_all),
            mb(big, synced)
        ),
        chacha.row(
            "Essential work only, ChaCha20-Poly1305 (TCP to libp2p peers, or without AES instructions)",
            size,
            big,
        ),
        aes256.row(
            "Essential work only, AES-256-GCM (TCP between our peers with AES instructions)",
            size,
            big,
        ),
        aes.row("Essential work only, AES-128-GCM (QUIC's floor)", size, big),
        format!(
            "| tar stream over TCP (baseline) | {} | {tar:.3} | {} | {} | – | – | – | – | – |",
            files_label(count),
            spread(&tar_runs),
            mb(count as u64 * 4096, tar)
        ),
    ];
    let mut measured = Measured {
        raw_synced: synced,
        floors: [(tcp_floor.wall, tcp_floor.cpu), (aes.wall, aes.cpu)],
        cores,
        tar,
        ..Measured::default()
    };
    let mut walls_of = Vec::new();
    for (i, ((name, what, _, listen, stock), runs)) in cases.iter().zip(&case_runs).enumerate() {
        let walls: Vec<f64> = runs.iter().map(|r| r.wall).collect();
        let wall = median(walls.iter().copied());
        let engine = median(runs.iter().map(|r| r.engine));
        let bytes = runs.first().map_or(0, |r| r.bytes);
        let s = runs.iter().map(|r| r.sender_mib).fold(0.0, f64::max);
        let r = runs.iter().map(|r| r.receiver_mib).fold(0.0, f64::max);
        let cpu = median(runs.iter().map(|r| r.cpu));
        let rate = |secs| (bytes >= 1000).then(|| mb(bytes, secs));
        let rate = |secs| rate(secs).unwrap_or_else(|| "–".into());
        let (w, e) = (rate(wall), rate(engine));
        let label = match listen.len() {
            1 => (*name).to_owned(),
            _ => format!(
                "{name} ({})",
                runs.first().map_or("?", |r| r.transport.as_str())
            ),
        };
        rows.push(format!(
            "| {label} | {what} | {wall:.3} | {} | {w} | {engine:.3} | {e} | {s:.1} | {r:.1} | {cpu:.2} |",
            spread(&walls)
        ));
        walls_of.push(wall);
        if !stock {
            measured.note(i, wall, s.max(r));
        }
    }

    println!(
        "\n## Results ({cores} cores, {}; medians of {runs} rounds)\n",
        utc_now()
    );
    println!(
        "| Case | Size | Wall s | Wall range s | Wall MB/s | Engine s | Engine MB/s | Sender peak RSS MiB | Receiver peak RSS MiB | CPU s |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        println!("{row}");
    }
    measured.print_targets();
    println!("\n## Ours against libp2p's stock transports (wall times, same run)\n");
    println!("| Case | Ours s | Stock s | Stock / ours |");
    println!("|---|--:|--:|--:|");
    for (ours, stock) in [(0, 4), (1, 5), (2, 6)] {
        let (a, b) = (walls_of[ours], walls_of[stock]);
        println!(
            "| {} | {a:.3} | {b:.3} | {:.2}× |",
            cases[ours].0,
            if a > 0.0 { b / a } else { 0.0 }
        );
    }
    work.close().context("cannot remove the temporary folder")
}

/// Medians of the essential copies with one cipher.
struct Floors {
    wall: f64,
    cpu: f64,
    walls: Vec<f64>,
}

impl Floors {
    fn of(runs: &[floor::Floor]) -> Self {
        Self {
            wall: median(runs.iter().map(|f| f.wall)),
            cpu: median(runs.iter().map(|f| f.cpu)),
            walls: runs.iter().map(|f| f.wall).collect(),
        }
    }

    /// The table row `label` for copies of `bytes` bytes (shown as `size`).
    fn row(&self, label: &str, size: &str, bytes: u64) -> String {
        format!(
            "| {label} | {size} | {:.3} | {} | {} | – | – | – | – | {:.2} |",
            self.wall,
            spread(&self.walls),
            mb(bytes, self.wall),
            self.cpu
        )
    }
}

/// How the rows name a cipher.
fn cipher_name(cipher: floor::Cipher) -> &'static str {
    match cipher {
        floor::Cipher::ChaCha20 => "ChaCha20-Poly1305",
        floor::Cipher::Aes256 => "AES-256-GCM",
        floor::Cipher::Aes128 => "AES-128-GCM",
    }
}

/// One transfer of a case.
struct CaseRun {
    wall: f64,
    engine: f64,
    bytes: u64,
    sender_mib: f64,
    receiver_mib: f64,
    cpu: f64,
    transport: String,
}

/// MB/s (10^6 bytes per second).
fn mb(bytes: u64, secs: f64) -> String {
    format!("{:.0}", bytes as f64 / 1e6 / secs)
}

/// The range of `values`, as "lo–hi".
fn spread(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    format!("{lo:.3}–{hi:.3}")
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut all: Vec<f64> = values.collect();
    all.sort_by(f64::total_cmp);
    match all.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => all[n / 2],
        n => (all[n / 2 - 1] + all[n / 2]) / 2.0,
    }
}

/// "10000 × 4 KiB".
fn files_label(count: usize) -> String {
    format!("{count} × 4 KiB")
}

/// The figures the targets of issue #6 are judged on.
#[derive(Default)]
struct Measured {
    raw_synced: f64,
    /// Wall and CPU seconds of the essential work, with the cipher TCP
    /// uses between our peers here and with QUIC's.
    floors: [(f64, f64); 2],
    cores: usize,
    tar: f64,
    tcp: f64,
    quic: f64,
    folder: f64,
    one_byte: f64,
    peak_mib: f64,
}

impl Measured {
    /// Records case `i` of the run (in the order of `cases`).
    fn note(&mut self, i: usize, wall: f64, peak_mib: f64) {
        match i {
            0 => self.tcp = wall,
            1 => self.quic = wall,
            2 => self.folder = wall,
            _ => self.one_byte = wall,
        }
        self.peak_mib = self.peak_mib.max(peak_mib);
    }

    fn print_targets(&self) {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!("\n## Targets (wall times, same run)\n");
        println!("| Target | Measured | Verdict |");
        println!("|---|--:|---|");
        for ((name, secs), (essential, floor_cpu)) in [("TCP", self.tcp), ("QUIC", self.quic)]
            .into_iter()
            .zip(self.floors)
        {
            let ratio = self.raw_synced / secs * 100.0;
            if name == "TCP" {
                println!(
                    "| big file, direct (over TCP, which carries bulk data when both transports work) ≥ 70% of the raw copy + fsync | {ratio:.0}% | {} |",
                    verdict(ratio >= 70.0)
                );
            } else {
                // Not a target: QUIC carries bulk data only where TCP
                // cannot get through (see the README).
                println!(
                    "| (big file over QUIC alone, where only UDP gets through) | {ratio:.0}% | {} |",
                    if ratio >= 70.0 {
                        "past 70%"
                    } else {
                        "under 70%"
                    }
                );
            }
            // The essential work needs `floor_cpu` CPU seconds: spread over
            // every core without a moment lost, no pipeline could take less
            // than `bound`. As run, it takes `essential`.
            let bound = floor_cpu / self.cores.max(1) as f64;
            let floor = self.raw_synced / essential * 100.0;
            let best = self.raw_synced / bound * 100.0;
            println!(
                "| (its essential work alone, by plain threads; {floor_cpu:.2} CPU s on {} cores: ≤ {best:.0}% in theory) | {floor:.0}% | {} |",
                self.cores,
                if floor >= 70.0 {
                    "within reach here"
                } else if best < 70.0 {
                    "out of reach on this machine"
                } else {
                    "short of 70% here as well"
                }
            );
            println!(
                "| (the engine's wall time against that essential work's) | {:.0}% | – |",
                essential / secs * 100.0
            );
        }
        let ratio = self.folder / self.tar;
        println!(
            "| small files ≤ 2× a tar stream over TCP | {ratio:.2}× | {} |",
            verdict(ratio <= 2.0)
        );
        println!(
            "| 1-byte file by ticket ≤ 0.3 s | {:.3} s | {} |",
            self.one_byte,
            verdict(self.one_byte <= 0.3)
        );
        println!(
            "| peak RSS of either side ≤ 32 MiB | {:.1} MiB | {} |",
            self.peak_mib,
            verdict(self.peak_mib <= 32.0)
        );
    }
}

/// Writes out whatever the rows before left in the page cache (`sync`), so
/// that no row pays for another's writes: the receiver's batched `syncfs`
/// would otherwise also flush the 40 MB tar had just unpacked.
fn settle() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("cannot run sync")?;
    ensure!(status.success(), "sync failed");
    Ok(())
}

/// Where the `i`th small file lives in the folder tree.
fn tree_file(i: usize) -> PathBuf {
    Path::new(&format!("d{:03}", i / 100)).join(format!("f{i:05}.bin"))
}

struct XorShift(u64);

impl XorShift {
    /// Fills `buf` (a multiple of 8 bytes) with noise.
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes());
        }
    }
}

/// Writes `size` bytes (a multiple of 1 MiB) of noise; returns their BLAKE3.
fn random_file(path: &Path, size: u64, seed: u64) -> anyhow::Result<blake3::Hash> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let (mut rng, mut hasher, mut buf) = (XorShift(seed), blake3::Hasher::new(), vec![0; 1 << 20]);
    for _ in 0..size / MIB {
        rng.fill(&mut buf);
        hasher.update(&buf);
        file.write_all(&buf)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Written back now, so that no writeback runs during the measurements.
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(hasher.finalize())
}

/// Writes a small source file and fsyncs it (see `random_file`).
fn write_synced(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let written = file.write_all(data).and_then(|()| file.sync_all());
    written.with_context(|| format!("cannot write {}", path.display()))
}

fn hash_file(path: &Path) -> anyhow::Result<blake3::Hash> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'));
    model.map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_owned())
}

/// The current UTC date and time, without a date library.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64 + 719_468, secs % 86_400);
    let (era, doe) = (days.div_euclid(146_097), days.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let (mp, (hh, mm)) = ((5 * doy + 2) / 153, (rem / 3_600, rem % 3_600 / 60));
    let (day, month) = (
        doy - (153 * mp + 2) / 5 + 1,
        if mp < 10 { mp + 3 } else { mp - 9 },
    );
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hh:02}:{mm:02} UTC")
}
