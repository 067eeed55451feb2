# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Preemption and Slurm. First without Slurm: a stop signal on one rank (while sampling, or during a checkpoint
# write) ends every rank at a step boundary with a checkpoint and exit 75, and --resume=auto continues bit for
# bit. Then against a real one-node Slurm cluster that tests/slurm_cluster.sh starts here (and stops): SFT then
# RL through launch/slurm.sbatch with srun and with mpirun, scontrol requeue, scancel --signal=TERM and the early
# USR1 to the batch script, each resumed run identical to the uninterrupted one. The Slurm checks skip, counted
# as skipped, only when the daemons cannot start (no root, or slurm-wlm/munge not installed).
plan 20
SL="$TMP/slurm"
mkdir -p "$SL"
SL_CFG="$ROOT/configs/tiny-train.ini"
SL_RL=(--set train.steps=6 --set eval.n_prompts=0 --set dist.deterministic=true)
sl_steps() { grep -o '^{"step":[0-9]*' "$1/metrics.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' '; }
sl_ckpts() { (cd "$1/ckpt" 2>/dev/null && ls step-*.h5* 2>/dev/null | tr '\n' ' '); }

# The uninterrupted run every stopped-and-resumed run must equal (2 ranks; deterministic: any rank count).
mpi 2 "$RLVR" train --config "$SL_CFG" "${SL_RL[@]}" --run-dir "$SL/ref" >/dev/null 2>&1

# SIGTERM raised by the last rank alone while it samples step 2: the ranks agree, step 2 completes and is saved.
RLVR_TEST_SIGNAL_AT=2 mpi 2 -x RLVR_TEST_SIGNAL_AT "$RLVR" train --config "$SL_CFG" "${SL_RL[@]}" --run-dir "$SL/sig" \
    --resume=auto >/dev/null 2>&1
rc=$?
if [ $rc -eq 75 ]; then pass "preempt: SIGTERM on one rank while sampling step 2 stops both ranks, exit 75"
else fail "preempt: SIGTERM on one rank while sampling step 2 stops both ranks, exit 75" "exit $rc"; fi
expect_ok "preempt: checkpoint of step 2 only, metrics of steps 1 and 2, the log names the signal" bash -c "
    [ '$(sl_ckpts "$SL/sig")' = 'step-000002.h5 ' ] && [ '$(sl_steps "$SL/sig")' = '1 2 ' ] &&
    grep -q 'stopped by SIGTERM after step 2 of 6' '$SL/sig/log.txt'"
mpi 2 "$RLVR" train --config "$SL_CFG" "${SL_RL[@]}" --run-dir "$SL/sig" --resume=auto >/dev/null 2>&1
expect_ok "preempt: --resume=auto continues = uninterrupted run, bit for bit" \
    "$RLVR" ckpt diff "$SL/ref/ckpt/step-000006.h5" "$SL/sig/ckpt/step-000006.h5" --exact
expect_ok "preempt: metrics.jsonl has steps 1..6 once each" test "$(sl_steps "$SL/sig")" = "1 2 3 4 5 6 "

# SIGTERM while step 2's checkpoint is being written: the write completes and the run stops on it.
RLVR_TEST_CKPT_SLEEP=2 "$RLVR" train --config "$SL_CFG" "${SL_RL[@]}" --set checkpoint.every=1 --run-dir "$SL/write" \
    >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -e "$SL/write/ckpt/step-000002.h5.tmp" ] && break; sleep 0.1; done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
expect_ok "preempt: SIGTERM during a checkpoint write: it completes, the run stops there (exit 75)" bash -c "
    [ $rc -eq 75 ] && [ '$(sl_ckpts "$SL/write")' = 'step-000001.h5 step-000002.h5 ' ]"
"$RLVR" train --run-dir "$SL/write" --resume=auto >/dev/null 2>&1
expect_ok "preempt: resumed after the interrupted write = uninterrupted run, bit for bit" \
    "$RLVR" ckpt diff "$SL/ref/ckpt/step-000006.h5" "$SL/write/ckpt/step-000006.h5" --exact
expect_error "--resume=auto with nothing to resume needs --config" "config FILE is required: .*no checkpoint to resume from" \
    "$RLVR" train --run-dir "$SL/empty" --resume=auto
expect_error "--resume (a checkpoint is required) and --init still exclude each other" "--init and --resume exclude" \
    "$RLVR" train --config "$SL_CFG" --run-dir "$SL/sig" --resume --init "$SL/ref/ckpt/step-000006.h5"

