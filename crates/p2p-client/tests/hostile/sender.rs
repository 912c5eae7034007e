//! The hostile sender: a libp2p swarm built here, speaking the protocol
//! by hand.

use std::collections::HashMap;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use protocol::offer::{MAX_OFFER_BYTES, Offer};
use protocol::transfer::{
    CONTROL_PROTOCOL, DATA_PROTOCOL, DataHeader, DataResult, Decision, Request, Response,
    ResumePoint, decode_frame_body, encode_frame, frame_len,
};
use tokio::sync::{mpsc, oneshot};

use crate::LIMIT;

#[derive(NetworkBehaviour)]
struct HostileBehaviour {
    control: request_response::cbor::Behaviour<Request, Response>,
    stream: libp2p_stream::Behaviour,
}

type Reply = oneshot::Sender<Result<Response, String>>;

/// What the test asks of the swarm task.
enum Command {
    Request(Request, Reply),
    /// Closes every connection to the receiver (yamux sends GoAway).
    Disconnect,
}

/// A connected hostile peer; its swarm runs in a background task.
pub(crate) struct Hostile {
    target: PeerId,
    requests: mpsc::Sender<Command>,
    pub(crate) streams: libp2p_stream::Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The hostile peer's transport layers.
#[derive(Clone, Copy)]
pub(crate) enum Layers {
    /// libp2p's Noise and yamux, as a foreign peer has.
    Stock,
    /// Ours (`p2p-transport`), as another `p2p-client` has.
    Ours,
}

fn behaviour() -> HostileBehaviour {
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
}

fn build_swarm(layers: Layers) -> Swarm<HostileBehaviour> {
    let builder = libp2p::SwarmBuilder::with_new_identity().with_tokio();
    let tcp = || tcp::Config::default().nodelay(true);
    let idle = |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(60));
    match layers {
        Layers::Stock => builder
            .with_tcp(tcp(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| behaviour())
            .unwrap()
            .with_swarm_config(idle)
            .build(),
        Layers::Ours => builder
            .with_tcp(
                tcp(),
                p2p_transport::noise::Config::new,
                p2p_transport::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| behaviour())
            .unwrap()
            .with_swarm_config(idle)
            .build(),
    }
}

impl Hostile {
    pub(crate) async fn connect(target: PeerId, addr: Multiaddr) -> Self {
        Self::connect_with(Layers::Stock, target, addr).await
    }

    pub(crate) async fn connect_with(layers: Layers, target: PeerId, addr: Multiaddr) -> Self {
        let mut swarm = build_swarm(layers);
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
        self.requests
            .send(Command::Request(request, reply))
            .await
            .unwrap();
        tokio::time::timeout(LIMIT + Duration::from_secs(5), answer)
            .await
            .expect("no answer to a request in time")
            .expect("the swarm task stopped")
    }

    pub(crate) async fn offer(&self, offer: &Offer) -> Response {
        self.request(Request::Offer(offer.clone()))
            .await
            .unwrap_or_else(|e| panic!("offer {:?} got no answer: {e}", offer.files))
    }

    /// Offers and expects an accept; returns the resume points.
    pub(crate) async fn offer_accepted(&self, offer: &Offer) -> Vec<ResumePoint> {
        match self.offer(offer).await {
            Response::Decision(Decision::Accept { resume }) => resume,
            other => panic!("a valid offer was not accepted: {other:?}"),
        }
    }

    /// Opens a data stream, writes the header frame and `body`, closes the
    /// writing half and reads the receiver's result frame.
    pub(crate) async fn send_data(
        &self,
        header: &DataHeader,
        body: &[u8],
    ) -> Result<DataResult, String> {
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

    /// Opens a data stream and writes the header frame and `body`, and
    /// neither closes the stream nor reads from it: the caller holds it.
    pub(crate) async fn write_data(&self, header: &DataHeader, body: &[u8]) -> libp2p::Stream {
        let mut control = self.streams.clone();
        tokio::time::timeout(LIMIT, async move {
            let mut stream = control
                .open_stream(self.target, StreamProtocol::new(DATA_PROTOCOL))
                .await
                .expect("cannot open a data stream");
            stream.write_all(&encode_frame(header)).await.unwrap();
            stream.write_all(body).await.unwrap();
            stream.flush().await.unwrap();
            stream
        })
        .await
        .expect("the data was not written in time")
    }

    /// Closes the connection to the receiver, as a peer that is done would.
    pub(crate) async fn disconnect(&self) {
        self.requests.send(Command::Disconnect).await.unwrap();
    }

    /// [`Self::send_data`], expecting `DataResult::Failed`; returns its reason.
    pub(crate) async fn send_data_failed(&self, header: &DataHeader, body: &[u8]) -> String {
        match self.send_data(header, body).await {
            Ok(DataResult::Failed { reason, .. }) => reason,
            other => panic!("hostile data for {header:?} was not refused: {other:?}"),
        }
    }
}

async fn drive(
    mut swarm: Swarm<HostileBehaviour>,
    target: PeerId,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut waiting: HashMap<OutboundRequestId, Reply> = HashMap::new();
    loop {
        tokio::select! {
            command = rx.recv() => {
                match command {
                    Some(Command::Request(request, reply)) => {
                        let id = swarm.behaviour_mut().control.send_request(&target, request);
                        waiting.insert(id, reply);
                    }
                    Some(Command::Disconnect) => {
                        let _ = swarm.disconnect_peer_id(target);
                    }
                    None => return,
                }
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
