//! The desktop app driven headlessly with egui_kittest, against real engines
//! on loopback and a real signal server on 127.0.0.1:0.

#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use p2p_client::config::{FileConfig, Flags};
use p2p_client::dirs::Dirs;
use p2p_client::gui::{FixedPicker, GuiApp, GuiOptions, RowState, short_id};
use signal_server::testing::TestServer;

/// A signal server on its own runtime, alive as long as this value.
struct Server {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
}

impl Server {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(TestServer::start(signal_server::Config::localhost()))
            .unwrap();
        Self { runtime, server }
    }

    fn url(&self) -> String {
        self.server.ws_url()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.shutdown.cancel();
        let _ = &self.runtime;
    }
}

/// One app instance: its folders and its harness.
struct App {
    harness: Harness<'static, GuiApp>,
    _config: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

fn write_config(config_dir: &Path, name: &str, downloads: &Path) {
    FileConfig {
        name: Some(name.into()),
        download_dir: Some(downloads.to_path_buf()),
        ..FileConfig::default()
    }
    .save(config_dir)
    .unwrap();
}

fn start_app(
    config_dir: &Path,
    server: Option<String>,
    picks: Vec<PathBuf>,
) -> Harness<'static, GuiApp> {
    let flags = Flags {
        no_mdns: true,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        servers: server.into_iter().collect(),
        ..Flags::default()
    };
    start_app_with(config_dir, flags, picks)
}

fn start_app_with(
    config_dir: &Path,
    flags: Flags,
    picks: Vec<PathBuf>,
) -> Harness<'static, GuiApp> {
    let options = GuiOptions {
        dirs: Dirs::resolve(Some(config_dir)).unwrap(),
        flags,
    };
    let repaint_target = eframe::egui::Context::default();
    let app = GuiApp::new(
        options,
        Box::new(FixedPicker { paths: picks }),
        &repaint_target,
    );
    Harness::builder()
        .with_size([1000.0, 700.0])
        .build_ui_state(|ui, app: &mut GuiApp| app.ui(ui), app)
}

fn app(name: &str, server: Option<String>, picks: Vec<PathBuf>) -> App {
    let config = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    write_config(config.path(), name, downloads.path());
    let harness = start_app(config.path(), server, picks);
    App {
        harness,
        _config: config,
        downloads,
    }
}

