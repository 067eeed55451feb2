# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# A long run stays flat: RL training with a held-out eval every 10 steps and a checkpoint every 5 (2 kept), on 1 rank
# and on 2 (dynamic schedule, token balance, dynamic sampling), holds no more file descriptors, threads or resident
# memory at step 250 than at step 30. Each rank is stopped (SIGSTOP) while its numbers are read, so no timing
# matters; results/long_run.sh measures thousands of steps (results/long-run.md).
plan 9
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/long"
mkdir -p "$T"
"$RLVR" sft --config "$CFG" --run-dir "$T/sft" --set sft.steps=100 --set eval.every=0 >/dev/null 2>&1
RUN=(--config "$CFG" --init "$T/sft/ckpt/step-000100.h5" --set train.steps=300 --set eval.every=10
     --set eval.n_prompts=8 --set checkpoint.every=5 --set checkpoint.keep=2)
# A checkpoint being written holds its file open; anything else open at step 250 and not at step 30 is a leak.
FD_SLACK=2
RSS_SLACK_KB=4096

# held_at DIR STEP PID...: once DIR/metrics.jsonl has STEP lines, stops the processes, prints "rss_kb fds threads" of
# each, and lets them go on; returns 1 when one of them ended first.
held_at() {
    local dir=$1 step=$2 p; shift 2
    while [ "$(cat "$dir/metrics.jsonl" 2>/dev/null | wc -l)" -lt "$step" ]; do
        for p; do kill -0 "$p" 2>/dev/null || return 1; done
        sleep 0.02
    done
    kill -STOP "$@"
    for p; do
        echo "$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status") $(ls "/proc/$p/fd" | wc -l)" \
            "$(awk '/^Threads:/ {print $2}' "/proc/$p/status")"
    done
    kill -CONT "$@"
}

# rlvr_ranks PID: the rlvr processes among PID and its descendants (mpi's subshell, mpirun, the ranks), by
# executable: rlvr starts itself again through /proc/self/exe (src/cli/rlvr.c), which renames it "exe".
rlvr_ranks() {
    local p
    [ "$(readlink "/proc/$1/exe")" = "$RLVR" ] && echo "$1"
    for p in $(pgrep -P "$1"); do rlvr_ranks "$p"; done
    return 0
}

# ranks_of JOB N: the N rlvr processes of JOB, once they are there (at most 60 s).
ranks_of() {
    local pids
    for _ in $(seq 600); do
        pids=$(rlvr_ranks "$1")
        [ "$(echo "$pids" | grep -c .)" -ge "$2" ] && break
        sleep 0.1
    done
    echo "$pids"
}

# AddressSanitizer (make SAN=1) holds freed memory back in quarantine: resident memory grows there by design.
ASAN=$(ldd "$RLVR" | grep -c libasan)

# flat NAME EARLY LATE: checks that each rank's line of LATE (rss_kb fds threads) is within the slack of EARLY's.
flat() {
    local name=$1 early=$2 late=$3
    if [ -z "$early" ] || [ "$(echo "$early" | wc -l)" != "$(echo "$late" | wc -l)" ]; then
        fail "$name: measured at steps 30 and 250" "step 30: '$early'"$'\n'"step 250: '$late'"
        fail "$name: file descriptors"; fail "$name: threads"; fail "$name: resident memory"; return 0
    fi
    pass "$name: measured at steps 30 and 250"
    local table; table=$(paste -d' ' <(echo "$early") <(echo "$late"))
    local detail="each rank: rss_kb fds threads at step 30, then at step 250"$'\n'"$table"
    if awk -v s=$FD_SLACK '$5 > $2 + s { bad = 1 } END { exit bad }' <<< "$table"; then pass "$name: file descriptors"
    else fail "$name: file descriptors" "$detail"; fi
    if awk '$6 > $3 { bad = 1 } END { exit bad }' <<< "$table"; then pass "$name: threads"
    else fail "$name: threads" "$detail"; fi
    if [ "$ASAN" != 0 ]; then skip "$name: resident memory" "AddressSanitizer's quarantine keeps freed memory"
    elif awk -v s=$RSS_SLACK_KB '$4 > $1 + s { bad = 1 } END { exit bad }' <<< "$table"; then
        pass "$name: resident memory"
    else fail "$name: resident memory" "$detail"; fi
}

"$RLVR" train "${RUN[@]}" --run-dir "$T/rl1" >/dev/null 2>&1 &
job=$!
pids=$(ranks_of $job 1)
early=$(held_at "$T/rl1" 30 $pids)
late=$(held_at "$T/rl1" 250 $pids)
wait $job
expect_ok "1 rank: the 300 steps ran" test "$(wc -l < "$T/rl1/metrics.jsonl")" = 300
flat "1 rank" "$early" "$late"

mpi 2 "$RLVR" train "${RUN[@]}" --run-dir "$T/rl2" --set rollout.schedule=dynamic --set train.balance=tokens \
    --set algo.dynamic_sampling=true >/dev/null 2>&1 &
job=$!
pids=$(ranks_of $job 2)
early=$(held_at "$T/rl2" 30 $pids)
late=$(held_at "$T/rl2" 250 $pids)
wait $job
flat "2 ranks" "$early" "$late"
