# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Expert parallelism (dist.expert_parallel, model/expert_map.h) and its composition with ZeRO stages 1-3
# (algo/shard.h): the maps printed by rlvr config (every element owned once); errors for a K that divides neither
# the experts nor the ranks; deterministic weights and moments after 3 RL steps bit-identical to one rank for
# world 2/4 × K 2/4 (K dividing both) × zero 0-3 (K 1 × zero 0-3 is tests/it_zero.sh's), with ranks of
# a group holding different numbers of micro-batches (5 prompts on 4 ranks, groups split 3 + 1); checkpoints resume
# across layouts bit for bit (K 4 zero 2 on 4 ranks -> K 1 zero 0 on 1 rank, K 1 on 1 rank -> K 4 and K 2 zero 1 on
# 4 ranks, K 2 zero 2 -> K 4 zero 1 on 4 ranks, K 2 zero 3 on 4 -> K 1 zero 0 on 2); SFT too (K 4, zero 0 and 3);
# fast mode within 1e-6 of one rank at zero 0, 2 and 3.
# configs/tiny-train.ini (4 experts). The model's exchange alone: build/mpi_expert (tests/mpi_expert.c) on 1, 2 and
# 4 ranks.
plan 40
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/ep"
mkdir -p "$T"

EP_TEST=$(dirname "$RLVR")/mpi_expert
for np in 1 2 4; do
    if [ -x "$EP_TEST" ]; then
        expect_ok "mpi_expert on $np ranks: logits, own and received expert gradients = all experts on one rank" \
            mpi $np "$EP_TEST"
    else
        fail "mpi_expert on $np ranks" "$EP_TEST is missing: make $EP_TEST"
    fi
done

"$RLVR" config --config "$CFG" --set dist.expert_parallel=2 --ranks 4 > "$T/map.txt"
expect_ok "config: K 2 on 4 ranks, 2 groups, place 0 owns experts 0..1, place 1 experts 2..3" bash -c "
    grep -qx '; expert parallelism 2 over 4 rank(s): 2 group(s) of 2 consecutive ranks' '$T/map.txt' &&
    grep -q '^; place 0 of each group owns experts 0..1:' '$T/map.txt' &&
    grep -q '^; place 1 of each group owns experts 2..3:' '$T/map.txt'"
expect_error "config: K must divide num_experts" "expert_parallel \(3\) must divide \[model\] num_experts \(4\)" \
    "$RLVR" config --config "$CFG" --set dist.expert_parallel=3
expect_error "config: K needs a MoE model" "expert_parallel = 2 needs a MoE model" \
    "$RLVR" config --config "$ROOT/configs/tiny-dense.ini" --set dist.expert_parallel=2
# With ZeRO: each rank's pieces (non-expert tensors of its run, its place's slice of the expert tensors its group
# owns) cover every parameter once, and the expert elements once (the counts of `rlvr init` and of the table).
expect_ok "init: writes the model and reports its parameter count" bash -c \
    "'$RLVR' init --config '$CFG' --out '$T/init.h5' > '$T/init.json' && grep -q '\"n_params\":[1-9]' '$T/init.json'"