/// How long a test waits for an app to reach a state. Generous: the gui
/// tests run side by side with the rest of the suite on a small machine.
const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// Steps every app until `done` holds (engines run on their own threads).
/// On timeout, the panic shows each app's transfers and offers.
fn step_until(apps: &mut [&mut App], what: &str, mut done: impl FnMut(&mut [&mut App]) -> bool) {
    let deadline = std::time::Instant::now() + STEP_DEADLINE;
    while std::time::Instant::now() < deadline {
        for app in apps.iter_mut() {
            app.harness.step();
        }
        if done(apps) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let states: Vec<String> = apps
        .iter()
        .map(|app| {
            let model = app.harness.state().model();
            format!(
                "transfers {:?}, offers {}",
                model.transfers,
                model.offers.len()
            )
        })
        .collect();
    panic!("timed out waiting for {what}; apps: {states:#?}");
}

fn peer_of(app: &App) -> String {
    app.harness
        .state()
        .peer_id()
        .expect("engine running")
        .to_string()
}

/// Two apps registered on one server see each other.
fn pair(server: &Server, picks: Vec<PathBuf>) -> (App, App) {
    let mut alice = app("Alice", Some(server.url()), picks);
    let mut bob = app("Bob", Some(server.url()), Vec::new());
    step_until(
        &mut [&mut alice, &mut bob],
        "both engines and peers",
        |apps| {
            let ids: Vec<Option<String>> = apps
                .iter()
                .map(|a| a.harness.state().peer_id().map(|p| p.to_string()))
                .collect();
            let (Some(a), Some(b)) = (&ids[0], &ids[1]) else {
                return false;
            };
            apps[0].harness.state().model().peers.contains_key(b)
                && apps[1].harness.state().model().peers.contains_key(a)
        },
    );
    (alice, bob)
}

#[test]
fn a_peer_appears_and_a_sent_file_is_accepted_and_arrives() {
    let server = Server::start();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("holiday.bin");
    let data: Vec<u8> = (0..64 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();
    let (mut alice, mut bob) = pair(&server, vec![file.clone()]);

    // Alice's list shows Bob by name, short ID and where he was seen.
    alice.harness.get_by_label("Bob");
    alice
        .harness
        .get_by_label_contains(&short_id(&peer_of(&bob)));
    alice.harness.get_by_label("Send files…").click_accesskit();

    // Bob's one-click dialog shows the sender, the count, the size and the names.
    step_until(&mut [&mut alice, &mut bob], "the offer dialog", |apps| {
        apps[1].harness.query_by_label("Accept").is_some()
    });
    bob.harness.get_by_label_contains("Alice (");
    bob.harness.get_by_label_contains("1 file,");
    bob.harness.get_by_label("holiday.bin");
    bob.harness.get_by_label("Accept").click_accesskit();

    let mut saw_progress = false;
    step_until(
        &mut [&mut alice, &mut bob],
        "the finished transfer",
        |apps| {
            saw_progress |= apps[1].harness.query_by_label_contains(" left").is_some();
            let done = |app: &App| {
                app.harness
                    .state()
                    .model()
                    .transfers
                    .iter()
                    .any(|t| matches!(t.state, RowState::Done(_)))
            };
            done(apps[0]) && done(apps[1])
        },
    );
    bob.harness.step();
    alice.harness.step();
    bob.harness.get_by_label("Done");
    bob.harness.get_by_label("Open folder");
    alice.harness.get_by_label("Done");
    assert!(
        saw_progress,
        "no progress line (bytes, speed, time left) was shown"
    );
    assert_eq!(
        std::fs::read(bob.downloads.path().join("holiday.bin")).unwrap(),
        data
    );
}

#[test]
fn a_declined_offer_shows_on_both_sides_and_writes_nothing() {
    let server = Server::start();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("unwanted.txt");
    std::fs::write(&file, b"no thanks").unwrap();
    let (mut alice, mut bob) = pair(&server, vec![file]);
    alice.harness.get_by_label("Send files…").click_accesskit();
    step_until(&mut [&mut alice, &mut bob], "the offer dialog", |apps| {
        apps[1].harness.query_by_label("Decline").is_some()
    });
    bob.harness.get_by_label("Decline").click_accesskit();
    step_until(
        &mut [&mut alice, &mut bob],
        "the decline at the sender",
        |apps| {
            apps[0]
                .harness
                .query_by_label_contains("declined")
                .is_some()
        },
    );
    assert!(
        bob.harness.query_by_label("Accept").is_none(),
        "the dialog stayed open"
    );
    assert_eq!(std::fs::read_dir(bob.downloads.path()).unwrap().count(), 0);
}

#[test]
fn files_dropped_on_the_window_go_to_the_peer_picked_in_the_dialog() {
    let server = Server::start();
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("album");
    std::fs::create_dir_all(folder.join("empty")).unwrap();
    std::fs::write(folder.join("one.jpg"), b"first picture").unwrap();
    let (mut alice, mut bob) = pair(&server, Vec::new());
    alice
        .harness
        .input_mut()
        .dropped_files
        .push(eframe::egui::DroppedFile {
            path: Some(folder.clone()),
            ..Default::default()
        });
    alice.harness.step();
    alice.harness.step();
    alice.harness.get_by_label("Send 1 dropped item(s) to:");
    alice
        .harness
        .get_by_label_contains("Bob (")
        .click_accesskit();
    step_until(&mut [&mut alice, &mut bob], "the offer dialog", |apps| {
        apps[1].harness.query_by_label("Accept").is_some()
    });
    bob.harness.get_by_label_contains("in 2 folders");
    bob.harness.get_by_label("Accept").click_accesskit();
    step_until(
        &mut [&mut alice, &mut bob],
        "the finished transfer",
        |apps| {
            apps[1]
                .harness
                .state()
                .model()
                .transfers
                .iter()
                .any(|t| matches!(t.state, RowState::Done(_)))
        },
    );
    assert_eq!(
        std::fs::read(bob.downloads.path().join("album/one.jpg")).unwrap(),
        b"first picture"
    );
    assert!(bob.downloads.path().join("album/empty").is_dir());
}

#[test]
fn settings_survive_a_restart() {
    let config = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    write_config(config.path(), "Before", downloads.path());
    {
        let mut harness = start_app(config.path(), None, Vec::new());
        harness.run_steps(2);
        harness.get_by_label("Settings").click_accesskit();
        harness.run_steps(2);
        let field =
            harness.get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Display name");
        field.focus();
        harness.run_steps(1);
        harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::A);
        harness
            .get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Display name")
            .type_text("Kitchen laptop");
        harness.run_steps(1);
        harness.get_by_label("dark").click_accesskit();
        harness.run_steps(1);
        harness
            .get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Upload limit")
            .focus();
        harness.run_steps(1);
        harness
            .get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Upload limit")
            .type_text("fast");
        harness.run_steps(1);
        harness.get_by_label("Save").click_accesskit();
        harness.run_steps(2);
        harness.get_by_label_contains("Upload limit: \"fast\" is not a rate");
        harness
            .get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Upload limit")
            .focus();
        harness.run_steps(1);
        harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::A);
        harness
            .get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "Upload limit")
            .type_text("5M");
        harness.run_steps(1);
        harness.get_by_label("Save").click_accesskit();
        harness.run_steps(2);
        harness.get_by_label("Settings saved.");
    }
    let mut again = start_app(config.path(), None, Vec::new());
    again.run_steps(2);
    assert_eq!(
        again.state().settings().name.as_deref(),
        Some("Kitchen laptop")
    );
    assert_eq!(again.state().settings().theme.as_deref(), Some("dark"));
    assert_eq!(again.state().settings().max_rate.as_deref(), Some("5M"));
    again.get_by_label("Settings").click_accesskit();
    again.run_steps(2);
    assert!(again.query_all_by_value("Kitchen laptop").next().is_some());
}

