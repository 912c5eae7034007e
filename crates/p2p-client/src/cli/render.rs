//! Turns engine events into progress bars and lines, or JSON lines.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use p2p_client::event::{Direction, Event, Summary, count};

/// Renders events for a person (bars on stderr) or a script (`--json`).
/// Lines held back are written when it is dropped.
pub(crate) struct Renderer {
    json: bool,
    multi: MultiProgress,
    bars: HashMap<String, Bars>,
    hashing: Option<ProgressBar>,
    /// JSON lines of frequent events not written yet, and since when.
    held: String,
    held_since: Option<Instant>,
    /// Show a share's ticket (or our peer ID) as a QR code too.
    qr: bool,
    /// Stdout carries data (`receive --stdout`): lines for a person go to
    /// stderr.
    stdout_is_data: bool,
}

/// Frequent JSON lines (`file_done`, `progress`) are written together, at
/// the latest with the next other event or once they are this old or big:
/// ten thousand small files then cost a few writes, not one each.
const HOLD_FOR: Duration = Duration::from_millis(100);
const HOLD_BYTES: usize = 64 * 1024;

struct Bars {
    total: ProgressBar,
    file: ProgressBar,
    direction: Direction,
}

fn total_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>9} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// A stream's bar: no end to measure against, so bytes and speed only.
fn stream_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>9} {spinner} {bytes} {bytes_per_sec}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn file_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>9} [{bar:30.green/blue}] {bytes}/{total_bytes} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl Renderer {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            multi: MultiProgress::new(),
            bars: HashMap::new(),
            hashing: None,
            held: String::new(),
            held_since: None,
            qr: false,
            stdout_is_data: false,
        }
    }

    /// Keeps stdout for data: every line for a person goes to stderr.
    pub(crate) fn with_stdout_for_data(mut self, data: bool) -> Self {
        self.stdout_is_data = data;
        self
    }

    /// Also shows tickets and peer IDs as QR codes (`--qr`).
    pub(crate) fn with_qr(mut self, qr: bool) -> Self {
        self.qr = qr;
        self
    }

    /// Prints `text` as a QR code, if asked to (and not for scripts).
    pub(crate) fn show_qr(&self, text: &str) {
        if !self.qr || self.json {
            return;
        }
        match p2p_client::qr::encode(text) {
            Ok(modules) => self.say(modules.to_terminal().trim_end()),
            Err(e) => self.say(&format!("(no QR code: {e})")),
        }
    }

    /// Writes the JSON line of `event`, holding back frequent ones.
    fn json_line(&mut self, event: &Event) {
        let Ok(line) = serde_json::to_string(event) else {
            return;
        };
        self.held.push_str(&line);
        self.held.push('\n');
        let frequent = matches!(event, Event::FileDone { .. } | Event::Progress { .. });
        let since = *self.held_since.get_or_insert_with(Instant::now);
        if !frequent || self.held.len() >= HOLD_BYTES || since.elapsed() >= HOLD_FOR {
            self.flush();
        }
    }

    /// Writes every line held back.
    pub(crate) fn flush(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        // Nothing to do if stdout is gone (a closed pipe).
        let _ = out
            .write_all(self.held.as_bytes())
            .and_then(|()| out.flush());
        self.held.clear();
        self.held_since = None;
    }

    /// Prints a line for a person, above any bars (stdout in human mode).
    pub(crate) fn say(&self, line: &str) {
        if self.stdout_is_data {
            self.multi.suspend(|| eprintln!("{line}"));
        } else if !self.json {
            self.multi.suspend(|| println!("{line}"));
        }
    }

    pub(crate) fn on(&mut self, event: &Event) {
        if self.json {
            self.json_line(event);
            return;
        }
        match event {
            Event::Hashing { done } => {
                let bar = self.hashing.get_or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} hashing {bytes} {bytes_per_sec}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                bar.set_position(*done);
            }
            Event::ShareReady { code, ticket } => {
                if let Some(code) = code {
                    self.say(&format!("Share code: {code}"));
                    self.say(&format!(
                        "On the other computer run:  p2p-client receive {code}"
                    ));
                }
                self.say(&format!("Ticket (works without a server): {ticket}"));
                self.show_qr(&p2p_client::qr::for_share(ticket));
                self.say("Waiting for the receiver… (Ctrl-C to stop)");
            }
            Event::OfferSent {
                peer,
                files,
                bytes,
                text,
                unknown_size,
                ..
            } => {
                if let Some(bar) = self.hashing.take() {
                    bar.finish_and_clear();
                }
                let what = if *text {
                    "a text".to_owned()
                } else if *unknown_size {
                    "standard input".to_owned()
                } else {
                    format!("{}, {}", count(*files, "file"), HumanBytes(*bytes))
                };
                self.say(&format!(
                    "Offered {what} to {peer}; waiting for them to accept…"
                ));
            }
            Event::TextReceived { peer, text, .. } => {
                // The text alone on stdout, so that it can be piped.
                self.multi.suspend(|| {
                    eprintln!("Text from {peer}:");
                    println!("{text}");
                });
            }
            Event::TransferStarted {
                transfer_id,
                direction,
                bytes,
                resumed,
                path,
                files,
                unknown_size,
                ..
            } => {
                if let Some(bar) = self.hashing.take() {
                    bar.finish_and_clear();
                }
                let verb = match direction {
                    Direction::Send => "Sending",
                    Direction::Receive => "Receiving",
                };
                if *unknown_size {
                    self.say(&format!(
                        "{verb} a stream, its size known at its end ({path})"
                    ));
                    let total = self.multi.add(ProgressBar::new_spinner());
                    total.set_style(stream_style());
                    total.set_prefix("total");
                    total.enable_steady_tick(Duration::from_millis(200));
                    let file = self.multi.add(ProgressBar::hidden());
                    self.bars.insert(
                        transfer_id.clone(),
                        Bars {
                            total,
                            file,
                            direction: *direction,
                        },
                    );
                    return;
                }
                let resumed_note = if *resumed > 0 {
                    format!(", resuming after {}", HumanBytes(*resumed))
                } else {
                    String::new()
                };
                self.say(&format!(
                    "{verb} {}, {} ({path}{resumed_note})",
                    count(*files, "file"),
                    HumanBytes(*bytes)
                ));
                let total = self.multi.add(ProgressBar::new(*bytes));
                total.set_style(total_style());
                total.set_prefix("total");
                total.set_position(*resumed);
                let file = self.multi.add(ProgressBar::new(0));
                file.set_style(file_style());
                file.set_prefix("file");
                self.bars.insert(
                    transfer_id.clone(),
                    Bars {
                        total,
                        file,
                        direction: *direction,
                    },
                );
            }
            Event::Progress {
                transfer_id,
                done,
                file,
                file_done,
                file_size,
                ..
            } => {
                if let Some(bars) = self.bars.get(transfer_id) {
                    bars.total.set_position(*done);
                    bars.file.set_length(*file_size);
                    bars.file.set_position(*file_done);
                    bars.file
                        .set_message(protocol::path::display_escaped(file, 120));
                }
            }
            Event::FileDone { transfer_id, file } => {
                if let Some(bars) = self.bars.get(transfer_id) {
                    bars.file.set_message(protocol::path::display_escaped(
                        &file.display().to_string(),
                        120,
                    ));
                }
            }
            Event::TransferDone {
                transfer_id,
                summary,
            } => {
                let direction = self.bars.remove(transfer_id).map(|bars| {
                    bars.total.finish_and_clear();
                    bars.file.finish_and_clear();
                    bars.direction
                });
                if self.stdout_is_data {
                    // Spooled for stdout, not saved: no folder to name.
                    let summary = Summary {
                        saved: Vec::new(),
                        ..summary.clone()
                    };
                    let line = summary_line(direction.unwrap_or(Direction::Send), &summary);
                    self.say(&format!("{line}; to standard output"));
                } else {
                    self.say(&summary_line(direction.unwrap_or(Direction::Send), summary));
                }
            }
            Event::TransferFailed {
                transfer_id,
                peer,
                error,
            } => {
                if let Some(bars) = self.bars.remove(transfer_id) {
                    bars.total.abandon();
                    bars.file.finish_and_clear();
                }
                self.multi
                    .suspend(|| eprintln!("Transfer with {peer} failed: {error}"));
            }
            Event::ListenFailed { addr, reason } => {
                self.multi.suspend(|| {
                    eprintln!("Warning: cannot listen on {addr} ({reason}); going on without it")
                });
            }
            Event::Declined { reason, .. } => {
                self.multi.suspend(|| eprintln!("Declined: {reason}"));
            }
            Event::PeerFound { .. }
            | Event::PeerLost { .. }
            | Event::Listening { .. }
            | Event::OfferReceived { .. } => {}
            _ => {}
        }
    }
}

/// `Sent 3 files (12.3 MiB) in 1.20 s, 10.5 MB/s, direct, TCP`.
pub(crate) fn summary_line(direction: Direction, s: &Summary) -> String {
    let verb = match direction {
        Direction::Send => "Sent",
        Direction::Receive => "Received",
    };
    if s.text {
        return format!("{verb} a text ({}), {}", HumanBytes(s.bytes), s.path);
    }
    let saved = if s.saved.is_empty() {
        String::new()
    } else {
        format!(" into {}", s.saved.join(", "))
    };
    format!(
        "{verb} {} ({}){saved} in {:.2} s, {:.1} MB/s, {}",
        count(s.files, "file"),
        HumanBytes(s.bytes),
        s.seconds,
        s.mb_per_sec(),
        s.path
    )
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.flush();
    }
}
