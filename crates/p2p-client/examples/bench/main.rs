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
mod cases;
mod floor;
mod peer;
mod report;
mod source;

use baseline::{raw_tcp, tar_tcp};
use peer::{cpu_seconds, transfer};
use report::{CaseRun, Report, cipher_name, files_label};
use source::{XorShift, hash_file, random_file, read, tree_file, write_synced};

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

    let folder = files_label(count);
    let cases = cases::cases(size, &folder, &big_file, &tree, &one);
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

    Report {
        size,
        big,
        count,
        cores,
        runs,
        raw_runs,
        floor_runs,
        aes256_floor_runs,
        aes_floor_runs,
        tar_runs,
        case_runs,
    }
    .print(&cases);
    work.close().context("cannot remove the temporary folder")
}

/// Writes out whatever the rows before left in the page cache (`sync`), so
/// that no row pays for another's writes: the receiver's batched `syncfs`
/// would otherwise also flush the 40 MB tar had just unpacked.
fn settle() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("cannot run sync")?;
    ensure!(status.success(), "sync failed");
    Ok(())
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