N_PARAMS=$(sed -n 's/.*"n_params":\([0-9]*\).*/\1/p' "$T/init.json")
N_EXPERT=$(h5ls "$T/init.h5/model" | awk '/mlp\.experts\./ { gsub(/[{},]/, " "); n = 1; for (i = 3; i <= NF; i++) n *= $i; s += n }
                                          END { print s }')
for z in 1 2 3; do
    "$RLVR" config --config "$CFG" --set dist.expert_parallel=2 --set dist.zero_stage=$z --ranks 4 > "$T/map-$z.txt"
    expect_ok "config: K 2 zero $z on 4 ranks, the 4 ranks' pieces cover the $N_PARAMS parameters ($N_EXPERT of experts) once" \
        bash -c "grep '^; rank [0-3] (place [01]) owns' '$T/map-$z.txt' |
            sed 's/.*: \([0-9]*\) elements, \([0-9]*\) of them expert/\1 \2/' |
            awk -v n='$N_PARAMS' -v x='$N_EXPERT' '{ a += \$1; b += \$2; k++ } END { exit !(k == 4 && a == n && b == x && x > 0) }'"
done
expect_error "config: K must divide --ranks" "dist.expert_parallel = 4 must divide the number of ranks \(2\)" \
    "$RLVR" config --config "$CFG" --set dist.expert_parallel=4 --ranks 2
expect_error "train: K must divide the ranks of the run" "dist.expert_parallel = 4 must divide the number of ranks \(2\)" \
    mpi 2 "$RLVR" train --config "$CFG" --set train.steps=1 --set dist.expert_parallel=4 --run-dir "$T/bad"

# A short warm start; the tiny model answers nothing right yet, so DAPO's overlong penalty (responses past 4 of the
# 12 tokens) makes the rewards differ within groups: a policy gradient reaches every expert (with equal rewards only
# the load-balancing loss would, and never the last layer's experts).
"$RLVR" sft --config "$CFG" --set sft.steps=40 --set eval.n_prompts=0 --run-dir "$T/sft" >/dev/null 2>&1
SFT="$T/sft/ckpt/step-000040.h5"
RL=(--config "$CFG" --init "$SFT" --set train.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true
    --set train.prompts_per_step=5 --set train.micro_batch=3 --set reward.overlong_buffer=8)
last() { echo "$1/ckpt/step-000003.h5"; }

"$RLVR" train "${RL[@]}" --run-dir "$T/det-1-1" >/dev/null 2>&1
# World 2/4 × K 1/2/4 at zero 0; with zero 1, 2 and 3, K 2 on 2 ranks (one group: each slice owned by its place), and
# K 2 and 4 on 4 ranks (two groups each owning some tensors' slices; one group of four).
for run in "2 1 0" "2 2 0" "4 1 0" "4 2 0" "4 4 0" "2 2 1" "2 2 2" "4 2 1" "4 2 2" "4 4 1" "4 4 2" "2 2 3" "4 2 3" \
           "4 4 3"; do
    set -- $run
    mpi "$1" "$RLVR" train "${RL[@]}" --set dist.expert_parallel="$2" --set dist.zero_stage="$3" \
        --run-dir "$T/det-$1-$2-$3" >/dev/null 2>&1
    expect_ok "deterministic: 3 RL steps, $1 rank(s), expert parallelism $2, zero $3 = 1 rank, bit for bit (weights, moments)" \
        "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/det-$1-$2-$3")" --exact
done
expect_ok "deterministic: the 4-rank run logs expert parallelism 4" grep -q "4 rank(s), deterministic reduction, zero stage 0, expert parallelism 4" \
    "$T/det-4-4-0/log.txt"
expect_ok "deterministic: the 4-rank run with zero 2 logs it" grep -q "4 rank(s), deterministic reduction, zero stage 2, expert parallelism 2" \
    "$T/det-4-2-2/log.txt"
# Each expert's own chunk of the last layer's down_proj, read with h5dump, before and after.
expert_rows() { h5dump -d /model/model.layers.1.mlp.experts.down_proj -s "$2,0,0" -c "1,32,32" "$1" | sed -n '/DATA/,$p'; }
expect_ok "deterministic: every expert of the last layer changed over the 3 steps" bash -c "
    $(declare -f expert_rows)
    for e in 0 1 2 3; do
        [ -n \"\$(expert_rows '$SFT' \$e)\" ] && ! cmp -s <(expert_rows '$SFT' \$e) <(expert_rows '$(last "$T/det-1-1")' \$e) || exit 1
    done"

# Resume across layouts: saved at step 2 with K 4 and zero 2 on 4 ranks, resumed with K 1 zero 0 on 1 rank; saved
# on 1 rank, resumed with K 4 (zero 0) and with K 2 zero 1 on 4 ranks; saved with K 2 zero 2, resumed with K 4 zero 1.
mpi 4 "$RLVR" train "${RL[@]}" --set dist.expert_parallel=4 --set dist.zero_stage=2 --run-dir "$T/res-a" \
    --stop-after 2 >/dev/null 2>&1
expect_ok "resume: the K-4 run stopped at step 2" bash -c "cd '$T/res-a/ckpt' && [ \"\$(echo step-*.h5)\" = step-000002.h5 ]"
"$RLVR" train --run-dir "$T/res-a" --resume --set dist.expert_parallel=1 --set dist.zero_stage=0 >/dev/null 2>&1
expect_ok "resume: K 4 zero 2 on 4 ranks -> K 1 zero 0 on 1 rank = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/res-a")" --exact
"$RLVR" train "${RL[@]}" --run-dir "$T/res-b" --stop-after 2 >/dev/null 2>&1
cp -r "$T/res-b" "$T/res-c"
mpi 4 "$RLVR" train --run-dir "$T/res-b" --resume --set dist.expert_parallel=4 >/dev/null 2>&1
expect_ok "resume: K 1 on 1 rank -> K 4 on 4 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/res-b")" --exact
mpi 4 "$RLVR" train --run-dir "$T/res-c" --resume --set dist.expert_parallel=2 --set dist.zero_stage=1 >/dev/null 2>&1
expect_ok "resume: K 1 on 1 rank -> K 2 zero 1 on 4 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/res-c")" --exact
mpi 4 "$RLVR" train "${RL[@]}" --set dist.expert_parallel=2 --set dist.zero_stage=2 --run-dir "$T/res-d" \
    --stop-after 2 >/dev/null 2>&1
