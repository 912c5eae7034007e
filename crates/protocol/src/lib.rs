//! Everything that crosses a process boundary, as plain data and pure functions.
//!
//! No sockets, no async runtime: every function here takes bytes or strings and
//! returns values or errors, so it is unit-tested directly and fuzzed.
//!
//! # Layout
//! - [`signal`]: the JSON messages between a client and the signal server, their
//!   version, frame limits and error codes, with [`signal::decode_client`] /
//!   [`signal::decode_server`] that turn any input into a message or an error.
//!   One file per concern under `signal/` (handshake, the server's origin,
//!   client and server messages, error codes, limits and validation, codec),
//!   all re-exported.
//! - [`offer`]: what a sender announces before any byte moves: files (relative
//!   path, size, BLAKE3 hash), folders (empty ones too) and totals.
//! - [`code`]: share codes such as `7-tiger-violin`: generation, a typo-tolerant
//!   parser, and the split into the public nameplate and the PAKE password.
//! - [`path`]: rules that decide whether a name received from a peer may touch the
//!   disk, and how to pick a free name without overwriting anything.
//! - [`transfer`]: peer-to-peer messages of one transfer: knocks (ticket or
//!   PAKE), offer and decision, and the frames around the file bytes.
//! - [`ticket`]: printable tickets (peer ID, addresses, secret) that work
//!   without any server.
//! - [`device`]: a peer's display name and system in identify's agent
//!   version, so peers found on the LAN are shown by name.
//! - [`browse`]: listing a peer's published folder page by page, and
//!   asking for its files.
//!
//! Data flows one way: the server and the client build messages from these
//! types and call the `encode`/`decode` functions at their socket edges.

pub mod browse;
pub mod code;
pub mod device;
pub mod offer;
pub mod path;
pub mod signal;
pub mod ticket;
pub mod transfer;
