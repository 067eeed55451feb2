#!/usr/bin/env bash
# make bench: every benchmark of `rlvr bench`, one JSON line per measurement on stdout.
# Record results with the machine and date: tests/bench.sh build/rlvr | tee results/bench-$(date +%F).jsonl
set -uo pipefail
RLVR=${1:-build/rlvr}
echo "{\"machine\":\"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\",\"cores\":$(nproc),\"date\":\"$(date -u +%FT%TZ)\",\"revision\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"
status=0
# Each entry: a benchmark and its options (the deterministic mode's backward is timed besides the fast one's).
for what in "model" "model --deterministic" "sample" "train" "loss" "ckpt"; do
    read -ra args <<<"$what"
    "$RLVR" bench "${args[@]}" || { echo "bench: rlvr bench $what failed" >&2; status=1; }
done
exit $status
