#!/usr/bin/env bash
# Compares `rlvr bench model`'s forward and backward with the same passes inside real RL steps (results/cpu-bench.md,
# "bench model against a training step"). Both run configs/small.ini's model on 2 sequences of 128 tokens of which the
# first 10 are a prompt (the LM head skips its rows): bench model directly (--prompt-len 10); `rlvr bench train` with
# one prompt of 10 tokens ("Q: a+b=?\n" after BOS) and a group of 2 responses of 118 tokens, trained as one
# micro-batch, whose "forward" and "backward" phases are the trainer's own timers around the policy's passes
# (src/train/rl_update.c). A random model's responses all earn reward 0, so every advantage is 0 and the backward
# would skip the log-prob gradient over the vocabulary; a small entropy bonus (algo.entropy_coef) gives every response
# token a gradient, as nonzero advantages do in a real step.
# The two sides take turns, ROUNDS times, the first side alternating, so a slow phase of a shared machine (single
# runs of the same command differ by 10-40% on a VM) falls on both. One line per round gives both sides' medians,
# wall and process CPU seconds, their ratios, and the share of CPU time a hypervisor stole while each side ran; a
# last line gives the median over the rounds of each ratio.
#   launch/bench_vs_train.sh [OUT_DIR]        (default /tmp/rlvr-bench-vs-train)
# Environment: MARCH (rlvr's build, native), THREADS (1), ROUNDS (3), STEPS (timed RL steps after the warm-up, 6),
# REPEAT (bench model passes, 6), OPENBLAS_CORETYPE (as for launch/cpu_bench.sh). Needs jq.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/rlvr-bench-vs-train}
MARCH=${MARCH:-native} THREADS=${THREADS:-1} ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-6} REPEAT=${REPEAT:-6}
BUILD=build-$MARCH
mkdir -p "$OUT"
make -s -C "$ROOT" BUILD="$BUILD" MARCH="$MARCH" "$BUILD/rlvr" >/dev/null
RLVR=$ROOT/$BUILD/rlvr
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

side_model() {
    "$RLVR" bench model --config "$ROOT/configs/small.ini" --seqs 2 --seq-len 128 --prompt-len 10 --repeat "$REPEAT"
}
side_train() {
    "$RLVR" bench train --config "$ROOT/configs/small.ini" --repeat "$STEPS" \
        --set task.ops=add --set task.digits_min=1 --set task.digits_max=1 --set prompt.template=none \
        --set rollout.n=2 --set rollout.max_new_tokens=118 \
        --set train.prompts_per_step=1 --set train.micro_batch=2 \
        --set algo.beta=0 --set algo.entropy_coef=0.001 --set eval.every=0 --set checkpoint.every=0
}

# bench model's "forward" pass is the trainer's forward; its backward is "forward+backward" less "forward".
compare() {
    jq -s -c --arg threads "$THREADS" --arg round "$1" '
        (map(select(.bench == "model")) | INDEX(.phase)) as $m
        | (map(select(.bench == "train")) | INDEX(.phase)) as $t
        | def side($f; $b; $fc; $bc): {forward_s: $f, backward_s: $b, forward_backward_s: ($f + $b),
                                      forward_cpu_s: $fc, backward_cpu_s: $bc, forward_backward_cpu_s: ($fc + $bc)};
          side($m.forward.seconds; $m["forward+backward"].seconds - $m.forward.seconds;
               $m.forward.cpu_seconds; $m["forward+backward"].cpu_seconds - $m.forward.cpu_seconds) as $bm
        | side($t.forward.seconds; $t.backward.seconds; $t.forward.cpu_seconds; $t.backward.cpu_seconds) as $tr
        | {bench: "bench_vs_train", round: ($round | tonumber), threads: ($threads | tonumber), bench_model: $bm,
           train_step: $tr, train_over_model: ($tr | with_entries(.value /= $bm[.key])),
           steal_fraction: {bench_model: $m["forward+backward"].steal_fraction, train_step: $t.step.steal_fraction}}' \
        "$OUT/model-$1.jsonl" "$OUT/train-$1.jsonl"
}

: >"$OUT/compare.jsonl"
for round in $(seq 1 "$ROUNDS"); do
    sides="model train"
    [ $((round % 2)) -eq 1 ] || sides="train model"
    for side in $sides; do "side_$side" >"$OUT/$side-$round.jsonl"; done
    compare "$round" | tee -a "$OUT/compare.jsonl"
done
jq -s -c 'def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    . as $rounds | {bench: "bench_vs_train_median", threads: .[0].threads, rounds: length,
        train_over_model: (.[0].train_over_model | keys | map(. as $k | {key: $k,
            value: ([$rounds[].train_over_model[$k]] | median)}) | from_entries)}' \
    "$OUT/compare.jsonl" | tee -a "$OUT/compare.jsonl"
