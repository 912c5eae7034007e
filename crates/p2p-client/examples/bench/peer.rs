//! The two `p2p-client` processes of one transfer, and what they use.

use super::*;

/// CPU seconds (user and kernel, all threads) used so far by process
/// `pid`, from `/proc/PID/stat` in clock ticks of 1/100 s; 0 if unreadable.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12th and 13th here.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// What one transfer of a case gave.
pub(crate) struct Run {
    pub(crate) dl: PathBuf,
    pub(crate) done: Value,
    pub(crate) wall: f64,
    pub(crate) to_done: f64,
    pub(crate) sender_mib: f64,
    pub(crate) receiver_mib: f64,
    /// CPU seconds of both processes.
    pub(crate) cpu: f64,
}

/// Sends `path` by ticket between two fresh peers listening on `listen`.
pub(crate) fn transfer(
    bin: &Path,
    work: &Path,
    tag: &str,
    path: &Path,
    listen: &[&str],
    stock: bool,
) -> anyhow::Result<Run> {
    let dl = work.join(format!("{tag}-downloads"));
    std::fs::create_dir_all(&dl).context("cannot create the download folder")?;
    let peer = |role: &str, args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new(bin);
        cmd.args(["--no-mdns", "--json", "--config-dir"])
            .arg(work.join(format!("{tag}-{role}")));
        for addr in listen {
            cmd.args(["--listen", addr]);
        }
        if stock {
            cmd.env("P2P_STOCK_TRANSPORTS", "1");
        } else {
            cmd.env_remove("P2P_STOCK_TRANSPORTS");
        }
        cmd.args(args)
            .env("RUST_LOG", "warn")
            .env_remove("P2P_SERVER")
            .env_remove("P2P_CODE");
        Proc::spawn(role, cmd, work.join(format!("{tag}-{role}.log")))
    };
    let mut sender = peer("sender", &["send".as_ref(), path.as_os_str()])?;
    let ready = sender.event("share_ready")?;
    let ticket = ready["ticket"]
        .as_str()
        .context("share_ready without a ticket")?;
    let start = Instant::now();
    let args = [
        "receive".as_ref(),
        ticket.as_ref(),
        "--yes".as_ref(),
        "--dir".as_ref(),
        dl.as_os_str(),
    ];
    let mut receiver = peer("receiver", &args)?;
    let done = receiver.event("transfer_done")?;
    let to_done = start.elapsed().as_secs_f64();
    let (receiver_mib, receiver_cpu) = receiver.finish()?;
    let wall = start.elapsed().as_secs_f64();
    let (sender_mib, sender_cpu) = sender.finish()?;
    Ok(Run {
        dl,
        done,
        wall,
        to_done,
        sender_mib,
        receiver_mib,
        cpu: sender_cpu + receiver_cpu,
    })
}

/// A child process: JSON lines from stdout, stderr to a log file, peak RSS
/// sampled every 20 ms. Dropping it kills the process.
struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> anyhow::Result<Self> {
        let stderr = File::create(&log).context("cannot create a log file")?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (usage, stop) = (Arc::new(Usage::default()), Arc::new(AtomicBool::new(false)));
        let (seen, halt, pid) = (usage.clone(), stop.clone(), child.id());
        thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                sample(pid, &seen);
                thread::sleep(Duration::from_millis(20));
            }
        });
        Ok(Self {
            name: name.to_owned(),
            child,
            lines,
            log,
            usage,
            stop,
        })
    }

    /// Waits for the first JSON event named `event`.
    fn event(&mut self, event: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(value) if value["event"] == event => return Ok(value),
                    _ => {}
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(self.fail(&format!("no {event} in time")));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.fail(&format!("exited before {event}")));
                }
            }
        }
    }

    /// Waits for a successful exit; returns the peak RSS in MiB.
    /// Waits for the exit; returns the peak RSS in MiB and the CPU seconds.
    fn finish(&mut self) -> anyhow::Result<(f64, f64)> {
        let deadline = Instant::now() + STEP;
        let status = loop {
            sample(self.child.id(), &self.usage);
            if let Some(status) = self.child.try_wait().context("cannot wait for a child")? {
                break status;
            }
            if Instant::now() > deadline {
                return Err(self.fail("did not exit in time"));
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.stop.store(true, Ordering::Relaxed);
        if !status.success() {
            return Err(self.fail(&format!("exited with {status}")));
        }
        Ok((
            self.usage.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0,
            self.usage.cpu_centis.load(Ordering::Relaxed) as f64 / 100.0,
        ))
    }

    /// Kills the process and describes the failure with its stderr.
    fn fail(&mut self, what: &str) -> anyhow::Error {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
        anyhow!("{}: {what}; stderr:\n{}", self.name, stderr.trim_end())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the sampler saw of a process, the highest of each.
#[derive(Default)]
struct Usage {
    peak_kib: AtomicU64,
    /// CPU time in 1/100 s.
    cpu_centis: AtomicU64,
}

/// Raises `usage` to the process's `VmHWM` (peak resident set, KiB) and
/// CPU time so far.
fn sample(pid: u32, usage: &Usage) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    if let Some(kib) = line.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()) {
        usage.peak_kib.fetch_max(kib, Ordering::Relaxed);
    }
    let centis = (cpu_seconds(pid) * 100.0).round() as u64;
    usage.cpu_centis.fetch_max(centis, Ordering::Relaxed);
}
