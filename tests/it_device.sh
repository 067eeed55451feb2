# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Device choice (dist.device, base/dist.h, model/device.h): every rank names its device; bad values, launcher
# variables and unsupported combinations are refused. The trainer's device path (the gradient summed over ranks, the
# norm, clipping and AdamW in backend memory, train/device_update.h) runs here on the staged test backend
# (RLVR_TEST_DEVICE=staged, model/backend_staged.h) and must give the CPU backend's weights bit for bit: SFT, RL fast
# mode with per-layer sums on 2 ranks, RL deterministic at zero stage 2 with the reference policy, SFT in every mode
# and zero stage 0-2 on 1-2 ranks, a resume, the non-finite guard; sampling and scoring on it give the CPU's output,
# and neither downloads logits (the draws run where the logits are, model/backend.h sample; the LM head runs in
# chunks in backend memory). The LM head in chunks of a few rows (train.head_chunk, model/model_head.c) changes no
# bit of a deterministic run, on either backend (the CPU's one pass over vocabulary slices, the staged backend's two,
# as CUDA's), nor of a score; skipped passes without a loss coefficient keep the bits. The last block: zero stage 3
# and expert parallelism on the device path. configs/tiny-train.ini throughout.
plan 42
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/device"
mkdir -p "$T"
staged() { RLVR_TEST_DEVICE=staged "$@"; }

expect_ok "every rank prints its device (2 ranks on the CPU)" bash -c "
    mpirun --oversubscribe -np 2 '$RLVR' train --config '$CFG' --run-dir '$T/lines' --set train.steps=1 \
        --set eval.n_prompts=0 --set dist.device=cpu 2>&1 >/dev/null |
        grep -E '^rlvr: rank [01] on .+: cpu\$' | sort | cut -d' ' -f2-3 | tr '\n' ' ' | grep -qx 'rank 0 rank 1 '"
expect_error "dist.device: an unknown value lists the choices" "device = 'gpu': expected one of auto\|cpu\|cuda" \
    "$RLVR" train --config "$CFG" --run-dir "$T/e1" --set dist.device=gpu
expect_error "dist.device = cuda: refused here (no GPU, or a build without CUDA)" \
    "\[dist\] device = cuda: (rank 0 on .* sees no CUDA device|this rlvr was built without CUDA)" \
    "$RLVR" train --config "$CFG" --run-dir "$T/e2" --set dist.device=cuda
expect_error "a launcher's local rank that is not a number is named" "OMPI_COMM_WORLD_LOCAL_RANK = 'x'" \
    env OMPI_COMM_WORLD_LOCAL_RANK=x "$RLVR" train --config "$CFG" --run-dir "$T/e4"
expect_error "an unknown RLVR_TEST_DEVICE is named" "RLVR_TEST_DEVICE = 'foo': expected staged" \
    env RLVR_TEST_DEVICE=foo "$RLVR" train --config "$CFG" --run-dir "$T/e5"

