#!/usr/bin/env bash
# Does a long run stay flat? Runs rlvr sft, rlvr train (1 rank) and rlvr train (2 ranks, dynamic schedule, token
# balance, dynamic sampling) on configs/tiny-train.ini with eval and checkpoints every few steps, and samples each rlvr
# process's RSS (/proc/PID/status VmRSS), open file descriptors (/proc/PID/fd), threads and CPU time every second,
# beside the step reached (metrics.jsonl's lines). Prints the curves at a few steps with the median step_time_s of the
# 100 steps before each (other processes share the cores: single steps are noisy), then a long-lived process's step
# time against a fresh one's over the same steps at the same time; results/long-run.md is its output.
# SUMMARY=1 prints the curves of an earlier run in OUT again without running anything.
#   bash results/long_run.sh [RLVR] [OUT]      (defaults: build/rlvr, /tmp/long-run)
#   SFT_STEPS, RL_STEPS, RL2_STEPS scale the three runs; PAIR_AT places the last comparison.
set -euo pipefail
RLVR=$(realpath "${1:-build/rlvr}")
OUT=${2:-/tmp/long-run}
SFT_STEPS=${SFT_STEPS:-4000}
RL_STEPS=${RL_STEPS:-6000}
RL2_STEPS=${RL2_STEPS:-4000}
CONFIG=$(realpath "$(dirname "$0")/../configs/tiny-train.ini")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"

# Eval every 25 steps on 16 prompts, a checkpoint every 10 steps of which 2 are kept: every path a long run takes.
COMMON=(--set eval.every=25 --set eval.n_prompts=16 --set checkpoint.every=10 --set checkpoint.keep=2)