#[test]
fn without_a_server_or_with_an_unreachable_one_the_window_works_and_says_so() {
    let mut lan_only = app("Solo", None, Vec::new());
    step_until(&mut [&mut lan_only], "the engine", |apps| {
        apps[0].harness.state().peer_id().is_some()
    });
    lan_only.harness.get_by_label("LAN only (no signal server)");
    lan_only.harness.get_by_label_contains("No peers yet");

    // Port 1 on loopback: nothing listens there.
    let mut unreachable = app("Solo", Some("ws://127.0.0.1:1/ws".into()), Vec::new());
    step_until(&mut [&mut unreachable], "the server error", |apps| {
        apps[0]
            .harness
            .query_by_label_contains("Signal server unreachable")
            .is_some()
    });
    unreachable.harness.get_by_label("Send with a code…");
}

#[test]
fn a_text_written_in_the_app_is_shown_to_the_peer_who_accepts_it_with_copy() {
    let server = Server::start();
    let (mut alice, mut bob) = pair(&server, Vec::new());
    alice.harness.get_by_label("Send text…").click_accesskit();
    step_until(&mut [&mut alice], "the text box", |apps| {
        apps[0].harness.query_by_label("Message").is_some()
    });
    let field = alice.harness.get_by_label("Message");
    field.focus();
    field.type_text("the wifi password is hunter2");
    alice.harness.step();
    alice.harness.get_by_label("Send").click_accesskit();

    step_until(&mut [&mut alice, &mut bob], "the text offer", |apps| {
        apps[1].harness.query_by_label("Accept").is_some()
    });
    // Asked by its length; the text is not shown before Accept.
    bob.harness.get_by_label("a text of 28 characters");
    assert!(bob.harness.query_by_label_contains("hunter2").is_none());
    bob.harness.get_by_label("Accept").click_accesskit();
    step_until(&mut [&mut alice, &mut bob], "the text window", |apps| {
        apps[1]
            .harness
            .query_by_label_contains("Text from Alice")
            .is_some()
            && apps[0].harness.query_by_label("Done").is_some()
    });
    bob.harness.get_by_label("the wifi password is hunter2");
    alice.harness.get_by_label("a text");
    bob.harness.get_by_label("Copy").click_accesskit();
    bob.harness.step();
    let copied = bob.harness.output().platform_output.commands.iter().any(|c| {
        matches!(c, eframe::egui::OutputCommand::CopyText(t) if t == "the wifi password is hunter2")
    });
    assert!(copied, "Copy did not put the text on the clipboard");
    bob.harness.get_by_label("Close").click_accesskit();
    step_until(&mut [&mut bob], "the text window to close", |apps| {
        apps[0]
            .harness
            .query_by_label_contains("Text from Alice")
            .is_none()
    });
    // Nothing was saved.
    assert_eq!(std::fs::read_dir(bob.downloads.path()).unwrap().count(), 0);
}

