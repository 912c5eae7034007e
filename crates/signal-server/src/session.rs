//! One WebSocket connection: challenge, registration, then messages until the
//! client leaves, misbehaves, goes silent, or the server shuts down.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message};
use data_encoding::BASE64;
use futures::{Sink, SinkExt, Stream, StreamExt};
use protocol::signal::{
    ClientMsg, ErrorCode, NONCE_BYTES, PROTOCOL_VERSION, PeerInfo, Register, ServerMsg,
    decode_client,
};
use rand::RngCore;
use tokio::sync::mpsc;
use tokio::time::{Instant as TokioInstant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::hub::{Outbound, Outbox, encode};
use crate::limit::TokenBucket;
use crate::metrics::Metrics;
use crate::presence::ConnId;
use crate::server::AppState;

/// Why a session ends.
enum End {
    /// The client closed or the socket failed: nothing more to say.
    Gone,
    /// The server ends it: send this error, then a close frame.
    Refuse(ErrorCode, String),
    /// A fatal message was already sent: just send the close frame.
    Closed(ErrorCode),
    /// A write timed out: the client is too slow; writing more is pointless.
    Slow,
}

/// Runs one connection to its end. `socket` is any WebSocket-shaped pair;
/// `host` is the request's `Host` header.
pub(crate) async fn run<S>(socket: S, ip: IpAddr, host: Option<String>, state: Arc<AppState>)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send,
{
    let conn = state.next_conn_id();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outbound>(state.config.send_queue.max(1));
    let kick = CancellationToken::new();
    state.hub.connect(
        conn,
        crate::client_ip::auto_room_key(ip),
        crate::client_ip::network_key(ip),
        Outbox {
            tx,
            kick: kick.clone(),
        },
    );
    Metrics::inc(&state.metrics.connections_open);
    Metrics::inc(&state.metrics.connections_total);
    debug!(conn, %ip, "connection opened");

    let mut session = Session {
        conn,
        nonce: new_nonce(),
        host,
        state: Arc::clone(&state),
        bucket: TokenBucket::new(
            state.config.message_burst,
            f64::from(state.config.messages_per_sec),
            Instant::now(),
        ),
    };
    let end = session.drive(&mut sink, &mut stream, &mut rx, &kick).await;

    state.hub.disconnect(conn);
    match end {
        End::Gone => {}
        End::Slow => {
            state.metrics.reject(ErrorCode::SlowConsumer);
            info!(conn, %ip, "client too slow to take a frame: disconnecting");
        }
        End::Refuse(code, message) => {
            info!(conn, %ip, %code, %message, "closing connection");
            let msg = encode(&ServerMsg::Error { code, message }, &state.metrics, 1);
            if write(&mut sink, Message::Text(msg.text), &state)
                .await
                .is_ok()
            {
                close(&mut sink, code, &state).await;
            }
        }
        End::Closed(code) => {
            info!(conn, %ip, %code, "closing connection");
            close(&mut sink, code, &state).await;
        }
    }
    Metrics::dec(&state.metrics.connections_open);
    debug!(conn, "connection closed");
}

struct Session {
    conn: ConnId,
    nonce: String,
    /// The request's `Host` header, for proofs when no public URL is set.
    host: Option<String>,
    state: Arc<AppState>,
    bucket: TokenBucket,
}

impl Session {
    async fn drive<W, R>(
        &mut self,
        sink: &mut W,
        stream: &mut R,
        rx: &mut mpsc::Receiver<Outbound>,
        kick: &CancellationToken,
    ) -> End
    where
        W: Sink<Message> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let config = &self.state.config;
        let (idle_timeout, messages_per_sec) = (config.idle_timeout(), config.messages_per_sec);
        let challenge = ServerMsg::Challenge {
            version: PROTOCOL_VERSION,
            nonce: self.nonce.clone(),
        };
        let hello = encode(&challenge, &self.state.metrics, 1);
        if let Err(e) = write(sink, Message::Text(hello.text), &self.state).await {
            return e.into();
        }
        let register_deadline = TokioInstant::now() + config.register_timeout();
        let mut idle_deadline = TokioInstant::now() + config.idle_timeout();
        let mut ping = tokio::time::interval(config.ping_interval());
        ping.reset();
        let mut registered = false;
        loop {
            let deadline = if registered {
                idle_deadline
            } else {
                idle_deadline.min(register_deadline)
            };
            tokio::select! {
                biased;
                () = self.state.shutdown.cancelled() => {
                    return End::Refuse(ErrorCode::ServerShutdown, "the server is shutting down; reconnect later".into());
                }
                () = kick.cancelled() => {
                    return End::Refuse(ErrorCode::SlowConsumer, "you did not read messages fast enough".into());
                }
                Some(out) = rx.recv() => {
                    if let Err(e) = write(sink, Message::Text(out.text), &self.state).await {
                        return e.into();
                    }
                    if let Some(code) = out.close {
                        return End::Closed(code);
                    }
                }
                () = sleep_until(deadline) => {
                    let what = if registered { "no message or pong in time" } else { "did not register in time" };
                    return End::Refuse(ErrorCode::Timeout, what.into());
                }
                _ = ping.tick() => {
                    if let Err(e) = write(sink, Message::Ping(Default::default()), &self.state).await {
                        return e.into();
                    }
                }
                frame = stream.next() => {
                    idle_deadline = TokioInstant::now() + idle_timeout;
                    let text = match frame {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::Gone,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => None,
                        Some(Ok(Message::Text(text))) => Some(text),
                    };
                    Metrics::inc(&self.state.metrics.messages_in);
                    if !self.bucket.try_take(Instant::now()) {
                        return End::Refuse(ErrorCode::RateLimited, format!(
                            "more than {messages_per_sec} messages per second"));
                    }
                    let reply = match text {
                        Some(text) => self.on_text(&text),
                        None => Err((ErrorCode::BadMessage, "binary frames are not part of this protocol; send JSON text".into())),
                    };
                    if let Err((code, message)) = reply {
                        if code.is_fatal() {
                            return End::Refuse(code, message);
                        }
                        let msg = encode(&ServerMsg::Error { code, message }, &self.state.metrics, 1);
                        if let Err(e) = write(sink, Message::Text(msg.text), &self.state).await {
                            return e.into();
                        }
                    }
                    registered = registered || self.state.hub.is_registered(self.conn);
                }
            }
        }
    }

    /// Handles one text frame. Replies from presence go through the outbox;
    /// a refusal found here is returned.
    fn on_text(&mut self, text: &str) -> Result<(), (ErrorCode, String)> {
        if let Some(version) = protocol::signal::claimed_version(text)
            && version != u64::from(PROTOCOL_VERSION)
        {
            return Err(unsupported_version(version));
        }
        let msg = decode_client(text).map_err(|e| (e.code(), e.to_string()))?;
        msg.validate()
            .map_err(|e| (ErrorCode::InvalidField, e.to_string()))?;
        let conn = self.conn;
        let now = Instant::now();
        match msg {
            ClientMsg::Register(reg) => self.register(reg),
            ClientMsg::Update {
                name,
                addrs,
                publishes,
            } => {
                self.state
                    .hub
                    .apply(|p| p.update(conn, name, addrs, publishes));
                Ok(())
            }
            ClientMsg::Join { room } => {
                self.state.hub.apply(|p| p.join(conn, &room, now));
                Ok(())
            }
            ClientMsg::CodeOpen { nameplate, claims } => {
                self.state
                    .hub
                    .apply(|p| p.code_open(conn, nameplate, claims, now));
                Ok(())
            }
            ClientMsg::CodeClaim { nameplate } => {
                self.state.hub.apply(|p| p.code_claim(conn, nameplate, now));
                Ok(())
            }
            ClientMsg::Lookup { peer_id } => {
                self.state.hub.apply(|p| p.lookup(conn, peer_id));
                Ok(())
            }
            _ => Err((
                ErrorCode::BadMessage,
                "message type not supported here".into(),
            )),
        }
    }

    fn register(&mut self, reg: Register) -> Result<(), (ErrorCode, String)> {
        if reg.version != PROTOCOL_VERSION {
            return Err(unsupported_version(u64::from(reg.version)));
        }
        let public = &self.state.config.public_url;
        let expected = if public.is_empty() {
            crate::proof::Expected::Host(self.host.as_deref())
        } else {
            crate::proof::Expected::Configured(public)
        };
        let peer_id = crate::proof::verify(&reg, &self.nonce, expected)
            .map_err(|e| (ErrorCode::BadProof, e.to_string()))?;
        let info = PeerInfo {
            peer_id: peer_id.to_string(),
            name: reg.name,
            os: reg.os,
            addrs: reg.addrs,
            publishes: reg.publishes,
        };
        let conn = self.conn;
        let now = Instant::now();
        debug!(conn, peer = %peer_id, "ownership proof verified");
        self.state
            .hub
            .apply(|p| p.register(conn, info, &reg.room, now));
        Ok(())
    }
}

