//! A network lab of namespaces: a public segment (a bridge) with the signal
//! server and a public peer, and two home routers doing NAT with one host
//! behind each. Only 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24.
//!
//! ```text
//!   srv 203.0.113.10   pub 203.0.113.20
//!          \              /
//!           [ sw: bridge ]
//!          /              \
//!   ra 203.0.113.1      rb 203.0.113.2      (MASQUERADE, drop unsolicited)
//!   198.51.100.1        192.0.2.1
//!        |                  |
//!   a 198.51.100.2      b 192.0.2.2
//! ```
//!
//! Everything is removed on drop, on failure too.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::VecDeque;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a home router maps ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// MASQUERADE: keeps ports where it can (port-restricted cone).
    Cone,
    /// MASQUERADE --random-fully: a new port per destination (symmetric).
    Symmetric,
}

pub struct Lab {
    prefix: String,
    /// Packet delays running on routers; stopped before the namespaces go.
    delays: std::sync::Mutex<Vec<Delay>>,
    /// Labs are heavy: one at a time per test process.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub const SERVER_IP: &str = "203.0.113.10";
pub const PUBLIC_IP: &str = "203.0.113.20";
pub const HOST_A_IP: &str = "198.51.100.2";
pub const HOST_B_IP: &str = "192.0.2.2";

fn run(args: &[&str]) -> Result<Output, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// Builds the lab; `a` and `b` choose the routers' NAT kinds.
    pub fn new(a: Nat, b: Nat) -> Result<Self, String> {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sweep_stale();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("{LAB_PREFIX}{}-{n}", std::process::id());
        let lab = Lab {
            prefix,
            delays: std::sync::Mutex::new(Vec::new()),
            _turn: turn,
        };
        lab.build(a, b)?;
        Ok(lab)
    }

    /// The namespace of a role: `srv`, `pub`, `sw`, `ra`, `rb`, `a`, `b`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn ip(&self, ns: &str, args: &[&str]) -> Result<(), String> {
        let ns = self.ns(ns);
        let mut all = vec!["ip", "-n", ns.as_str()];
        all.extend_from_slice(args);
        run(&all).map(|_| ())
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Result<(), String> {
        let ns = self.ns(ns);
        let mut all = vec!["ip", "netns", "exec", ns.as_str()];
        all.extend_from_slice(args);
        run(&all).map(|_| ())
    }

    /// A veth pair between two namespaces, with names `v<tag>x`/`v<tag>y`.
    fn link(&self, tag: &str, left: &str, right: &str) -> Result<(String, String), String> {
        // Interface names: at most 15 bytes, unique per lab.
        let id = (std::process::id() % 10_000) * 10
            + NEXT.load(std::sync::atomic::Ordering::Relaxed) % 10;
        let (l, r) = (format!("v{id}{tag}x"), format!("v{id}{tag}y"));
        run(&["ip", "link", "add", &l, "type", "veth", "peer", "name", &r])?;
        run(&["ip", "link", "set", &l, "netns", &self.ns(left)])?;
        run(&["ip", "link", "set", &r, "netns", &self.ns(right)])?;
        self.ip(left, &["link", "set", &l, "up"])?;
        self.ip(right, &["link", "set", &r, "up"])?;
        Ok((l, r))
    }

    fn build(&self, nat_a: Nat, nat_b: Nat) -> Result<(), String> {
        for role in ["sw", "srv", "pub", "ra", "rb", "a", "b"] {
            run(&["ip", "netns", "add", &self.ns(role)])?;
            self.ip(role, &["link", "set", "lo", "up"])?;
        }
        self.ip("sw", &["link", "add", "br0", "type", "bridge"])?;
        self.ip("sw", &["link", "set", "br0", "up"])?;
        let public = [
            ("srv", SERVER_IP),
            ("pub", PUBLIC_IP),
            ("ra", "203.0.113.1"),
            ("rb", "203.0.113.2"),
        ];
        for (i, (role, addr)) in public.iter().enumerate() {
            let (inside, port) = self.link(&format!("p{i}"), role, "sw")?;
            self.ip("sw", &["link", "set", &port, "master", "br0"])?;
            self.ip(
                role,
                &["addr", "add", &format!("{addr}/24"), "dev", &inside],
            )?;
            if role.starts_with('r') {
                self.ip(role, &["link", "set", &inside, "down"])?;
                self.ip(role, &["link", "set", &inside, "name", "wan"])?;
                self.ip(role, &["link", "set", "wan", "up"])?;
            }
        }
        self.home("ra", "a", "198.51.100", nat_a)?;
        self.home("rb", "b", "192.0.2", nat_b)?;
        Ok(())
    }

