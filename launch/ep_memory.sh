#!/usr/bin/env bash
# Per-rank peak memory (RSS) and step time of RL training with expert parallelism (dist.expert_parallel = K) on
# 4 ranks, K = 1, 2, 4, on a 52M-parameter Qwen3-MoE built from configs/tiny-train.ini (hidden 256, 4 layers of 32
# experts of 512: 98% of the parameters are experts; smaller than launch/sharding.sh's so that four ranks fit a
# shared 24 GB machine); prints the markdown rows of results/sharding.md "Expert parallelism".
#   launch/ep_memory.sh [--steps S]     (default 2: the last step is measured; RLVR names the binary)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${2:-2}
[ "${1:-}" = "--steps" ] || [ $# -eq 0 ] || { echo "ep_memory.sh: usage: launch/ep_memory.sh [--steps S]" >&2; exit 2; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "ep_memory.sh: --steps '$steps': expected a positive integer" >&2; exit 2; }
rlvr=${RLVR:-$root/build/rlvr}
source "$root/launch/peak_rss.sh"
MODEL=(--set model.hidden_size=256 --set model.num_hidden_layers=4 --set model.num_experts=32
       --set model.moe_intermediate_size=512 --set model.num_attention_heads=8 --set model.num_key_value_heads=4
       --set model.intermediate_size=1024)
RUN=(--config "$root/configs/tiny-train.ini" "${MODEL[@]}" --set train.steps="$steps" --set train.prompts_per_step=4
     --set rollout.n=2 --set eval.n_prompts=0)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure K DET: one row (K, mode, max and min peak RSS over the 4 ranks, bytes/param of the max, step time).
measure() {
    local k=$1 det=$2 dir=$tmp/run-$1-$2 max min step n
    read -r max min step n < <(peak_rss_run 4 "$dir" "${RUN[@]}" --set dist.expert_parallel="$k" \
        --set dist.deterministic="$det")
    awk -v k="$k" -v det="$det" -v max="$max" -v min="$min" -v n="$n" -v t="$step" 'BEGIN {
        printf "| 4 | %d | %s | %.0f | %.0f | %.2f | %.1f |\n", k, det == "true" ? "deterministic" : "fast",
               max / 1024, min / 1024, max * 1024 / n, t }'
    rm -rf "$dir"
}

echo "| ranks | K | mode | peak RSS, max rank (MB) | min rank (MB) | bytes/param (max rank) | step (s) |"
echo "|---|---|---|---|---|---|---|"
for cfg in "1 false" "2 false" "4 false" "1 true" "4 true"; do
    echo "ep_memory.sh: K, deterministic = $cfg" >&2
    measure $cfg
done
