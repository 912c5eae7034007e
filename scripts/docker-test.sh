#!/usr/bin/env bash
# Builds the signal-server Docker image and checks it for real, offline:
#
#   1. base images from local files: a minimal Debian made with debootstrap
#      (`docker import`), and the same plus gcc and this machine's Rust
#      toolchain for the builder stage (no registry is reachable here);
#   2. `docker build` of docker/Dockerfile with those base images (the build
#      uses the host network only to fetch crates from crates.io);
#   3. the container, on loopback ports: /healthz, a WebSocket registration
#      and a relay reservation by a real p2p-client, `docker stop` within
#      10 s, and the same relay peer ID after a restart (the key volume).
#
#   sudo scripts/docker-test.sh
#
# Exit codes: 0 passed, 1 a check failed, 77 Docker cannot run here (not
# root, no packages, dockerd would not start): `.ci/run` skips then.
#
# Needs root. Installs docker.io and debootstrap if missing, starts dockerd
# if none runs (with no bridge and no iptables, data under a temporary
# folder) and stops it again. Everything it creates is removed at the end,
# except the base images when dockerd was already running (they are reused).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
RUNTIME_IMAGE=local/debian:$SUITE
BUILDER_IMAGE=local/rust:$SUITE
IMAGE=p2p-share/signal-server:test
NAME=p2p-share-docker-test
VOLUME=p2p-share-docker-test-data
HTTP_PORT=18080
RELAY_PORT=14001
CLIENT=target/debug/p2p-client

log() { printf '== %s\n' "$*"; }
fail() { printf 'docker-test: %s\n' "$*" >&2; exit 1; }
cannot() { printf 'docker-test: cannot run here: %s\n' "$*" >&2; exit 77; }

[ "$(id -u)" -eq 0 ] || cannot "run as root (dockerd, debootstrap)"
work="$(mktemp -d)"
started_dockerd=""
cleanup() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    if [ -n "$started_dockerd" ]; then
        kill "$started_dockerd" 2>/dev/null || true
        wait "$started_dockerd" 2>/dev/null || true
        # dockerd leaves its network namespace mounted under its exec root.
        awk -v dir="$work" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
            while read -r mount; do umount -l "$mount" 2>/dev/null || true; done || true
    fi
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq || cannot "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        || cannot "cannot install ${need[*]}"
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (no bridge, no iptables)"
    mkdir -p "$work/docker"
    dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
        --data-root "$work/docker" --exec-root "$work/docker-exec" \
        --pidfile "$work/docker.pid" >"$work/dockerd.log" 2>&1 &
    started_dockerd=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; cannot "dockerd did not start"; }
fi

if ! docker image inspect "$RUNTIME_IMAGE" >/dev/null 2>&1; then
    log "base image $RUNTIME_IMAGE (debootstrap --variant=minbase $SUITE)"
    debootstrap --variant=minbase "$SUITE" "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    tar -C "$work/rootfs" -c . | docker import - "$RUNTIME_IMAGE" >/dev/null
fi

if ! docker image inspect "$BUILDER_IMAGE" >/dev/null 2>&1; then
    log "base image $BUILDER_IMAGE (the same, gcc, and this machine's Rust)"
    [ -d "$work/rootfs" ] || {
        mkdir -p "$work/rootfs"
        docker export "$(docker create "$RUNTIME_IMAGE" /bin/true)" | tar -C "$work/rootfs" -x
    }
    cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
    chroot "$work/rootfs" apt-get update -qq >/dev/null
    chroot "$work/rootfs" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates >/dev/null
    # This machine's trust store, so cargo reaches crates.io the way the
    # host does (through whatever TLS proxy the host trusts).
    cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
    toolchain="$(rustc --print sysroot)"
    mkdir -p "$work/rootfs/usr/local/rust"
    cp -a "$toolchain/." "$work/rootfs/usr/local/rust/"
    tar -C "$work/rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        - "$BUILDER_IMAGE" >/dev/null
fi
rm -rf "$work/rootfs"

log "docker build (release signal-server)"
started=$(date +%s)
docker build --network host -q \
    --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    -f docker/Dockerfile -t "$IMAGE" . >/dev/null
log "built in $(( $(date +%s) - started )) s; image $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MiB", $1/1048576}')"

[ -x "$CLIENT" ] || cargo build -q -p p2p-client --bin p2p-client
docker volume create "$VOLUME" >/dev/null

run_container() {
    docker run -d --name "$NAME" --network host -v "$VOLUME:/data" \
        -e SIGNAL_LISTEN=127.0.0.1:$HTTP_PORT \
        -e SIGNAL_RELAY_LISTEN=/ip4/127.0.0.1/tcp/$RELAY_PORT,/ip4/127.0.0.1/udp/$RELAY_PORT/quic-v1 \
        -e SIGNAL_EXTERNAL_ADDR=/ip4/127.0.0.1/tcp/$RELAY_PORT,/ip4/127.0.0.1/udp/$RELAY_PORT/quic-v1 \
        "$IMAGE" >/dev/null
    for _ in $(seq 50); do
        if [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" = healthy ] \
            || health; then
            return 0
        fi
        sleep 0.2
    done
    docker logs "$NAME" >&2 || true
    fail "the container did not answer /healthz"
}

# GET /healthz over bash's /dev/tcp (no curl in a minimal system).
health() {
    local answer
    answer="$( (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" \
        && printf 'GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n' >&3 \
        && cat <&3) 2>/dev/null)" || return 1
    [[ "$answer" == *"200 OK"* ]]
}

relay_peer_id() {
    docker logs "$NAME" 2>&1 | sed -n 's/.*relay listening peer_id=\([^ ]*\).*/\1/p' | tail -1
}

log "run: /healthz"
run_container
health || fail "/healthz did not answer ok"
first_id="$(relay_peer_id)"
[ -n "$first_id" ] || fail "no relay peer ID in the logs"

log "a real p2p-client registers and reserves a relay slot"
events="$work/client.jsonl"
timeout 20 "$CLIENT" --no-mdns --json --config-dir "$work/client" \
    --listen /ip4/127.0.0.1/tcp/0 --server "ws://127.0.0.1:$HTTP_PORT/ws" \
    receive --dir "$work/downloads" >"$events" 2>"$work/client.log" &
client=$!
ok=""
for _ in $(seq 100); do
    if grep -q '"server_status".*"connected":true' "$events" \
        && grep -q "p2p-circuit" "$events"; then
        ok=1
        break
    fi
    sleep 0.2
done
kill "$client" 2>/dev/null || true
wait "$client" 2>/dev/null || true
[ -n "$ok" ] || { cat "$events" "$work/client.log" >&2; fail "the client did not register and reserve"; }
grep -q "$first_id" "$events" || fail "the client's circuit is not through relay $first_id"

log "docker stop ends it cleanly within 10 s"
started=$(date +%s%N)
docker stop -t 10 "$NAME" >/dev/null
took=$(( ($(date +%s%N) - started) / 1000000 ))
code="$(docker inspect -f '{{.State.ExitCode}}' "$NAME")"
[ "$code" = 0 ] || fail "exit code $code after docker stop"
[ "$took" -lt 10000 ] || fail "docker stop took $took ms"
log "stopped in $took ms, exit code 0"

log "a restart keeps the relay's peer ID"
docker rm "$NAME" >/dev/null
run_container
second_id="$(relay_peer_id)"
[ "$first_id" = "$second_id" ] || fail "relay peer ID changed: $first_id -> $second_id"

log "docker image checks passed (relay $first_id)"
