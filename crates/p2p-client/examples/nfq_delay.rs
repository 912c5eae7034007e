//! Delays every packet of an NFQUEUE by a fixed time: latency for the NAT lab
//! where the kernel has no `netem`. Linux only, needs root; run it inside the
//! namespace whose iptables rule sends packets to the queue, e.g.
//!
//! ```text
//! iptables -t mangle -A FORWARD -j NFQUEUE --queue-num 0
//! nfq_delay 0 25        # queue 0, 25 ms
//! ```
//!
//! Packets leave in arrival order. `nat_bench` starts and stops it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let queue: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let delay = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(25));
    let mut q = nfq::Queue::open()?;
    q.bind(queue)?;
    q.set_nonblocking(true);
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    loop {
        // Take everything that has arrived.
        loop {
            match q.recv() {
                Ok(mut msg) => {
                    msg.set_verdict(nfq::Verdict::Accept);
                    held.push_back((Instant::now() + delay, msg));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Release what is due.
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, msg)) = held.pop_front() {
                q.verdict(msg)?;
            }
        }
        let wait = held
            .front()
            .map_or(Duration::from_micros(200), |(due, _)| {
                due.saturating_duration_since(now)
            })
            .min(Duration::from_micros(200));
        std::thread::sleep(wait);
    }
}
