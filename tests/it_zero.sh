# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# ZeRO stages (dist.zero_stage, algo/shard.h, algo/param_gather.h): the ownership map printed by rlvr config;
# build/mpi_param_gather on 1/2/4 ranks (stage 3's released pages, per-layer gathers = the whole model, uneven
# passes lined up, per-layer gradient sums at common points, sampling's gathers as asked); deterministic weights
# bit-identical for 1/2/4 ranks × zero 0-3 (RL and SFT; the dense model at zero 2 and 3), and at stage 3 with
# ranks of unequal work (none, 2 or 4 micro-batches; static sampling by layer or whole, and dynamic) and
# evaluation; fast mode: zero 1-3 equal zero 0 on 2 ranks; checkpoints hold full tensors, so a run saved with
# zero 3 on 4 ranks resumes with zero 0 on 1 rank, zero 1 and zero 3 on 2, bit for bit. configs/tiny-train.ini
# throughout.
plan 42
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/zero"
mkdir -p "$T"

# The map for 4 ranks: contiguous runs in rank order from element 0 to the table's end (the parameter count that
# `rlvr init` reports), each starting where the previous ended.
expect_ok "init: writes the model and reports its parameter count" bash -c \
    "'$RLVR' init --config '$CFG' --out '$T/init.h5' > '$T/init.json' && grep -q '\"n_params\":[1-9]' '$T/init.json'"
N_PARAMS=$(sed -n 's/.*"n_params":\([0-9]*\).*/\1/p' "$T/init.json")
"$RLVR" config --config "$CFG" --set dist.zero_stage=2 --ranks 4 > "$T/map.txt"
expect_ok "config: zero 2 on 4 ranks, the owned runs cover the $N_PARAMS parameters in rank order" bash -c "
    grep '^; rank' '$T/map.txt' | sed 's/.*elements \[\([0-9]*\), \([0-9]*\)).*/\1 \2/' |
        awk -v n='$N_PARAMS' 'BEGIN { e = 0; k = 0 } { if (\$1 != e) exit 1; e = \$2; k++ }
                              END { exit !(k == 4 && e == n && n > 0) }'"
expect_ok "config: zero 0 shards nothing" bash -c \
    "'$RLVR' config --config '$CFG' --ranks 4 | grep -q '^; zero stage 0 over 4 rank(s): nothing sharded' &&
     ! '$RLVR' config --config '$CFG' --ranks 4 | grep -q '^; rank'"