# ---- a real Slurm cluster ----
SL_CHECKS=("slurm: SFT via srun, 2 tasks, CPU partition, no GPU flag, submitted outside the repository"
    "slurm: RL after it (--dependency, INIT = the SFT run dir) via srun" "slurm: SFT then RL via mpirun"
    "slurm: srun and mpirun give identical SFT weights" "slurm: srun and mpirun give identical RL weights"
    "slurm: scontrol requeue mid-run: the job runs again and completes" "slurm: requeued: steps 1..6 once each"
    "slurm: requeued run = uninterrupted run, bit for bit"
    "slurm: scancel --signal=TERM: checkpoint of the current step, exit 75"
    "slurm: resumed after SIGTERM = uninterrupted run, bit for bit"
    "slurm: early USR1 to the batch script (mpirun): checkpoint, the script requeues the job"
    "slurm: resumed after USR1 = uninterrupted run, bit for bit, steps once each")
sl_skip() {
    for name in "${SL_CHECKS[@]}"; do
        skip "$name" "$1"
    done
}
sl_prev_exit=$(trap -p EXIT)
eval "sl_prev_exit=(${sl_prev_exit:-x x '' x})"
# shellcheck disable=SC2064  # expands now: the cluster's paths and the EXIT trap this one runs after
trap "bash '$ROOT/tests/slurm_cluster.sh' stop '$SL/cluster' >/dev/null 2>&1; ${sl_prev_exit[2]}" EXIT
if ! sl_why=$(bash "$ROOT/tests/slurm_cluster.sh" start "$SL/cluster" 2>&1 >/dev/null); then
    sl_skip "Slurm daemons cannot start here: $(tail -n 1 <<< "$sl_why")"
