//! Load on the real `signal-server` binary, loopback only, bounded in count
//! and time.
//!
//! ```text
//! cargo build --release -p signal-server --features test-utils --bins --examples
//! target/release/examples/load [--clients 5000] [--rooms 50] [--bin PATH]
//! ```
//!
//! 1. Starts the server (relay off) with limits raised for one address.
//! 2. Registers `--clients` WebSocket clients (signed registrations), spread
//!    over `--rooms` named rooms, 100 connecting at a time.
//! 3. Presence fan-out: 2 joins per room; every member times the
//!    `peer_joined` it receives against the moment the joiner registered.
//! 4. A flooder sends `update` far past its rate limit while the fan-out is
//!    measured again: it must be cut off, and the others must not slow down.
//! 5. Prints p50/p99 of both rounds, registration time, the server's peak
//!    RSS and its CPU time per phase.
//!
//! Raises its own open-file limit (the server inherits it): each client is
//! a socket on both sides.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use protocol::signal::{ClientMsg, RoomRequest, ServerMsg};
use signal_server::testing::{ClientError, TestClient};
use tokio::sync::Semaphore;

/// Joins per room in each fan-out round.
const JOINS_PER_ROOM: usize = 2;
/// Clients connecting at once.
const CONNECTING: usize = 100;
/// Most clients this tool starts.
const MAX_CLIENTS: usize = 20_000;
/// Longest any phase may take.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// Messages the flooder tries to send.
const FLOOD: usize = 5_000;

/// Latencies (µs) of `peer_joined` by joiner, filled by the members.
#[derive(Default)]
struct FanOut {
    started: HashMap<String, Instant>,
    micros: Vec<u64>,
}

type Shared = Arc<Mutex<FanOut>>;

fn main() -> anyhow::Result<()> {
    let mut clients = 5_000usize;
    let mut rooms = 50usize;
    let mut bin = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("missing value");
        match arg.as_str() {
            "--clients" => clients = value()?.parse()?,
            "--rooms" => rooms = value()?.parse()?,
            "--bin" => bin = Some(value()?),
            _ => bail!("usage: load [--clients N] [--rooms N] [--bin PATH]"),
        }
    }
    if clients == 0 || rooms == 0 || clients > MAX_CLIENTS || rooms > clients {
        bail!("need 0 < rooms <= clients <= {MAX_CLIENTS}");
    }
    let bin = bin.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        // target/release/examples/load -> target/release/signal-server
        let dir = exe.parent().and_then(|p| p.parent()).unwrap();
        dir.join("signal-server").display().to_string()
    });
    raise_fd_limit(2 * clients as u64 + 1_000)?;
    let mut server = Server::start(&bin, clients)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run(&server, clients, rooms));
    server.stop();
    result
}

#[cfg(unix)]
fn raise_fd_limit(want: u64) -> anyhow::Result<()> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    if hard < want {
        bail!("the open-file limit is {hard}; {want} are needed (raise it with `ulimit -Hn`)");
    }
    let mut raised = limit;
    raised.current = Some(want.max(limit.current.unwrap_or(0)));
    setrlimit(Resource::Nofile, raised).context("cannot raise the open-file limit")?;
    Ok(())
}

#[cfg(not(unix))]
fn raise_fd_limit(_want: u64) -> anyhow::Result<()> {
    Ok(())
}

/// The server process.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(bin: &str, clients: usize) -> anyhow::Result<Self> {
        let room_size = (clients + 255).to_string();
        let many = (clients * 2 + 100).to_string();
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--no-relay"])
            .args([
                "--max-connections",
                &many,
                "--max-connections-per-ip",
                &many,
            ])
            .args(["--peers-per-room", &room_size])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {bin} (build it with --bins)"))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("signal server listening addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .context("the server did not log its address")?;
        Ok(Self { child, addr })
    }

    /// CPU seconds used so far (user + system).
    fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 (1-based, counting pid and comm).
        (ticks(11) + ticks(12)) / 100.0
    }

    /// `VmHWM` (peak) and `VmRSS` (now), MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn room(i: usize) -> RoomRequest {
    RoomRequest::Named {
        name: format!("load-{i}"),
        secret: format!("secret-of-load-room-{i}"),
    }
}

/// Reads a member's messages until the connection ends, timing every
/// `peer_joined` against its joiner's start.
async fn member(mut client: TestClient, fan_out: Shared) {
    loop {
        match client.recv().await {
            Ok(ServerMsg::PeerJoined { peer }) => {
                let now = Instant::now();
                let mut f = fan_out.lock().unwrap();
                if let Some(started) = f.started.get(&peer.peer_id).copied() {
                    let micros = now.duration_since(started).as_micros();
                    f.micros.push(u64::try_from(micros).unwrap_or(u64::MAX));
                }
            }
            Ok(_) | Err(ClientError::Timeout) => {}
            Err(_) => return,
        }
    }
}

