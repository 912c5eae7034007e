//! A hostile sender against the real `p2p-client receive --yes` (offers from
//! anyone): the test speaks the peer-to-peer protocol itself, with its own
//! libp2p swarm, and lies in every way the protocol allows: unsafe paths,
//! more or fewer bytes than announced, wrong hashes, unknown transfers and
//! resume offsets that were never offered; and a disk that fills up during
//! a receive (a tmpfs, when run as root). The receiver must refuse, write
//! nothing outside its folder, place no unverified file, and stay online.
//!
//! # Layout
//!
//! - `receiver`: the real binary, started on loopback, and what may be
//!   checked of its download folder and its process.
//! - `sender`: the hostile peer, a libp2p swarm driven from the test, on
//!   libp2p's own transport layers or on ours.
//! - `offers`: offers, headers and deterministic bytes.
//! - the cases, one module per kind of lie: `paths`, `content`,
//!   `unaccepted`, `resume`, `disk`, `limits`, `streams`; `closing`: a
//!   connection closed (yamux GoAway) right after the last byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../common/mod.rs"]
mod common;

mod offers;
mod receiver;
mod sender;

mod closing;
mod content;
mod disk;
mod limits;
mod paths;
mod resume;
mod streams;
mod unaccepted;

use std::time::Duration;

/// How long one network step of the hostile side may take.
const LIMIT: Duration = Duration::from_secs(20);

const MIB: usize = 1024 * 1024;