expect_ok "config: zero 3 on 2 ranks shards the weights too, two owned runs" bash -c "
    out=\$('$RLVR' config --config '$CFG' --set dist.zero_stage=3 --ranks 2) &&
    grep -q '^; zero stage 3 over 2 rank(s): Adam moments, gradients and weights sharded' <<<\"\$out\" &&
    [ \$(grep -c '^; rank [01] owns tensors' <<<\"\$out\") = 2 ]"
# Which gather sampling does at stage 3 is what train/rl_step.c does: layer by layer for each decode step under the
# static schedule with dist.sample_gather = layer (the defaults), all weights at once otherwise, expert parallelism
# included (algo/param_gather.c param_gather_stream).
expect_ok "config: zero 3: sampling gathers per decode step by default, else whole (asked, dynamic, EP)" bash -c "
    for a in '' dist.sample_gather=whole rollout.schedule=dynamic dist.expert_parallel=2; do
        '$RLVR' config --config '$CFG' --set dist.zero_stage=3 --ranks 2 \${a:+--set \$a} | grep '^; zero stage 3 over'
    done > '$T/sampling.txt' &&
    sed -n 1p '$T/sampling.txt' | grep -q 'backward, and again for each decode step while sampling' &&
    [ \$(grep -c 'backward, and all of them while sampling\$' '$T/sampling.txt') = 3 ]"
expect_error "config: zero_stage out of range" "zero_stage = '4': expected an integer in \[0, 3\]" \
    "$RLVR" config --config "$CFG" --set dist.zero_stage=4

# Stage 3's gathering on its own (tests/mpi_param_gather.c prints a line per check, FAIL on failure).
GATHER_TEST=$(dirname "$RLVR")/mpi_param_gather
for np in 1 2 4; do
    expect_ok "mpi_param_gather on $np rank(s): released pages, per-layer gathers = whole model, uneven passes" \
        mpi $np "$GATHER_TEST"
done

# A short warm start, so that rewards differ within groups and the policy gradient is not zero.
"$RLVR" sft --config "$CFG" --set sft.steps=40 --set eval.n_prompts=0 --run-dir "$T/sft" >/dev/null 2>&1
SFT="$T/sft/ckpt/step-000040.h5"
RL=(--config "$CFG" --init "$SFT" --set train.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true)
last() { echo "$1/ckpt/step-000003.h5"; }

# Deterministic: the same bits for every rank count and stage.
for np in 1 2 4; do
    for z in 0 1 2 3; do
        mpi $np "$RLVR" train "${RL[@]}" --set dist.zero_stage=$z --run-dir "$T/det-$np-$z" >/dev/null 2>&1
    done
done
expect_ok "deterministic: the run on 4 ranks logs zero stage 3" grep -q "4 rank(s), deterministic reduction, zero stage 3" \
    "$T/det-4-3/log.txt"
for np in 1 2 4; do
    for z in 0 1 2 3; do
        [ $np = 1 ] && [ $z = 0 ] && continue
        expect_ok "deterministic: 3 RL steps, $np rank(s), zero $z = 1 rank, zero 0, bit for bit" \
            "$RLVR" ckpt diff "$(last "$T/det-1-0")" "$(last "$T/det-$np-$z")" --exact
    done
done
SFT_DET=(--config "$CFG" --init "$SFT" --set sft.steps=2 --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" sft "${SFT_DET[@]}" --run-dir "$T/sft-1-0" >/dev/null 2>&1
for z in 2 3; do
    mpi 4 "$RLVR" sft "${SFT_DET[@]}" --set dist.zero_stage=$z --run-dir "$T/sft-4-$z" >/dev/null 2>&1
    expect_ok "deterministic: 2 SFT steps, 4 ranks, zero $z = 1 rank, zero 0, bit for bit" \
        "$RLVR" ckpt diff "$T/sft-1-0/ckpt/step-000002.h5" "$T/sft-4-$z/ckpt/step-000002.h5" --exact
done

# The dense model (configs/tiny-train.ini without experts: stage 3 gathers whole layers, no expert groups): 3 SFT
# steps, then 2 RL steps from them (sampling gathers layer by layer), on 2 ranks at zero 2 and 4 ranks at zero 3.
DENSE=(--config "$CFG" --set model.type=qwen3 --set model.num_experts=0 --set eval.n_prompts=0
       --set dist.deterministic=true)
"$RLVR" sft "${DENSE[@]}" --set sft.steps=3 --run-dir "$T/dense-1-0" >/dev/null 2>&1
DENSE_RL=("${DENSE[@]}" --init "$T/dense-1-0/ckpt/step-000003.h5" --set train.steps=2)
"$RLVR" train "${DENSE_RL[@]}" --run-dir "$T/dense-rl-1-0" >/dev/null 2>&1
# What the rollouts produced, per step (the rewards are still 0 this early, so the weights would not tell).
sampled() { grep -o '"tokens":[0-9]*,.*"length_max":[0-9]*' "$1/metrics.jsonl"; }
sampled "$T/dense-rl-1-0" > "$T/dense-rl-1-0.sampled"
for run in 2:2 4:3; do
    np=${run%:*} z=${run#*:}
    mpi $np "$RLVR" sft "${DENSE[@]}" --set sft.steps=3 --set dist.zero_stage=$z --run-dir "$T/dense-$np-$z" \
        >/dev/null 2>&1
    expect_ok "deterministic dense: 3 SFT steps, $np ranks, zero $z = 1 rank, zero 0, bit for bit" \
        "$RLVR" ckpt diff "$T/dense-1-0/ckpt/step-000003.h5" "$T/dense-$np-$z/ckpt/step-000003.h5" --exact
    mpi $np "$RLVR" train "${DENSE_RL[@]}" --set dist.zero_stage=$z --run-dir "$T/dense-rl-$np-$z" >/dev/null 2>&1
    sampled "$T/dense-rl-$np-$z" > "$T/dense-rl-$np-$z.sampled"
    expect_same "deterministic dense: 2 RL steps, $np ranks, zero $z sample what 1 rank does (tokens, lengths)" \
        "$T/dense-rl-1-0.sampled" "$T/dense-rl-$np-$z.sampled"
done

# Stage 3 with unequal work: 3 prompts on 4 ranks (one rank trains nothing, the others 2 micro-batches of 2), and a
# held-out evaluation every step (every weight gathered for it).
UNEVEN=(--set train.prompts_per_step=3 --set train.micro_batch=2 --set eval.n_prompts=8 --set eval.every=1)
"$RLVR" train "${RL[@]}" "${UNEVEN[@]}" --run-dir "$T/uneven-1-0" >/dev/null 2>&1
mpi 4 "$RLVR" train "${RL[@]}" "${UNEVEN[@]}" --set dist.zero_stage=3 --run-dir "$T/uneven-4-3" >/dev/null 2>&1
expect_ok "deterministic: zero 3 on 4 ranks of unequal work, evaluating each step = 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/uneven-1-0")" "$(last "$T/uneven-4-3")" --exact
expect_same "deterministic: zero 3 on 4 ranks evaluates as 1 rank does" "$T/uneven-1-0/eval.jsonl" \
    "$T/uneven-4-3/eval.jsonl"
# Stage 3 with 2 and 4 micro-batches on different ranks (6 prompts on 4 ranks): the per-layer gradient sums happen
# in the busiest rank's last backward, which the others join with what they hold; sampled with the static schedule
# (each decode step gathers layer by layer, or with dist.sample_gather = whole every weight once) and with the
# dynamic one (every weight gathered once).
SIX=(--set train.prompts_per_step=6 --set train.micro_batch=2)
"$RLVR" train "${RL[@]}" "${SIX[@]}" --run-dir "$T/six-1-0" >/dev/null 2>&1
for sampling in static:layer static:whole dynamic:layer; do
    mpi 4 "$RLVR" train "${RL[@]}" "${SIX[@]}" --set dist.zero_stage=3 --set rollout.schedule=${sampling%:*} \
        --set dist.sample_gather=${sampling#*:} --run-dir "$T/six-4-3-$sampling" >/dev/null 2>&1
    expect_ok "deterministic: zero 3 on 4 ranks of 2 and 4 micro-batches, $sampling sampling = 1 rank, bit for bit" \
        "$RLVR" ckpt diff "$(last "$T/six-1-0")" "$(last "$T/six-4-3-$sampling")" --exact
done

# Fast mode on 2 ranks: a sum of two addends has one rounding whoever receives it (in float32, or in float64 then
# rounded to float32: the same bits), and AdamW is elementwise; so the overlapped per-layer reduction (the
# default) and the blocking one agree too.
for z in 0 1 2 3; do
    mpi 2 "$RLVR" train "${RL[@]}" --set dist.deterministic=false --set dist.zero_stage=$z --run-dir "$T/fast-$z" \
        >/dev/null 2>&1
done
for z in 1 2 3; do
    expect_ok "fast: 2 ranks, zero $z = zero 0, bit for bit" \
        "$RLVR" ckpt diff "$(last "$T/fast-0")" "$(last "$T/fast-$z")" --exact
done
mpi 2 "$RLVR" train "${RL[@]}" --set dist.deterministic=false --set dist.overlap=false --run-dir "$T/fast-blocking" \
    >/dev/null 2>&1
expect_ok "fast: the 2-rank zero-0 run overlapped its reduction, the other did not" bash -c "
    grep -q '2 rank(s), fast overlapped reduction' '$T/fast-0/log.txt' &&
    grep -q '2 rank(s), fast reduction' '$T/fast-blocking/log.txt'"
expect_ok "fast: 2 ranks, overlapped reduction = blocking, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/fast-0")" "$(last "$T/fast-blocking")" --exact
# On 4 ranks the float32 sums round differently from one rank's: the step-1 gradients agree to 1e-6.
RLVR_TEST_DUMP_GRAD="$T/grad1.h5" "$RLVR" train "${RL[@]}" --set dist.deterministic=false --set train.steps=1 \
    --run-dir "$T/grad1" >/dev/null 2>&1
RLVR_TEST_DUMP_GRAD="$T/grad4.h5" mpi 4 -x RLVR_TEST_DUMP_GRAD "$RLVR" train "${RL[@]}" --set dist.deterministic=false \
    --set train.steps=1 --run-dir "$T/grad4" >/dev/null 2>&1
expect_ok "fast: 4 ranks overlapped, step-1 gradient = 1 rank's within 1e-6" bash -c "
    rel=\$('$RLVR' ckpt diff '$T/grad1.h5' '$T/grad4.h5' | sed -n 's/^total: relative change \([^,]*\),.*/\1/p')
    awk -v r=\"\$rel\" 'BEGIN { exit !(r != \"\" && r + 0 <= 1e-6) }'"

# Resume across layouts: saved at step 2 with zero 3 on 4 ranks (each rank writing the tensors it owns); resumed
# with zero 0 on 1 rank, zero 1 on 2 and zero 3 on 2.
mpi 4 "$RLVR" train "${RL[@]}" --set dist.zero_stage=3 --run-dir "$T/res-a" --stop-after 2 >/dev/null 2>&1
expect_ok "resume: the zero-3 run stopped at step 2" bash -c "cd '$T/res-a/ckpt' && [ \"\$(echo step-*.h5)\" = step-000002.h5 ]"
cp -r "$T/res-a" "$T/res-b"
cp -r "$T/res-a" "$T/res-c"
"$RLVR" train --run-dir "$T/res-a" --resume --set dist.zero_stage=0 >/dev/null 2>&1
mpi 2 "$RLVR" train --run-dir "$T/res-b" --resume --set dist.zero_stage=1 >/dev/null 2>&1
mpi 2 "$RLVR" train --run-dir "$T/res-c" --resume --set dist.zero_stage=3 >/dev/null 2>&1
expect_ok "resume: zero 3 on 4 ranks -> zero 0 on 1 rank = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-0")" "$(last "$T/res-a")" --exact
expect_ok "resume: zero 3 on 4 ranks -> zero 1 on 2 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-0")" "$(last "$T/res-b")" --exact
expect_ok "resume: zero 3 on 4 ranks -> zero 3 on 2 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-0")" "$(last "$T/res-c")" --exact
