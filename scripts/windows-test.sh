#!/usr/bin/env bash
# The Windows build, tested under Wine (issue #24): the unit tests of the
# protocol crate, the transports and the engine with its store, built for
# Windows and run under Wine, then real
# transfers between Windows builds of p2p-client and between a Windows build
# and the Linux one, over loopback (crates/p2p-client/tests/windows.rs), and
# the hostile sender's cases against a Windows receiver.
#
# Installs what it needs on Debian (the Rust target, mingw-w64, Wine) and
# keeps its Wine prefix under target/wine. Exit code 77: Wine cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
root=$PWD
wine=${P2P_WINE:-/usr/lib/wine/wine64}

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
need=()
[ -x "$wine" ] || need+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$root/scripts/wine/run"
export WINEPREFIX="$root/target/wine/prefix"
export WINEDEBUG=-all
mkdir -p "$WINEPREFIX"

# Every Wine process of this prefix ends with the script, also when it is
# interrupted.
cleanup() { "$(dirname "$wine")/wineserver" -k 2>/dev/null || true; }
trap cleanup EXIT

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    if ! timeout 120 "$wine" wineboot --init >/dev/null 2>&1; then
        echo "Wine cannot start here: Windows tests skipped"
        exit 77
    fi
fi
# One wineserver for the whole run: by default it exits a few seconds after
# its last program, and a test program started while it exits fails with
# "wine client error: recvmsg: Connection reset by peer". `-p` refuses
# while another server runs (wineboot's), so that one is ended first. The
# trap above ends ours.
wineserver="$(dirname "$wine")/wineserver"
"$wineserver" -k 2>/dev/null || true
"$wineserver" -w 2>/dev/null || true
"$wineserver" -p
system32="$WINEPREFIX/drive_c/windows/system32"
x86_64-w64-mingw32-gcc -O2 -shared -o "$system32/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32

# The headless build: under Wine the command line is what is tested (the
# desktop window's Windows build is compiled by the GitHub workflow).
features=(--no-default-features)
echo "--- unit tests under Wine: protocol, transports, engine and store"
cargo test --locked --target "$target" -p protocol
cargo test --locked --target "$target" -p p2p-transport --lib
cargo test --locked --target "$target" -p p2p-client "${features[@]}" --lib

echo "--- transfers: Windows build under Wine"
cargo build --locked --target "$target" -p p2p-client "${features[@]}" --bin p2p-client
export P2P_WINDOWS_EXE="$root/target/$target/debug/p2p-client.exe"
cargo test --locked -p p2p-client --test windows -- --ignored --test-threads 2
# The hostile sender against a Windows receiver: unsafe and case-colliding
# names, lying sizes and hashes, resume offsets, a full disk. Not the
# per-address connection cap: it holds, but Wine reports the closing of the
# held sockets late, and the test's next peer comes at once.
P2P_HOSTILE_WINDOWS=1 cargo test --locked -p p2p-client --test hostile -- \
    --skip limits::one_address_cannot_hold_more_than_32_connections
