//! libp2p transport layers tuned for moving bulk data, each a drop-in
//! replacement for a stock libp2p part and interoperable with it:
//!
//! | layer | replaces | what it buys |
//! |---|---|---|
//! | [`noise`] | `libp2p-noise` | messages sealed and opened in place (one copy each way instead of three to five); AES-256-GCM between two peers of ours with AES instructions |
//! | [`yamux`] | `libp2p-yamux` | 256 KiB data frames instead of 16 KiB; a bound on what streams hold unread apart from the window; a floor under yamux's round-trip estimate so windows grow on lossy paths |
//! | [`quic`] + [`tls`] | `libp2p-quic` | BBR congestion control instead of CUBIC; AES-GCM first where the processor has AES; path MTU discovery up to jumbo frames |
//!
//! Each speaks the same protocol on the wire as the part it replaces
//! (`/noise`, `/yamux/1.0.0`, `/quic-v1`), so any libp2p peer talks to it.
//! `examples/layers.rs` measures each layer against the stock one over
//! loopback; the `p2p-client` bench compares whole nodes built both ways.
//!
//! # Layout
//! - [`noise`]: the Noise security upgrade (`payload`: the handshake payload
//!   with our cipher offer; `transport`: sealing and framing after it;
//!   `script`: both played from bytes, for the fuzz targets).
//! - [`yamux`]: the stream muxer upgrade (`frame`: yamux's frame headers,
//!   followed as bytes pass; `unread`: the bound on unread bytes;
//!   `rtt_floor`: the floor under the round-trip estimate).
//! - [`quic`]: the QUIC transport (`transport`: listeners, dials and hole
//!   punching; `connection`: a quinn connection as a `StreamMuxer`;
//!   `socket`: UDP with bounded offload batches).
//! - [`tls`]: TLS 1.3 configurations keyed to libp2p identities, for QUIC.
//! - [`ip_limit`]: a cap on incoming connections per IP address (IPv6: per
//!   /64), for the nodes built on these layers.
//! - [`aes_in_hardware`]: the processor check both ciphers' choice rests on.
//! - `fuzzing` (hidden): entry points for the fuzz targets in `fuzz/`, for
//!   parsers that are otherwise private, and tests running them over their
//!   seeds.
//!
//! Data flows socket → Noise → yamux → streams for TCP and relayed
//! connections, socket → quinn (TLS inside) → streams for QUIC.

pub mod ip_limit;
pub mod noise;
pub mod quic;
pub mod tls;
pub mod yamux;

#[doc(hidden)]
pub mod fuzzing;

/// Whether this processor encrypts AES-GCM in hardware (AES and carry-less
/// multiplication instructions): our TLS then prefers AES-128-GCM and our
/// Noise offers AES-256-GCM; without them ChaCha20 is faster.
pub fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