/// One fan-out round: `JOINS_PER_ROOM` new clients join each room, one after
/// another; returns the latencies the members saw, µs, sorted.
async fn fan_out_round(url: &str, rooms: usize, fan_out: &Shared) -> anyhow::Result<Vec<u64>> {
    fan_out.lock().unwrap().micros.clear();
    let mut joiners = Vec::new();
    for _ in 0..JOINS_PER_ROOM {
        for r in 0..rooms {
            let client = TestClient::connect(url).await?;
            fan_out
                .lock()
                .unwrap()
                .started
                .insert(client.peer_id(), Instant::now());
            let (client, _) = client.register("joiner", room(r)).await?;
            joiners.push(client);
        }
    }
    // Let the last messages arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for joiner in joiners {
        joiner.close().await;
    }
    let mut micros = std::mem::take(&mut fan_out.lock().unwrap().micros);
    micros.sort_unstable();
    Ok(micros)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn run(server: &Server, clients: usize, rooms: usize) -> anyhow::Result<()> {
    let url = format!("ws://{}/ws", server.addr);
    println!("# signal-server load: {clients} clients in {rooms} rooms, loopback");
    let fan_out: Shared = Arc::default();

    // Register everyone.
    let cpu0 = server.cpu_secs();
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (url, gate, fan_out) = (url.clone(), Arc::clone(&gate), Arc::clone(&fan_out));
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let (client, _) = TestClient::join(&url, &format!("load-{i}"), room(i % rooms)).await?;
            drop(permit);
            tokio::spawn(member(client, fan_out));
            Ok::<_, ClientError>(())
        });
    }
    let mut failed = 0;
    tokio::time::timeout(PHASE_LIMIT, async {
        while let Some(done) = tasks.join_next().await {
            if !matches!(done, Ok(Ok(()))) {
                failed += 1;
            }
        }
    })
    .await
    .context("registering took too long")?;
    let register_secs = started.elapsed().as_secs_f64();
    let cpu_register = server.cpu_secs() - cpu0;
    if failed > 0 {
        bail!("{failed} of {clients} clients could not register");
    }
    println!("registered {clients} clients in {register_secs:.2} s");

    // Fan-out, quiet.
    let cpu1 = server.cpu_secs();
    let quiet = tokio::time::timeout(PHASE_LIMIT, fan_out_round(&url, rooms, &fan_out))
        .await
        .context("the fan-out round took too long")??;
    let cpu_quiet = server.cpu_secs() - cpu1;

    // Fan-out while one client floods.
    let (mut flooder, _) = TestClient::join(&url, "flooder", room(0)).await?;
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let mut sent = 0;
        for n in 0..FLOOD {
            let update = ClientMsg::Update {
                name: Some(format!("flood-{n}")),
                addrs: None,
                publishes: None,
            };
            if flooder.send(&update).await.is_err() {
                break;
            }
            sent += 1;
        }
        // Cut off: the server closes the connection.
        let closed = matches!(
            tokio::time::timeout(Duration::from_secs(15), flooder.recv_until_close()).await,
            Ok(Ok(_))
        );
        (sent, closed, started.elapsed().as_secs_f64())
    });
    let cpu2 = server.cpu_secs();
    let flooded = tokio::time::timeout(PHASE_LIMIT, fan_out_round(&url, rooms, &fan_out))
        .await
        .context("the fan-out round under flood took too long")??;
    let cpu_flood = server.cpu_secs() - cpu2;
    let (sent, cut_off, flood_secs) = flood.await?;
    let (peak, now) = server.rss_mib();

    let row = |name: &str, v: &[u64], cpu: f64| {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {cpu:.2} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    };
    println!();
    println!("| phase | deliveries | p50 ms | p99 ms | max ms | server CPU s |");
    println!("|---|--:|--:|--:|--:|--:|");
    println!(
        "| register {clients} clients ({register_secs:.2} s) | – | – | – | – | {cpu_register:.2} |"
    );
    row("presence fan-out, quiet", &quiet, cpu_quiet);
    row("presence fan-out, one client flooding", &flooded, cpu_flood);
    println!();
    println!("server peak RSS {peak:.1} MiB (now {now:.1} MiB)");
    println!(
        "flooder: {sent} of {FLOOD} updates written in {flood_secs:.2} s; cut off: {}",
        if cut_off { "yes" } else { "NO" }
    );
    let expected = rooms * JOINS_PER_ROOM * (clients / rooms);
    if quiet.len() < expected || flooded.len() < expected {
        bail!(
            "fan-out incomplete: {} and {} of at least {expected} deliveries",
            quiet.len(),
            flooded.len()
        );
    }
    if !cut_off {
        bail!("the flooding client was not cut off");
    }
    Ok(())
}