/// `p2p-client receive TICKET --yes` into a folder of its own, while the
/// app runs; its exit status and the folder.
fn cli_receive(app: &mut App, ticket: &str) -> (std::process::ExitStatus, tempfile::TempDir) {
    let config = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let mut receiver = std::process::Command::new(env!("CARGO_BIN_EXE_p2p-client"))
        .args([
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--config-dir",
        ])
        .arg(config.path())
        .args(["receive", ticket, "--yes", "--dir"])
        .arg(downloads.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = None;
    step_until(&mut [app], "the CLI receiver", |_| {
        status = receiver.try_wait().unwrap();
        status.is_some()
    });
    (status.unwrap(), downloads)
}

/// Two devices ticked, then "Choose files…": one send to both, each with
/// its own offer and row.
#[test]
fn files_sent_to_two_ticked_devices_arrive_at_both() {
    let server = Server::start();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("plan.txt");
    std::fs::write(&file, b"the plan for everyone").unwrap();
    let mut alice = app("Alice", Some(server.url()), vec![file.clone()]);
    let mut bob = app("Bob", Some(server.url()), Vec::new());
    let mut carol = app("Carol", Some(server.url()), Vec::new());
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "three peers",
        |apps| apps[0].harness.state().model().peers.len() == 2,
    );
    // Nothing ticked: the drop zone's buttons wait for a choice.
    assert!(
        alice
            .harness
            .get_by_label("Choose files…")
            .accesskit_node()
            .is_disabled()
    );
    alice.harness.get_by_label("Select Bob").click_accesskit();
    alice.harness.get_by_label("Select Carol").click_accesskit();
    step_until(&mut [&mut alice], "the selection", |apps| {
        apps[0]
            .harness
            .query_by_label_contains("to send them to 2 devices")
            .is_some()
    });
    alice
        .harness
        .get_by_label("Choose files…")
        .click_accesskit();
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "two offers",
        |apps| {
            apps[1].harness.query_by_label("Accept").is_some()
                && apps[2].harness.query_by_label("Accept").is_some()
        },
    );
    bob.harness.get_by_label("Accept").click_accesskit();
    carol.harness.get_by_label("Accept").click_accesskit();
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "both sends",
        |apps| {
            apps[0]
                .harness
                .state()
                .model()
                .transfers
                .iter()
                .filter(|t| matches!(t.state, RowState::Done(_)))
                .count()
                == 2
        },
    );
    for receiver in [&bob, &carol] {
        assert_eq!(
            std::fs::read(receiver.downloads.path().join("plan.txt")).unwrap(),
            b"the plan for everyone"
        );
    }
}