fn unsupported_version(version: u64) -> (ErrorCode, String) {
    (
        ErrorCode::UnsupportedVersion,
        format!(
            "this server speaks protocol version {PROTOCOL_VERSION}, the client {version}; update one of them"
        ),
    )
}

fn new_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE64.encode(&bytes)
}

/// Why a write failed.
enum WriteError {
    /// The socket is closed or broken.
    Gone,
    /// The client did not take the frame within the write timeout.
    Slow,
}

/// Writes one frame within the write timeout.
async fn write<W: Sink<Message> + Unpin>(
    sink: &mut W,
    msg: Message,
    state: &AppState,
) -> Result<(), WriteError> {
    match tokio::time::timeout(state.config.write_timeout(), sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteError::Gone),
        Err(_) => Err(WriteError::Slow),
    }
}

impl From<WriteError> for End {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Gone => End::Gone,
            WriteError::Slow => End::Slow,
        }
    }
}

async fn close<W: Sink<Message> + Unpin>(sink: &mut W, code: ErrorCode, state: &AppState) {
    let status = match code {
        ErrorCode::ServerShutdown => 1001,
        ErrorCode::FrameTooLarge => 1009,
        _ => 1008,
    };
    let frame = CloseFrame {
        code: status,
        reason: code.as_str().into(),
    };
    let _ = write(sink, Message::Close(Some(frame)), state).await;
}
