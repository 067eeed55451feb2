# Device choice (dist.device, base/dist.h, model/device.h): every rank names its device; bad values, launcher
# variables and unsupported combinations are refused. The trainer's device path (the gradient summed over ranks, the
# norm, clipping and AdamW in backend memory, train/device_update.h) runs here on the staged test backend
# (RLVR_TEST_DEVICE=staged, model/backend_staged.h) and must give the CPU backend's weights bit for bit: SFT, RL fast
# mode with per-layer sums on 2 ranks, RL deterministic at zero stage 2 with the reference policy, SFT in every mode
# and zero stage 0-2 on 1-2 ranks, a resume, the non-finite guard; sampling and scoring on it give the CPU's output.
# configs/tiny-train.ini throughout.
plan 23
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
expect_error "dist.device = cuda with zero stage 3 is refused" "device = cuda runs zero_stage 0-2" \
    "$RLVR" train --config "$CFG" --run-dir "$T/e3" --set dist.device=cuda --set dist.zero_stage=3
expect_ok "zero stage 3 stays on the CPU backend (auto)" bash -c "
    RLVR_TEST_DEVICE=staged '$RLVR' train --config '$CFG' --run-dir '$T/z3' --set train.steps=1 --set eval.n_prompts=0 \
        --set dist.zero_stage=3 2>&1 >/dev/null | grep -qx 'rlvr: rank 0 on .*: cpu'"
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
expect_ok "device update: a non-finite gradient skips the update, naming the tensor" bash -c "
    RLVR_TEST_DEVICE=staged RLVR_TEST_POISON_GRAD=model.norm.weight '$RLVR' sft ${S3[*]} --set sft.steps=1 \
        --set dist.deterministic=true --run-dir '$T/u-guard' 2>&1 | grep -q 'model.norm.weight'"

# Sampling and scoring on the staged backend give the CPU's output.
CKPT="$T/det-cpu/ckpt/step-000003.h5"
printf '{"prompt":"1+2="}\n{"prompt":"7*8="}\n' > "$T/prompts.jsonl"
"$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --out "$T/s-cpu.jsonl" >/dev/null 2>&1
staged "$RLVR" sample --ckpt "$CKPT" --config "$CFG" --prompts "$T/prompts.jsonl" --out "$T/s-staged.jsonl" >/dev/null 2>&1
expect_same "sample: staged = CPU" "$T/s-cpu.jsonl" "$T/s-staged.jsonl"
"$RLVR" score --ckpt "$CKPT" --config "$CFG" --in "$T/s-cpu.jsonl" --out "$T/sc-cpu.h5" >/dev/null 2>&1
staged "$RLVR" score --ckpt "$CKPT" --config "$CFG" --in "$T/s-cpu.jsonl" --out "$T/sc-staged.h5" >/dev/null 2>&1
expect_ok "score: staged = CPU (h5diff)" bash -c "[ -s '$T/sc-cpu.h5' ] && h5diff '$T/sc-cpu.h5' '$T/sc-staged.h5'"
expect_ok "bench model names its device" bash -c \
    "'$RLVR' bench model --config '$CFG' --seqs 1 --seq-len 8 --repeat 1 2>/dev/null | grep -c '\"device\":\"cpu\"' | grep -qx 2"
