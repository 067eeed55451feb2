#!/usr/bin/env bash
# Compares `rlvr bench model`'s forward+backward with the forward+backward of the same shapes inside real RL steps
# (results/cpu-bench.md, "bench model against a training step"), in process CPU seconds so that it holds on a shared
# machine. Both run configs/small.ini's model on 2 sequences of 128 tokens: bench model directly; `rlvr bench train`
# with one prompt of 10 tokens ("Q: a+b=?\n" after BOS) and a group of 2 responses of 118 tokens, trained as one
# micro-batch, while perf samples it. The training side's figure is the CPU time of the samples whose call chain is in
# model_forward(_logprob) or model_backward(_logprob)_hooked, step by step (the first step is the warm-up).
#   launch/bench_vs_train.sh [OUT_DIR]        (default /tmp/rlvr-bench-vs-train)
# Environment: MARCH (rlvr's build, native), THREADS (1), STEPS (timed RL steps after the warm-up, 2), FREQ (perf
# samples per CPU second, 250), OPENBLAS_CORETYPE (as for launch/cpu_bench.sh). Needs perf (linux-perf).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/rlvr-bench-vs-train}
MARCH=${MARCH:-native} THREADS=${THREADS:-1} STEPS=${STEPS:-2} FREQ=${FREQ:-250}
BUILD=build-$MARCH
mkdir -p "$OUT"
make -s -C "$ROOT" BUILD="$BUILD" MARCH="$MARCH" "$BUILD/rlvr" >/dev/null
RLVR=$ROOT/$BUILD/rlvr
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

"$RLVR" bench model --config "$ROOT/configs/small.ini" --seqs 2 --seq-len 128 --repeat 3 | tee "$OUT/model.jsonl"
perf record -q -F "$FREQ" --call-graph dwarf,32768 -o "$OUT/train.perf" \
    "$RLVR" bench train --config "$ROOT/configs/small.ini" --repeat "$STEPS" \
    --set task.ops=add --set task.digits_min=1 --set task.digits_max=1 --set prompt.template=none \
    --set rollout.n=2 --set rollout.max_new_tokens=118 --set train.prompts_per_step=1 --set train.micro_batch=2 \
    --set algo.beta=0 --set eval.every=0 --set checkpoint.every=0 | tee "$OUT/train.jsonl"

# One record per sample (perf script's blank-line separated call chains); a step starts at a forward sample that
# follows a backward one.
perf script -i "$OUT/train.perf" -F tid,time,ip,sym 2>/dev/null | awk -v freq="$FREQ" '
    BEGIN { RS = ""; step = 0; last = "" }
    {
        kind = ""
        if ($0 ~ /model_backward(_logprob)?_hooked/) kind = "bwd"
        else if ($0 ~ /[ \t]model_forward(_logprob)?(\+|[ \t\n]|$)/) kind = "fwd"
        if (kind == "") next
        if (kind == "fwd" && last == "bwd") step++
        n[step, kind]++; last = kind; steps = step
    }
    END {
        for (s = 0; s <= steps; s++)
            printf "{\"bench\":\"train_fwd_bwd\",\"step\":%d,\"warm_up\":%s,\"forward_cpu_seconds\":%.3f,\"backward_cpu_seconds\":%.3f,\"cpu_seconds\":%.3f}\n",
                s + 1, s ? "false" : "true", n[s, "fwd"] / freq, n[s, "bwd"] / freq, (n[s, "fwd"] + n[s, "bwd"]) / freq
    }' | tee "$OUT/train_fwd_bwd.jsonl"