/// The app takes offers from two senders in one run: each waits for its
/// own Accept, and both arrive.
#[test]
fn the_app_receives_from_two_senders_at_once() {
    let server = Server::start();
    let src = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = ["from-bob.bin", "from-carol.bin"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let file = src.path().join(name);
            std::fs::write(&file, vec![i as u8 + 1; 3 * 1024 * 1024]).unwrap();
            file
        })
        .collect();
    let mut alice = app("Alice", Some(server.url()), Vec::new());
    let mut bob = app("Bob", Some(server.url()), vec![files[0].clone()]);
    let mut carol = app("Carol", Some(server.url()), vec![files[1].clone()]);
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "three peers",
        |apps| {
            apps.iter()
                .all(|a| a.harness.state().model().peers.len() == 2)
        },
    );
    for sender in [&mut bob, &mut carol] {
        sender
            .harness
            .get_by_label("Select Alice")
            .click_accesskit();
    }
    step_until(&mut [&mut bob, &mut carol], "Alice ticked", |apps| {
        apps.iter().all(|a| {
            a.harness
                .query_by_label_contains("to send them to Alice")
                .is_some()
        })
    });
    for sender in [&mut bob, &mut carol] {
        sender
            .harness
            .get_by_label("Choose files…")
            .click_accesskit();
    }
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "both offers",
        |apps| apps[0].harness.state().model().offers.len() == 2,
    );
    // Each Accept answers the offer in front; the next dialog shows only
    // once the model has let the first go.
    for left in [1, 0] {
        step_until(&mut [&mut alice], "the offer dialog", |apps| {
            apps[0].harness.query_by_label("Accept").is_some()
        });
        alice.harness.get_by_label("Accept").click_accesskit();
        step_until(
            &mut [&mut alice, &mut bob, &mut carol],
            "the offer answered",
            |apps| apps[0].harness.state().model().offers.len() == left,
        );
    }
    step_until(
        &mut [&mut alice, &mut bob, &mut carol],
        "both files",
        |apps| {
            apps[0]
                .harness
                .state()
                .model()
                .transfers
                .iter()
                .filter(|t| matches!(t.state, RowState::Done(_)))
                .count()
                == 2
        },
    );
    for file in &files {
        assert_eq!(
            std::fs::read(alice.downloads.path().join(file.file_name().unwrap())).unwrap(),
            std::fs::read(file).unwrap()
        );
    }
}

/// With no server the share box shows the ticket, its QR code and copy
/// buttons; a CLI receiver with that ticket gets the file.
#[test]
fn the_share_box_shows_the_ticket_as_a_qr_code_and_a_cli_receiver_fetches_with_it() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("report.pdf");
    std::fs::write(&file, b"quarterly figures").unwrap();
    let mut solo = app("Solo", None, vec![file.clone()]);
    step_until(&mut [&mut solo], "the engine", |apps| {
        apps[0].harness.state().peer_id().is_some()
    });
    solo.harness
        .get_by_label("Send with a code…")
        .click_accesskit();
    step_until(&mut [&mut solo], "the share box", |apps| {
        apps[0].harness.query_by_label("Copy ticket").is_some()
    });
    solo.harness.get_by_label("QR code of the ticket");
    let ticket = solo.harness.state().share_ticket().unwrap().to_owned();
    assert!(ticket.starts_with("p2pt"), "{ticket}");

    let (status, downloads) = cli_receive(&mut solo, &ticket);
    assert!(status.success());
    assert_eq!(
        std::fs::read(downloads.path().join("report.pdf")).unwrap(),
        b"quarterly figures"
    );
}

