#!/usr/bin/env bash
# Takes assets/screenshot.png: the real desktop app under Xvfb, with two peers
# in its list and a transfer in progress. Loopback only, mDNS off; every
# process it starts is stopped at the end, on failure too.
#
#   apt-get install -y xvfb imagemagick libgl1-mesa-dri libegl1 libxkbcommon-x11-0
#   cargo build --release -p p2p-client -p signal-server
#   scripts/screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-assets/screenshot.png}
BIN=${BIN:-target/release}
CLIENT=$BIN/p2p-client
SERVER=$BIN/signal-server
DISPLAY_NUM=${DISPLAY_NUM:-:97}
PORT=${PORT:-18181}
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in Xvfb import; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y xvfb imagemagick" >&2; exit 1; }
done
[ -x "$CLIENT" ] && [ -x "$SERVER" ] || { echo "build first: cargo build --release -p p2p-client -p signal-server" >&2; exit 1; }

URL=ws://127.0.0.1:$PORT/ws
"$SERVER" --listen 127.0.0.1:$PORT --relay-listen /ip4/127.0.0.1/tcp/0 >"$WORK/server.log" 2>&1 &
PIDS+=($!)

# A peer with a name, its own identity and download folder.
peer() {
    local dir=$WORK/$1
    mkdir -p "$dir/downloads"
    printf 'name = "%s"\nserver = "%s"\ndownload_dir = "%s"\nmdns = false\n' "$2" "$URL" "$dir/downloads" >"$dir/config.toml"
    echo "$dir"
}
ALICE=$(peer alice "Alice's desktop")
BOB=$(peer bob "Bob's laptop")
CAROL=$(peer carol "Carol's workstation")
COMMON=(--no-mdns --listen /ip4/127.0.0.1/tcp/0)

# Alice trusts Carol, so Carol's files are accepted without a dialog.
CAROL_ID=$("$CLIENT" id --config-dir "$CAROL")
printf 'trusted_peers = ["%s"]\ntheme = "light"\n' "$CAROL_ID" >>"$ALICE/config.toml"
ALICE_ID=$("$CLIENT" id --config-dir "$ALICE")

Xvfb "$DISPLAY_NUM" -screen 0 960x640x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
sleep 1
DISPLAY=$DISPLAY_NUM LIBGL_ALWAYS_SOFTWARE=1 WINIT_UNIX_BACKEND=x11 \
    "$CLIENT" "${COMMON[@]}" --config-dir "$ALICE" >"$WORK/app.log" 2>&1 &
PIDS+=($!)

"$CLIENT" "${COMMON[@]}" --config-dir "$BOB" receive --yes >"$WORK/bob.log" 2>&1 &
PIDS+=($!)

# A file large enough to be caught in flight.
head -c $((${SIZE_MIB:-3072} * 1024 * 1024)) /dev/urandom >"$WORK/carol-photos.tar"
sleep 4
"$CLIENT" "${COMMON[@]}" --config-dir "$CAROL" send "$WORK/carol-photos.tar" --to "$ALICE_ID" >"$WORK/carol.log" 2>&1 &
PIDS+=($!)

# Wait until bytes flow, then take the picture.
for _ in $(seq 1 100); do
    grep -q "Sending 1 file" "$WORK/carol.log" 2>/dev/null && break
    sleep 0.2
done
sleep "${SHOT_DELAY:-1.5}"
DISPLAY=$DISPLAY_NUM import -window root "$OUT"
echo "wrote $OUT"
