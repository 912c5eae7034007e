//! Our Noise and yamux against libp2p's own, over loopback TCP.
//!
//! ```text
//! cargo run --release -p p2p-transport --example layers [-- --mib N] [--runs R]
//! ```
//!
//! Each row moves N MiB (256 by default) one way over a fresh loopback TCP
//! connection, both ends in this process on tokio's multi-threaded runtime,
//! the writer and the reader in tasks of their own. The writer sends a
//! deterministic xorshift pattern (a period of about 1 MiB) in 256 KiB
//! writes and closes; the reader reads to the end and compares every byte
//! with the pattern and the count with N, so a layer that drops, repeats,
//! reorders or changes bytes fails the run. Times run from the first write
//! to the reader's end of stream; handshakes are not timed.
//!
//! Rows (MB/s = 10^6 bytes per second):
//! - **plain TCP**: the bytes straight over the socket; the baseline.
//! - **Noise, ours / libp2p-noise**: both ends upgraded with
//!   `p2p_transport::noise::Config` (AES-256-GCM when this processor has
//!   AES instructions, as between two of our peers, else
//!   ChaCha20-Poly1305), or both with `libp2p::noise::Config`
//!   (ChaCha20-Poly1305).
//! - **Noise + yamux, ours / libp2p**: the Noise rows with a muxer on top,
//!   `p2p_transport::yamux::Config::default()` or
//!   `libp2p::yamux::Config::default()`, and the bytes on one outbound
//!   stream, the muxers driven by hand as a swarm would (a task per
//!   connection polling `StreamMuxer::poll`).
//!
//! *vs stock* is a row's throughput over the libp2p row of its layer, *vs
//! TCP* over plain TCP's (above 1 is faster). Every row runs R times (3 by
//! default), in interleaved rounds whose order rotates; the table shows the
//! median and the range of the times. Each row fails after 120 s. Nothing
//! leaves 127.0.0.1.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::PeerId;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerExt};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::identity::Keypair;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// How long one row of one round may take.
const STEP: Duration = Duration::from_secs(120);
const MIB: u64 = 1024 * 1024;
/// The writer's writes and the reader's reads.
const CHUNK: usize = 256 * 1024;
/// The pattern's period: a prime, so that no frame size of any layer is a
/// multiple of it and a misplaced frame shows.
const PERIOD: usize = 1_048_573;

type Socket = Compat<TcpStream>;

fn main() -> anyhow::Result<()> {
    let (mut mib, mut runs) = (256u64, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| {
            args.next()
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&n| n > 0)
                .with_context(|| format!("{flag} needs a number above 0"))
        };
        match arg.as_str() {
            "--mib" => mib = number("--mib")?,
            "--runs" => runs = usize::try_from(number("--runs")?)?,
            _ => bail!("unknown argument {arg:?}; usage: layers [--mib N] [--runs R]"),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start tokio")?
        .block_on(bench(mib * MIB, runs))
}

/// What a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Tcp,
    NoiseOurs,
    NoiseStock,
    MuxOurs,
    MuxStock,
}

impl Row {
    const ALL: [Row; 5] = [
        Row::Tcp,
        Row::NoiseOurs,
        Row::NoiseStock,
        Row::MuxOurs,
        Row::MuxStock,
    ];

    fn name(self) -> &'static str {
        match self {
            Row::Tcp => "plain TCP",
            Row::NoiseOurs => "Noise, ours",
            Row::NoiseStock => "Noise, libp2p-noise",
            Row::MuxOurs => "Noise + yamux, ours",
            Row::MuxStock => "Noise + yamux, libp2p",
        }
    }

    /// The stock row of the same layer, for one of ours.
    fn stock(self) -> Option<Row> {
        match self {
            Row::NoiseOurs => Some(Row::NoiseStock),
            Row::MuxOurs => Some(Row::MuxStock),
            _ => None,
        }
    }
}

