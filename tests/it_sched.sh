# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Scheduling over ranks: the shared work queue (build/mpi_queue), rollout.schedule = dynamic and train.balance =
# tokens giving the same weights, bit for bit, as the static schedule on 1 rank (deterministic mode; fast mode
# too for the rollout schedule, since groups go back to their static owners), with DAPO's dynamic sampling,
# across an interrupted and resumed run, and the per-rank times in metrics.jsonl. A slow rank
# (RLVR_TEST_SLOW_RANK) makes the dynamic schedule hand out groups unevenly, so the comparisons are not vacuous.
plan 21
QUEUE=$(dirname "$RLVR")/mpi_queue
for np in 1 2 4; do
    if [ -x "$QUEUE" ]; then expect_ok "queue on $np ranks: each item exactly once; all-to-all delivers" mpi $np "$QUEUE"
    else fail "queue on $np ranks" "$QUEUE is missing: make $QUEUE"; fi
    # 3 bytes a message at most: the point-to-point path of transfers past MPI's 2 GiB int counts (base/dist.c).
    expect_ok "gathers and all-to-alls on $np ranks, as past 2 GiB" mpi $np -x RLVR_TEST_MPI_LIMIT=3 "$QUEUE"
done

CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/sched"
mkdir -p "$T"
"$RLVR" sft --config "$CFG" --run-dir "$T/sft" --set sft.steps=100 --set eval.n_prompts=0 >/dev/null 2>&1
# micro_batch 1: 16 micro-batches a step for token-balanced packing to deal out.
RL=(--config "$CFG" --init "$T/sft/ckpt/step-000100.h5" --set train.steps=3 --set eval.n_prompts=0
    --set train.micro_batch=1 --set dist.deterministic=true)
last() { echo "$1/ckpt/step-000003.h5"; }
same() { expect_ok "$1" "$RLVR" ckpt diff "$(last "$2")" "$(last "$3")" --exact; }
slow() { RLVR_TEST_SLOW_RANK=1:150 mpi "$1" -x RLVR_TEST_SLOW_RANK "${@:2}" >/dev/null 2>&1; }

"$RLVR" train "${RL[@]}" --run-dir "$T/ref" >/dev/null 2>&1
for np in 2 4; do
    slow $np "$RLVR" train "${RL[@]}" --set rollout.schedule=dynamic --run-dir "$T/dyn$np"
    same "deterministic: dynamic schedule on $np ranks = static on 1 rank, bit for bit" "$T/ref" "$T/dyn$np"
    slow $np "$RLVR" train "${RL[@]}" --set train.balance=tokens --run-dir "$T/tok$np"
    same "deterministic: token-balanced packing on $np ranks = 1 rank, bit for bit" "$T/ref" "$T/tok$np"
done
# Without a load-balancing loss, a micro-batch of a group with equal rewards runs no pass and costs 1 in the packing.
"$RLVR" train "${RL[@]}" --set model.router_aux_loss_coef=0 --run-dir "$T/ref-zero" >/dev/null 2>&1
slow 2 "$RLVR" train "${RL[@]}" --set model.router_aux_loss_coef=0 --set train.balance=tokens --run-dir "$T/tok-zero2"
expect_ok "token-balanced packing: some steps had groups with equal rewards" \
    jq -se 'any(.frac_zero_std > 0 and .frac_zero_std < 1)' "$T/ref-zero/metrics.jsonl"
same "deterministic: token-balanced packing on 2 ranks, equal-reward groups costing 1 = 1 rank, bit for bit" \
    "$T/ref-zero" "$T/tok-zero2"
slow 4 "$RLVR" train "${RL[@]}" --set rollout.schedule=dynamic --set train.balance=tokens --run-dir "$T/both4"
same "deterministic: dynamic schedule and token-balanced packing on 4 ranks = 1 rank" "$T/ref" "$T/both4"
# On 2 ranks (not oversubscribed), so only the hook, not the OS, can starve a rank of groups.
expect_ok "dynamic: the slow rank sampled fewer groups than the fast one (the queue moved work)" bash -c "
    jq -e -s 'map(.ranks.groups_sampled) | any(.max > .min and .min_rank == 1)' '$T/dyn2/metrics.jsonl'"
expect_ok "metrics: every step records per-rank sampling/scoring/training/waiting spreads over 4 ranks" bash -c "
    jq -e -s 'length == 3 and all(.ranks.world == 4 and (.ranks | [.sampling_s, .scoring_s, .training_s, .waiting_s,
        .groups_sampled] | all(.max >= .min and .max_rank >= 0 and .max_rank < 4)))' '$T/tok4/metrics.jsonl'"
slow 2 "$RLVR" train "${RL[@]}" --run-dir "$T/static2"
expect_ok "metrics: in the static schedule the fast rank waits for the slow one" bash -c "
    jq -e -s 'length == 3 and all(.ranks.waiting_s.max > 0.1 and .ranks.waiting_s.max_rank == 0)' '$T/static2/metrics.jsonl'"
# Fast mode: groups go back to their static owners, so even the float64 sums are the same.
RLF=("${RL[@]/dist.deterministic=true/dist.deterministic=false}")
mpi 2 "$RLVR" train "${RLF[@]}" --run-dir "$T/fast-static" >/dev/null 2>&1
slow 2 "$RLVR" train "${RLF[@]}" --set rollout.schedule=dynamic --run-dir "$T/fast-dyn"
same "fast: dynamic schedule on 2 ranks = static on 2 ranks, bit for bit" "$T/fast-static" "$T/fast-dyn"
# DAPO's dynamic sampling draws more generation batches; each goes through the queue.
"$RLVR" train "${RL[@]}" --set algo.name=dapo --run-dir "$T/dapo1" >/dev/null 2>&1
slow 2 "$RLVR" train "${RL[@]}" --set algo.name=dapo --set rollout.schedule=dynamic --set train.balance=tokens \
    --run-dir "$T/dapo2"
same "deterministic: dapo, dynamic schedule and tokens on 2 ranks = static on 1 rank" "$T/dapo1" "$T/dapo2"
expect_ok "dapo: dynamic sampling drew extra generation batches" grep -q '"gen_batches":2' "$T/dapo2/metrics.jsonl"
# Interrupted after step 2 on 2 ranks, resumed on 4: the uninterrupted run's bits.
slow 2 "$RLVR" train "${RL[@]}" --set rollout.schedule=dynamic --run-dir "$T/res" --stop-after 2
slow 4 "$RLVR" train --run-dir "$T/res" --resume
same "resume: dynamic schedule stopped at step 2 on 2 ranks, resumed on 4 = uninterrupted" "$T/ref" "$T/res"
expect_error "config: a schedule that does not exist is named with the choices" \
    "\\[rollout\\] schedule = .guided.: expected one of static\\|dynamic" "$RLVR" config --config "$CFG" --set rollout.schedule=guided
