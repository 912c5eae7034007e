//! A hostile sender against the real `p2p-client receive --yes` (offers from
//! anyone): the test speaks the peer-to-peer protocol itself, with its own
//! libp2p swarm, and lies in every way the protocol allows: unsafe paths,
//! more or fewer bytes than announced, wrong hashes, unknown transfers and
//! resume offsets that were never offered; and a disk that fills up during
//! a receive (a tmpfs, when run as root). The receiver must refuse, write
//! nothing outside its folder, place no unverified file, and stay online.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Ext4, Peer, Running, Tmpfs, tree};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use protocol::offer::{FileEntry, Hash, MAX_OFFER_BYTES, Offer};
use protocol::transfer::{
    CONTROL_PROTOCOL, DATA_PROTOCOL, DataHeader, DataResult, Decision, Refusal, Request, Response,
    ResumePoint, decode_frame_body, encode_frame, frame_len,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::block_in_place;

/// How long one network step of the hostile side may take.
const LIMIT: Duration = Duration::from_secs(20);

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// The receiver: the real binary.

/// `p2p-client receive --yes --dir ROOT/downloads`, accepting offers from anyone.
struct Receiver {
    /// Parent of the download folder, to check nothing lands next to it.
    root: tempfile::TempDir,
    dir: PathBuf,
    _peer: Peer,
    running: Running,
    peer_id: PeerId,
    addr: Multiaddr,
}

impl Receiver {
    /// Blocking: call inside `block_in_place`.
    fn start() -> Self {
        Self::start_with(true, &[])
    }

    /// `yes`: accept every offer; else ask on stdin, as a person would.
    /// `env`: more environment for the process.
    fn start_with(yes: bool, env: &[(&str, &str)]) -> Self {
        let peer = Peer::new();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("downloads");
        std::fs::create_dir(&dir).unwrap();

        let out = peer.command().arg("id").output().unwrap();
        assert!(
            out.status.success(),
            "p2p-client id failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        let id: Value = serde_json::from_str(line).unwrap();
        let peer_id: PeerId = id["peer_id"].as_str().unwrap().parse().unwrap();

        let mut cmd = peer.command();
        cmd.arg("receive").arg("--dir").arg(&dir);
        cmd.envs(env.iter().copied());
        if yes {
            cmd.arg("--yes");
        }
        let mut running = Running::spawn(cmd);
        let listening = running.wait_for("TCP listening", |v| {
            v["event"] == "listening" && v["addr"].as_str().is_some_and(|a| a.contains("/tcp/"))
        });
        let full: Multiaddr = listening["addr"].as_str().unwrap().parse().unwrap();
        let addr: Multiaddr = full
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        Self {
            root,
            dir,
            _peer: peer,
            running,
            peer_id,
            addr,
        }
    }

    /// Waits for `transfer_failed` of `transfer_id`; returns its error text.
    fn failed(&mut self, transfer_id: &str) -> String {
        let event = block_in_place(|| {
            self.running.wait_for("transfer_failed", |v| {
                v["event"] == "transfer_failed" && v["transfer_id"] == transfer_id
            })
        });
        event["error"].as_str().unwrap().to_owned()
    }

    /// Waits for `transfer_done` of `transfer_id`.
    fn done(&mut self, transfer_id: &str) -> Value {
        block_in_place(|| {
            self.running.wait_for("transfer_done", |v| {
                v["event"] == "transfer_done" && v["transfer_id"] == transfer_id
            })
        })
    }

    /// `.part` files under `DIR/.p2p-share/partial`, with their sizes.
    fn partials(&self) -> Vec<(String, u64)> {
        let partial = self.dir.join(".p2p-share").join("partial");
        let Ok(entries) = std::fs::read_dir(&partial) else {
            return Vec::new();
        };
        let mut out: Vec<(String, u64)> = entries
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Nothing but the download folder (and `.p2p-share` state inside it)
    /// exists: no file in DIR, nothing in DIR's parent, no partial data.
    fn assert_untouched(&self) {
        assert_eq!(tree(&self.dir), Vec::new(), "files appeared in DIR");
        assert_eq!(self.partials(), Vec::new(), "partial data was written");
        self.assert_nothing_outside();
    }

    /// DIR's parent holds only DIR.
    fn assert_nothing_outside(&self) {
        let mut names: Vec<String> = std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["downloads".to_owned()], "written outside DIR");
    }

    /// Asserts the process is still running (online for other transfers),
    /// then kills it.
    fn assert_alive_and_stop(mut self) {
        let status = self.running.child.try_wait().unwrap();
        assert!(
            status.is_none(),
            "the receiver exited ({status:?}) after hostile input; saw {:?}",
            self.running.seen
        );
        // Its memory stayed bounded whatever it was sent (Linux: peak RSS).
        if let Ok(text) =
            std::fs::read_to_string(format!("/proc/{}/status", self.running.child.id()))
        {
            let peak_kib: u64 = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(peak_kib < 48 * 1024, "receiver peak RSS {peak_kib} KiB");
        }
        self.running.kill();
    }
}

// ---------------------------------------------------------------------------
// The hostile sender: a libp2p swarm built here.

#[derive(NetworkBehaviour)]
struct HostileBehaviour {
    control: request_response::cbor::Behaviour<Request, Response>,
    stream: libp2p_stream::Behaviour,
}

type Reply = oneshot::Sender<Result<Response, String>>;

/// A connected hostile peer; its swarm runs in a background task.
struct Hostile {
    target: PeerId,
    requests: mpsc::Sender<(Request, Reply)>,
    streams: libp2p_stream::Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn build_swarm() -> Swarm<HostileBehaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            let codec = request_response::cbor::codec::Codec::default()
                .set_request_size_maximum(MAX_OFFER_BYTES as u64 + 64 * 1024)
                .set_response_size_maximum(1024 * 1024);
            HostileBehaviour {
                control: request_response::Behaviour::with_codec(
                    codec,
                    [(StreamProtocol::new(CONTROL_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(LIMIT),
                ),
                stream: libp2p_stream::Behaviour::new(),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

impl Hostile {
    async fn connect(target: PeerId, addr: Multiaddr) -> Self {
        let mut swarm = build_swarm();
        let streams = swarm.behaviour().stream.new_control();
        swarm.add_peer_address(target, addr.clone());
        swarm
            .dial(addr.clone().with(Protocol::P2p(target)))
            .unwrap();
        tokio::time::timeout(LIMIT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => {
                        break;
                    }
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        panic!("cannot dial the receiver at {addr}: {error}")
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("no connection to the receiver in time");
        let (requests, rx) = mpsc::channel(8);
        let task = tokio::spawn(drive(swarm, target, rx));
        Self {
            target,
            requests,
            streams,
            task,
        }
    }

    async fn request(&self, request: Request) -> Result<Response, String> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((request, reply)).await.unwrap();
        tokio::time::timeout(LIMIT + Duration::from_secs(5), answer)
            .await
            .expect("no answer to a request in time")
            .expect("the swarm task stopped")
    }

    async fn offer(&self, offer: &Offer) -> Response {
        self.request(Request::Offer(offer.clone()))
            .await
            .unwrap_or_else(|e| panic!("offer {:?} got no answer: {e}", offer.files))
    }

    /// Offers and expects an accept; returns the resume points.
    async fn offer_accepted(&self, offer: &Offer) -> Vec<ResumePoint> {
        match self.offer(offer).await {
            Response::Decision(Decision::Accept { resume }) => resume,
            other => panic!("a valid offer was not accepted: {other:?}"),
        }
    }

    /// Opens a data stream, writes the header frame and `body`, closes the
    /// writing half and reads the receiver's result frame.
    async fn send_data(&self, header: &DataHeader, body: &[u8]) -> Result<DataResult, String> {
        let mut control = self.streams.clone();
        tokio::time::timeout(LIMIT, async move {
            let mut stream = control
                .open_stream(self.target, StreamProtocol::new(DATA_PROTOCOL))
                .await
                .map_err(|e| format!("cannot open a data stream: {e}"))?;
            stream
                .write_all(&encode_frame(header))
                .await
                .map_err(|e| format!("cannot write the header: {e}"))?;
            // The receiver answers when it has everything or as soon as it
            // gives up, and may stop reading then: read while writing.
            let (mut reader, mut writer) = stream.split();
            let writing = async move {
                let _ = writer.write_all(body).await;
                let _ = writer.close().await;
            };
            let reading = async move {
                let mut prefix = [0u8; 4];
                reader
                    .read_exact(&mut prefix)
                    .await
                    .map_err(|e| format!("no result frame: {e}"))?;
                let len = frame_len(prefix).map_err(|e| e.to_string())?;
                let mut frame = vec![0u8; len];
                reader
                    .read_exact(&mut frame)
                    .await
                    .map_err(|e| format!("truncated result frame: {e}"))?;
                decode_frame_body(&frame).map_err(|e| e.to_string())
            };
            tokio::pin!(reading);
            tokio::select! {
                result = &mut reading => result,
                () = writing => reading.await,
            }
        })
        .await
        .map_err(|_| "no data result in time".to_owned())?
    }

    /// [`Self::send_data`], expecting `DataResult::Failed`; returns its reason.
    async fn send_data_failed(&self, header: &DataHeader, body: &[u8]) -> String {
        match self.send_data(header, body).await {
            Ok(DataResult::Failed { reason, .. }) => reason,
            other => panic!("hostile data for {header:?} was not refused: {other:?}"),
        }
    }
}

async fn drive(
    mut swarm: Swarm<HostileBehaviour>,
    target: PeerId,
    mut rx: mpsc::Receiver<(Request, Reply)>,
) {
    let mut waiting: HashMap<OutboundRequestId, Reply> = HashMap::new();
    loop {
        tokio::select! {
            command = rx.recv() => {
                let Some((request, reply)) = command else { return };
                let id = swarm.behaviour_mut().control.send_request(&target, request);
                waiting.insert(id, reply);
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(HostileBehaviourEvent::Control(
                    request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    },
                )) => {
                    if let Some(reply) = waiting.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                SwarmEvent::Behaviour(HostileBehaviourEvent::Control(
                    request_response::Event::OutboundFailure { request_id, error, .. },
                )) => {
                    if let Some(reply) = waiting.remove(&request_id) {
                        let _ = reply.send(Err(error.to_string()));
                    }
                }
                // Shown when a test fails: why the connection went away.
                SwarmEvent::ConnectionClosed { cause, endpoint, .. } => {
                    eprintln!("hostile: connection {endpoint:?} closed: {cause:?}");
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Offers and bytes.

fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn hash_of(bytes: &[u8]) -> Hash {
    Hash(*blake3::hash(bytes).as_bytes())
}

/// Deterministic pseudo-random bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An offer of one file `path` of `size` bytes announced with `hash`.
fn one_file(path: &str, size: usize, hash: Hash) -> Offer {
    Offer {
        transfer_id: new_id(),
        files: vec![FileEntry {
            path: path.into(),
            size: size as u64,
            hash,
        }],
        dirs: Vec::new(),
        total_bytes: size as u64,
    }
}

fn header(offer: &Offer, starts: Vec<u64>) -> DataHeader {
    DataHeader {
        transfer_id: offer.transfer_id.clone(),
        starts,
    }
}

/// Waits until `check` holds, for at most a few seconds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = tree(dir)
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// The cases.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_with_hostile_paths_are_refused_and_write_nothing() {
    let receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    // An absolute path that points right next to the download folder.
    let absolute = format!("{}/x", receiver.root.path().display());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["../x"], vec![]),
        (vec![absolute.as_str()], vec![]),
        (vec!["/etc/passwd"], vec![]),
        (vec!["a/../../b"], vec![]),
        (vec!["C:\\evil"], vec![]),
        (vec!["x\0y"], vec![]),
        (vec!["\u{1b}[31mx"], vec![]),
        (vec!["CON"], vec![]),
        (vec![], vec![".."]),
        (vec!["ok.txt"], vec![".."]),
    ];
    let content = b"x";
    for (files, dirs) in cases {
        let offer = Offer {
            transfer_id: new_id(),
            files: files
                .iter()
                .map(|p| FileEntry {
                    path: (*p).to_owned(),
                    size: content.len() as u64,
                    hash: hash_of(content),
                })
                .collect(),
            dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
            total_bytes: (content.len() * files.len()) as u64,
        };
        match hostile.offer(&offer).await {
            Response::Refused {
                reason: Refusal::InvalidOffer,
                ..
            } => {}
            other => panic!("files {files:?} dirs {dirs:?}: expected a refusal, got {other:?}"),
        }
        // Even if the refusal were ignored, sending the bytes must not work.
        let reason = hostile
            .send_data_failed(&header(&offer, vec![0; files.len()]), content)
            .await;
        assert!(reason.contains("no accepted transfer"), "{reason}");
    }

    receiver.assert_untouched();
    for name in ["x", "b", "evil", "passwd"] {
        assert!(!receiver.root.path().join(name).exists(), "{name} written");
    }
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_bytes_than_announced_fail_and_nothing_else_is_written() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 2);
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let mut body = content.clone();
    body.extend_from_slice(&bytes(1000, 3));
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &body)
        .await;
    assert!(reason.contains("more data than it announced"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("more data than it announced"), "{error}");

    // Accepted: the announced file, whose bytes were right, may be kept (it
    // was verified against its hash before the extra bytes were seen). The
    // extra bytes must not be in it, and nothing else may exist.
    let names = file_names(&receiver.dir);
    assert!(
        names.is_empty() || names == ["a.bin"],
        "unexpected files: {names:?}"
    );
    if names == ["a.bin"] {
        assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    }
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    receiver.assert_nothing_outside();

    // The transfer is over: the same ID takes no more data.
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hash_places_nothing_and_deletes_the_partial() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 4);
    let offer = one_file("a.bin", content.len(), hash_of(&bytes(MIB, 5)));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("hash"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(
        error.contains("does not match the sender's hash"),
        "{error}"
    );

    // No `a.bin`, no `a (1).bin`, no partial data.
    receiver.assert_untouched();

    // A damaged transfer is over: the same ID takes no more data.
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

/// Small files wait in a batch for one sync before their final names; a
/// later file failing must not lose the good ones verified before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_verified_before_a_bad_one_are_still_placed() {
    let receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let (good, bad) = (bytes(4096, 7), bytes(4096, 8));
    let offer = Offer {
        transfer_id: new_id(),
        files: vec![
            FileEntry {
                path: "good.bin".into(),
                size: 4096,
                hash: hash_of(&good),
            },
            FileEntry {
                path: "bad.bin".into(),
                size: 4096,
                hash: hash_of(&bytes(4096, 9)),
            },
        ],
        dirs: Vec::new(),
        total_bytes: 8192,
    };
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let body = [good.as_slice(), bad.as_slice()].concat();
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0, 0]), &body)
        .await;
    assert!(reason.contains("hash"), "{reason}");
    let dir = receiver.dir.clone();
    eventually("good.bin placed", || {
        std::fs::read(dir.join("good.bin")).is_ok_and(|b| b == good)
    });
    assert!(
        !dir.join("bad.bin").exists(),
        "a file with the wrong hash was placed"
    );
    assert_eq!(receiver.partials(), Vec::new(), "partial data left behind");
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_for_a_transfer_never_accepted_is_refused() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(4096, 6);

    // An ID nobody offered.
    let unknown = one_file("a.bin", content.len(), hash_of(&content));
    let reason = hostile
        .send_data_failed(&header(&unknown, vec![0]), &content)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");

    // A syntactically hostile ID.
    let weird = DataHeader {
        transfer_id: "../../../etc".into(),
        starts: vec![0],
    };
    let reason = hostile.send_data_failed(&weird, &content).await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();

    // Another peer's accepted transfer: the ID alone is not enough.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let thief = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let mut forged = bytes(4096, 7);
    forged[0] ^= 1;
    let reason = thief
        .send_data_failed(&header(&offer, vec![0]), &forged)
        .await;
    assert!(reason.contains("no accepted transfer"), "{reason}");
    receiver.assert_untouched();

    // The rightful sender still gets through.
    assert_eq!(
        hostile.send_data(&header(&offer, vec![0]), &content).await,
        Ok(DataResult::Complete)
    );
    receiver.done(&offer.transfer_id);
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    receiver.assert_nothing_outside();
    drop((hostile, thief));
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_bytes_than_announced_keep_the_partial_for_resume() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let content = bytes(MIB, 8);
    let sent = 300_000;
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content[..sent])
        .await;
    assert!(reason.contains("closed in the middle"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("closed in the middle"), "{error}");

    // No final file; the partial holds exactly what arrived.
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());
    let part = format!("{}-{}.part", hash_of(&content), content.len());
    block_in_place(|| {
        eventually("the partial should hold the bytes received", || {
            receiver.partials() == [(part.clone(), sent as u64)]
        });
    });
    receiver.assert_nothing_outside();

    // A new offer of the same content is told where to resume...
    let again = one_file("a.bin", content.len(), hash_of(&content));
    let resume = hostile.offer_accepted(&again).await;
    assert_eq!(
        resume,
        [ResumePoint {
            file: 0,
            offset: sent as u64,
            prefix_hash: hash_of(&content[..sent]),
        }]
    );
    // ...and may not start anywhere else: nothing is cut or written then.
    let reason = hostile
        .send_data_failed(&header(&again, vec![200_000]), &content[200_000..210_000])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    receiver.failed(&again.transfer_id);
    assert_eq!(receiver.partials(), [(part.clone(), sent as u64)]);
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());

    // An honest resume completes the file.
    let last = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&last).await.len(), 1);
    assert_eq!(
        hostile
            .send_data(&header(&last, vec![sent as u64]), &content[sent..])
            .await,
        Ok(DataResult::Complete)
    );
    let done = receiver.done(&last.transfer_id);
    assert_eq!(
        done["summary"]["transferred"],
        (content.len() - sent) as u64
    );
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    assert_eq!(receiver.partials(), Vec::new());
    receiver.assert_nothing_outside();
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_offsets_that_were_never_offered_are_refused() {
    let mut receiver = block_in_place(Receiver::start);
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let content = bytes(8192, 9);

    // Start in the middle although the receiver had nothing.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![4096]), &content[4096..])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("offset we did not offer"), "{error}");
    receiver.assert_untouched();

    // Start past the end (an underflow bait).
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![u64::MAX]), &[])
        .await;
    assert!(reason.contains("offset we did not offer"), "{reason}");
    receiver.failed(&offer.transfer_id);
    receiver.assert_untouched();

    // Offsets for files that are not in the offer.
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0, 0]), &content)
        .await;
    assert!(reason.contains("start offsets do not match"), "{reason}");
    receiver.failed(&offer.transfer_id);
    receiver.assert_untouched();

    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_keeps_what_arrived_and_resumes() {
    let receiver = block_in_place(Receiver::start);
    // The download folder becomes a 24 MiB disk.
    let Some(_disk) = Tmpfs::mount(&receiver.dir, "24m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    disk_fills_up(receiver, 20).await;
}

/// The same on ext4, where a large file is written around the page cache
/// (`O_DIRECT`): the disk fills up in the middle of a direct write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_during_direct_writes_keeps_what_arrived_and_resumes() {
    let receiver = block_in_place(Receiver::start);
    let Some(_disk) = Ext4::mount(&receiver.dir, 32) else {
        eprintln!("skipped: mounting an ext4 image needs root, mkfs.ext4 and loop devices");
        return;
    };
    // About 30 MiB free: the offer fits, the filler leaves about 4 MiB.
    disk_fills_up(receiver, 26).await;
}

