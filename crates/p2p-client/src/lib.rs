//! The p2p-share client: the engine that sends files directly and encrypted
//! between two computers, and the views over it.
//!
//! # Layout
//! - [`engine`]: what views drive. [`engine::Engine`] owns the network, answers
//!   peers (knocks, offers), streams bytes, and reports [`event::Event`]s.
//!   Its protocol logic is in state machines without IO (`inbox`,
//!   `receive::session`, `send::session`, `share::state`), driven by small
//!   async parts; see the engine's own `# Layout`.
//! - `network`: one task owns the libp2p `Swarm` (TCP, QUIC, Noise, yamux,
//!   relay client, DCUtR, AutoNAT, identify, ping, mDNS, request-response,
//!   libp2p-stream; the Noise, yamux and QUIC layers come from the
//!   `p2p-transport` crate); a cloneable handle sends it commands with
//!   oneshot replies.
//! - [`files`]: disk work without async: [`files::scan`] hashes what is
//!   sent; [`files::store`] keeps partial files, resumes, and places verified
//!   files without overwriting.
//! - [`event`]: the events views render (also the `--json` output).
//! - [`history`]: finished transfers in `history.json`, recorded by the
//!   engine from its own events for every view.
//! - [`signal_client`]: the signal-server client (registration with the ownership
//!   proof, presence, relay reservation, share-code rendezvous, lookup).
//! - `gui` (feature `gui`): the desktop app over the same engine.
//! - [`peers`]: the peers visible now, one row each (LAN and server merged),
//!   for the app and `peers`.
//! - [`qr`]: tickets as QR codes for the terminal and the app.
//! - [`config`]: the config file and the settings resolved once from flags,
//!   environment, file and defaults; [`dirs`], [`identity`]: folders, and
//!   the persistent identity key (mode 0600).
//!
//! The command-line view lives in the binary (`src/cli`), over this library.
//!
//! Data flow when sending: view → `Engine::send` → scan → offer (request-
//! response) → decision → data stream (libp2p-stream) → receiver's store.

pub mod config;
pub mod dirs;
pub mod engine;
pub mod event;
pub mod files;
#[cfg(feature = "gui")]
pub mod gui;
pub mod history;
pub mod identity;
mod network;
pub mod peers;
pub mod qr;
pub mod signal_client;

pub use network::{NetError, PathInfo, TransportKind, Transports};
