#!/usr/bin/env bash
# Runs rlvr on one machine with mpirun: one rank per share of the cores, OpenMP threads filling the rest.
#   launch/local.sh CONFIG [--np N] [--cmd train|sft] [--run-dir D] [other rlvr options, e.g. --set k=v ...]
# Environment: RLVR (binary, default build/rlvr), DRY_RUN=1 prints the command instead of running it.
# The same command continues a stopped run (rlvr --resume=auto); --resume among the options insists on a checkpoint.
set -euo pipefail

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage 0 ;; esac
config=$1; shift
[ -f "$config" ] || { echo "local.sh: config '$config' not found" >&2; exit 2; }

np=2 cmd=train run_dir=""
rest=()
while [ $# -gt 0 ]; do
    case "$1" in
        --np) np=$2; shift 2 ;;
        --cmd) cmd=$2; shift 2 ;;
        --run-dir) run_dir=$2; shift 2 ;;
        *) rest+=("$1"); shift ;;
    esac
done
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: --np '$np': expected a positive integer" >&2; exit 2; }
[ -n "$run_dir" ] || run_dir="runs/$(basename "$config" .ini)"

root=$(cd "$(dirname "$0")/.." && pwd)
rlvr=${RLVR:-$root/build/rlvr}
cores=$(nproc)
threads=$(( cores / np > 0 ? cores / np : 1 ))
# More ranks than cores: no binding, oversubscribe. Otherwise bind each rank to its cores.
if [ "$np" -gt "$cores" ]; then bind=(--oversubscribe --bind-to none); else bind=(--bind-to core --map-by "slot:PE=$threads"); fi
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1

# rlvr decides: --resume=auto continues from the run dir's newest checkpoint when there is one (--init then
# applies only to a fresh start), so the same command starts a run and continues a stopped one.
resume=(--resume=auto)
for a in "${rest[@]}"; do case "$a" in --resume|--resume=*) resume=() ;; esac; done
case "$cmd" in sft|train) ;; *) resume=() ;; esac
command=(mpirun -np "$np" "${bind[@]}" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS
         "$rlvr" "$cmd" --config "$config" --run-dir "$run_dir" "${resume[@]}" "${rest[@]}")
if [ "${DRY_RUN:-0}" = 1 ]; then printf '%q ' "${command[@]}"; echo; exit 0; fi
exec "${command[@]}"
