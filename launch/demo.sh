#!/usr/bin/env bash
# The embedded demo (make demo): on 2 MPI ranks, warm-start a small MoE policy on 1-2 digit addition
# (rlvr sft), train it with LUSPO (rlvr train), then summarise held-out accuracy and response length
# before and after, and draw the curves.
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

echo "== 1/3 supervised warm start (configs/demo.ini [sft]) -> $run/sft"
timeout "$budget" "${mpi[@]}" "$rlvr" sft --config "$config" --run-dir "$run/sft" "${sets[@]}"
warm=$(ls "$run"/sft/ckpt/step-*.h5 | sort | tail -n 1)

echo "== 2/3 LUSPO from $warm -> $run/rl"
timeout $(( budget - (SECONDS - start) )) "${mpi[@]}" "$rlvr" train --config "$config" --run-dir "$run/rl" \
    --init "$warm" "${sets[@]}"

echo "== 3/3 figures"
bash "$root/launch/plot.sh" --out "$run/figures" "$run/rl" > /dev/null 2>&1

first=$(head -n 1 "$run/rl/eval.jsonl") last=$(tail -n 1 "$run/rl/eval.jsonl")
row() { jq -r '"\(.step)\t\(.greedy_accuracy * 100 | floor)%\t\(.sampled_accuracy * 100 | floor)%\t\(.sampled_length_mean * 10 | round / 10)"' <<< "$1"; }
echo
echo "held-out problems: $(jq -r .prompts <<< "$last"), $(( SECONDS - start )) s in all"
printf 'step\tgreedy\tsampled\tmean length (sampled)\n'
printf 'before: %s\nafter:  %s\n' "$(row "$first")" "$(row "$last")"
echo
echo "metrics:    $run/rl/metrics.jsonl (per step), $run/rl/eval.jsonl (held out)"
echo "checkpoint: $(ls "$run"/rl/ckpt/step-*.h5 | sort | tail -n 1)"
echo "figures:    $run/figures/*.png"