async fn bench(bytes: u64, runs: usize) -> anyhow::Result<()> {
    let pattern = Arc::new(Pattern::new());
    let mut times = vec![Vec::with_capacity(runs); Row::ALL.len()];
    for round in 0..runs {
        for k in 0..Row::ALL.len() {
            let i = (k + round) % Row::ALL.len();
            let row = Row::ALL[i];
            let took = tokio::time::timeout(STEP, run(row, bytes, Arc::clone(&pattern)))
                .await
                .with_context(|| format!("{}: not done in {} s", row.name(), STEP.as_secs()))?
                .with_context(|| row.name())?;
            eprintln!(
                "round {}/{runs}: {:<22} {:>7.3} s",
                round + 1,
                row.name(),
                took.as_secs_f64()
            );
            times[i].push(took);
        }
    }

    let median: Vec<f64> = times.iter_mut().map(|t| median_secs(t)).collect();
    let rate = |i: usize| bytes as f64 / median[i] / 1e6;
    let index = |row: Row| Row::ALL.iter().position(|&r| r == row).unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "# p2p-transport layers against libp2p's, {} MiB one way over loopback TCP",
        bytes / MIB
    );
    println!();
    println!("{}, cores: {cores}, cpu: {}", utc_now(), cpu_model());
    println!(
        "AES in hardware: {} (our Noise between two of ours: {})",
        if p2p_transport::aes_in_hardware() {
            "yes"
        } else {
            "no"
        },
        if p2p_transport::aes_in_hardware() {
            "AES-256-GCM"
        } else {
            "ChaCha20-Poly1305"
        }
    );
    println!("runs: {runs}, bytes checked: all");
    println!();
    println!("| row | median s | range s | MB/s | vs stock | vs TCP |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, row) in Row::ALL.into_iter().enumerate() {
        let (low, high) = (
            times[i].first().map_or(0.0, Duration::as_secs_f64),
            times[i].last().map_or(0.0, Duration::as_secs_f64),
        );
        let vs_stock = row.stock().map_or_else(
            || "—".to_owned(),
            |stock| format!("{:.2}", rate(i) / rate(index(stock))),
        );
        let vs_tcp = match row {
            Row::Tcp => "—".to_owned(),
            _ => format!("{:.2}", rate(i) / rate(index(Row::Tcp))),
        };
        println!(
            "| {} | {:.3} | {low:.3}–{high:.3} | {:.0} | {vs_stock} | {vs_tcp} |",
            row.name(),
            median[i],
            rate(i),
        );
    }
    Ok(())
}

/// Sorts `times` and returns their median in seconds.
fn median_secs(times: &mut [Duration]) -> f64 {
    times.sort();
    let n = times.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => times[n / 2].as_secs_f64(),
        _ => (times[n / 2 - 1] + times[n / 2]).as_secs_f64() / 2.0,
    }
}

/// One row once: a fresh connection, its upgrades, and `bytes` across.
async fn run(row: Row, bytes: u64, pattern: Arc<Pattern>) -> anyhow::Result<Duration> {
    let (a, b) = pair().await?;
    let (key_a, key_b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    match row {
        Row::Tcp => across(a, b, bytes, pattern).await,
        Row::NoiseOurs => {
            let (a, b) = secure(
                p2p_transport::noise::Config::new(&key_a)?,
                p2p_transport::noise::Config::new(&key_b)?,
                (&key_a, &key_b),
                a,
                b,
            )
            .await?;
            across(a, b, bytes, pattern).await
        }
        Row::NoiseStock => {
            let (a, b) = secure(
                libp2p::noise::Config::new(&key_a)?,
                libp2p::noise::Config::new(&key_b)?,
                (&key_a, &key_b),
                a,
                b,
            )
            .await?;
            across(a, b, bytes, pattern).await
        }
        Row::MuxOurs => {
            let (a, b) = secure(
                p2p_transport::noise::Config::new(&key_a)?,
                p2p_transport::noise::Config::new(&key_b)?,
                (&key_a, &key_b),
                a,
                b,
            )
            .await?;
            let config = p2p_transport::yamux::Config::default();
            let (a, b) = upgrade(config.clone(), config, a, b).await?;
            over_one_stream(a, b, bytes, pattern).await
        }
        Row::MuxStock => {
            let (a, b) = secure(
                libp2p::noise::Config::new(&key_a)?,
                libp2p::noise::Config::new(&key_b)?,
                (&key_a, &key_b),
                a,
                b,
            )
            .await?;
            let config = libp2p::yamux::Config::default();
            let (a, b) = upgrade(config.clone(), config, a, b).await?;
            over_one_stream(a, b, bytes, pattern).await
        }
    }
}

/// Two ends of a loopback TCP connection, without Nagle's delay (as the
/// node's TCP transport).
async fn pair() -> anyhow::Result<(Socket, Socket)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind")?;
    let addr = listener.local_addr().context("local address")?;
    let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (dialed, accepted) = (dialed.context("connect")?, accepted.context("accept")?.0);
    dialed.set_nodelay(true).context("nodelay")?;
    accepted.set_nodelay(true).context("nodelay")?;
    Ok((dialed.compat(), accepted.compat()))
}

/// `dialer` upgrades `a` as the outbound side, `listener` `b` as the inbound.
async fn upgrade<U, C, O, E>(dialer: U, listener: U, a: C, b: C) -> anyhow::Result<(O, O)>
where
    U: OutboundConnectionUpgrade<C, Output = O, Error = E>
        + InboundConnectionUpgrade<C, Output = O, Error = E>,
    E: std::error::Error + Send + Sync + 'static,
{
    let info = dialer
        .protocol_info()
        .into_iter()
        .next()
        .context("the upgrade names no protocol")?;
    let (dialed, accepted) = tokio::join!(
        dialer.upgrade_outbound(a, info.clone()),
        listener.upgrade_inbound(b, info),
    );
    Ok((
        dialed.context("outbound upgrade")?,
        accepted.context("inbound upgrade")?,
    ))
}

