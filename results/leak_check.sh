#!/usr/bin/env bash
# Leaks in rlvr's own code: a short run of each subcommand, on 1 rank and under mpirun on 2, and a few refused inputs,
# under LeakSanitizer (build with `make SAN=1`), counting the reports with a frame in src/ (Open MPI leaves its own
# allocations behind at every exit). Prints "clean", "LEAK" with rlvr's reports or "FAIL" per command; exit 1 on any.
#   bash results/leak_check.sh [RLVR] [OUT]      (defaults: build-san/rlvr, /tmp/leak-check)
set -uo pipefail
RLVR=$(realpath "${1:-build-san/rlvr}")
OUT=${2:-/tmp/leak-check}
ROOT=$(realpath "$(dirname "$0")/..")
CONFIG=$ROOT/configs/tiny-train.ini
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$OUT" && mkdir -p "$OUT"
# A leak report leaves the exit status alone (exitcode=0), so a status other than 0 is the command's own failure.
export ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=exitcode=0
status=0 n=0

# leaks LOG: LeakSanitizer's reports in LOG with a frame in rlvr's sources (src/..., as the Makefile compiles them). The others are Open MPI's (its components
# are unloaded by MPI_Finalize, so their frames read "<unknown module>") and the C library's under them.
leaks() {
    awk -v RS='' -v src="$ROOT/src/" '/leak of/ && (/ in [^ ]+ src\// || index($0, src))' "$1"
}

# check CMD...: runs CMD; "clean", "LEAK" with rlvr's reports, or "FAIL" with the end of its output.
check() {
    n=$((n + 1))
    local log=$OUT/$n.log
    "$@" > "$log" 2>&1
    local rc=$?
    local own; own=$(leaks "$log")
    if [[ -n $own ]]; then
        echo "LEAK  [$n] $*"; echo "$own" | sed 's/^/      /'; status=1
    elif [[ $rc != 0 ]]; then
        echo "FAIL  [$n] rc=$rc $*"; tail -3 "$log" | sed 's/^/      /'; status=1
    else
        echo "clean [$n] $*$(grep -q 'LeakSanitizer' "$log" && echo "   (library leaks only: $(grep -c SUMMARY "$log") rank(s), no rlvr frame)")"
    fi
}
SETS=(--set eval.every=2 --set eval.n_prompts=8 --set checkpoint.every=2 --set checkpoint.keep=1)

check "$RLVR" sft --config "$CONFIG" --run-dir "$OUT/sft" --set sft.steps=6 "${SETS[@]}"
CKPT=$OUT/sft/ckpt/step-000006.h5
check "$RLVR" train --config "$CONFIG" --run-dir "$OUT/rl" --init "$CKPT" --set train.steps=4 "${SETS[@]}"
check "$RLVR" train --run-dir "$OUT/rl" --resume --set train.steps=6
check mpirun -np 2 --oversubscribe "$RLVR" train --config "$CONFIG" --run-dir "$OUT/rl2" --init "$CKPT" \
    --set train.steps=4 --set rollout.schedule=dynamic --set train.balance=tokens --set algo.dynamic_sampling=true \
    --set dist.zero_stage=1 "${SETS[@]}"
check mpirun -np 2 --oversubscribe "$RLVR" train --run-dir "$OUT/rl2" --resume --set train.steps=6
check "$RLVR" eval --ckpt "$CKPT" --out "$OUT/eval" --n 2 --set eval.n_prompts=8
printf '{"problem":"1+2=","answer":"3"}\n{"problem":"7+8=","answer":"15"}\n' > "$OUT/aime24.jsonl"
check "$RLVR" eval --ckpt "$CKPT" --out "$OUT/eval-data" --n 2 --data "$OUT/aime24.jsonl"
# A JSONL dataset with the BPE tokenizer and a chat template.
check "$RLVR" train --config "$CONFIG" --run-dir "$OUT/gsm8k" --set task.name=gsm8k \
    --set "data.path=$ROOT/tests/fixtures/datasets/gsm8k.jsonl" --set tokenizer.type=bpe \
    --set "tokenizer.path=$ROOT/tests/fixtures/bpe/tokenizer.json" --set model.vocab_size=512 \
    --set prompt.template=chatml --set model.max_position_embeddings=256 --set rollout.max_new_tokens=8 \
    --set train.steps=2 --set eval.n_prompts=0