mpi 4 "$RLVR" train --run-dir "$T/res-d" --resume --set dist.expert_parallel=4 --set dist.zero_stage=1 >/dev/null 2>&1
expect_ok "resume: K 2 zero 2 -> K 4 zero 1 on 4 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/res-d")" --exact
mpi 4 "$RLVR" train "${RL[@]}" --set dist.expert_parallel=2 --set dist.zero_stage=3 --run-dir "$T/res-e" \
    --stop-after 2 >/dev/null 2>&1
mpi 2 "$RLVR" train --run-dir "$T/res-e" --resume --set dist.expert_parallel=1 --set dist.zero_stage=0 >/dev/null 2>&1
expect_ok "resume: K 2 zero 3 on 4 ranks -> K 1 zero 0 on 2 ranks = uninterrupted, bit for bit" \
    "$RLVR" ckpt diff "$(last "$T/det-1-1")" "$(last "$T/res-e")" --exact

SFT_DET=(--config "$CFG" --init "$SFT" --set sft.steps=2 --set sft.batch_size=10 --set eval.n_prompts=0
         --set dist.deterministic=true)
"$RLVR" sft "${SFT_DET[@]}" --run-dir "$T/sft-1" >/dev/null 2>&1
mpi 4 "$RLVR" sft "${SFT_DET[@]}" --set dist.expert_parallel=4 --run-dir "$T/sft-4" >/dev/null 2>&1
expect_ok "deterministic: 2 SFT steps, 4 ranks, expert parallelism 4 = 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$T/sft-1/ckpt/step-000002.h5" "$T/sft-4/ckpt/step-000002.h5" --exact
mpi 4 "$RLVR" sft "${SFT_DET[@]}" --set dist.expert_parallel=4 --set dist.zero_stage=3 --run-dir "$T/sft-4-z3" >/dev/null 2>&1
expect_ok "deterministic: 2 SFT steps, 4 ranks, expert parallelism 4, zero 3 = 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$T/sft-1/ckpt/step-000002.h5" "$T/sft-4-z3/ckpt/step-000002.h5" --exact

# Fast mode: float sums in another order, so close but not the same bits.
FAST=(--config "$CFG" --init "$SFT" --set train.steps=3 --set eval.n_prompts=0 --set reward.overlong_buffer=8)
"$RLVR" train "${FAST[@]}" --run-dir "$T/fast-1" >/dev/null 2>&1
mpi 2 "$RLVR" train "${FAST[@]}" --set dist.expert_parallel=2 --run-dir "$T/fast-2" >/dev/null 2>&1
mpi 2 "$RLVR" train "${FAST[@]}" --set dist.expert_parallel=2 --set dist.zero_stage=2 --run-dir "$T/fast-2-z2" >/dev/null 2>&1
mpi 2 "$RLVR" train "${FAST[@]}" --set dist.expert_parallel=2 --set dist.zero_stage=3 --run-dir "$T/fast-2-z3" >/dev/null 2>&1
for run in fast-2 fast-2-z2 fast-2-z3; do
    expect_ok "fast: 2 ranks, expert parallelism 2 ($run), weights after 3 steps = 1 rank's within 1e-6" bash -c "
        rel=\$('$RLVR' ckpt diff '$(last "$T/fast-1")' '$(last "$T/$run")' | sed -n 's/^total: relative change \([^,]*\),.*/\1/p')
        awk -v r=\"\$rel\" 'BEGIN { exit !(r != \"\" && r + 0 <= 1e-6) }'"
done