/// [`upgrade`] with a security upgrade, checking that each side learnt the
/// other's identity from `keys` (the dialer's, the listener's).
async fn secure<U, O, E>(
    dialer: U,
    listener: U,
    keys: (&Keypair, &Keypair),
    a: Socket,
    b: Socket,
) -> anyhow::Result<(O, O)>
where
    U: OutboundConnectionUpgrade<Socket, Output = (PeerId, O), Error = E>
        + InboundConnectionUpgrade<Socket, Output = (PeerId, O), Error = E>,
    E: std::error::Error + Send + Sync + 'static,
{
    let ((seen_by_a, a), (seen_by_b, b)) = upgrade(dialer, listener, a, b).await?;
    ensure!(
        seen_by_a == keys.1.public().to_peer_id() && seen_by_b == keys.0.public().to_peer_id(),
        "the handshake named the wrong peers"
    );
    Ok((a, b))
}

/// Sends `bytes` from `a` to `b`; the time from the first write to the
/// reader's end of stream.
async fn across<A, B>(a: A, b: B, bytes: u64, pattern: Arc<Pattern>) -> anyhow::Result<Duration>
where
    A: AsyncWrite + Unpin + Send + 'static,
    B: AsyncRead + Unpin + Send + 'static,
{
    let start = Instant::now();
    let mut ends = JoinSet::new();
    ends.spawn(send(a, bytes, Arc::clone(&pattern)));
    ends.spawn(receive(b, bytes, pattern));
    finish(ends, JoinSet::new()).await?;
    Ok(start.elapsed())
}

/// [`across`] on one stream that `dialer` opens and `listener` accepts, each
/// connection driven by a task of its own.
async fn over_one_stream<M>(
    mut dialer: M,
    mut listener: M,
    bytes: u64,
    pattern: Arc<Pattern>,
) -> anyhow::Result<Duration>
where
    M: StreamMuxer + Unpin + Send + 'static,
    M::Substream: Unpin + Send + 'static,
    M::Error: Send + Sync + 'static,
{
    let start = Instant::now();
    let (mut ends, mut drivers) = (JoinSet::new(), JoinSet::new());
    let outbound = poll_fn(|cx| dialer.poll_outbound_unpin(cx))
        .await
        .context("open a stream")?;
    drivers.spawn(drive(dialer));
    // yamux announces the stream with its first frame: the writer must
    // start before the listener can see it.
    ends.spawn(send(outbound, bytes, Arc::clone(&pattern)));
    let inbound = poll_fn(|cx| listener.poll_inbound_unpin(cx))
        .await
        .context("accept the stream")?;
    drivers.spawn(drive(listener));
    ends.spawn(receive(inbound, bytes, pattern));
    finish(ends, drivers).await?;
    Ok(start.elapsed())
}

/// Keeps a muxer's connection going, as the swarm does: polls it until it
/// fails. Streams it accepts meanwhile wait in the muxer unasked.
async fn drive<M>(mut muxer: M) -> anyhow::Result<()>
where
    M: StreamMuxer + Unpin,
    M::Error: Send + Sync + 'static,
{
    poll_fn(|cx| {
        loop {
            match muxer.poll_unpin(cx) {
                // An address change: nothing to do on loopback.
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
    .context("the connection failed")
}

/// Waits for the writer and the reader; a connection that stops first fails
/// the round. Dropping the sets stops the drivers (and, on a timeout, every
/// task of the row).
async fn finish(
    mut ends: JoinSet<anyhow::Result<()>>,
    mut drivers: JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    while !ends.is_empty() {
        tokio::select! {
            Some(end) = ends.join_next() => end.context("a task panicked")??,
            Some(driver) = drivers.join_next() => {
                driver.context("a connection task panicked")??;
                bail!("a connection stopped before the transfer ended");
            }
        }
    }
    Ok(())
}

/// Writes `bytes` of the pattern in [`CHUNK`]s, then closes.
async fn send<W>(mut w: W, bytes: u64, pattern: Arc<Pattern>) -> anyhow::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut sent = 0u64;
    while sent < bytes {
        let n = usize::try_from(bytes - sent).map_or(CHUNK, |left| left.min(CHUNK));
        w.write_all(pattern.at(sent, n)).await.context("write")?;
        sent += n as u64;
    }
    w.close().await.context("close")
}

/// Reads to the end, checking every byte against the pattern and the count
/// against `bytes`.
async fn receive<R>(mut r: R, bytes: u64, pattern: Arc<Pattern>) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).await.context("read")?;
        if n == 0 {
            break;
        }
        ensure!(
            got + n as u64 <= bytes,
            "more than the {bytes} bytes sent arrived"
        );
        ensure!(
            buf[..n] == *pattern.at(got, n),
            "the bytes from offset {got} arrived changed"
        );
        got += n as u64;
    }
    ensure!(got == bytes, "{got} of the {bytes} bytes sent arrived");
    Ok(())
}

/// A stream of xorshift bytes repeating every [`PERIOD`], held with one
/// chunk more so that any chunk of it is one slice.
struct Pattern(Vec<u8>);

impl Pattern {
    fn new() -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut bytes: Vec<u8> = (0..PERIOD)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        bytes.extend_from_within(..CHUNK);
        Self(bytes)
    }

    /// `len` (at most [`CHUNK`]) bytes of the stream from `offset`.
    fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.0[start..start + len.min(CHUNK)]
    }
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
