//! The rows of `p2p-client` transfers, in the order they run.

use std::path::Path;

use super::{QUIC, TCP};

/// One row: its name, the size it shows, the source sent, the listen
/// addresses both processes get, and whether both are built on libp2p's
/// stock transports.
pub(crate) type Case<'a> = (&'a str, &'a str, &'a Path, &'a [&'a str], bool);

/// The rows: the big file over TCP and over QUIC, the folder of `folder`
/// (its size label) and the 1-byte file, then the first three again on
/// stock transports. The results tables rely on this order.
pub(crate) fn cases<'a>(
    size: &'a str,
    folder: &'a str,
    big_file: &'a Path,
    tree: &'a Path,
    one: &'a Path,
) -> [Case<'a>; 7] {
    let both: &[&str] = &[TCP, QUIC];
    // The last three: the same node built with libp2p's stock Noise,
    // yamux and QUIC (`--stock-transports`), to show what ours buy.
    [
        ("p2p-client over TCP", size, big_file, &[TCP], false),
        ("p2p-client over QUIC", size, big_file, &[QUIC], false),
        ("p2p-client, one folder", folder, tree, both, false),
        ("p2p-client, 1-byte file, setup", "1 B", one, both, false),
        (
            "p2p-client over TCP, stock transports",
            size,
            big_file,
            &[TCP],
            true,
        ),
        (
            "p2p-client over QUIC, stock transports",
            size,
            big_file,
            &[QUIC],
            true,
        ),
        (
            "p2p-client, one folder, stock transports",
            folder,
            tree,
            both,
            true,
        ),
    ]
}
