//! The real `p2p-client` binary.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_p2p-client");

fn id(dir: &std::path::Path, json: bool) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["id", "--config-dir"]).arg(dir);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn id_is_stable_for_one_config_dir_and_differs_between_dirs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = id(a.path(), false);
    assert!(first.starts_with("12D3KooW"), "{first}");
    assert_eq!(id(a.path(), false), first);
    assert_ne!(id(b.path(), false), first);
    assert_eq!(id(a.path(), true), format!("{{\"peer_id\":\"{first}\"}}"));
}

#[test]
fn a_damaged_identity_is_a_clear_failure_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity.key"), b"junk").unwrap();
    let out = Command::new(BIN)
        .args(["id", "--config-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("identity.key") && stderr.contains("damaged"),
        "{stderr}"
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = Command::new(BIN).arg("teleport").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Started with no display (a server, an SSH session), the app says so in
/// one line and points to the command line, without winit's details.
#[test]
fn with_no_display_the_app_points_to_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--no-mdns", "--config-dir"])
        .arg(dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no display"), "{stderr}");
    assert!(stderr.contains("p2p-client --help"), "{stderr}");
    assert!(!stderr.contains(".rs"), "{stderr}");
}

/// `send FILE` with `flags`, in a config folder of its own.
fn send_output(
    dir: &std::path::Path,
    file: &std::path::Path,
    flags: &[&str],
) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("--no-mdns")
        .args(flags)
        .arg("--config-dir")
        .arg(dir)
        .arg("send")
        .arg(file)
        .env_remove("P2P_MAX_RATE")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_rate_that_is_not_one_is_refused_from_the_flag_and_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    let (code, stderr) = send_output(dir.path(), &file, &["--max-rate", "fast"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("\"fast\" is not a rate") && stderr.contains("20M"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("config.toml"), "max_rate = \"10 X\"\n").unwrap();
    let (code, stderr) = send_output(dir.path(), &file, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("config file: max_rate") && stderr.contains("\"10 X\""),
        "{stderr}"
    );
}