    /// A home: router `router` with LAN `net.1`, host `host` at `net.2`.
    fn home(&self, router: &str, host: &str, net: &str, nat: Nat) -> Result<(), String> {
        let (lan, host_if) = self.link(&format!("h{host}"), router, host)?;
        self.ip(router, &["link", "set", &lan, "down"])?;
        self.ip(router, &["link", "set", &lan, "name", "lan"])?;
        self.ip(router, &["link", "set", "lan", "up"])?;
        self.ip(
            router,
            &["addr", "add", &format!("{net}.1/24"), "dev", "lan"],
        )?;
        self.ip(
            host,
            &["addr", "add", &format!("{net}.2/24"), "dev", &host_if],
        )?;
        self.ip(
            host,
            &["route", "add", "default", "via", &format!("{net}.1")],
        )?;
        self.exec(router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        let mut masquerade = vec![
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "wan",
            "-j",
            "MASQUERADE",
        ];
        if nat == Nat::Symmetric {
            masquerade.push("--random-fully");
        }
        self.exec(router, &masquerade)?;
        // Like a real home router: replies come in, unsolicited packets do not.
        self.exec(
            router,
            &[
                "iptables",
                "-A",
                "FORWARD",
                "-i",
                "wan",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        )?;
        self.exec(
            router,
            &["iptables", "-A", "FORWARD", "-i", "wan", "-j", "DROP"],
        )?;
        self.exec(
            router,
            &[
                "iptables",
                "-A",
                "INPUT",
                "-i",
                "wan",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        )?;
        self.exec(
            router,
            &["iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP"],
        )?;
        Ok(())
    }

    /// A command run inside namespace `role`.
    pub fn command(&self, role: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(role), program]);
        cmd
    }

    /// Limits the rate from a home router to its host (tbf), like a slow
    /// home link; `rate` as `tc` reads it, e.g. `100mbit`.
    pub fn shape(&self, host: &str, rate: &str) -> Result<(), String> {
        let router = if host == "a" { "ra" } else { "rb" };
        self.exec(
            router,
            &[
                "tc", "qdisc", "add", "dev", "lan", "root", "tbf", "rate", rate, "burst", "64kb",
                "latency", "100ms",
            ],
        )?;
        self.exec(
            router,
            &[
                "tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", rate, "burst", "64kb",
                "latency", "100ms",
            ],
        )
    }

    /// The signal server with its relay on TCP and QUIC, on the public
    /// segment at [`SERVER_IP`] (WebSocket on port 8080, relay on 4001).
    pub fn signal_server(&self, bin: &std::path::Path) -> Command {
        let relay = format!("/ip4/{SERVER_IP}/tcp/4001,/ip4/{SERVER_IP}/udp/4001/quic-v1");
        let mut cmd = self.command("srv", bin.to_str().unwrap_or_default());
        cmd.args([
            "--listen",
            &format!("{SERVER_IP}:8080"),
            "--relay-listen",
            &relay,
            "--external-addr",
            &relay,
        ]);
        cmd
    }

    /// Delays every packet a home router forwards by `ms` milliseconds (both
    /// directions), as a long link would. The kernel here has no `netem`, so
    /// an NFQUEUE rule hands the packets to a thread of this process that
    /// sits in the router's namespace and releases them when due, in order.
    pub fn delay(&self, router: &str, ms: u64) -> Result<(), String> {
        self.delay_matching(router, ms, &[&[]])
    }

    /// Like [`Lab::delay`], for the forwarded packets that match one of
    /// `matches` (iptables match arguments, e.g. `["-p", "tcp", "--dport", "4001"]`).
    /// A packet is held by one queue only, the one added last that matches
    /// it: `ms` replaces an earlier delay, it does not add to it.
    pub fn delay_matching(&self, router: &str, ms: u64, matches: &[&[&str]]) -> Result<(), String> {
        let mut delays = self
            .delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let queue = u16::try_from(delays.len()).map_err(|_| "too many delays".to_owned())?;
        delays.push(Delay::start(
            &self.ns(router),
            queue,
            Duration::from_millis(ms),
        )?);
        drop(delays);
        // The queue is bound: only now send packets to it (an unbound queue
        // drops them).
        let queue = queue.to_string();
        for matching in matches {
            let mut rule = vec!["iptables", "-t", "mangle", "-I", "FORWARD", "1"];
            rule.extend_from_slice(matching);
            rule.extend_from_slice(&["-j", "NFQUEUE", "--queue-num", &queue]);
            self.exec(router, &rule)?;
        }
        Ok(())
    }

    /// Takes a host's link down for `secs` seconds, then up again.
    pub fn link_down(&self, host: &str, secs: u64) -> Result<(), String> {
        let router = if host == "a" { "ra" } else { "rb" };
        self.ip(router, &["link", "set", "lan", "down"])?;
        std::thread::sleep(std::time::Duration::from_secs(secs));
        self.ip(router, &["link", "set", "lan", "up"])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        for role in ["sw", "srv", "pub", "ra", "rb", "a", "b"] {
            delete_namespace(&self.ns(role));
        }
    }
}

/// Namespaces of a lab are named `<LAB_PREFIX><pid>-<n>-<role>`.
const LAB_PREFIX: &str = "p2plab";

/// Kills anything still running in the namespace `ns`, then deletes it
/// (which deletes its veths and bridge).
fn delete_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
}

