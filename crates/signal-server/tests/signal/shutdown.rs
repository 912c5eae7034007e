//! Graceful shutdown: every client gets a close frame and the server stops.

use std::time::Duration;

use protocol::signal::{ErrorCode, RoomRequest};
use signal_server::Config;
use signal_server::testing::TestClient;

use crate::{expect_closed_with, named, server};

#[tokio::test]
async fn graceful_shutdown_closes_clients_with_a_close_frame() {
    let s = server(Config::localhost()).await;
    let (mut a, _) = TestClient::join(&s.ws_url(), "a", RoomRequest::Auto)
        .await
        .unwrap();
    let (mut b, _) = TestClient::join(&s.ws_url(), "b", named("x", "y"))
        .await
        .unwrap();
    let mut unregistered = TestClient::connect(&s.ws_url()).await.unwrap();
    s.shutdown.cancel();
    for client in [&mut a, &mut b, &mut unregistered] {
        expect_closed_with(client, ErrorCode::ServerShutdown, 1001).await;
    }
    let result = tokio::time::timeout(Duration::from_secs(15), s.task).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "server did not stop cleanly: {result:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(s.addr).await.is_err(),
        "still listening"
    );
}
