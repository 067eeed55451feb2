# shellcheck shell=bash disable=SC2154  # rlvr: set by the sourcing script
# Sourced by launch/sharding.sh and launch/ep_memory.sh: one RL training run under mpirun with each rank's peak
# memory. Sets up Open MPI for oversubscribed single-threaded ranks (also as root).
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# peak_rss_run NP DIR ARGS...: `$rlvr train ARGS --run-dir DIR` on NP ranks, each under `/usr/bin/time -v`; prints
# "MAX_KB MIN_KB STEP_S N_PARAMS": peak RSS of the largest and smallest rank, the last step's time, the parameters.
peak_rss_run() {
    local np=$1 dir=$2
    shift 2
    mpirun -np "$np" bash -c '/usr/bin/time -v -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$dir.time" \
        "$rlvr" train "$@" --run-dir "$dir" >/dev/null 2>&1
    local kb step n
    kb=$(cat "$dir.time".* | sed -n 's/.*Maximum resident set size (kbytes): //p' | sort -n)
    step=$(tail -1 "$dir/metrics.jsonl" | sed -n 's/.*"step_time_s":\([0-9.e-]*\).*/\1/p')
    n=$(sed -n 's/.* \([0-9]*\) parameters,.*/\1/p' "$dir/log.txt" | head -1)
    rm -f "$dir.time".*
    echo "$(echo "$kb" | tail -1) $(echo "$kb" | head -1) $step $n"
}
