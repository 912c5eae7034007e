#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time, starting from the
# committed seed corpus (fuzz/corpus/TARGET). New inputs go to a temporary
# folder, so the seeds stay as committed; a crash leaves its input under
# fuzz/artifacts/TARGET and fails the script.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60, all)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and, on stable Rust,
# RUSTC_BOOTSTRAP=1 for the sanitizer flags (set here).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "$scratch/$target"
    status=0
    cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1 || status=$?
    # libFuzzer's summary lines; the whole log when it failed.
    grep -E "^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)" \
        "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$scratch/$target.log" >&2
        echo "fuzz target $target failed (status $status); input under fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no failure"
