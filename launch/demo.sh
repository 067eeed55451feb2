#!/usr/bin/env bash
# The embedded demo (make demo): on 2 MPI ranks, warm-start a small MoE policy on 1-2 digit addition
# (rlvr sft), train it with LUSPO (rlvr train), draw the curves, then evaluate the warm start and the trained
# policy with rlvr eval and print the table of both.
#   launch/demo.sh [RLVR_BINARY] [--run-dir D] [--set section.key=value ...]   (--set applies to both stages)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rlvr=$root/build/rlvr
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then rlvr=$(realpath "$1"); shift; fi
run=$root/runs/demo
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --run-dir) run=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        *) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
config=$root/configs/demo.ini
budget=${DEMO_BUDGET_S:-600}

[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mpi=(mpirun --oversubscribe --bind-to none -np 2)
rm -rf "$run"
start=$SECONDS

echo "== 1/4 supervised warm start (configs/demo.ini [sft]) -> $run/sft"
timeout "$budget" "${mpi[@]}" "$rlvr" sft --config "$config" --run-dir "$run/sft" "${sets[@]}"
warm=$(ls "$run"/sft/ckpt/step-*.h5 | sort | tail -n 1)

echo "== 2/4 LUSPO from $warm -> $run/rl"
timeout $(( budget - (SECONDS - start) )) "${mpi[@]}" "$rlvr" train --config "$config" --run-dir "$run/rl" \
    --init "$warm" "${sets[@]}"

echo "== 3/4 figures"
bash "$root/launch/plot.sh" --out "$run/figures" "$run/rl" > /dev/null 2>&1

final=$(ls "$run"/rl/ckpt/step-*.h5 | sort | tail -n 1)

echo "== 4/4 rlvr eval of the warm start and the trained policy -> $run/eval"
for stage in before after; do
    ckpt=$warm; [ $stage = after ] && ckpt=$final
    "${mpi[@]}" "$rlvr" eval --ckpt "$ckpt" --out "$run/eval/$stage" "${sets[@]}"
done

echo
echo "held-out problems: $(jq -r .prompts "$run/eval/after/eval.jsonl"), $(( SECONDS - start )) s in all;" \
     "avg@$(jq -r .samples "$run/eval/after/eval.jsonl") ± standard error, %"
"$rlvr" eval --table "$run/eval/before" "$run/eval/after"
echo
echo "metrics:    $run/rl/metrics.jsonl (per step), $run/rl/eval.jsonl (held out during training)"
echo "eval:       $run/eval/{before,after}/eval.jsonl, samples.jsonl (every response with its verdict)"
echo "checkpoint: $final"
echo "figures:    $run/figures/*.png"