/// The share box for two receivers: both fetch with the same ticket.
#[test]
fn a_share_for_two_receivers_serves_both_with_one_ticket() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("menu.pdf");
    std::fs::write(&file, b"soup, bread, cake").unwrap();
    let mut solo = app("Solo", None, vec![file.clone()]);
    step_until(&mut [&mut solo], "the engine", |apps| {
        apps[0].harness.state().peer_id().is_some()
    });
    let field = solo.harness.get_by_label("receiver");
    field.focus();
    field.type_text("2");
    solo.harness.key_press(eframe::egui::Key::Enter);
    step_until(&mut [&mut solo], "two receivers", |apps| {
        apps[0].harness.query_by_label("receivers").is_some()
    });
    solo.harness
        .get_by_label("Send with a code…")
        .click_accesskit();
    step_until(&mut [&mut solo], "the share box", |apps| {
        apps[0].harness.state().share_ticket().is_some()
    });
    let ticket = solo.harness.state().share_ticket().unwrap().to_owned();
    // Two get the file; the third finds the ticket used up.
    for round in 0..3 {
        let (status, downloads) = cli_receive(&mut solo, &ticket);
        if round == 2 {
            assert!(!status.success());
            break;
        }
        assert!(status.success());
        assert_eq!(
            std::fs::read(downloads.path().join("menu.pdf")).unwrap(),
            b"soup, bread, cake"
        );
    }
}

#[test]
fn the_app_listens_where_the_config_file_says_and_applies_a_new_upload_limit_at_once() {
    let config = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    FileConfig {
        name: Some("Desk".into()),
        download_dir: Some(downloads.path().to_path_buf()),
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        max_rate: Some("1M".into()),
        ..FileConfig::default()
    }
    .save(config.path())
    .unwrap();
    // No --listen: the file's address is the one used.
    let flags = Flags {
        no_mdns: true,
        ..Flags::default()
    };
    let mut harness = start_app_with(config.path(), flags, Vec::new());
    let wanted = format!("/ip4/127.0.0.1/tcp/{port}");
    for _ in 0..400 {
        harness.step();
        if harness.state().model().listening.contains(&wanted) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(harness.state().model().listening, [wanted]);
    assert_eq!(
        harness.state().upload_limit().map(|r| r.get()),
        Some(1_000_000)
    );
    let engine_before = harness.state().peer_id();
    harness.get_by_label("Settings").click_accesskit();
    harness.run_steps(2);
    let limit = eframe::egui::accesskit::Role::TextInput;
    harness.get_by_role_and_label(limit, "Upload limit").focus();
    harness.run_steps(1);
    harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::A);
    harness
        .get_by_role_and_label(limit, "Upload limit")
        .type_text("2M");
    harness.run_steps(1);
    harness.get_by_label("Save").click_accesskit();
    harness.run_steps(1);
    // The same engine, now with the new limit: no restart was needed.
    assert_eq!(harness.state().peer_id(), engine_before);
    assert_eq!(
        harness.state().upload_limit().map(|r| r.get()),
        Some(2_000_000)
    );
}

