# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# The gradient reducer over ranks (algo/grad_reduce.h): build/mpi_grad_reduce sums micro-batches of known values
# over 1, 2 and 4 ranks, per layer during the last backward, and compares with the sums it computes by hand
# (deterministic: bit for bit; fast: within float rounding); at zero stage 2 each rank keeps only the pages of the
# gradient it owns. Then RL with fewer prompts than ranks: the ranks without a prompt train nothing and only take
# part in the sums, and the deterministic weights equal one rank's.
plan 5
GRAD_TEST=$(dirname "$RLVR")/mpi_grad_reduce
for np in 1 2 4; do
    if [ -x "$GRAD_TEST" ]; then
        expect_ok "gradient reducer on $np ranks: sums by hand, only owned pages resident at zero 2" mpi $np "$GRAD_TEST"
    else
        fail "gradient reducer on $np ranks" "$GRAD_TEST is missing: make $GRAD_TEST"
    fi
done

CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/grad"
mkdir -p "$T"
"$RLVR" sft --config "$CFG" --set sft.steps=40 --set eval.n_prompts=0 --run-dir "$T/sft" >/dev/null 2>&1
RL=(--config "$CFG" --init "$T/sft/ckpt/step-000040.h5" --set train.steps=2 --set train.prompts_per_step=2
    --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" train "${RL[@]}" --run-dir "$T/one" >/dev/null 2>&1
expect_ok "2 prompts on 4 ranks, zero 2: two ranks sample and train nothing, the run completes" \
    mpi 4 "$RLVR" train "${RL[@]}" --set dist.zero_stage=2 --run-dir "$T/four"
expect_ok "2 prompts, deterministic: 4 ranks at zero 2 = 1 rank, bit for bit" \
    "$RLVR" ckpt diff "$T/one/ckpt/step-000002.h5" "$T/four/ckpt/step-000002.h5" --exact