# SFT, deterministic: the staged backend = the CPU backend, bit for bit.
SFT=(--config "$CFG" --set sft.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" sft "${SFT[@]}" --run-dir "$T/sft-cpu" >/dev/null 2>&1
staged "$RLVR" sft "${SFT[@]}" --run-dir "$T/sft-staged" >/dev/null 2>"$T/sft-staged.err"
expect_ok "sft: the staged run named its backend" grep -qx "rlvr: rank 0 on .*: cpu (staged test backend)" "$T/sft-staged.err"
expect_ok "sft: staged device path = CPU, bit for bit" \
    "$RLVR" ckpt diff "$T/sft-cpu/ckpt/step-000003.h5" "$T/sft-staged/ckpt/step-000003.h5" --exact
"$RLVR" sft "${SFT[@]}" --set train.head_chunk=3 --run-dir "$T/sft-chunk3" >/dev/null 2>&1
expect_ok "sft: the LM head in chunks of 3 rows = unchunked, bit for bit" \
    "$RLVR" ckpt diff "$T/sft-cpu/ckpt/step-000003.h5" "$T/sft-chunk3/ckpt/step-000003.h5" --exact
RL=(--config "$CFG" --set train.steps=3 --set eval.n_prompts=0)
# Fast mode on 2 ranks: each layer's sum starts inside the backward, from the host copy the stage downloaded.
mpi 2 "$RLVR" train "${RL[@]}" --run-dir "$T/fast-cpu" >/dev/null 2>&1
RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" train "${RL[@]}" --run-dir "$T/fast-staged" >/dev/null 2>&1
expect_ok "rl fast, 2 ranks, overlapped per-layer sums: staged = CPU, bit for bit" \
    "$RLVR" ckpt diff "$T/fast-cpu/ckpt/step-000003.h5" "$T/fast-staged/ckpt/step-000003.h5" --exact
# Deterministic, zero stage 2 on 2 ranks, with the reference policy (algo.beta > 0) on the staged backend too.
DET=("${RL[@]}" --set dist.deterministic=true --set algo.beta=0.04)
"$RLVR" train "${DET[@]}" --run-dir "$T/det-cpu" >/dev/null 2>&1
RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" train "${DET[@]}" --set dist.zero_stage=2 \
    --run-dir "$T/det-staged" >/dev/null 2>&1
expect_ok "rl deterministic, zero 2 on 2 ranks, staged = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$T/det-cpu/ckpt/step-000003.h5" "$T/det-staged/ckpt/step-000003.h5" --exact

RLVR_TEST_DEVICE=staged "$RLVR" train "${DET[@]}" --set train.head_chunk=5 --run-dir "$T/det-staged-chunk5" \
    >/dev/null 2>&1
expect_ok "rl deterministic, staged, LM head in chunks of 5 rows = CPU unchunked, bit for bit" \
    "$RLVR" ckpt diff "$T/det-cpu/ckpt/step-000003.h5" "$T/det-staged-chunk5/ckpt/step-000003.h5" --exact
# Activation recomputation (train.recompute): each layer's forward again inside the backward, the same bits.
RLVR_TEST_DEVICE=staged "$RLVR" train "${DET[@]}" --set train.recompute=true --run-dir "$T/det-staged-rc" >/dev/null 2>&1
expect_ok "rl deterministic, staged, activations recomputed = CPU with every activation kept, bit for bit" \
    "$RLVR" ckpt diff "$T/det-cpu/ckpt/step-000003.h5" "$T/det-staged-rc/ckpt/step-000003.h5" --exact
# The device update (train/device_update.h) in every mode the device runs: fast and deterministic, zero 0/1/2, on 1
# and 2 ranks, 3 SFT steps each against the plain CPU run (fast on 2 ranks against the CPU's 2 ranks: a float sum of
# two values has one rounding whatever the order; deterministic against 1 rank), every checkpoint compared (each
# save refreshes the host weights from the device's).
S3=(--config "$CFG" --set sft.steps=3 --set eval.n_prompts=0 --set checkpoint.every=1)
"$RLVR" sft "${S3[@]}" --run-dir "$T/u-fast-cpu1" >/dev/null 2>&1
"$RLVR" sft "${S3[@]}" --set dist.deterministic=true --run-dir "$T/u-det-cpu1" >/dev/null 2>&1
same_steps() {  # A B: checkpoints 1-3 of two runs identical
    for k in 1 2 3; do "$RLVR" ckpt diff "$1/ckpt/step-00000$k.h5" "$2/ckpt/step-00000$k.h5" --exact || return 1; done
}
staged "$RLVR" sft "${S3[@]}" --run-dir "$T/u-fast-st1" >/dev/null 2>&1
expect_ok "device update, fast, 1 rank: staged = CPU at every step" same_steps "$T/u-fast-cpu1" "$T/u-fast-st1"
for z in 0 1 2; do
    mpi 2 "$RLVR" sft "${S3[@]}" --set dist.zero_stage=$z --run-dir "$T/u-fast-cpu2-z$z" >/dev/null 2>&1
    RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" sft "${S3[@]}" --set dist.zero_stage=$z \
        --run-dir "$T/u-fast-st2-z$z" >/dev/null 2>&1
    expect_ok "device update, fast, zero $z on 2 ranks: staged = CPU on 2 ranks at every step" \
        same_steps "$T/u-fast-cpu2-z$z" "$T/u-fast-st2-z$z"
    RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" sft "${S3[@]}" --set dist.deterministic=true \
        --set dist.zero_stage=$z --run-dir "$T/u-det-st2-z$z" >/dev/null 2>&1
    expect_ok "device update, deterministic, zero $z on 2 ranks: staged = CPU on 1 rank at every step" \
        same_steps "$T/u-det-cpu1" "$T/u-det-st2-z$z"
done
# Resume: stopped after step 2 on the staged backend (zero 2, 2 ranks), the moments and weights from its checkpoint,
# resumed to step 3 on 1 staged rank = the uninterrupted CPU run.
RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" sft "${S3[@]}" --set dist.deterministic=true \
    --set dist.zero_stage=2 --run-dir "$T/u-resume" --stop-after 2 >/dev/null 2>&1
staged "$RLVR" sft --run-dir "$T/u-resume" --resume >/dev/null 2>&1
expect_ok "device update: stopped at 2 (zero 2, 2 ranks), resumed on 1 rank = uninterrupted CPU, bit for bit" \
    "$RLVR" ckpt diff "$T/u-det-cpu1/ckpt/step-000003.h5" "$T/u-resume/ckpt/step-000003.h5" --exact
# The guard: a NaN put into the device's summed gradient skips the update and names the tensor.
expect_ok "device update: a non-finite gradient skips the update, naming the tensor" bash -c '
    RLVR_TEST_DEVICE=staged RLVR_TEST_POISON_GRAD=model.norm.weight "$RLVR" sft "$@" --set sft.steps=1 \
        --set dist.deterministic=true --run-dir "$0" 2>&1 | grep -q model.norm.weight' "$T/u-guard" "${S3[@]}"

# Sampling and scoring on the staged backend give the CPU's output.
CKPT="$T/det-cpu/ckpt/step-000003.h5"
printf '{"prompt":"1+2="}\n{"prompt":"7*8="}\n' > "$T/prompts.jsonl"
"$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --out "$T/s-cpu.jsonl" >/dev/null 2>&1
staged "$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --out "$T/s-staged.jsonl" >/dev/null 2>&1
expect_same "sample: staged = CPU" "$T/s-cpu.jsonl" "$T/s-staged.jsonl"
"$RLVR" score --ckpt "$CKPT" --config "$CFG" --in "$T/s-cpu.jsonl" --out "$T/sc-cpu.h5" >/dev/null 2>&1
staged "$RLVR" score --ckpt "$CKPT" --config "$CFG" --in "$T/s-cpu.jsonl" --out "$T/sc-staged.h5" >/dev/null 2>&1
expect_ok "score: staged = CPU (h5diff)" bash -c "[ -s '$T/sc-cpu.h5' ] && h5diff '$T/sc-cpu.h5' '$T/sc-staged.h5'"
staged "$RLVR" score --ckpt "$CKPT" --config "$CFG" --set train.head_chunk=2 --in "$T/s-cpu.jsonl" \
    --out "$T/sc-chunk2.h5" >/dev/null 2>&1
expect_ok "score: LM head in chunks of 2 rows, staged = CPU unchunked (h5diff)" \
    bash -c "[ -s '$T/sc-chunk2.h5' ] && h5diff '$T/sc-cpu.h5' '$T/sc-chunk2.h5'"
# The sampler's draws on the staged backend: the logits stay in backend memory (the staged backend counts the
# activation elements a device backend would download) and the tokens, log-probs and entropies are the CPU's.
TOPS=(--set rollout.temperature=0.8 --set rollout.top_k=20 --set rollout.top_p=0.9 --set rollout.max_new_tokens=24)
"$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --n 4 --out "$T/p-cpu.jsonl" "${TOPS[@]}" \
    >/dev/null 2>&1
RLVR_TEST_STAGED_DOWNLOADS=1 staged "$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --n 4 \
    --out "$T/p-staged.jsonl" "${TOPS[@]}" >/dev/null 2>"$T/p-staged.err"
expect_same "sample top-k 20, top-p 0.9, T 0.8: staged = CPU (tokens, logp, entropy bit for bit)" \
    "$T/p-cpu.jsonl" "$T/p-staged.jsonl"
expect_ok "sample on the staged backend downloads no activations (no [n, V] logits)" \
    grep -qx "staged backend: activation downloads: largest 0 elements, 0 in all" "$T/p-staged.err"
# Scoring runs the LM head in chunks in backend memory (model/model_head.c): it downloads no logits either. (That the
# count sees downloads at all is tests/test_staged_downloads.c's check.)
RLVR_TEST_STAGED_DOWNLOADS=1 staged "$RLVR" score --ckpt "$CKPT" --config "$CFG" --in "$T/p-cpu.jsonl" \
    --out "$T/p-score.h5" >/dev/null 2>"$T/p-score.err"
expect_ok "score on the staged backend downloads no activations (no [T, V] logits)" \
    grep -qx "staged backend: activation downloads: largest 0 elements, 0 in all" "$T/p-score.err"
expect_ok "bench model names its device" bash -c \
    "'$RLVR' bench model --config '$CFG' --seqs 1 --seq-len 8 --repeat 1 2>/dev/null | grep -c '\"device\":\"cpu\"' | grep -qx 2"

# ---- Zero stage 3 and expert parallelism on the device path -------------------------------------------------------
# Stage 3 gathers each unit into windows of the backend's weight copy (algo/param_gather.c, Backend.window_open: host
# memory over MPI here, bf16 over NCCL on a GPU); expert parallelism sends counts over the host and rows through
# backend memory (model/moe_ep.c moe_ep_rows_*, base/dist.c dist_group_alltoallv_into), the other ranks' expert
# gradients in backend buffers copied out after each round (train/ep_step.c). On the staged backend both must give the
# plain CPU runs' weights and moments bit for bit: deterministic RL on 2 and 4 ranks (5 prompts, so ranks of a group
# run unequal numbers of micro-batches and serve idle rounds), SFT, both together (each piece's window filled from its
# owner, over every rank or over the ranks at this place), and fast mode against the CPU's expert parallelism.
"$RLVR" sft --config "$CFG" --set sft.steps=20 --set eval.n_prompts=0 --run-dir "$T/warm" >/dev/null 2>&1
WARM="$T/warm/ckpt/step-000020.h5"
# Micro-batches without a loss coefficient (algo.beta = 0, no load-balancing loss; with a 1-token overlong buffer one
# group in six has equal rewards in the first two steps) skip their passes, and the device update still takes each
# of them: staged at zero stage 2 on 2 ranks, skipping, = the CPU on 1 rank running every pass, bit for bit.
ZERO=(--config "$CFG" --init "$WARM" --set train.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true
      --set model.router_aux_loss_coef=0 --set train.prompts_per_step=6 --set reward.overlong_buffer=1)
"$RLVR" train "${ZERO[@]}" --set train.skip_zero_backward=false --run-dir "$T/zero-cpu" >/dev/null 2>&1
RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" train "${ZERO[@]}" --set dist.zero_stage=2 \
    --run-dir "$T/zero-staged" >/dev/null 2>&1
expect_ok "no loss coefficient in some micro-batches: staged, zero 2 on 2 ranks, skipping = CPU running them, bit for bit" \
    bash -c "jq -se 'any(.frac_zero_std > 0 and .frac_zero_std < 1)' '$T/zero-cpu/metrics.jsonl' >/dev/null &&
             '$RLVR' ckpt diff '$T/zero-cpu/ckpt/step-000003.h5' '$T/zero-staged/ckpt/step-000003.h5' --exact"
# DAPO's overlong penalty past 4 of the 12 tokens makes rewards differ within groups: a policy gradient for every expert.
SH=(--config "$CFG" --init "$WARM" --set train.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true
    --set train.prompts_per_step=5 --set train.micro_batch=3 --set reward.overlong_buffer=8)
"$RLVR" train "${SH[@]}" --run-dir "$T/sh-cpu" >/dev/null 2>&1
REF="$T/sh-cpu/ckpt/step-000003.h5"
expect_ok "device sharding: the reference run changed every expert" bash -c "
    '$RLVR' ckpt diff '$WARM' '$REF' | awk '/^  expert [0-9]+: relative change/ { n++; if (\$5 + 0 > 0) k++ }
                                            END { exit !(n == 4 && k == 4) }'"
sharded() {  # sharded NAME NP SETTINGS...: a staged RL run on NP ranks
    local name=$1 np=$2; shift 2
    RLVR_TEST_DEVICE=staged mpi "$np" -x RLVR_TEST_DEVICE "$RLVR" train "${SH[@]}" "$@" --run-dir "$T/$name" \
        >/dev/null 2>"$T/$name.err"
}
sharded z3-2 2 --set dist.zero_stage=3
expect_ok "zero 3: the staged run gathered on the staged backend" \
    grep -qx "rlvr: rank 1 on .*: cpu (staged test backend)" "$T/z3-2.err"
expect_ok "zero 3 on 2 ranks, staged windows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/z3-2/ckpt/step-000003.h5" --exact
# With recomputation a MoE layer's experts stay in its unit (a recomputed layer would ask for its groups again).
sharded z3-rc 2 --set dist.zero_stage=3 --set train.recompute=true
expect_ok "zero 3 on 2 ranks with activations recomputed, staged = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/z3-rc/ckpt/step-000003.h5" --exact
expect_error "recomputation with expert parallelism is refused, naming both keys" \
    "\[train\] recompute = true does not run with \[dist\] expert_parallel = 2" \
    "$RLVR" train "${SH[@]}" --set dist.expert_parallel=2 --set train.recompute=true --run-dir "$T/e-rc"
# Evaluation gathers every weight into one window (param_gather_all) between the steps.
sharded z3-4 4 --set dist.zero_stage=3 --set eval.n_prompts=4 --set eval.every=1
expect_ok "zero 3 on 4 ranks with evaluation, staged windows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/z3-4/ckpt/step-000003.h5" --exact
RLVR_TEST_DEVICE=staged mpi 4 -x RLVR_TEST_DEVICE "$RLVR" sft "${SFT[@]}" --set dist.zero_stage=3 \
    --run-dir "$T/z3-sft" >/dev/null 2>&1
expect_ok "zero 3 SFT on 4 ranks, staged windows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$T/sft-cpu/ckpt/step-000003.h5" "$T/z3-sft/ckpt/step-000003.h5" --exact
sharded ep2-2 2 --set dist.expert_parallel=2
expect_ok "expert parallel: the staged run exchanged on the staged backend" \
    grep -qx "rlvr: rank 1 on .*: cpu (staged test backend)" "$T/ep2-2.err"
expect_ok "expert parallel K 2 on 2 ranks, staged rows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/ep2-2/ckpt/step-000003.h5" --exact
sharded ep4-4 4 --set dist.expert_parallel=4
expect_ok "expert parallel K 4 on 4 ranks, staged rows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/ep4-4/ckpt/step-000003.h5" --exact
sharded ep2-4-z2 4 --set dist.expert_parallel=2 --set dist.zero_stage=2
expect_ok "expert parallel K 2 zero 2 on 4 ranks, staged rows = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/ep2-4-z2/ckpt/step-000003.h5" --exact
sharded ep2-4-z3 4 --set dist.expert_parallel=2 --set dist.zero_stage=3 --set eval.n_prompts=4 --set eval.every=1
expect_ok "expert parallel K 2 zero 3 on 4 ranks with evaluation, staged = CPU on 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$REF" "$T/ep2-4-z3/ckpt/step-000003.h5" --exact
# Fast mode: the other ranks' expert gradients added to the running sum in backend memory, in the CPU's order.
FAST_EP=("${SH[@]}" --set dist.deterministic=false --set dist.expert_parallel=2)
mpi 2 "$RLVR" train "${FAST_EP[@]}" --run-dir "$T/epf-cpu" >/dev/null 2>&1
RLVR_TEST_DEVICE=staged mpi 2 -x RLVR_TEST_DEVICE "$RLVR" train "${FAST_EP[@]}" --run-dir "$T/epf-staged" >/dev/null 2>&1
expect_ok "expert parallel fast mode, K 2 on 2 ranks: staged = CPU, bit for bit" \
    "$RLVR" ckpt diff "$T/epf-cpu/ckpt/step-000003.h5" "$T/epf-staged/ckpt/step-000003.h5" --exact