/// Deletes the namespaces of labs whose process is gone: one killed before
/// its labs were dropped (a bench stopped with Ctrl-C, say) leaves them.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(LAB_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing {name}, left by a lab whose process is gone");
            delete_namespace(&name);
        }
    }
}

/// A thread holding back the packets of one NFQUEUE of a namespace.
struct Delay {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Delay {
    fn start(ns: &str, queue_num: u16, delay: Duration) -> Result<Self, String> {
        let path = format!("/run/netns/{ns}");
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, is_ready) = std::sync::mpsc::channel();
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let queue = (|| -> Result<nfq::Queue, String> {
                let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                // Only this thread moves into the namespace.
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {path}: {e}"))?;
                let mut queue = nfq::Queue::open().map_err(|e| format!("nfqueue: {e}"))?;
                queue
                    .bind(queue_num)
                    .map_err(|e| format!("nfqueue bind: {e}"))?;
                queue.set_nonblocking(true);
                Ok(queue)
            })();
            match queue {
                Ok(queue) => {
                    let _ = ready.send(Ok(()));
                    hold_back(queue, delay, &stopped);
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        });
        match is_ready.recv() {
            Ok(Ok(())) => Ok(Self {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the delay thread died".into()),
        }
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Releases each queued packet `delay` after it came, in arrival order,
/// until `stop`.
fn hold_back(mut queue: nfq::Queue, delay: Duration, stop: &AtomicBool) {
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    msg.set_verdict(nfq::Verdict::Accept);
                    held.push_back((Instant::now() + delay, msg));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, msg)) = held.pop_front()
                && queue.verdict(msg).is_err()
            {
                return;
            }
        }
        let wait = held.front().map_or(Duration::from_micros(200), |(due, _)| {
            due.saturating_duration_since(now)
        });
        std::thread::sleep(wait.min(Duration::from_micros(200)));
    }
}

/// The lab, or a skip (outside CI) / a loud failure (CI=true).
pub fn lab_or_skip(a: Nat, b: Nat) -> Option<Lab> {
    match Lab::new(a, b) {
        Ok(lab) => Some(lab),
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!(
                "SKIPPED: cannot build the NAT lab here ({e}); run as root with iproute2 and iptables"
            );
            None
        }
        Err(e) => panic!("CI=true but the NAT lab cannot be built: {e}"),
    }
}
