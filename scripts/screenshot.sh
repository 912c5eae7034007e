#!/usr/bin/env bash
# Takes the README's screenshots of the real desktop app under Xvfb:
#   assets/screenshot-main.png      your device, two devices ticked, the drop zone
#   assets/screenshot-sending.png   one send running to two devices at once
#   assets/screenshot-offer.png     an incoming offer
#   assets/screenshot-share.png     the share box: ticket, QR code, copy buttons
# Loopback only, mDNS off; the app is clicked with xdotool at the places its
# fixed 960x640 window puts its widgets. Every process it starts is stopped
# at the end, on failure too.
#
#   apt-get install -y xvfb imagemagick xdotool libgl1-mesa-dri libegl1 libxkbcommon-x11-0
#   cargo build --release -p p2p-client -p signal-server
#   scripts/screenshot.sh [OUT_DIR]        (BIN=target/debug for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-assets}
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

for tool in Xvfb import xdotool; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y xvfb imagemagick xdotool" >&2; exit 1; }
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
DAVE=$(peer dave "Dave's notebook")
COMMON=(--no-mdns --listen /ip4/127.0.0.1/tcp/0)
# Alice's uploads are held to a rate, so that the send is caught in flight.
printf 'theme = "light"\nmax_rate = "30M"\n' >>"$ALICE/config.toml"
ALICE_ID=$("$CLIENT" id --config-dir "$ALICE")

# The file Alice picks, and the one Dave offers her.
head -c $((${SIZE_MIB:-1024} * 1024 * 1024)) /dev/zero >"$WORK/holiday-photos.tar"
head -c $((64 * 1024 * 1024)) /dev/zero >"$WORK/quarterly-report.pdf"

for who in BOB CAROL; do
    "$CLIENT" "${COMMON[@]}" --config-dir "${!who}" receive --yes >"$WORK/$who.log" 2>&1 &
    PIDS+=($!)
done

Xvfb "$DISPLAY_NUM" -screen 0 960x640x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
sleep 1
export DISPLAY=$DISPLAY_NUM
P2P_PICK_PATHS="$WORK/holiday-photos.tar" LIBGL_ALWAYS_SOFTWARE=1 WINIT_UNIX_BACKEND=x11 \
    "$CLIENT" "${COMMON[@]}" --config-dir "$ALICE" >"$WORK/app.log" 2>&1 &
PIDS+=($!)
sleep "${START_DELAY:-5}"

shot() { import -window root "$OUT/screenshot-$1.png"; echo "wrote $OUT/screenshot-$1.png"; }
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.7; }

if [ -n "${PROBE:-}" ]; then shot probe; exit 0; fi

# Tick both devices; the drop zone now sends to them.
click "${TICK_X:-44}" "${TICK1_Y:-154}"
click "${TICK_X:-44}" "${TICK2_Y:-253}"
xdotool mousemove 950 630
sleep 0.5
shot main

# Choose files… sends the picked file to both at once.
click "${CHOOSE_X:-511}" "${CHOOSE_Y:-230}"
sleep "${SEND_DELAY:-2}"
xdotool mousemove 950 630
shot sending

# Dave, who Alice does not know yet, offers her a file.
"$CLIENT" "${COMMON[@]}" --config-dir "$DAVE" send "$WORK/quarterly-report.pdf" --to "$ALICE_ID" >"$WORK/dave.log" 2>&1 &
PIDS+=($!)
sleep "${OFFER_DELAY:-4}"
shot offer
click "${DECLINE_X:-416}" "${DECLINE_Y:-385}"

# Send with a code… opens the share box with the ticket's QR code.
click "${SHARE_X:-432}" "${SHARE_Y:-290}"
sleep 2
xdotool mousemove 950 630
shot share
