//! Several shares open on one sender, each reached by its own share code
//! through the real signal server: a code's knock names its share by
//! nameplate, so a right code finds its own share and a wrong one ends
//! only the share it named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use libp2p::identity::Keypair;
use p2p_client::engine::{Engine, EngineConfig, EngineError};
use protocol::code::ShareCode;
use signal_server::testing::TestServer;

/// Long enough for a loopback PAKE; a hang fails the test instead.
const LIMIT: Duration = Duration::from_secs(30);

struct Node {
    engine: Engine,
    _downloads: tempfile::TempDir,
}

async fn node(server: &TestServer) -> Node {
    let downloads = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(Keypair::generate_ed25519(), downloads.path().to_path_buf());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.mdns = false;
    config.servers = vec![server.ws_url()];
    let (engine, mut events) = Engine::start(config).await.unwrap();
    // Nobody reads the events here; keep the queue from filling.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Node {
        engine,
        _downloads: downloads,
    }
}

/// `code` with its words replaced: the same nameplate, another password.
fn wrong_words(code: &ShareCode) -> ShareCode {
    let words: Vec<&str> = code.words().collect();
    let other = if words[0] == "amber" {
        "tiger"
    } else {
        "amber"
    };
    ShareCode::parse(&format!(
        "{}-{other}-{}",
        code.nameplate(),
        words[1..].join("-")
    ))
    .unwrap()
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {LIMIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_code_finds_its_own_share_and_a_wrong_one_ends_only_the_share_it_names() {
    let server = TestServer::start(signal_server::Config::localhost())
        .await
        .unwrap();
    let sender = node(&server).await;
    let first = within("the first share", sender.engine.share())
        .await
        .unwrap();
    let second = within("the second share", sender.engine.share())
        .await
        .unwrap();
    let third = within("the third share", sender.engine.share())
        .await
        .unwrap();
    let first_code = first.code.clone().unwrap();
    let second_code = second.code.clone().unwrap();
    let third_code = third.code.clone().unwrap();
    let (first_waits, second_waits, third_waits) = (
        tokio::spawn(first.receiver()),
        tokio::spawn(second.receiver()),
        tokio::spawn(third.receiver()),
    );

    // The second share's code, opened after the first: it reaches the
    // second share, not the first that was open before it.
    let bob = node(&server).await;
    let met = within("bob's knock", bob.engine.fetch_code(&second_code)).await;
    assert_eq!(met.unwrap(), sender.engine.peer_id());
    let came = within("the second share's receiver", second_waits)
        .await
        .unwrap();
    assert_eq!(came.unwrap(), bob.engine.peer_id());

    // A wrong code for the third ends the third, and nothing else.
    let mallory = node(&server).await;
    let guess = within(
        "mallory's knock",
        mallory.engine.fetch_code(&wrong_words(&third_code)),
    )
    .await;
    assert!(matches!(guess, Err(EngineError::WrongCode)), "{guess:?}");
    let ended = within("the third share's end", third_waits).await.unwrap();
    assert!(matches!(ended, Err(EngineError::WrongCode)), "{ended:?}");

    // The first is untouched by both: its own code still opens it.
    let carol = node(&server).await;
    let met = within("carol's knock", carol.engine.fetch_code(&first_code)).await;
    assert_eq!(met.unwrap(), sender.engine.peer_id());
    let came = within("the first share's receiver", first_waits)
        .await
        .unwrap();
    assert_eq!(came.unwrap(), carol.engine.peer_id());

    for node in [&sender, &bob, &mallory, &carol] {
        node.engine.shutdown().await;
    }
    server.shutdown.cancel();
}