/// `send -` from the CLI to the app: the offer says the size is not known
/// yet, the row shows bytes so far, and the verified stream is saved.
#[test]
fn a_stream_from_the_cli_is_offered_with_its_size_unknown_and_saved_once_accepted() {
    let server = Server::start();
    let mut alice = app("Alice", Some(server.url()), Vec::new());
    step_until(&mut [&mut alice], "the engine", |apps| {
        apps[0].harness.state().peer_id().is_some()
    });
    let src = tempfile::tempdir().unwrap();
    let input = src.path().join("input");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let config = tempfile::tempdir().unwrap();
    let mut sender = std::process::Command::new(env!("CARGO_BIN_EXE_p2p-client"))
        .args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--server"])
        .arg(server.url())
        .arg("--config-dir")
        .arg(config.path())
        .args(["send", "-", "--name", "piped.bin", "--to", &peer_of(&alice)])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    step_until(&mut [&mut alice], "the offer dialog", |apps| {
        apps[0].harness.query_by_label("Accept").is_some()
    });
    alice
        .harness
        .get_by_label("a stream whose size is known only at its end");
    alice.harness.get_by_label("piped.bin");
    alice.harness.get_by_label("Accept").click_accesskit();
    step_until(&mut [&mut alice], "the stream saved", |apps| {
        apps[0]
            .harness
            .state()
            .model()
            .transfers
            .iter()
            .any(|t| matches!(t.state, RowState::Done(_)) && t.unknown_size)
    });
    assert_eq!(
        std::fs::read(alice.downloads.path().join("piped.bin")).unwrap(),
        data
    );
    let mut status = None;
    step_until(&mut [&mut alice], "the CLI sender", |_| {
        status = sender.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success());
}

/// A device that shares a folder has "Browse…" on its card: the window
/// lists it, opens a folder, and the ticked entries download as any
/// transfer. The owner's header says what it shares.
#[test]
fn browsing_a_shared_folder_downloads_what_is_ticked() {
    let server = Server::start();
    let shared = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(shared.path().join("photos/2024")).unwrap();
    std::fs::write(
        shared.path().join("photos/2024/beach.jpg"),
        vec![3u8; 200_000],
    )
    .unwrap();
    std::fs::write(shared.path().join("photos/2024/notes.txt"), b"sunny").unwrap();
    std::fs::write(shared.path().join("readme.txt"), b"hello").unwrap();

    let config = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    FileConfig {
        name: Some("Alice".into()),
        download_dir: Some(downloads.path().to_path_buf()),
        shared_dir: Some(shared.path().to_path_buf()),
        share_with: Some("room".into()),
        ..FileConfig::default()
    }
    .save(config.path())
    .unwrap();
    let mut alice = App {
        harness: start_app(config.path(), Some(server.url()), Vec::new()),
        _config: config,
        downloads,
    };
    let mut bob = app("Bob", Some(server.url()), Vec::new());
    step_until(
        &mut [&mut alice, &mut bob],
        "Alice's Browse button",
        |apps| apps[1].harness.query_by_label("Browse…").is_some(),
    );
    let folder = shared
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    alice
        .harness
        .get_by_label(&format!("📂 Sharing “{folder}” with your server room"));

    bob.harness.get_by_label("Browse…").click_accesskit();
    step_until(
        &mut [&mut alice, &mut bob],
        "the top of the folder",
        |apps| apps[1].harness.query_by_label("📁 photos").is_some(),
    );
    bob.harness
        .get_by_label("Select readme.txt")
        .click_accesskit();
    bob.harness.step();
    bob.harness.step();
    bob.harness.get_by_label("Download 1 item");
    bob.harness.get_by_label("📁 photos").click_accesskit();
    step_until(&mut [&mut alice, &mut bob], "photos/2024", |apps| {
        apps[1].harness.query_by_label("📁 2024").is_some()
    });
    bob.harness.get_by_label("Select 2024").click_accesskit();
    bob.harness.step();
    bob.harness.step();
    bob.harness
        .get_by_label("Download 2 items")
        .click_accesskit();
    step_until(&mut [&mut alice, &mut bob], "the download", |apps| {
        apps[1].downloads.path().join("2024/beach.jpg").exists()
            && apps[1].downloads.path().join("readme.txt").exists()
            && apps[1]
                .harness
                .state()
                .model()
                .transfers
                .iter()
                .any(|t| matches!(t.state, RowState::Done(_)))
    });
    assert_eq!(
        std::fs::read(bob.downloads.path().join("2024/beach.jpg")).unwrap(),
        vec![3u8; 200_000]
    );
    assert_eq!(
        std::fs::read(bob.downloads.path().join("2024/notes.txt")).unwrap(),
        b"sunny"
    );
    assert_eq!(
        std::fs::read(bob.downloads.path().join("readme.txt")).unwrap(),
        b"hello"
    );
    // Nobody was asked on either side.
    assert!(alice.harness.query_by_label("Accept").is_none());
    assert!(bob.harness.query_by_label("Accept").is_none());
}