else
    export SLURM_CONF="$SL/cluster/slurm.conf"
    sl_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
    # sl_wait JOB REGEX [SECONDS]: until the job's state matches.
    sl_wait() {
        for _ in $(seq 1 $((${3:-90} * 5))); do [[ "$(sl_state "$1")" =~ ^($2)$ ]] && return 0; sleep 0.2; done
        echo "job $1: state $(sl_state "$1"), expected $2" >&2; return 1
    }
    sl_wait_step() { for _ in $(seq 1 300); do grep -q "\"step\":$2," "$1/metrics.jsonl" 2>/dev/null && return; sleep 0.2; done; }
    # A requeued job waits for its BeginTime (now + 2 minutes in Slurm 22.05): release it as soon as its last run
    # is cleaned up, i.e. the node is idle again (a restart that comes sooner races the old run's completion, or
    # finds step J.0's PMIx socket still taken).
    sl_release() {
        sl_wait "$1" PENDING 60 || return 1
        for _ in $(seq 1 300); do  # no slurmstepd left, not even an unreaped one
            [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && ! pgrep -x slurmstepd >/dev/null && break
            sleep 0.2
        done
        scontrol update jobid="$1" StartTime=now
    }
    sl_sbatch() { env "$@" sbatch --parsable --ntasks=2 "$ROOT/launch/slurm.sbatch"; }
    sl_exit() { scontrol show job "$1" 2>/dev/null | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2; }
    sl_out() {
        tail -n 15 "$SL/submit/rlvr-$1.out" 2>/dev/null
        grep -h "JobId=$1[ .]\|job $1\b\|\[$1\." "$SL/cluster/slurmctld.log" "$SL/cluster/slurmd.log" 2>/dev/null | tail -n 15
    }
    mkdir -p "$SL/submit"
    sl_cwd=$PWD
    cd "$SL/submit" || exit 1
    SL_SFT="--set sft.steps=20 --set eval.n_prompts=0 --set dist.deterministic=true"
    SL_TRAIN="${SL_RL[*]}"

    # SFT then RL, with srun and with mpirun; CONFIG relative to the repository (found from outside it).
    declare -A sl_sft sl_rl  # the job ids, by launcher
    for l in srun mpirun; do
        sft=$(sl_sbatch CMD=sft CONFIG=configs/tiny-train.ini RUN_DIR=sft-$l LAUNCHER=$l EXTRA="$SL_SFT")
        rl=$(sl_sbatch CMD=train CONFIG=configs/tiny-train.ini RUN_DIR=rl-$l INIT=sft-$l LAUNCHER=$l EXTRA="$SL_TRAIN" \
            --dependency=afterok:"$sft")
        sl_sft[$l]=$sft sl_rl[$l]=$rl
    done
    if sl_wait "${sl_sft[srun]}" COMPLETED && [ -s sft-srun/ckpt/step-000020.h5 ]; then pass "${SL_CHECKS[0]}"
    else fail "${SL_CHECKS[0]}" "$(sl_out "${sl_sft[srun]}")"; fi
    if sl_wait "${sl_rl[srun]}" COMPLETED && [ -s rl-srun/ckpt/step-000006.h5 ]; then pass "${SL_CHECKS[1]}"
    else fail "${SL_CHECKS[1]}" "$(sl_out "${sl_rl[srun]}")"; fi
    if sl_wait "${sl_sft[mpirun]}" COMPLETED && sl_wait "${sl_rl[mpirun]}" COMPLETED; then pass "${SL_CHECKS[2]}"
    else fail "${SL_CHECKS[2]}" "$(sl_out "${sl_sft[mpirun]}"; sl_out "${sl_rl[mpirun]}")"; fi
    expect_ok "${SL_CHECKS[3]}" "$RLVR" ckpt diff sft-srun/ckpt/step-000020.h5 sft-mpirun/ckpt/step-000020.h5 --exact
    expect_ok "${SL_CHECKS[4]}" "$RLVR" ckpt diff rl-srun/ckpt/step-000006.h5 rl-mpirun/ckpt/step-000006.h5 --exact
    REF="$SL/submit/rl-srun/ckpt/step-000006.h5"
    # Interrupted runs of the same RL job, each step slowed so that the interruption lands mid-run.
    sl_slow() { sl_sbatch RLVR_TEST_SAMPLE_SLEEP_MS=400 CMD=train CONFIG="$SL_CFG" INIT=sft-srun EXTRA="$SL_TRAIN" "$@"; }

    j=$(sl_slow RUN_DIR=requeue)
    sl_wait_step requeue 2
    scontrol requeue "$j"
    sl_release "$j"
    if sl_wait "$j" COMPLETED && [ "$(scontrol show job "$j" | grep -o 'Restarts=[0-9]*')" = Restarts=1 ]; then
        pass "${SL_CHECKS[5]}"; else fail "${SL_CHECKS[5]}" "$(sl_out "$j")"; fi
    expect_ok "${SL_CHECKS[6]}" test "$(sl_steps requeue)" = "1 2 3 4 5 6 "
    expect_ok "${SL_CHECKS[7]}" "$RLVR" ckpt diff "$REF" requeue/ckpt/step-000006.h5 --exact

    j=$(sl_slow RUN_DIR=term)
    sl_wait_step term 2
    scancel --signal=TERM "$j"
    sl_wait "$j" FAILED 60
    k=$(sl_ckpts term)
    if [ "$(sl_exit "$j")" = 75:0 ] && [[ "$k" =~ ^step-00000[2-5].h5\ $ ]]; then pass "${SL_CHECKS[8]} ($k)"
    else fail "${SL_CHECKS[8]}" "exit $(sl_exit "$j"), checkpoints '$k'"$'\n'"$(sl_out "$j")"; fi
    scontrol requeue "$j"
    sl_release "$j"
    sl_wait "$j" COMPLETED || sl_out "$j" | sed "s/^/        /"
    expect_ok "${SL_CHECKS[9]}" "$RLVR" ckpt diff "$REF" term/ckpt/step-000006.h5 --exact

    j=$(sl_slow RUN_DIR=usr1 LAUNCHER=mpirun)
    sl_wait_step usr1 2
    scancel --batch --signal=USR1 "$j"
    sl_wait "$j" PENDING 60
    k=$(sl_ckpts usr1)
    if [[ "$k" =~ ^step-00000[2-5].h5\ $ ]] && grep -q "job $j requeued" "rlvr-$j.out"; then pass "${SL_CHECKS[10]} ($k)"
    else fail "${SL_CHECKS[10]}" "checkpoints '$k'"$'\n'"$(sl_out "$j")"; fi
    sl_release "$j"
    sl_wait "$j" COMPLETED || sl_out "$j" | sed "s/^/        /"
    expect_ok "${SL_CHECKS[11]}" bash -c "'$RLVR' ckpt diff '$REF' usr1/ckpt/step-000006.h5 --exact &&
        [ '$(sl_steps usr1)' = '1 2 3 4 5 6 ' ]"
    cd "$sl_cwd" || exit 1
    unset SLURM_CONF
fi
bash "$ROOT/tests/slurm_cluster.sh" stop "$SL/cluster" >/dev/null 2>&1
trap -- "${sl_prev_exit[2]}" EXIT