printf '{"prompt":"1+2="}\n{"prompt":"7+8="}\n' > "$OUT/prompts.jsonl"
check "$RLVR" sample --ckpt "$CKPT" --prompts "$OUT/prompts.jsonl" --n 2 --out "$OUT/samples.jsonl"
check mpirun -np 2 --oversubscribe "$RLVR" sample --ckpt "$CKPT" --prompts "$OUT/prompts.jsonl" --n 2 \
    --out "$OUT/samples2.jsonl"
check "$RLVR" score --ckpt "$CKPT" --in "$OUT/samples.jsonl" --out "$OUT/score.h5"
check mpirun -np 2 --oversubscribe "$RLVR" score --ckpt "$CKPT" --in "$OUT/samples.jsonl" --out "$OUT/score2.h5"
printf '{"response":"Answer: 3","answer":"3"}\n{"response":"4","index":0}\n' > "$OUT/responses.jsonl"
check "$RLVR" reward --task arith --in "$OUT/responses.jsonl" --out "$OUT/rewards.jsonl"
check "$RLVR" loss-testgen --seed 1 --out "$OUT/loss-in.h5"
check "$RLVR" loss --algo grpo --in "$OUT/loss-in.h5" --out "$OUT/loss-out.h5"
check "$RLVR" init --config "$ROOT/configs/tiny-dense.ini" --out "$OUT/init.h5"
check "$RLVR" ckpt info "$CKPT"
check "$RLVR" ckpt stats "$CKPT"
check "$RLVR" ckpt diff "$CKPT" "$OUT/rl/ckpt/step-000006.h5"
check "$RLVR" ckpt diff --exact "$CKPT" "$CKPT"
for hf in "$ROOT"/tests/fixtures/hf/*/; do
    name=$(basename "$hf")
    check "$RLVR" import --hf "$hf" --out "$OUT/$name.h5"
    check "$RLVR" export "$OUT/$name.h5" --out "$OUT/$name-out" --dtype f32 --shard-size 4KB
done
# Refused inputs: the error paths free what they hold too.
check_refused() {
    n=$((n + 1))
    local log=$OUT/$n.log
    "$@" > "$log" 2>&1
    local own; own=$(leaks "$log")
    if [[ -n $own ]]; then
        echo "LEAK  [$n] (refused) $*"; echo "$own" | sed 's/^/      /'; status=1
    else
        echo "clean [$n] (refused: $(grep -v '^rlvr: rank [0-9]* on ' "$log" | grep -m1 '^rlvr' | cut -c1-70)) $*"
    fi
}
check_refused "$RLVR" train --config "$CONFIG" --run-dir "$OUT/bad" --set train.steps=x
check_refused "$RLVR" train --run-dir "$OUT/rl" --resume --set model.hidden_size=64
check_refused "$RLVR" sample --ckpt "$OUT/nothere.h5" --prompts "$OUT/prompts.jsonl" --out "$OUT/x.jsonl"
check_refused "$RLVR" eval --ckpt "$CKPT" --out "$OUT/eval-bad" --data "$OUT/nothere.jsonl"
check_refused "$RLVR" export "$OUT/prompts.jsonl" --out "$OUT/x-out"
check_refused "$RLVR" score --ckpt "$CKPT" --in "$OUT/prompts.jsonl" --out "$OUT/x.h5"
check_refused "$RLVR" import --hf "$ROOT/tests/fixtures" --out "$OUT/x.h5"
echo "$n runs; $( ((status)) && echo 'some leaked or failed' || echo 'no leaks')"
exit $status
