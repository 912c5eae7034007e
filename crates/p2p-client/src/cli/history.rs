//! `p2p-client history`: past transfers of this config folder, newest first.

use std::process::ExitCode;

use indicatif::HumanBytes;
use p2p_client::dirs::Dirs;
use p2p_client::history::{Entry, History};
use p2p_client::peers::short_id;

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Show at most this many transfers (the newest).
    #[arg(long, short = 'n')]
    limit: Option<usize>,
}

pub(crate) fn run(dirs: &Dirs, json: bool, args: &HistoryArgs) -> ExitCode {
    let entries = History::new(&dirs.data).load();
    let newest: Vec<&Entry> = entries
        .iter()
        .rev()
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    if json {
        for entry in newest {
            if let Ok(line) = serde_json::to_string(entry) {
                println!("{line}");
            }
        }
        return ExitCode::SUCCESS;
    }
    if newest.is_empty() {
        println!("No transfers yet.");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<16}  {:<8}  {:<14}  {:>5}  {:>10}  {:<10}  WHAT",
        "WHEN (UTC)", "", "PEER", "FILES", "SIZE", "RESULT"
    );
    for entry in newest {
        println!("{}", line(entry));
    }
    ExitCode::SUCCESS
}

/// One entry as a table row; the reason of a failure follows its row.
fn line(entry: &Entry) -> String {
    let direction = match entry.direction.as_str() {
        "send" => "sent to",
        "receive" => "from",
        other => other,
    };
    let (result, reason) = match entry.outcome.split_once(": ") {
        Some((result, reason)) => (result, Some(reason)),
        None => (entry.outcome.as_str(), None),
    };
    let mut what = entry.names.join(", ");
    if let Some(path) = &entry.path {
        what = if what.is_empty() {
            path.clone()
        } else {
            format!("{what} in {path}")
        };
    }
    let mut line = format!(
        "{:<16}  {:<8}  {:<14}  {:>5}  {:>10}  {:<10}  {what}",
        utc(entry.when),
        direction,
        short_id(&entry.peer),
        entry.files,
        HumanBytes(entry.bytes).to_string(),
        result,
    );
    if let Some(reason) = reason {
        line.push_str(&format!("\n{:<18}{reason}", ""));
    }
    line
}

/// `2026-12-03 14:02` for seconds since the epoch.
pub(crate) fn utc(secs: u64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0)) else {
        return "?".into();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_say_when_who_what_and_why() {
        let entry = Entry {
            when: 1_796_300_000,
            direction: "receive".into(),
            peer: "12D3KooWAbcdefghijklmnopqrstuvwxyz".into(),
            files: 2,
            bytes: 2048,
            outcome: "failed: the disk is full".into(),
            names: vec!["album".into()],
            path: Some("/home/a/Downloads".into()),
        };
        let text = line(&entry);
        assert!(text.starts_with("2026-12-03 "), "{text}");
        assert!(text.contains("from"));
        assert!(text.contains("12D3Ko…wxyz"), "{text}");
        assert!(text.contains("2.00 KiB"));
        assert!(text.contains("failed"));
        assert!(text.contains("album in /home/a/Downloads"));
        assert!(text.ends_with("the disk is full"));
    }
}
