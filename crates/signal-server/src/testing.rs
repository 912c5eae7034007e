//! Test helpers (feature `test-utils`): a server on loopback and a raw
//! WebSocket client that speaks the protocol, for tests in any crate.

#![allow(clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::time::Duration;

use data_encoding::BASE64;
use futures::{SinkExt, StreamExt};
use libp2p::identity::Keypair;
use protocol::signal::{
    ClientMsg, Origin, PROTOCOL_VERSION, Register, RoomRequest, ServerMsg, decode_server,
    encode_client, registration_payload,
};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::{Config, Server, ServerError};

/// How long helpers wait for an expected message.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in the background on loopback.
pub struct TestServer {
    /// HTTP/WebSocket address.
    pub addr: SocketAddr,
    /// The relay, if enabled.
    pub relay: Option<protocol::signal::RelayInfo>,
    /// Cancel to shut the server down.
    pub shutdown: CancellationToken,
    /// The server task; resolves when it stopped.
    pub task: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    /// Starts a server with `config`.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let server = Server::bind(config).await?;
        let addr = server.local_addr();
        let relay = server.relay_info().cloned();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.serve(shutdown.clone()));
        Ok(Self {
            addr,
            relay,
            shutdown,
            task,
        })
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

/// Why a test client step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// WebSocket failure.
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    /// Nothing arrived in time.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The server closed the connection.
    #[error("connection closed: {0:?}")]
    Closed(Option<CloseFrame>),
    /// The server sent something that is not a server message.
    #[error("undecodable frame: {0}")]
    Decode(String),
    /// The server sent something other than what the step expected.
    #[error("unexpected message: {0:?}")]
    Unexpected(Box<ServerMsg>),
}

/// A raw protocol client with its own libp2p identity.
pub struct TestClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The identity the client registers with.
    pub key: Keypair,
    /// The challenge nonce of this connection.
    pub nonce: String,
    /// The server origin the client signs for: the one of the URL it
    /// dialled (change it to make a proof for another server).
    pub origin: String,
}

impl TestClient {
    /// Connects and reads the challenge.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Self::from_ws(ws, url).await
    }

    /// Connects with a tiny socket receive buffer (no autotuning), so a client
    /// that stops reading backs up the server quickly.
    pub async fn connect_small_buffer(addr: SocketAddr, url: &str) -> Result<Self, ClientError> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(tungstenite::Error::Io)?;
        socket
            .set_recv_buffer_size(4096)
            .map_err(tungstenite::Error::Io)?;
        let stream = socket.connect(addr).await.map_err(tungstenite::Error::Io)?;
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await?;
        Self::from_ws(ws, url).await
    }

    /// Wraps a WebSocket opened to `url` and reads the challenge.
    pub async fn from_ws(
        ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
        url: &str,
    ) -> Result<Self, ClientError> {
        let origin = Origin::from_url(url)
            .map_err(|e| ClientError::Decode(format!("{url}: {e}")))?
            .to_string();
        let mut client = Self {
            ws,
            key: Keypair::generate_ed25519(),
            nonce: String::new(),
            origin,
        };
        match client.recv().await? {
            ServerMsg::Challenge { nonce, .. } => client.nonce = nonce,
            other => return Err(ClientError::Unexpected(Box::new(other))),
        }
        Ok(client)
    }

    /// Connects and registers in `room`, returning the client and the welcome.
    pub async fn join(
        url: &str,
        name: &str,
        room: RoomRequest,
    ) -> Result<(Self, ServerMsg), ClientError> {
        let client = Self::connect(url).await?;
        client.register(name, room).await
    }

    /// Registers in `room`, returning the client and the welcome.
    pub async fn register(
        self,
        name: &str,
        room: RoomRequest,
    ) -> Result<(Self, ServerMsg), ClientError> {
        let mut client = self;
        let register = client.register_msg(name, room);
        client.send(&ClientMsg::Register(register)).await?;
        match client.recv().await? {
            welcome @ ServerMsg::Welcome { .. } => Ok((client, welcome)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// This client's peer ID.
    pub fn peer_id(&self) -> String {
        self.key.public().to_peer_id().to_string()
    }

    /// A correctly signed registration for this connection.
    pub fn register_msg(&self, name: &str, room: RoomRequest) -> Register {
        Register {
            version: PROTOCOL_VERSION,
            peer_id: self.peer_id(),
            public_key: BASE64.encode(&self.key.public().encode_protobuf()),
            origin: self.origin.clone(),
            signature: sign(&self.key, &self.origin, &self.nonce),
            name: name.into(),
            os: None,
            addrs: vec![],
            publishes: false,
            room,
        }
    }

    /// Sends a message.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        self.send_raw(&encode_client(msg)).await
    }

    /// Sends any text frame.
    pub async fn send_raw(&mut self, text: &str) -> Result<(), ClientError> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Waits for the next protocol message (pings are answered and skipped).
    pub async fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| ClientError::Timeout)?;
            match frame {
                None => return Err(ClientError::Closed(None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => {
                    return decode_server(&text).map_err(|e| ClientError::Decode(e.to_string()));
                }
                Some(Ok(Message::Close(frame))) => return Err(ClientError::Closed(frame)),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until the server closes; returns the close frame (if any) and the
    /// messages received before it.
    pub async fn recv_until_close(
        &mut self,
    ) -> Result<(Option<CloseFrame>, Vec<ServerMsg>), ClientError> {
        let mut seen = Vec::new();
        loop {
            match self.recv().await {
                Ok(msg) => seen.push(msg),
                Err(ClientError::Closed(frame)) => return Ok((frame, seen)),
                // Reset, protocol error after the server hung up: closed too.
                Err(ClientError::Ws(_)) => return Ok((None, seen)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether nothing but pings arrives within `wait`.
    pub async fn is_quiet(&mut self, wait: Duration) -> bool {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(_) => return false,
            }
        }
    }

    /// Sends a close frame and waits for the server's.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async { while self.ws.next().await.is_some() {} }).await;
    }
}

/// Signs a challenge nonce for a server origin the way a client does.
pub fn sign(key: &Keypair, origin: &str, nonce: &str) -> String {
    let signature = key
        .sign(&registration_payload(origin, nonce))
        .unwrap_or_default();
    BASE64.encode(&signature)
}