/// A 6 MiB file is accepted, then a filler of `filler_mib` takes the space:
/// the transfer fails as "disk is full", keeps a true prefix, and resumes
/// from it once the filler is gone.
async fn disk_fills_up(mut receiver: Receiver, filler_mib: usize) {
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    // 6 MiB fits (with the 16 MiB margin the receiver keeps)...
    let content = bytes(6 * MIB, 21);
    let offer = one_file("a.bin", content.len(), hash_of(&content));
    assert_eq!(hostile.offer_accepted(&offer).await, Vec::new());
    // ...until something else takes the space once it was accepted.
    let filler = receiver.dir.join("filler");
    std::fs::write(&filler, vec![1u8; filler_mib * MIB]).unwrap();
    let reason = hostile
        .send_data_failed(&header(&offer, vec![0]), &content)
        .await;
    assert!(reason.contains("disk is full"), "{reason}");
    let error = receiver.failed(&offer.transfer_id);
    assert!(error.contains("disk is full"), "{error}");
    assert!(error.contains("free some space"), "{error}");

    // Nothing under a final name; the partial holds a true prefix.
    assert_eq!(file_names(&receiver.dir), ["filler"]);
    let partials = receiver.partials();
    assert_eq!(partials.len(), 1, "{partials:?}");
    let kept = partials[0].1;
    assert!(kept > 0 && kept < content.len() as u64, "{partials:?}");

    // Space freed, the same content offered again resumes and completes.
    std::fs::remove_file(&filler).unwrap();
    let again = one_file("a.bin", content.len(), hash_of(&content));
    let resume = hostile.offer_accepted(&again).await;
    assert_eq!(resume.len(), 1, "{resume:?}");
    let from = resume[0].offset;
    assert!(from > 0, "{resume:?}");
    assert_eq!(resume[0].prefix_hash, hash_of(&content[..from as usize]));
    assert_eq!(
        hostile
            .send_data(&header(&again, vec![from]), &content[from as usize..])
            .await,
        Ok(DataResult::Complete)
    );
    receiver.done(&again.transfer_id);
    assert_eq!(file_names(&receiver.dir), ["a.bin"]);
    assert_eq!(std::fs::read(receiver.dir.join("a.bin")).unwrap(), content);
    drop(hostile);
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_flood_the_prompt_with_offers() {
    let mut receiver = block_in_place(|| Receiver::start_with(false, &[]));
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;
    let offers: Vec<Offer> = (0..3)
        .map(|i| {
            let content = bytes(1000, 40 + i);
            one_file(&format!("offer-{i}.bin"), content.len(), hash_of(&content))
        })
        .collect();
    // All three at once: two may wait for the person, the third is refused
    // while they wait. The person then declines the two.
    let running = &mut receiver.running;
    let person = async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        block_in_place(|| {
            for _ in 0..2 {
                running.wait_event("offer_received");
                running.answer("n");
            }
        });
    };
    let (first, second, third, ()) = tokio::join!(
        hostile.offer(&offers[0]),
        hostile.offer(&offers[1]),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            hostile.offer(&offers[2]).await
        },
        person,
    );
    match &third {
        Response::Refused { reason, .. } => assert_eq!(*reason, Refusal::Busy, "{third:?}"),
        other => panic!("a third waiting offer from one peer was not refused: {other:?}"),
    }
    for answer in [&first, &second] {
        assert!(
            matches!(answer, Response::Decision(Decision::Decline { .. })),
            "{answer:?}"
        );
    }
    drop(hostile);
    let shown = receiver
        .running
        .seen
        .iter()
        .filter(|e| e["event"] == "offer_received")
        .count();
    assert!(shown <= 2, "{shown} offers reached the prompt");
    assert_eq!(file_names(&receiver.dir), Vec::<String>::new());
    receiver.assert_alive_and_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_times_out_while_another_transfer_goes_on() {
    // The other transfer below must finish inside the stalled stream's
    // timeout: 4 s leaves room for a loaded CI machine (2 s failed once).
    let mut receiver =
        block_in_place(|| Receiver::start_with(true, &[("P2P_STALL_TIMEOUT_SECS", "4")]));
    let hostile = Hostile::connect(receiver.peer_id, receiver.addr.clone()).await;

    let stalled = bytes(MIB, 50);
    let stalled_offer = one_file("stalled.bin", stalled.len(), hash_of(&stalled));
    assert_eq!(hostile.offer_accepted(&stalled_offer).await, Vec::new());
    let mut control = hostile.streams.clone();
    let mut stream = control
        .open_stream(receiver.peer_id, StreamProtocol::new(DATA_PROTOCOL))
        .await
        .unwrap();
    stream
        .write_all(&encode_frame(&header(&stalled_offer, vec![0])))
        .await
        .unwrap();
    stream.write_all(&stalled[..200_000]).await.unwrap();
    stream.flush().await.unwrap();
    // ...and then nothing, with the stream left open.

    // Meanwhile another transfer from the same peer completes.
    let other = bytes(300_000, 51);
    let other_offer = one_file("other.bin", other.len(), hash_of(&other));
    assert_eq!(hostile.offer_accepted(&other_offer).await, Vec::new());
    assert_eq!(
        hostile
            .send_data(&header(&other_offer, vec![0]), &other)
            .await,
        Ok(DataResult::Complete)
    );
    receiver.done(&other_offer.transfer_id);

    let started = Instant::now();
    let error = receiver.failed(&stalled_offer.transfer_id);
    assert!(error.contains("stalled for 4 seconds"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(12));
    drop(stream);
    assert_eq!(file_names(&receiver.dir), ["other.bin"]);
    assert_eq!(
        std::fs::read(receiver.dir.join("other.bin")).unwrap(),
        other
    );
    // What arrived of the stalled file is kept for a resume.
    let part = format!("{}-{}.part", hash_of(&stalled), stalled.len());
    block_in_place(|| {
        eventually(
            "the stalled file's partial should hold what arrived",
            || receiver.partials() == [(part.clone(), 200_000)],
        );
    });
    receiver.assert_nothing_outside();
    drop(hostile);
    receiver.assert_alive_and_stop();
}
