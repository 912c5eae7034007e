//! The p2p-share client: the engine that sends files directly and encrypted
//! between two computers, and the views over it.
//!
//! # Layout
//! - [`dirs`]: where configuration, the identity key and data live
//!   (platform directories, or `--config-dir`).
//! - [`identity`]: the persistent libp2p identity key (mode 0600), so this
//!   node's peer ID is stable and can be trusted by others.
//!
//! The transfer engine (one task owning the libp2p `Swarm`, a `Client` handle
//! and an `Event` stream), the CLI and the desktop app build on these.

pub mod dirs;
pub mod identity;
