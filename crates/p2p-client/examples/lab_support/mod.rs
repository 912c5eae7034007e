//! What the lab benchmarks share: child processes read as JSON lines, the
//! binaries beside the benchmark, test data, and the plain TCP copy that is
//! their baseline (run by re-executing the benchmark itself inside a
//! namespace).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

const STEP: Duration = Duration::from_secs(300);

pub struct Proc {
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
    lines: mpsc::Receiver<String>,
    errors: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> anyhow::Result<Self> {
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

    /// The next JSON event within `timeout`, if any.
    pub fn next(&self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                return Some(value);
            }
        }
    }

    /// The first JSON event for which `want` holds, and when it came.
    pub fn wait(
        &self,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(Value, Instant)> {
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

pub fn bins() -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
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

pub fn random_file(path: &Path, size: u64) -> anyhow::Result<()> {
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

/// The plain TCP copy's ends: `--sink PORT PATH` accepts and writes,
/// `--source ADDR PATH` connects and sends; `--serve PORT PATH` accepts and
/// sends, `--fetch ADDR PATH` connects and writes (for a receiver behind NAT).
/// The writing end fsyncs, as `p2p-client` does. Returns whether `args` was
/// one of these.
pub fn tcp_mode(args: &[String]) -> anyhow::Result<bool> {
    let [mode, target, path] = args else {
        return Ok(false);
    };
    let stream = match mode.as_str() {
        "--sink" | "--serve" => {
            let listener = std::net::TcpListener::bind(("0.0.0.0", target.parse::<u16>()?))?;
            listener.accept()?.0
        }
        "--source" | "--fetch" => std::net::TcpStream::connect(target)?,
        _ => return Ok(false),
    };
    if matches!(mode.as_str(), "--sink" | "--fetch") {
        receive_file(stream, Path::new(path))?;
    } else {
        send_file(stream, Path::new(path))?;
    }
    Ok(true)
}

/// Writes everything `stream` carries to `path`, then fsyncs it.
fn receive_file(mut stream: std::net::TcpStream, path: &Path) -> anyhow::Result<()> {
    let mut out = std::fs::File::create(path)?;
    std::io::copy(&mut stream, &mut out)?;
    out.sync_all()?;
    Ok(())
}

/// Sends `path` and waits for the other end to close.
fn send_file(mut stream: std::net::TcpStream, path: &Path) -> anyhow::Result<()> {
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut stream)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    Ok(())
}