# The rlvr processes of the job started as $1: itself, or mpirun's children and theirs, by executable (rlvr re-executes
# itself through /proc/self/exe, src/cli/rlvr.c, so its name becomes "exe").
rlvr_pids() {
    local p
    for p in "$1" $(pgrep -P "$1") $(for c in $(pgrep -P "$1"); do pgrep -P "$c"; done); do
        [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$RLVR" ]] && echo "$p"
    done
    return 0
}

# watch NAME CMD...: runs CMD, and every second writes "seconds pid rss_kb fds threads step cpu_ticks" lines to
# OUT/NAME.tsv (cpu_ticks: the process's user + system time, /proc/PID/stat, in clock ticks).
watch() {
    local name=$1; shift
    rm -rf "${OUT:?}/$name"
    "$@" > "$OUT/$name.log" 2>&1 &
    local top=$! t0=$SECONDS
    echo "# seconds pid rss_kb fds threads step cpu_ticks" > "$OUT/$name.tsv"
    while kill -0 "$top" 2>/dev/null; do
        local step=0 p
        [[ -f $OUT/$name/metrics.jsonl ]] && step=$(wc -l < "$OUT/$name/metrics.jsonl")
        for p in $(rlvr_pids "$top"); do
            local rss thr fds cpu
            rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
            thr=$(awk '/^Threads:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
            fds=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
            cpu=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
            [[ -n $rss && -n $cpu ]] && echo "$((SECONDS - t0)) $p $rss $fds $thr $step $cpu" >> "$OUT/$name.tsv"
        done
        sleep 1
    done
    wait "$top" || { echo "$name failed: see $OUT/$name.log" >&2; return 1; }
}

# summary NAME: per process, the first sample at or past each step; step time over the 10 steps before it.
summary() {
    local name=$1
    echo "## $name"
    python3 - "$OUT/$name.tsv" "$OUT/$name/metrics.jsonl" <<'EOF'
import json, os, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if not l.startswith('#')]
times = [json.loads(l)["step_time_s"] for l in open(sys.argv[2])]
tick, last = os.sysconf("SC_CLK_TCK"), len(times)
marks = [s for s in (10, 20, 50, 100, 200, 300, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000) if s < last]
pids = sorted({r[1] for r in rows})
print("| step | step_time_s, median of the 100 before | " + " | ".join(
    f"rank {i}: RSS MiB / fds / threads / CPU ms per step since the last value above" for i in range(len(pids))) + " |")
print("|" + "---|" * (2 + len(pids)))
prev = {}
for s in marks + [last]:
    cells = []
    for p in pids:
        mine = [r for r in rows if r[1] == p]
        r = ([x for x in mine if x[5] >= s] or mine[-1:])[0]
        q = prev.get(p)
        cpu = f"{(r[6] - q[6]) * 1000 / tick / (r[5] - q[5]):.1f}" if q and r[5] - q[5] >= 20 else "-"
        prev[p] = r if not q or r[5] - q[5] >= 20 else q
        cells.append(f"{r[2] / 1024:.1f} / {r[3]} / {r[4]} / {cpu}")
    w = sorted(times[max(0, s - 100):s])
    print(f"| {s} | {w[len(w) // 2]:.4f} | " + " | ".join(cells) + " |")
for i, p in enumerate(pids):
    mine = [r for r in rows if r[1] == p]
    warm = [r for r in mine if r[5] >= min(20, last)] or mine
    print(f"rank {i}: {len(mine)} samples; after step {min(20, last)}: RSS {min(r[2] for r in warm) / 1024:.1f}"
          f"-{max(r[2] for r in warm) / 1024:.1f} MiB, fds {min(r[3] for r in warm)}-{max(r[3] for r in warm)},"
          f" threads {min(r[4] for r in warm)}-{max(r[4] for r in warm)}")
EOF
    echo
}

if [[ ${SUMMARY:-0} == 1 ]]; then
    for n in sft train train-np2; do summary "$n"; done
    exit 0
fi
echo "# $(date -u '+%F %T UTC'), $(uname -srm), $(nproc) CPUs, $RLVR ($("$RLVR" --version 2>&1 | head -1))"
watch sft "$RLVR" sft --config "$CONFIG" --run-dir "$OUT/sft" --set sft.steps="$SFT_STEPS" "${COMMON[@]}"
# The RL runs start from a 300-step warm start (about half its sampled answers right), so groups differ in reward
# and every step has advantages, a backward and an update.
rm -rf "${OUT:?}/init"
"$RLVR" sft --config "$CONFIG" --run-dir "$OUT/init" --set sft.steps=300 > "$OUT/init.log" 2>&1
INIT=$OUT/init/ckpt/step-000300.h5
watch train "$RLVR" train --config "$CONFIG" --run-dir "$OUT/train" --init "$INIT" --set train.steps="$RL_STEPS" "${COMMON[@]}"
watch train-np2 mpirun -np 2 --oversubscribe "$RLVR" train --config "$CONFIG" --run-dir "$OUT/train-np2" --init "$INIT" \
    --set train.steps="$RL2_STEPS" --set rollout.schedule=dynamic --set train.balance=tokens \
    --set algo.dynamic_sampling=true "${COMMON[@]}"
for n in sft train train-np2; do summary "$n"; done

# Age against load: the cores are shared, so a slower late step may be the neighbours'. The 1-rank run again to step
# PAIR_AT + 500, and from its step-PAIR_AT checkpoint a fresh process resumed beside it over the same 500 steps (the
# same work: a resume is bit-exact), under the same load. If a long-lived process has no slowdown, they match. One
# thread each: two processes whose OpenMP threads spin for the same 2 cores would measure that contention instead.
PAIR_AT=${PAIR_AT:-5000}
rm -rf "${OUT:?}/pair-long" "${OUT:?}/pair-fresh"
OMP_NUM_THREADS=1 "$RLVR" train --config "$CONFIG" --run-dir "$OUT/pair-long" --init "$INIT" --set train.steps=$((PAIR_AT + 500)) \
    "${COMMON[@]}" --set checkpoint.keep=50 > "$OUT/pair-long.log" 2>&1 &
long=$!
at=$OUT/pair-long/ckpt/step-$(printf %06d "$PAIR_AT").h5
while [[ ! -f $at ]]; do kill -0 $long 2>/dev/null || { echo "pair-long ended before step $PAIR_AT" >&2; exit 1; }; sleep 0.05; done
mkdir -p "$OUT/pair-fresh/ckpt" && cp "$OUT/pair-long/config.ini" "$OUT/pair-fresh/" && cp "$at" "$OUT/pair-fresh/ckpt/"
OMP_NUM_THREADS=1 "$RLVR" train --run-dir "$OUT/pair-fresh" --resume > "$OUT/pair-fresh.log" 2>&1
wait $long
echo "## age against load: steps $((PAIR_AT + 1))-$((PAIR_AT + 500)), both processes at the same time"
python3 - "$OUT" "$PAIR_AT" <<'EOF'
import json, statistics, sys
out, at = sys.argv[1], int(sys.argv[2])
print("| process | median step_time_s | median time_sampling_s | median time_training_s |")
print("|---|---|---|---|")
for name, what in (("pair-long", "running since step 0"), ("pair-fresh", f"started at step {at}")):
    rows = [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl")]
    rows = [r for r in rows if r["step"] > at]
    med = lambda k: statistics.median(r[k] for r in rows)
    print(f"| {what} | {med('step_time_s'):.4f} | {med('time_sampling_s'):.4f} | {med('time_training_s'):.4f} |")
EOF
